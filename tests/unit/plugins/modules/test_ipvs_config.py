# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ipvs_config's argument handling and control flow, without a kernel.

``rendered`` and ``parsed`` run for real (they must not need pyroute2 or IPVS). For the other states a
stand-in for IpvsHandle records the calls; what the kernel does with them is tested on a kernel
(tests/kernel/test_ipvs_config.py). The stand-in is here for the paths a kernel will not show on
demand: a race lost to another task (EEXIST), a refusal half-way, a scheduler the host lacks.
"""

from __future__ import annotations

import errno
import importlib
from typing import ClassVar

import pytest
from _runner import run_module
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs
from ansible_collections.lvs.ipvs.plugins.module_utils import _model as m
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import KernelError

ipvs_config = importlib.import_module("ansible_collections.lvs.ipvs.plugins.modules.ipvs_config")

VIP = "192.0.2.1"
PPC = """\
-A -t 192.0.2.1:80 -s rr -p 300
-a -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 1
-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 1
"""


def run(args: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
    return run_module(ipvs_config, args, check_mode=check_mode, diff=diff)


class FakeIpvs:
    """IpvsHandle's interface over a table in memory; ``writes`` records every change asked for."""

    # Class attributes, since the module makes its own instance; the fixture resets them for every test.
    table: ClassVar[dict] = {}
    timeouts: ClassVar[m.Timeouts] = m.Timeouts()
    writes: ClassVar[list[str]] = []
    reads: ClassVar[int] = 0
    missing_schedulers: ClassVar[set[str]] = set()
    before_add: ClassVar[dict] = {}  # words of an add -> a function run just before it (another task's move)
    refuse: ClassVar[dict] = {}  # words of an operation -> errno the "kernel" answers it with

    def __init__(self, run_command=None) -> None:
        self.run_command = run_command

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    @classmethod
    def load(cls, text: str) -> None:
        cls.table = {svc.key: (svc, {(d.address, d.port): d for d in dests})
                     for svc, dests in m.apply_to_table([], m.plan([], m.validate_config(
                         m.parse_ipvsadm_save(text)), "overridden"))}

    @classmethod
    def lines(cls) -> list[str]:
        return m.render_table([(svc, list(dests.values())) for svc, dests in cls.table.values()])

    def config(self):
        type(self).reads += 1
        return [(svc, list(dests.values())) for svc, dests in self.table.values()]

    def get_timeouts(self):
        return self.timeouts

    def check_scheduler(self, svc):
        if svc.scheduler in self.missing_schedulers:
            raise KernelError(f"cannot configure service {svc.key.label()}: scheduler {svc.scheduler} is not "
                              f"available in this kernel (no module ip_vs_{svc.scheduler} could be loaded)")

    def _write(self, op: m.Operation) -> None:
        hook = self.before_add.pop(op.words, None)
        if hook:
            hook()
        code = self.refuse.get(op.words)
        if code:
            raise KernelError(f"cannot do {op.words}: refused", code)
        exists = op.key in self.table and (op.dest is None or (op.dest.address, op.dest.port) in self.table[op.key][1])
        if op.op.startswith("add") and exists:
            raise KernelError(f"cannot {op.words}: it already exists", errno.EEXIST)
        self.writes.append(op.words)
        type(self).table = {svc.key: (svc, {(d.address, d.port): d for d in dests})
                            for svc, dests in m.apply_to_table(self.config(), [op])}
        type(self).reads -= 1

    def apply(self, ops):
        """As IpvsHandle.apply: every operation, or BatchError with what was done (one window per operation)."""
        done = []
        for op in ops:
            try:
                if op.op == "set_timeouts":
                    self.set_timeouts(dict(op.timeouts))
                else:
                    self._write(op)
            except KernelError as exc:
                raise _ipvs.BatchError([str(exc)], exc.errno, done, [op]) from exc
            done.append(op)

    def add_service(self, svc):
        self._write(m.Operation("add_service", svc))

    def edit_service(self, svc):
        self._write(m.Operation("edit_service", svc))

    def delete_service(self, key):
        self._write(m.Operation("delete_service", self.table[key][0]))

    def add_dest(self, key, dest):
        self._write(m.Operation("add_dest", self.table[key][0], dest))

    def edit_dest(self, key, dest):
        self._write(m.Operation("edit_dest", self.table[key][0], dest))

    def delete_dest(self, key, dest):
        self._write(m.Operation("delete_dest", self.table[key][0], dest))

    def set_timeouts(self, wanted):
        self.writes.append(m.Operation("set_timeouts", timeouts=tuple(wanted.items())).words)
        type(self).timeouts = m.merge_timeouts(self.timeouts, wanted)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(ipvs_config, "IpvsHandle", FakeIpvs)
    monkeypatch.setattr(ipvs_config, "HAS_PYROUTE2", True)
    FakeIpvs.table, FakeIpvs.timeouts, FakeIpvs.writes, FakeIpvs.reads = {}, m.Timeouts(), [], 0
    FakeIpvs.missing_schedulers, FakeIpvs.before_add, FakeIpvs.refuse = set(), {}, {}
    return FakeIpvs


