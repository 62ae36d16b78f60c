# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The seed scenarios: built with the modules in one namespace and typed with ipvsadm in another,
the two ``ipvsadm -Sn`` (and ``ipvsadm -Ln --timeout``) must be equal line for line."""

from __future__ import annotations

import pytest
from _ipvs_helpers import RS, VIP, apply


def _real_servers(run_module, ns, service: dict) -> None:
    for address, weight in RS:
        apply(run_module, ns, "ipvs_real_server",
              {"service": service, "address": address, "forwarding": "dr", "weight": weight})


def _ipvsadm_real_servers(ns, selector: str) -> None:
    for address, weight in RS:
        ns.run(f"ipvsadm -a {selector} -r {address} -g -w {weight}")


SCENARIOS = {
    "ppc": (
        [({"protocol": "tcp", "address": VIP, "port": 80, "scheduler": "wlc", "persistence_timeout": 600}, True),
         ({"protocol": "tcp", "address": VIP, "port": 22, "scheduler": "wlc", "persistence_timeout": 300}, True)],
        [f"-A -t {VIP}:80 -s wlc -p 600", f"-t {VIP}:80", f"-A -t {VIP}:22 -s wlc -p 300", f"-t {VIP}:22"],
    ),
    "pcc": (
        [({"protocol": "tcp", "address": VIP, "port": 0, "scheduler": "wlc", "persistence_timeout": 600}, True)],
        [f"-A -t {VIP}:0 -s wlc -p 600", f"-t {VIP}:0"],
    ),
    "fwmark": (
        [({"fwmark": 10, "scheduler": "wlc", "persistence_timeout": 600}, True)],
        ["-A -f 10 -s wlc -p 600", "-f 10"],
    ),
    "granularity": (
        [({"address": VIP, "port": 80, "scheduler": "wlc", "persistence_timeout": 600,
           "persistence_netmask": "255.255.255.0"}, True)],
        [f"-A -t {VIP}:80 -s wlc -p 600 -M 255.255.255.0", f"-t {VIP}:80"],
    ),
    "ipv6": (
        [({"protocol": "udp", "address": "2001:db8::1", "port": 53, "scheduler": "sh",
           "scheduler_flags": ["sh-port"], "persistence_timeout": 100, "persistence_netmask": "64"}, False),
         ({"fwmark": 11, "family": "ipv6", "scheduler": "rr"}, False)],
        ["-A -u [2001:db8::1]:53 -s sh -b sh-port -p 100 -M 64", "-A -f 11 -6 -s rr"],
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_matches_ipvsadm(name, make_netns, run_module):
    services, commands = SCENARIOS[name]
    by_module, by_hand = make_netns("mod"), make_netns("hand")
    for args, with_rs in services:
        apply(run_module, by_module, "ipvs_service", args)
        if with_rs:
            service = {k: args[k] for k in ("protocol", "address", "port", "fwmark") if k in args}
            _real_servers(run_module, by_module, service)
    for cmd in commands:
        if cmd.startswith("-A"):
            by_hand.run(f"ipvsadm {cmd}")
        else:
            _ipvsadm_real_servers(by_hand, cmd)
    assert by_module.ipvsadm_save() == by_hand.ipvsadm_save()
    assert by_module.ipvsadm_save(), "the scenario built nothing"


def test_timeouts_match_ipvsadm_set(make_netns, run_module):
    by_module, by_hand = make_netns("mod"), make_netns("hand")
    apply(run_module, by_module, "ipvs_timeouts", {"tcp": 300, "tcp_fin": 60, "udp": 100})
    by_hand.run("ipvsadm --set 300 60 100")
    assert by_module.ipvsadm_timeouts() == by_hand.ipvsadm_timeouts() == "Timeout (tcp tcpfin udp): 300 60 100"


def test_persistence_added_to_live_service_matches_ipvsadm_edit(make_netns, run_module):
    by_module, by_hand = make_netns("mod"), make_netns("hand")
    apply(run_module, by_module, "ipvs_service", {"address": VIP, "port": 80, "scheduler": "wlc"})
    _real_servers(run_module, by_module, {"address": VIP, "port": 80})
    by_hand.run(f"ipvsadm -A -t {VIP}:80 -s wlc")
    _ipvsadm_real_servers(by_hand, f"-t {VIP}:80")
    assert by_module.ipvsadm_save() == by_hand.ipvsadm_save()

    res = apply(run_module, by_module, "ipvs_service",
                {"address": VIP, "port": 80, "scheduler": "wlc", "persistent": True, "persistence_timeout": 600})
    assert res["changed"] and res["changes"] == ["persistent", "persistence_timeout"]
    by_hand.run(f"ipvsadm -E -t {VIP}:80 -s wlc -p 600")
    assert by_module.ipvsadm_save() == by_hand.ipvsadm_save()
    assert f"-A -t {VIP}:80 -s wlc -p 600" in by_module.ipvsadm_save()


def test_rendering_equals_ipvsadm_save(make_netns, run_module):
    """The model's rendering (ipvs_info rules) is what ipvsadm -Sn prints, for every kind of setting."""
    ns = make_netns()
    for cmd in (
        f"-A -t {VIP}:80 -s wlc -p 600 -M 255.255.255.0",
        f"-a -t {VIP}:80 -r 192.168.1.2 -g -w 4",
        f"-a -t {VIP}:80 -r 192.168.1.3:8080 -m -w 0 -x 100 -y 10",
        "-A -f 10 -s wlc -p 600",
        "-a -f 10 -r 192.168.1.2 -g -w 4",
        "-A -f 11 -6 -s sh -b sh-fallback,sh-port -p 360",
        "-a -f 11 -6 -r 2001:db8::2 -i -w 1",
        "-A -u [2001:db8::1]:53 -s rr -p 100 -M 64 -o",
        "-a -u [2001:db8::1]:53 -r [2001:db8::3]:53 -m -w 0",
        "-A --sctp-service 192.168.0.5:9 -s mh -b mh-port",
        "-A -t 192.168.0.6:80 -s rr",
        "-a -t 192.168.0.6:80 -r 192.168.1.9:80 -i --tun-type gue --tun-port 6080 --tun-nocsum",
        "-a -t 192.168.0.6:80 -r 192.168.1.10:80 -i --tun-type gre --tun-csum",
        "-A -u 192.168.0.9:5060 -s sh -b sh-port -p 100 -M 255.255.0.0 --pe sip -o",
    ):
        ns.run(f"ipvsadm {cmd}")
    res = run_module(ns, "ipvs_info", {}, check_mode=True)
    assert not res.failed, res.msg
    assert res.result["rules"] == ns.ipvsadm_save()
    rs = {d["address"]: d for s in res.result["services"] for d in s["real_servers"]}
    assert (rs["192.168.1.3"]["upper_threshold"], rs["192.168.1.3"]["lower_threshold"]) == (100, 10)
    assert rs["192.168.1.9"]["tunnel_port"] == 6080
