# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lvs.ipvs's test tooling: the kernel test bed, the lab, the images, the benchmark.

One import direction: ``bin/*`` are thin entry points over this package (``tools/run MODULE``), the
tests import it (their conftest.py puts ``tools/`` on ``sys.path``), and it imports nothing from
``tests/``. It is not part of the built collection (galaxy.yml's build_ignore). docs/development.md
has the map of its modules and every setting it reads.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"
VENV_BIN = CACHE / "venv" / "bin"
COLLECTIONS = CACHE / "collections"
