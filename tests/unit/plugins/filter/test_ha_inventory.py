# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/inventories/ha.yml: ansible-inventory parses it, and the director role's checks accept it.

The checks are the role's own: its argument spec (meta/argument_specs.yml, through ansible's validator),
``director_plan`` on the services (the table rendered is the hand-typed one of the file's comment) and
``sync_daemon_errors`` on the sync settings, as roles/director/tasks/validate.yml runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.lvs.ipvs.plugins.filter.director import director_plan, sync_daemon_errors
from ansible_collections.lvs.ipvs.plugins.filter.keepalived import keepalived_config

REPO = Path(__file__).resolve().parents[4]
HA = REPO / "playbooks" / "inventories" / "ha.yml"
SPEC = yaml.safe_load((REPO / "roles" / "director" / "meta" / "argument_specs.yml").read_text())


def _vars() -> dict:
    return yaml.safe_load(HA.read_text())["all"]["vars"]


def _role_errors(variables: dict) -> list[str]:
    params = {k: v for k, v in variables.items() if k.startswith("director_")}
    return ArgumentSpecValidator(SPEC["argument_specs"]["main"]["options"]).validate(params).error_messages


def test_ansible_inventory_parses_two_directors_and_two_real_servers():
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(HA), "--list"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    inventory = json.loads(out)
    assert inventory["directors"]["hosts"] == ["director1", "director2"]
    assert inventory["real_servers"]["hosts"] == ["rs1", "rs2"]
    for director in ("director1", "director2"):
        hostvars = inventory["_meta"]["hostvars"][director]
        assert hostvars["director_sync_enabled"] is True and hostvars["director_sync_id"] == 15
        assert hostvars["director_engine"] == "keepalived"
    priorities = [inventory["_meta"]["hostvars"][d]["director_vrrp_priority"] for d in ("director1", "director2")]
    assert priorities == [150, 100]


def test_the_role_accepts_it():
    variables = _vars()
    assert _role_errors(variables) == []
    # the same check refuses a broken copy (it can fail)
    assert _role_errors({**variables, "director_sync_enabled": "maybe"})


def test_the_services_render_the_hand_typed_table():
    plan = director_plan(_vars()["director_services"])
    assert plan["errors"] == []
    typed = [line.split("ipvsadm ", 1)[1] for line in HA.read_text().splitlines()
             if line.startswith("#   ipvsadm -") and "--start-daemon" not in line]
    assert sorted(plan["rendered"].splitlines()) == sorted(typed) and len(typed) == 9
    kinds = {(s.get("fwmark") is not None, tuple(s["ports"])) for s in _vars()["director_services"]}
    assert kinds == {(True, (80, 443)), (False, (22,)), (False, (0,))}  # firewall mark, PPC, PCC


def test_the_sync_settings_pass_the_roles_check():
    v = _vars()
    settings = {"daemons": v["director_sync_daemons"], "interface": v["director_sync_interface"],
                "syncid": v["director_sync_id"], "group": "224.0.0.81", "port": 8848, "ttl": 1, "maxlen": 0}
    assert settings["daemons"] == ["master", "backup"]
    assert sync_daemon_errors(settings) == []
    assert v["director_sysctls"] == {"sync_persist_mode": 0, "sloppy_tcp": 1}


def test_director1s_keepalived_conf():
    """The keepalived.conf the role renders for director1 (as roles/director/vars/main.yml builds its HA section):
    one virtual_server per service with the persistence of the hand-typed table, and the VRRP instance holding the
    three VIPs at priority 150."""
    v = _vars()
    vrrp = {"name": "VI_LVS", "state": "BACKUP", "interface": v["director_interface"],
            "virtual_router_id": v["director_vrrp_virtual_router_id"], "priority": 150, "advert_int": 1,
            "auth_pass": "", "unicast_src_ip": "", "unicast_peers": [], "nopreempt": False}
    conf = keepalived_config(v["director_services"], {"router_id": "director1", "check": {}, "vrrp": [vrrp]})
    print(conf)
    assert "virtual_server fwmark 10 {" in conf
    assert "virtual_server 192.168.0.2 22 {" in conf and "virtual_server 192.168.0.3 0 {" in conf
    assert conf.count("virtual_server ") == 3 and conf.count("real_server ") == 6
    for timeout in (3600, 300, 600):
        assert f"persistence_timeout {timeout}\n" in conf
    assert "priority 150" in conf and "virtual_router_id 51" in conf
    for vip in ("192.168.0.1", "192.168.0.2", "192.168.0.3"):
        assert vip in conf.split("vrrp_instance", 1)[1]
