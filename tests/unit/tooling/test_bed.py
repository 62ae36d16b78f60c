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


def test_missing_kernel_fails_with_a_message(tmp_path):
    proc = _bed("run", "--out", str(tmp_path / "out"), "--", "true",
                LVS_BED_MODE="vm", LVS_BED_KERNEL=str(tmp_path / "vmlinuz-missing"))
    assert proc.returncode == 125
    assert "vmlinuz-missing not found" in proc.stderr


def test_kernel_that_cannot_boot_fails_with_a_message(tmp_path):
    """A file that is not a kernel: the VM does not run the command, and the bed says so."""
    bogus = tmp_path / "vmlinuz-bogus"
    bogus.write_bytes(b"this is not a kernel image\n" * 64)
    proc = _bed("run", "--out", str(tmp_path / "out"), "--", "true",
                LVS_BED_MODE="vm", LVS_BED_KERNEL=str(bogus), LVS_BED_ACCEL="tcg", LVS_BED_TIMEOUT="90")
    assert proc.returncode == 125, proc.stdout + proc.stderr
    assert "did not" in proc.stderr


def test_no_command_is_an_error(tmp_path):
    proc = _bed("run", "--out", str(tmp_path / "out"))
    assert proc.returncode == 125
    assert "no command given" in proc.stderr


def test_bad_mode_is_an_error(tmp_path):
    proc = _bed("run", "--out", str(tmp_path / "out"), "--", "true", LVS_BED_MODE="bogus")
    assert proc.returncode == 125
    assert "LVS_BED_MODE" in proc.stderr