@pytest.fixture
def no_ipvs(monkeypatch):
    """Neither pyroute2 nor IPVS: any attempt to reach the kernel fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the module tried to reach IPVS")
    monkeypatch.setattr(_ipvs.IpvsHandle, "_open", refuse)
    monkeypatch.setattr(ipvs_config, "HAS_PYROUTE2", False)


SHOP = [{"fwmark": 10, "scheduler": "rr", "persistence_timeout": 3600,
         "real_servers": [{"address": "10.0.0.1", "weight": 4}, {"address": "10.0.0.2", "weight": 2}]}]


# --- without the host -----------------------------------------------------------------------------


def test_rendered_and_parsed_need_neither_pyroute2_nor_ipvs(no_ipvs):
    res = run({"state": "rendered", "config": SHOP, "timeouts": {"tcp": 300}})
    assert not res.get("failed") and not res["changed"], res
    assert res["rendered"] == "-A -f 10 -s rr -p 3600\n-a -f 10 -r 10.0.0.1:0 -g -w 4\n-a -f 10 -r 10.0.0.2:0 -g -w 2\n"
    res = run({"state": "parsed", "running_config": res["rendered"]}, check_mode=True)
    assert not res.get("failed") and not res["changed"], res
    assert res["parsed"] == [{"fwmark": 10, "family": "ipv4", "scheduler": "rr", "persistent": True,
                              "persistence_timeout": 3600, "real_servers": [
                                  {"address": "10.0.0.1", "port": 0, "forwarding": "dr", "weight": 4},
                                  {"address": "10.0.0.2", "port": 0, "forwarding": "dr", "weight": 2}]}]
    assert run({"state": "rendered", "config": res["parsed"]})["rendered"].startswith("-A -f 10 -s rr -p 3600\n")
    res = run({"state": "merged", "config": SHOP})
    assert res["failed"] and "pyroute2" in res["msg"], res


def test_bad_config_fails_with_every_problem_before_any_read(no_ipvs):
    config = [
        {"address": VIP, "port": 80, "scheduler": "w l c",
         "real_servers": [{"address": "10.0.0.5", "port": 8080, "forwarding": "dr"}]},
        {"address": VIP, "persistence_timeout": 2**33},
        {"address": VIP, "port": 81, "persistence_timeout": 60, "persistence_netmask": "0",
         "real_servers": [{"address": "10.0.0.6", "upper_threshold": 5, "lower_threshold": 9}]},
        {"fwmark": 10, "address": VIP},
        {"address": VIP, "port": 82, "scheduler": "nosuch", "protocol": "icmp"},
        {"address": VIP, "port": 83, "scheduler": "nosuch",
         "real_servers": [{"address": "10.0.0.7", "weight": 70000},
                          {"address": "10.0.0.8", "upper_threshold": 5, "lower_threshold": 9}]},
    ]
    for state in ("rendered", "replaced", "overridden", "deleted", "merged"):
        res = run({"state": state, "config": config, "timeouts": None if state == "deleted" else {"udp": 0}})
        assert res["failed"], res
        errors = res["errors"]
        assert res["msg"].startswith(f"{len(errors)} problems in config, nothing was changed:\n"), res["msg"]
        assert all(error in res["msg"] for error in errors)
        named = ["config[0] TCP 192.0.2.1:80: scheduler 'w l c'",
                 "config[0] TCP 192.0.2.1:80: real server 10.0.0.5:8080: dr forwarding",
                 "config[1]: service 192.0.2.1 needs a port",
                 "config[2] TCP 192.0.2.1:81: IPv4 persistence netmask /0",
                 "config[3]: a firewall-mark service is identified by fwmark and family",
                 "config[4]: protocol 'icmp' is not one of tcp, udp, sctp",
                 "config[5] TCP 192.0.2.1:83: scheduler 'nosuch' is not one that Linux ships",
                 "config[5] TCP 192.0.2.1:83: real server 10.0.0.7: weight 70000"]
        if state in ("rendered", "replaced", "overridden"):  # what a new service would be, found without a table
            named.append("config[5] TCP 192.0.2.1:83: real server 10.0.0.8:83: lower threshold above upper (9 > 5)")
        if state != "deleted":
            named.append("timeouts: cannot set the udp timeout to 0")
        for needle in named:
            assert any(error.startswith(needle) for error in errors), (state, needle, errors)


@pytest.mark.parametrize(
    ("args", "needle"),
    [({"state": "deleted"}, "state is deleted but all of the following are missing: config"),
     ({"state": "deleted", "config": None}, "state deleted needs config: the services to delete, or config: []"),
     ({"state": "overridden", "config": None}, "state overridden needs config"),
     ({"state": "parsed"}, "state is parsed but all of the following are missing: running_config"),
     ({"state": "rendered"}, "state is rendered but all of the following are missing: config"),
     ({"state": "gathered", "config": []}, "state gathered does not use config"),
     ({"state": "deleted", "config": [], "timeouts": {"tcp": 1}}, "state deleted does not use timeouts"),
     ({"state": "merged", "running_config": "-A -t 192.0.2.1:80"}, "state merged does not use running_config"),
     ({"state": "parsed", "running_config": "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 10.0.0.1:81 -g"},
      "line 2 '-a -t 192.0.2.1:80 -r 10.0.0.1:81 -g': dr forwarding sends packets to the service port 80"),
     ({"config": [{"address": VIP, "port": 80, "ports": [80]}]}, "Unsupported parameters"),
     ({"config": [{"address": VIP, "port": "http"}]}, "unable to convert to int")],
)
def test_argument_errors(no_ipvs, args, needle):
    res = run(args)
    assert res["failed"] and needle in res["msg"], res


# --- with a stand-in for the kernel ----------------------------------------------------------------


def test_check_mode_plans_and_changes_nothing(fake):
    fake.load(PPC)
    config = [{"address": VIP, "port": 80, "scheduler": "wlc", "persistence_timeout": 300,
               "real_servers": [{"address": "10.0.0.1", "weight": 3}, {"address": "10.0.0.3"}]}]
    res = run({"state": "replaced", "config": config, "timeouts": {"tcp": 300}}, check_mode=True, diff=True)
    assert res["changed"] and not res.get("failed"), res
    assert res["changes"] == [
        "-E -t 192.0.2.1:80 -s wlc -p 300",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 1",
        "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 3",
        "-d -t 192.0.2.1:80 -r 10.0.0.2:80",
        "--set 300 0 0",
    ]
    assert fake.writes == [] and fake.reads == 1
    assert res["diff"]["before"] == "".join(f"{line}\n" for line in sorted(PPC.splitlines())) + "--set 900 120 300\n"
    assert res["diff"]["after"] == (
        "-A -t 192.0.2.1:80 -s wlc -p 300\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 3\n"
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 1\n--set 300 120 300\n")
    assert res["before"] == m.parse_ipvsadm_save(PPC)
    assert res["after"][0]["real_servers"] == [
        {"address": "10.0.0.1", "port": 80, "forwarding": "dr", "weight": 3},
        {"address": "10.0.0.3", "port": 80, "forwarding": "dr", "weight": 1}]


def test_apply_then_again_changes_nothing(fake):
    fake.load(PPC)
    args = {"state": "overridden", "config": SHOP, "timeouts": {"udp": 100}}
    res = run(args)
    assert res["changed"] and fake.writes == res["changes"] == [
        "-A -f 10 -s rr -p 3600", "-a -f 10 -r 10.0.0.1:0 -g -w 4", "-a -f 10 -r 10.0.0.2:0 -g -w 2",
        "-D -t 192.0.2.1:80", "--set 0 0 100"]
    assert fake.lines() == ["-A -f 10 -s rr -p 3600", "-a -f 10 -r 10.0.0.1:0 -g -w 4",
                            "-a -f 10 -r 10.0.0.2:0 -g -w 2"]
    for check_mode in (False, True):
        again = run(args, check_mode=check_mode, diff=True)
        assert not again["changed"] and again["changes"] == [] and "before" not in again, again
        assert again["diff"]["before"] == again["diff"]["after"]
    gathered = run({"state": "gathered"})
    assert not gathered["changed"] and gathered["gathered"] == m.parse_ipvsadm_save("\n".join(fake.lines()))
    assert not run({"state": "overridden", "config": gathered["gathered"]})["changed"]


def test_an_add_that_lost_a_race_reads_again_and_goes_on(fake):
    fake.load(PPC)

    def other_task():  # adds the service and one of its real servers just before this task does
        fake.table[m.ServiceKey("ipv4", "tcp", VIP, 443)] = (m.merge_service(None, m.service_spec_from_params(
            {"address": VIP, "port": 443, "scheduler": "wlc"})), {})
        key = m.ServiceKey("ipv4", "tcp", VIP, 443)
        fake.table[key][1][("10.0.0.1", 443)] = m.Dest("10.0.0.1", 443, weight=9)

    fake.before_add["-A -t 192.0.2.1:443 -s rr -p 300"] = other_task
    config = [{"address": VIP, "port": 443, "scheduler": "rr", "persistence_timeout": 300,
               "real_servers": [{"address": "10.0.0.1"}, {"address": "10.0.0.2"}]}]
    res = run({"config": config}, diff=True)
    assert not res.get("failed") and res["changed"], res
    # planned again on what the other task left: an edit instead of the add, and its weight 9 kept (merged)
    assert res["changes"] == ["-E -t 192.0.2.1:443 -s rr -p 300", "-a -t 192.0.2.1:443 -r 10.0.0.2:443 -g -w 1"]
    assert fake.reads == 2
    assert [line for line in fake.lines() if ":443" in line] == [
        "-A -t 192.0.2.1:443 -s rr -p 300", "-a -t 192.0.2.1:443 -r 10.0.0.1:443 -g -w 9",
        "-a -t 192.0.2.1:443 -r 10.0.0.2:443 -g -w 1"]
    assert res["diff"]["after"] == "".join(f"{line}\n" for line in fake.lines())
    assert not run({"config": config})["changed"]


def test_a_refusal_half_way_says_what_ran(fake):
    fake.refuse["-a -f 10 -r 10.0.0.2:0 -g -w 2"] = errno.EINVAL
    res = run({"state": "merged", "config": SHOP})
    assert res["failed"] and res["changed"], res
    assert res["changes"] == ["-A -f 10 -s rr -p 3600", "-a -f 10 -r 10.0.0.1:0 -g -w 4"]
    assert "refused (2 operations were done: see changes)" in res["msg"]
    # a second EEXIST after the re-plan is not retried again
    fake.table.clear()
    fake.before_add["-A -f 10 -s rr -p 3600"] = lambda: fake.load("-A -f 10 -s rr -p 3600\n")
    fake.before_add["-a -f 10 -r 10.0.0.1:0 -g -w 4"] = lambda: fake.load(
        "-A -f 10 -s rr -p 3600\n-a -f 10 -r 10.0.0.1:0 -g -w 4\n")
    fake.refuse.clear()
    res = run({"state": "merged", "config": SHOP})
    assert res["failed"] and "already exists" in res["msg"], res


def test_a_scheduler_the_host_lacks_fails_before_any_change(fake):
    fake.load(PPC)
    fake.missing_schedulers = {"twos"}
    config = [{"address": VIP, "port": 80, "scheduler": "twos"}, {"address": VIP, "port": 81, "scheduler": "twos"},
              {"address": VIP, "port": 82, "scheduler": "rr"}]
    for check_mode in (True, False):
        res = run({"config": config}, check_mode=check_mode)
        assert res["failed"] and fake.writes == [], res
        assert res["errors"] == [
            f"config[{i}] TCP 192.0.2.1:{80 + i}: scheduler twos is not available in this kernel (no module "
            "ip_vs_twos could be loaded)" for i in (0, 1)]


def test_merged_reports_what_depends_on_the_table_with_the_rest(fake):
    fake.load("-A -t 192.0.2.1:0 -s rr -p 600\n-a -t 192.0.2.1:0 -r 10.0.0.1:0 -g -w 1 -x 100\n")
    config = [{"address": VIP, "port": 0, "real_servers": [{"address": "10.0.0.1", "lower_threshold": 200}]},
              {"address": VIP, "port": 80, "scheduler": "nosuch"},
              {"address": VIP, "port": 81, "one_packet": True}]
    res = run({"config": config})
    assert res["failed"] and fake.writes == [], res
    assert res["errors"] == [
        "config[0] TCP 192.0.2.1:0: real server 10.0.0.1:0: lower threshold above upper (200 > 100)",
        "config[1] TCP 192.0.2.1:80: scheduler 'nosuch' is not one that Linux ships (rr, wrr, lc, wlc, lblc, lblcr, "
        "dh, sh, sed, nq, fo, ovf, mh, twos)",
        "config[2] TCP 192.0.2.1:81: one-packet scheduling is only for UDP services",
    ]
    # the first entry alone is fine in merged: port 0 of a persistent service, a lower under the current upper
    lower = {"address": "10.0.0.1", "lower_threshold": 50}
    res = run({"config": [{"address": VIP, "port": 0, "real_servers": [lower]}]})
    assert res["changes"] == ["-e -t 192.0.2.1:0 -r 10.0.0.1:0 -g -w 1 -x 100 -y 50"], res


def test_deleted_with_an_empty_config_deletes_everything(fake):
    fake.load(PPC + "-A -f 10 -s rr\n")
    res = run({"state": "deleted", "config": [{"fwmark": 10, "scheduler": "sh"}]})
    assert res["changes"] == ["-D -f 10"] and fake.lines() == sorted(PPC.splitlines())
    res = run({"state": "deleted", "config": []}, check_mode=True)
    assert res["changes"] == ["-D -t 192.0.2.1:80"] and fake.writes == ["-D -f 10"]
    res = run({"state": "deleted", "config": []})
    assert res["changed"] and fake.lines() == [] and res["after"] == []


@pytest.mark.parametrize("inventory", ["ppc", "pcc", "fwmark", "ha"])
def test_role_boot_file_is_the_module_rendered_text(no_ipvs, inventory):
    """One model: for each example inventory, the director role's boot file (``director_plan``'s ``rendered``,
    computed on the controller) is what ipvs_config state=rendered returns for the role's ``config``; the kernel
    test of the role (tests/kernel/test_roles_site.py) then finds it equal to ``ipvsadm -Sn`` after the play."""
    import pathlib

    import yaml
    from ansible_collections.lvs.ipvs.plugins.filter.director import director_plan

    path = pathlib.Path(__file__).resolve().parents[4] / "playbooks" / "inventories" / f"{inventory}.yml"
    plan = director_plan(yaml.safe_load(path.read_text())["all"]["vars"]["director_services"])
    assert plan["errors"] == [] and plan["rendered"].count("\n") >= 3
    assert run({"state": "rendered", "config": plan["config"]})["rendered"] == plan["rendered"]
