# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test bed's own failure paths: they must fail loudly, never pass or skip."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BED = Path(__file__).resolve().parents[3] / "bin" / "bed"


def _bed(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BED), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **env}, timeout=120)


def test_no_command_is_an_error(tmp_path):
    proc = _bed("run", "--out", str(tmp_path / "out"))
    assert proc.returncode == 125
    assert "no command given" in proc.stderr


def test_bad_mode_is_an_error(tmp_path):
    proc = _bed("run", "--out", str(tmp_path / "out"), "--", "true", LVS_BED_MODE="bogus")
    assert proc.returncode == 125
    assert "LVS_BED_MODE" in proc.stderr


def test_the_removed_qemu_mode_is_an_error(tmp_path):
    proc = _bed("run", "--out", str(tmp_path / "out"), "--", "true", LVS_BED_MODE="vm")
    assert proc.returncode == 125
    assert "LVS_BED_MODE must be auto, host or uml" in proc.stderr


def test_host_mode_without_ipvs_is_an_error(tmp_path):
    """This machine's kernel has no IPVS: LVS_BED_MODE=host must say so, not run the command elsewhere."""
    proc = _bed("run", "--out", str(tmp_path / "out"), "--", "true", LVS_BED_MODE="host")
    if Path("/proc/net/ip_vs").exists():  # a host with IPVS: the command runs there
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 125
        assert "needs root and a host kernel with IPVS" in proc.stderr
