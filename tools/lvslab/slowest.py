# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ten slowest tests of a bin/test run, across stages: ``python -m lvslab.slowest DIR...``.

Reads the JUnit XML that pytest wrote for each stage (``DIR/<stage>.xml``); a test's time includes
its setup and teardown, so a fixture shared by a module counts where it is made.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(dirs: list[str]) -> int:
    rows = []
    for xml in sorted(p for d in dirs for p in Path(d).glob("*.xml")):
        for case in ET.parse(xml).iter("testcase"):
            name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
            rows.append((float(case.get("time") or 0), xml.stem, name))
    rows.sort(reverse=True)
    if not rows:
        return 0
    print(f"\nthe ten slowest of {len(rows)} tests (seconds, setup and teardown included):")
    for secs, stage, name in rows[:10]:
        print(f"{secs:8.1f}  {stage:<24} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
