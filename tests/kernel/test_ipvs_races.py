# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Races with another task, on a kernel (issue 14): the table moves between a module's read and its write.

The other task is ``ipvsadm`` typed in the namespace from a hook around the module's own read
(``IpvsHandle.find_service`` / ``dests`` / ``config``): the real read runs, then the other task changes
the kernel, then the module writes. That makes the race deterministic; what the kernel answers
(EEXIST, ENOENT, ESRCH) and what is left (``ipvsadm -Sn``) are real.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from _ipvs_helpers import VIP
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs

RS1, RS2 = "192.168.1.2", "192.168.1.3"
SVC = {"address": VIP, "port": 80}


def _after_read(monkeypatch, method: str, actions: dict[int, Callable[[], None]]) -> list[int]:
    """Wrap ``IpvsHandle.<method>``: after its Nth call returns from the kernel, run ``actions[N]`` (1-based)."""
    real = getattr(_ipvs.IpvsHandle, method)
    calls: list[int] = []

    def wrapped(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        calls.append(len(calls) + 1)
        action = actions.get(len(calls))
        if action is not None:
            action()
        return out

    monkeypatch.setattr(_ipvs.IpvsHandle, method, wrapped)
    return calls


def test_drain_of_a_real_server_another_task_removes_meanwhile(netns, run_module, monkeypatch):
    """The drain reads the real server, then another task removes it: gone as wanted, so done (changed)."""
    ns = netns
    ns.run(f"ipvsadm -A -t {VIP}:80 -s rr && ipvsadm -a -t {VIP}:80 -r {RS1} -g -w 3 "
           f"&& ipvsadm -a -t {VIP}:80 -r {RS2} -g -w 1")
    # dests() call 1 finds the real server; call 2 is the drain's first look, after the weight went to 0
    calls = _after_read(monkeypatch, "dests", {2: lambda: ns.run(f"ipvsadm -d -t {VIP}:80 -r {RS1}")})
    res = run_module(ns, "ipvs_real_server",
                     {"service": SVC, "address": RS1, "state": "absent", "drain": True, "drain_timeout": 30})
    assert not res.failed, res.result
    assert res.changed and res.result["drained"] is True, res.result
    assert res.result["gone_meanwhile"] is True, res.result
    assert "state" in res.result["changes"], res.result
    assert len(calls) >= 2
    assert ns.ipvsadm_save() == sorted([f"-A -t {VIP}:80 -s rr", f"-a -t {VIP}:80 -r {RS2}:80 -g -w 1"])


def test_removal_of_a_real_server_another_task_removes_meanwhile(netns, run_module, monkeypatch):
    """Without a drain too: the delete meets ENOENT, the server is gone as wanted: no failure."""
    ns = netns
    ns.run(f"ipvsadm -A -t {VIP}:80 -s rr && ipvsadm -a -t {VIP}:80 -r {RS1} -g -w 3")
    _after_read(monkeypatch, "dests", {1: lambda: ns.run(f"ipvsadm -d -t {VIP}:80 -r {RS1}")})
    res = run_module(ns, "ipvs_real_server", {"service": SVC, "address": RS1, "state": "absent"})
    assert not res.failed, res.result
    assert res.result["gone_meanwhile"] is True, res.result
    assert ns.ipvsadm_save() == [f"-A -t {VIP}:80 -s rr"]


@pytest.mark.parametrize("case", [
    # the other task added exactly this service: ok, no change
    (f"-A -t {VIP}:80 -s rr -p 600", [], f"-A -t {VIP}:80 -s rr -p 600"),
    # it added it with another scheduler: the needed edit, in place
    (f"-A -t {VIP}:80 -s wlc -p 600", ["scheduler"], f"-A -t {VIP}:80 -s rr -p 600"),
], ids=["same", "edit"])
def test_service_add_that_lost_a_race_reads_again(netns, run_module, monkeypatch, case):
    ns, (other, changes, after) = netns, case
    calls = _after_read(monkeypatch, "find_service", {1: lambda: ns.run(f"ipvsadm {other}")})
    res = run_module(ns, "ipvs_service", {**SVC, "scheduler": "rr", "persistence_timeout": 600}, diff=True)
    assert not res.failed, res.result
    assert res.result["changes"] == changes, res.result
    assert res.changed == bool(changes)
    assert len(calls) == 2, "the service was not read again after EEXIST"
    assert res.result["diff"]["before"] == other + "\n"
    assert ns.ipvsadm_save() == [after]


@pytest.mark.parametrize(("weight", "changes"), [(2, []), (5, ["weight"])], ids=["same", "edit"])
def test_real_server_add_that_lost_a_race_reads_again(netns, run_module, monkeypatch, weight, changes):
    ns = netns
    ns.run(f"ipvsadm -A -t {VIP}:80 -s rr")
    calls = _after_read(monkeypatch, "dests",
                        {1: lambda: ns.run(f"ipvsadm -a -t {VIP}:80 -r {RS1} -g -w {weight}")})
    res = run_module(ns, "ipvs_real_server", {"service": SVC, "address": RS1, "weight": 2})
    assert not res.failed, res.result
    assert res.result["changes"] == changes, res.result
    assert res.changed == bool(changes)
    assert len(calls) == 2, "the real servers were not read again after EEXIST"
    assert ns.ipvsadm_save() == sorted([f"-A -t {VIP}:80 -s rr", f"-a -t {VIP}:80 -r {RS1}:80 -g -w 2"])


def test_real_server_that_keeps_moving_fails_clearly_after_one_new_read(netns, run_module, monkeypatch):
    """Added by another task after each read, removed before the edit: read again once, then a clear failure."""
    ns = netns
    ns.run(f"ipvsadm -A -t {VIP}:80 -s rr")
    _after_read(monkeypatch, "dests", {
        1: lambda: ns.run(f"ipvsadm -a -t {VIP}:80 -r {RS1} -g -w 5"),
        2: lambda: ns.run(f"ipvsadm -d -t {VIP}:80 -r {RS1}"),
    })
    res = run_module(ns, "ipvs_real_server", {"service": SVC, "address": RS1, "weight": 2})
    assert res.failed, res.result
    assert f"real server {RS1}:80" in res.msg and f"TCP {VIP}:80" in res.msg, res.msg
    assert "read again" in res.msg and "changed again" in res.msg, res.msg


def test_config_replans_when_another_task_removes_what_it_edits(netns, run_module, monkeypatch):
    """replaced: edit RS1, delete RS2; another task removes RS1 after the read: ENOENT, read, plan, go on."""
    ns = netns
    ns.run(f"ipvsadm -A -t {VIP}:80 -s rr && ipvsadm -a -t {VIP}:80 -r {RS1} -g -w 1 "
           f"&& ipvsadm -a -t {VIP}:80 -r {RS2} -g -w 1")
    calls = _after_read(monkeypatch, "config", {1: lambda: ns.run(f"ipvsadm -d -t {VIP}:80 -r {RS1}")})
    config = [{"address": VIP, "port": 80, "scheduler": "rr", "real_servers": [{"address": RS1, "weight": 5}]}]
    res = run_module(ns, "ipvs_config", {"state": "replaced", "config": config})
    assert not res.failed, res.result
    assert res.changed and len(calls) == 2, res.result
    assert res.result["changes"] == [f"-a -t {VIP}:80 -r {RS1}:80 -g -w 5", f"-d -t {VIP}:80 -r {RS2}:80"]
    assert ns.ipvsadm_save() == sorted([f"-A -t {VIP}:80 -s rr", f"-a -t {VIP}:80 -r {RS1}:80 -g -w 5"])


def test_config_replans_when_another_task_removes_what_it_deletes(netns, run_module, monkeypatch):
    ns = netns
    ns.run(f"ipvsadm -A -t {VIP}:80 -s rr && ipvsadm -a -t {VIP}:80 -r {RS1} -g -w 1 "
           f"&& ipvsadm -A -t {VIP}:81 -s rr")
    calls = _after_read(monkeypatch, "config", {1: lambda: ns.run(f"ipvsadm -d -t {VIP}:80 -r {RS1}")})
    res = run_module(ns, "ipvs_config", {"state": "replaced", "config": [{"address": VIP, "port": 80,
                                                                          "scheduler": "rr"}]})
    assert not res.failed, res.result
    assert len(calls) == 2, res.result
    assert not res.changed and res.result["changes"] == [], res.result
    # and a service another task deleted before this one's -D: overridden goes on
    _after_read(monkeypatch, "config", {1: lambda: ns.run(f"ipvsadm -D -t {VIP}:81")})
    res = run_module(ns, "ipvs_config", {"state": "overridden", "config": [{"address": VIP, "port": 80,
                                                                            "scheduler": "rr"}]})
    assert not res.failed, res.result
    assert ns.ipvsadm_save() == [f"-A -t {VIP}:80 -s rr"]


def test_config_that_keeps_moving_fails_clearly_after_one_new_read(netns, run_module, monkeypatch):
    ns = netns
    ns.run(f"ipvsadm -A -t {VIP}:80 -s rr && ipvsadm -a -t {VIP}:80 -r {RS1} -g -w 1")
    _after_read(monkeypatch, "config", {
        1: lambda: ns.run(f"ipvsadm -d -t {VIP}:80 -r {RS1}"),
        2: lambda: ns.run(f"ipvsadm -a -t {VIP}:80 -r {RS1} -g -w 1"),
    })
    config = [{"address": VIP, "port": 80, "scheduler": "rr", "real_servers": [{"address": RS1, "weight": 5}]}]
    res = run_module(ns, "ipvs_config", {"state": "replaced", "config": config})
    assert res.failed, res.result
    assert f"real server {RS1}:80" in res.msg and "already exists" in res.msg, res.msg
    assert "read again" in res.msg and "changed again" in res.msg, res.msg
