# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The director role with ``director_engine: keepalived``, by ansible-playbook, on a kernel with IPVS.

One DR lab (a director and two real servers with their web services); the role runs on the director
namespace without systemd, so it starts keepalived itself and reloads it with SIGHUP. Judged by the file
on disk, ``ipvsadm -Sn`` against the ``ipvsadm -R`` text ``director_plan`` renders for the same services,
the VIP that keepalived's VRRP put on eth0, and the recap of each run: a config keepalived refuses is never
installed, ``--check --diff`` shows the keepalived.conf diff and changes nothing, the second run changes
nothing, an edit reloads keepalived, and a table that differs from the rendered one fails the role.
The boot files (``director_boot_persistence``) are written by the apply and the second run, where the
boot file of the IPVS table must say that keepalived builds it; the other runs leave them out (seven
module runs each, which those tests do not look at).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from _roles import PlaybookRun, RoleLab, write_inventory
from ansible_collections.lvs.ipvs.plugins.filter import director as director_filters
from ansible_collections.lvs.ipvs.plugins.filter import keepalived

SCRATCH = Path(os.environ.get("BED_OUT") or "/tmp") / "roles-keepalived"
PLAYBOOK = """\
- name: A director run by keepalived
  hosts: directors
  gather_facts: false
  roles:
    - role: lvs.ipvs.director
"""


class Run:
    def __init__(self, rl: RoleLab) -> None:
        self.rl = rl
        self.dir = rl.host_dir("director")
        self.conf = self.dir / "keepalived" / "keepalived.conf"
        self.pid = self.dir / "keepalived.pid"
        vip, rs = rl.lab.vip, [h.ip for h in rl.lab.rs]
        self.services = [
            {"name": "ppc", "vip": vip, "ports": [80], "scheduler": "rr", "persistence_timeout": 300,
             "real_servers": [{"address": ip, "weight": 2} for ip in rs]},
            {"name": "pcc", "vip": vip, "ports": [0], "persistence_timeout": 600, "health_check": {"port": 443},
             "real_servers": [{"address": ip} for ip in rs]},
            {"name": "shop", "vip": vip, "ports": [80, 443], "fwmark": 10, "persistence_timeout": 3600,
             "health_check": {"type": "http", "path": "/"}, "real_servers": [{"address": ip} for ip in rs]},
        ]
        self.playbook_file = rl.scratch / "keepalived.yml"
        self.playbook_file.write_text(PLAYBOOK)

    def vars(self, services: list[dict] | None = None, **extra) -> dict:
        return {
            **self.rl.host_vars("director"),
            "director_engine": "keepalived",
            "director_services": services or self.services,
            "director_keepalived_conf": str(self.conf),
            "director_keepalived_pid_file": str(self.pid),
            "director_vrrp_virtual_router_id": 61,
            "director_vrrp_priority": 150,
            "director_boot_persistence": False,
            **extra,
        }

    def play(self, *args: str, name: str = "inventory", services: list[dict] | None = None, **extra) -> PlaybookRun:
        inventory = write_inventory(self.rl.scratch / f"{name}.yml",
                                    [{"directors": {"kd-director": self.vars(services, **extra)}, "real_servers": {}}])
        return self.rl.playbook(inventory, *args, playbook=str(self.playbook_file))

    def ipvs(self) -> list[str]:
        return sorted(line for line in self.rl.lab.director.run("ipvsadm -Sn").splitlines() if line.strip())

    def keepalived_running(self) -> bool:
        return self.rl.lab.director.run(f"pgrep --pidfile {self.pid} keepalived", check=False).strip() != ""


def rendered(services: list[dict]) -> list[str]:
    return sorted(director_filters.director_plan(services)["rendered"].splitlines())


@pytest.fixture(scope="module")
def kd(ipvs_kernel) -> Iterator[Run]:
    with RoleLab("kd", SCRATCH, ports=(80, 443)) as rl:
        rl.lab.start_servers()
        yield Run(rl)


