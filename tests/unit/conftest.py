# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests import the collection as ``ansible_collections.lvs.ipvs`` (bin/setup links it),
the tooling as ``lvslab`` (tools/)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO / ".cache" / "collections", REPO / "tools"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
