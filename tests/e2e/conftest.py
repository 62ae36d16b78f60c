# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end tests: the lab of tools/lvslab/cluster.py, configured once by playbooks/site.yml.

Run as root on a kernel with IPVS, i.e. inside the test bed::

    bin/bed run -- python -m pytest -p no:cacheprovider -q tests/e2e

One lab and one site.yml run for the whole session: every case of playbooks/lab/cases.yml has a
VIP of its own, so the tests do not disturb each other. The finalizer removes the lab and fails
the session if anything of it is left.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from lvslab.cluster import SiteLab, mode_cases


@pytest.fixture(scope="session")
def lab() -> Iterator[SiteLab]:
    """The lab with every case configured by site.yml over SSH; removed (and checked gone) afterwards.

    Without the boot files: no test here reads them (the roles stage and Molecule do), and they are a third of the
    run's module calls."""
    with SiteLab(mode_cases("e2e"), tag="lvse2e", subnet=79, boot_persistence=False).configured() as the_lab:
        yield the_lab
