# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which pyroute2 the netlink layer accepts, and what a module says when the host's is too old or absent.

The module tests run a real module in a child Python whose import path starts with a stand-in
pyroute2 package, as a managed host with an old or broken pyroute2 would import it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs

COLLECTIONS = Path(__file__).resolve().parents[4] / ".cache" / "collections"
MODULE_ARGS = {
    "ipvs_service": {"address": "192.0.2.1", "port": 80},
    "ipvs_real_server": {"service": {"address": "192.0.2.1", "port": 80}, "address": "198.51.100.2"},
    "ipvs_timeouts": {"tcp": 900},
    "ipvs_info": {"gather": ["services"]},
    "ipvs_sync_daemon": {"state": "absent"},
}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("0.7.2", (0, 7, 2)), ("0.9.7", (0, 9, 7)), ("0.7.2.post1", (0, 7, 2)), ("0.8.0rc1", (0, 8, 0)),
     (" 1.0 ", (1, 0)), ("unknown", None), ("", None), (None, None)],
)
def test_version_tuple(text, parsed):
    assert _ipvs.version_tuple(text) == parsed


@pytest.mark.parametrize(
    ("version", "too_old"),
    [("0.5.14", True), ("0.6.13", True), ("0.7.1", True), ("0.7.2", False), ("0.7.7", False), ("0.8.1", False),
     ("0.9.7", False), ("1.0", False), ("unknown", False), (None, False)],
)
def test_minimum_is_debian_12s_pyroute2(version, too_old):
    assert _ipvs.PYROUTE2_REQUIREMENT == "pyroute2>=0.7.2"
    assert _ipvs.pyroute2_too_old(version) is too_old


def test_too_old_names_the_version_found_where_and_what_is_needed():
    msg = _ipvs.pyroute2_problem("0.6.13", "/usr/lib/python3/dist-packages/pyroute2")
    assert msg.startswith("pyroute2 0.6.13 (imported from /usr/lib/python3/dist-packages/pyroute2) on ")
    assert f"Python {sys.executable} is too old" in msg
    assert "need pyroute2>=0.7.2" in msg
    assert "Failed to import" not in msg


def test_not_importable_gets_the_missing_library_message():
    msg = _ipvs.pyroute2_problem(None, None)
    assert msg.startswith("Failed to import the required Python library (pyroute2>=0.7.2) on ")


def test_this_python_has_a_usable_pyroute2():
    """The venv's pinned pyroute2 (or the one the kernel stage puts first on the path) passes the check."""
    assert _ipvs.HAS_PYROUTE2, _ipvs.pyroute2_problem()
    assert _ipvs.PYROUTE2_LOCATION and os.path.isdir(_ipvs.PYROUTE2_LOCATION)


def _stand_in(site: Path, init_py: str, metadata: tuple[str, str] | None = None) -> Path:
    """A stand-in ``pyroute2`` package in ``site``; ``metadata``: (directory, version) as an installer leaves it."""
    (site / "pyroute2").mkdir(parents=True)
    (site / "pyroute2" / "__init__.py").write_text(init_py)
    if metadata:
        dirname, version = metadata
        meta = site / dirname
        meta.mkdir()
        name = "PKG-INFO" if dirname.endswith(".egg-info") else "METADATA"
        (meta / name).write_text(f"Metadata-Version: 2.1\nName: pyroute2\nVersion: {version}\n")
    return site / "pyroute2"


@pytest.mark.parametrize(
    ("metadata", "version"),
    [(("pyroute2-0.7.2.dist-info", "0.7.2"), "0.7.2"),  # Debian 12's python3-pyroute2
     (("pyroute2-0.5.14.egg-info", "0.5.14"), "0.5.14"),  # Debian 11's
     (None, None)],
)
def test_version_from_the_metadata_beside_the_package(tmp_path, metadata, version):
    # Debian's python3-pyroute2 0.7.2 lacks pyroute2/config/version.py: its __version__ is "unknown".
    package = _stand_in(tmp_path, '__version__ = "unknown"\n', metadata)
    assert _ipvs.installed_version(str(package)) == version
    assert _ipvs.installed_version(None) is None


def _run_module_with(tmp_path: Path, init_py: str, module: str = "ipvs_service",
                     metadata: tuple[str, str] | None = None) -> dict:
    """Run a module in a child Python whose first import path holds a stand-in ``pyroute2`` package."""
    fake = tmp_path / "site"
    _stand_in(fake, init_py, metadata)
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": MODULE_ARGS[module]}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), str(COLLECTIONS)]))
    proc = subprocess.run(
        [sys.executable, "-m", f"ansible_collections.lvs.ipvs.plugins.modules.{module}", str(args)],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False, timeout=60,
    )
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", sorted(MODULE_ARGS))
def test_module_on_a_host_with_a_too_old_pyroute2(tmp_path, module):
    # Imports fine (this stand-in has no netlink pieces at all): the version alone decides.
    result = _run_module_with(tmp_path, '__version__ = "0.6.13"\n', module)
    assert result["failed"]
    where = tmp_path / "site" / "pyroute2"
    assert result["msg"].startswith(f"pyroute2 0.6.13 (imported from {where}) on "), result["msg"]
    assert "is too old: the lvs.ipvs modules need pyroute2>=0.7.2" in result["msg"]


def test_module_on_a_host_with_a_debian_packaged_pyroute2_too_old(tmp_path):
    # As Debian ships it: no __version__, the version in the dist-info directory beside the package.
    result = _run_module_with(tmp_path, '__version__ = "unknown"\n', metadata=("pyroute2-0.6.5.dist-info", "0.6.5"))
    assert result["failed"]
    assert result["msg"].startswith(f"pyroute2 0.6.5 (imported from {tmp_path / 'site' / 'pyroute2'}) on ")


def test_module_on_a_host_without_pyroute2(tmp_path):
    result = _run_module_with(tmp_path, 'raise ImportError("No module named pyroute2")\n')
    assert result["failed"]
    assert result["msg"].startswith("Failed to import the required Python library (pyroute2>=0.7.2) on ")
