# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ipvs_sync_daemon's argument handling and control flow, without a kernel.

A stand-in for IpvsHandle records the stops and starts; what the kernel does with them is tested on a
kernel (tests/kernel/test_ipvs_sync_daemon.py). The stand-in is here for the paths a kernel will not
show on demand: a restart whose old daemon cannot be started again either.
"""

from __future__ import annotations

import errno
import importlib
from dataclasses import replace
from typing import ClassVar

import pytest
from _runner import run_module
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs
from ansible_collections.lvs.ipvs.plugins.module_utils import _model as m
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import KernelError

module = importlib.import_module("ansible_collections.lvs.ipvs.plugins.modules.ipvs_sync_daemon")

MASTER = m.SyncDaemon("master", "eth1", syncid=10, maxlen=1472)


def run(args: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
    return run_module(module, args, check_mode=check_mode, diff=diff)


class FakeIpvs:
    """IpvsHandle's daemon methods over a dict; ``refuse`` maps ipvsadm words to the errno of a refusal."""

    running: ClassVar[dict[str, m.SyncDaemon]] = {}
    calls: ClassVar[list[str]] = []
    refuse: ClassVar[dict[str, int]] = {}
    table: ClassVar[list] = []

    def __init__(self, run_command=None) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def sync_daemons(self):
        return sorted(self.running.values(), key=lambda d: m.SYNC_STATES[d.state])

    def config(self):
        return list(self.table)

    def start_sync_daemon(self, daemon):
        words = m.SyncOperation("start", daemon).words
        self.calls.append(words)
        if words in self.refuse:
            raise KernelError(f"cannot start the {daemon.label()}: refused", self.refuse[words])
        self.running[daemon.state] = daemon if daemon.maxlen else replace(daemon, maxlen=1472)

    def stop_sync_daemon(self, daemon):
        self.calls.append(f"--stop-daemon {daemon.state}")
        del self.running[daemon.state]


@pytest.fixture(autouse=True)
def fake(monkeypatch):
    FakeIpvs.running, FakeIpvs.calls, FakeIpvs.refuse, FakeIpvs.table = {}, [], {}, []
    monkeypatch.setattr(module, "IpvsHandle", FakeIpvs)
    monkeypatch.setattr(module, "find_interface", lambda name: _ipvs.Interface(name, 1500, 0x1003)
                        if name.startswith("eth") else None)
    return FakeIpvs


def test_check_mode_changes_nothing_and_says_what_it_would_do(fake):
    fake.running = {"master": MASTER}
    result = run({"state": "master", "port": 9000}, check_mode=True, diff=True)
    assert result["changed"] and fake.calls == [] and fake.running == {"master": MASTER}
    assert result["changes"] == ["--stop-daemon master", replace(MASTER, maxlen=None, port=9000).words()]
    assert result["sync_daemon"]["port"] == 9000 and result["sync_daemon"]["maxlen"] == 1472
    assert result["diff"]["before"] == MASTER.render() + "\n"
    assert "stopped and started again" in result["diff"]["after_header"]


def test_a_restart_that_cannot_start_the_old_daemon_again_says_none_runs(fake):
    fake.running = {"master": MASTER}
    new = replace(MASTER, maxlen=None, port=9000)
    fake.refuse = {new.words(): errno.ENOBUFS, MASTER.words(): errno.ENOBUFS}
    result = run({"state": "master", "port": 9000})
    assert result["failed"]
    assert result["msg"] == ("cannot start the master sync daemon (syncid 10 on eth1): refused; it had been stopped "
                             "to change it, and starting it again with its old settings failed too (cannot start the "
                             "master sync daemon (syncid 10 on eth1): refused): no master sync daemon runs now")
    assert fake.calls == ["--stop-daemon master", new.words(), MASTER.words()]


def test_a_refused_start_of_a_new_daemon_is_just_reported(fake):
    fake.refuse = {m.SyncDaemon("backup", "eth2").words(): errno.EINVAL}
    result = run({"state": "backup", "interface": "eth2"})
    assert result["failed"] and result["msg"] == "cannot start the backup sync daemon (syncid 0 on eth2): refused"


def test_mixed_family_services_are_refused_before_anything(fake):
    key = m.service_key_from_params({"address": "192.0.2.1", "port": 80})
    fake.table = [(m.Service(key=key), [m.Dest("2001:db8::2", 80, family="ipv6", forwarding="tunnel")])]
    result = run({"state": "backup", "interface": "eth1"}, check_mode=True)
    assert result["failed"] and "real servers of another address family" in result["msg"]
    assert "TCP 192.0.2.1:80" in result["msg"] and fake.calls == []


def test_stopping_reads_no_services(fake):
    fake.running = {"master": MASTER}
    fake.table = None  # config() would fail
    result = run({"state": "absent"})
    assert result["changed"] and fake.calls == ["--stop-daemon master"] and result["sync_daemons"] == []


@pytest.mark.parametrize(("args", "needle"), [
    ({}, "missing required arguments: state"),
    ({"state": "absent", "daemon": "both"}, "value of daemon must be one of: master, backup"),
    ({"state": "master", "interface": "eth1", "syncid": 300}, "syncid 300 is out of range"),
    ({"state": "master", "interface": "eth1", "group": "192.0.2.1"}, "group 192.0.2.1 is not a multicast address"),
    ({"state": "master", "interface": "nope0"}, "there is no interface nope0 in this network namespace"),
])
def test_bad_arguments_change_nothing(fake, args, needle):
    result = run(args)
    assert result["failed"] and needle in result["msg"], result
    assert fake.calls == []
