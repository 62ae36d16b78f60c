# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lvslab.bedctl: commands for the controller side, and the protocol of bin/bed's controller service."""

from __future__ import annotations

import json
import socketserver
import subprocess
import threading

import pytest
from lvslab import bedctl


def test_runs_here_without_a_controller(monkeypatch, tmp_path):
    monkeypatch.delenv("LVS_BED_CONTROLLER", raising=False)
    log = tmp_path / "out.log"
    proc = bedctl.run(["sh", "-c", "echo one; echo two >&2; exit 3"], cwd=tmp_path, log=log)
    assert proc.returncode == 3
    assert proc.stdout.splitlines() == ["one", "two"]
    assert log.read_text() == proc.stdout


def test_output_of_a_command_whose_child_keeps_stdout_open(monkeypatch):
    """A background child holding stdout (as ssh's ControlPersist master does) must not hang us."""
    monkeypatch.delenv("LVS_BED_CONTROLLER", raising=False)
    proc = bedctl.run(["sh", "-c", "(sleep 5 &) ; echo done"])
    assert proc.returncode == 0 and proc.stdout == "done\n"


@pytest.fixture
def fake_controller(monkeypatch):
    """A stand-in for bin/bed's controller service speaking the same protocol, on loopback."""
    seen: list[dict] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            req = json.loads(self.rfile.readline())
            seen.append(req)
            proc = subprocess.run(req["argv"], capture_output=True, text=True, cwd=req["cwd"], check=False)
            for chunk in (proc.stdout[:3], proc.stdout[3:]):
                self.wfile.write((json.dumps({"out": chunk}) + "\n").encode())
            self.wfile.write((json.dumps({"rc": proc.returncode}) + "\n").encode())

    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("LVS_BED_CONTROLLER", f"127.0.0.1:{server.server_address[1]}")
    yield seen
    server.shutdown()
    server.server_close()


def test_runs_on_the_controller_when_there_is_one(fake_controller, tmp_path):
    proc = bedctl.run(["sh", "-c", "echo hello; exit 4"], cwd=tmp_path, env={"ANSIBLE_X": "1"})
    assert proc.returncode == 4
    assert proc.stdout == "hello\n"
    assert fake_controller[0]["argv"] == ["sh", "-c", "echo hello; exit 4"]
    assert fake_controller[0]["cwd"] == str(tmp_path)
    assert fake_controller[0]["env"] == {"ANSIBLE_X": "1"}


def test_controller_network_is_the_link_of_the_controller(monkeypatch):
    monkeypatch.setenv("LVS_BED_CONTROLLER", "10.213.0.1:7001")
    assert bedctl.controller_network() == "10.213.0.0/24"
    monkeypatch.delenv("LVS_BED_CONTROLLER")
    assert bedctl.controller_network() is None