def test_a_config_keepalived_refuses_is_never_installed(kd):
    # The filter cannot know the director's interfaces; keepalived --config-test (the role's validate) does.
    run = kd.play(name="bad-interface", director_vrrp_interface="eth9")
    assert run.rc != 0 and run.failed() == 1, run.out[-4000:]
    assert "Write keepalived.conf" in run.out and "eth9" in run.out, run.out[-4000:]
    assert not kd.conf.exists()
    assert not kd.keepalived_running()
    assert kd.ipvs() == []


def test_check_diff_shows_keepalived_conf_and_changes_nothing(kd):
    run = kd.play("--check", "--diff", name="check")
    assert run.rc == 0 and run.failed() == 0, run.out[-6000:]
    assert "+virtual_server fwmark 10 {" in run.out and "+vrrp_instance VI_LVS {" in run.out, run.out[-6000:]
    assert not kd.conf.exists() and not kd.keepalived_running() and kd.ipvs() == []


def test_apply_builds_the_rendered_table(kd):
    run = kd.play(name="apply", director_boot_persistence=True)
    assert run.rc == 0 and run.failed() == 0, run.out[-6000:]
    assert run.changed() > 0
    # At boot keepalived builds the table: the boot file of the IPVS table holds no rules, and says so.
    boot = (kd.dir / "lvs-ipvs" / "ipvs.rules").read_text()
    assert boot == f"# director_engine keepalived: keepalived builds the table from {kd.conf}\n", boot
    assert kd.conf.read_text() == keepalived.keepalived_config(
        kd.services, {"router_id": "kd-director", "vrrp": {"name": "VI_LVS", "interface": "eth0",
                                                           "virtual_router_id": 61, "priority": 150}})
    assert kd.keepalived_running()
    # The role waited for keepalived and checked the kernel; ipvsadm, the independent view, agrees.
    assert kd.ipvs() == rendered(kd.services)
    assert f"{kd.rl.lab.vip}/32" in kd.rl.lab.director.run("ip -br addr show dev eth0")  # VRRP holds the VIP
    # The mark rules stay with fwmark_rule.
    marks = kd.rl.lab.director.run("iptables -w -t mangle -S PREROUTING")
    assert "--dport 80" in marks and "--dport 443" in marks and "0xa/0xffffffff" in marks, marks


def test_second_run_changes_nothing(kd):
    run = kd.play(name="again", director_boot_persistence=True)
    assert run.rc == 0 and run.failed() == 0, run.out[-6000:]
    print(f"second run: changed={run.changed()}")
    assert run.changed() == 0, run.out[-6000:]


def test_an_edit_reloads_keepalived(kd):
    services = copy.deepcopy(kd.services)
    services[0]["real_servers"][0]["weight"] = 3
    pid = kd.pid.read_text().strip()
    run = kd.play(name="edit", services=services)
    assert run.rc == 0 and run.failed() == 0, run.out[-6000:]
    assert "Reload keepalived (no systemd)" in run.out and run.changed() >= 2, run.out[-6000:]
    assert kd.pid.read_text().strip() == pid  # reloaded, not restarted
    assert kd.ipvs() == rendered(services)
    assert any(line.endswith(" -w 3") and ":80 -r " in line for line in kd.ipvs())
    kd.services = services


def test_the_role_fails_when_the_table_differs(kd):
    vip = kd.rl.lab.vip
    kd.rl.lab.director.run(f"ipvsadm -A -u {vip}:53 -s rr")
    try:
        run = kd.play(name="differs", director_keepalived_verify_timeout=3)
        assert run.rc != 0 and run.failed() == 1, run.out[-6000:]
        assert f"service in the kernel that keepalived.conf does not describe: -A -u {vip}:53 -s rr" in run.out, \
            run.out[-6000:]
    finally:
        kd.rl.lab.director.run(f"ipvsadm -D -u {vip}:53")
    assert kd.ipvs() == rendered(kd.services)


def test_inventory_is_plain_yaml(kd):
    """The inventories these tests wrote are what a user would write (no Python objects)."""
    data = yaml.safe_load((kd.rl.scratch / "apply.yml").read_text())
    assert data["all"]["children"]["directors"]["hosts"]["kd-director"]["director_engine"] == "keepalived"
