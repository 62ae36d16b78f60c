# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every state change four ways (check, apply, again, check again) against ipvsadm -Sn / --timeout."""

from __future__ import annotations

from _ipvs_helpers import VIP, apply, four_way


def _thresholds(ns, dest: str) -> tuple[str, str]:
    for line in ns.run("ipvsadm -Ln --thresholds").splitlines():
        cols = line.split()
        if cols[:2] == ["->", dest]:
            return cols[2], cols[3]
    raise AssertionError(f"no real server {dest} in ipvsadm -Ln --thresholds")


SVC = {"protocol": "tcp", "address": VIP, "port": 80}
UDP = {"protocol": "udp", "address": VIP, "port": 5060}


def test_service_create_edit_each_setting_and_remove(netns, run_module):
    ns = netns
    four_way(run_module, ns, "ipvs_service", {**SVC, "scheduler": "wlc"})
    assert ns.ipvsadm_save() == [f"-A -t {VIP}:80 -s wlc"]
    steps = [
        ({**SVC, "scheduler": "rr"}, f"-A -t {VIP}:80 -s rr"),
        ({**SVC, "persistent": True}, f"-A -t {VIP}:80 -s rr -p 300"),
        ({**SVC, "persistence_timeout": 600}, f"-A -t {VIP}:80 -s rr -p 600"),
        ({**SVC, "persistence_netmask": "255.255.255.0"}, f"-A -t {VIP}:80 -s rr -p 600 -M 255.255.255.0"),
        ({**SVC, "persistence_netmask": "16"}, f"-A -t {VIP}:80 -s rr -p 600 -M 255.255.0.0"),
        ({**SVC, "scheduler": "sh", "scheduler_flags": ["sh-port"]},
         f"-A -t {VIP}:80 -s sh -p 600 -M 255.255.0.0 -b sh-port"),
        ({**SVC, "scheduler_flags": []}, f"-A -t {VIP}:80 -s sh -p 600 -M 255.255.0.0"),
        ({**SVC, "persistent": False}, f"-A -t {VIP}:80 -s sh"),
    ]
    for args, line in steps:
        four_way(run_module, ns, "ipvs_service", args)
        assert ns.ipvsadm_save() == [line], args
    four_way(run_module, ns, "ipvs_service", {**SVC, "state": "absent"})
    assert ns.ipvsadm_save() == []


def test_udp_one_packet_and_persistence_engine(netns, run_module):
    ns = netns
    four_way(run_module, ns, "ipvs_service", {**UDP, "scheduler": "rr", "persistence_timeout": 60})
    four_way(run_module, ns, "ipvs_service", {**UDP, "one_packet": True})
    assert ns.ipvsadm_save() == [f"-A -u {VIP}:5060 -s rr -p 60 -o"]
    four_way(run_module, ns, "ipvs_service", {**UDP, "persistence_engine": "sip"})
    assert ns.ipvsadm_save() == [f"-A -u {VIP}:5060 -s rr -p 60 --pe sip -o"]
    # an edit of another setting keeps the engine (the kernel drops it when an edit leaves it out)
    four_way(run_module, ns, "ipvs_service", {**UDP, "scheduler": "wlc"})
    assert ns.ipvsadm_save() == [f"-A -u {VIP}:5060 -s wlc -p 60 --pe sip -o"]
    four_way(run_module, ns, "ipvs_service", {**UDP, "persistence_engine": "", "one_packet": False})
    assert ns.ipvsadm_save() == [f"-A -u {VIP}:5060 -s wlc -p 60"]


def test_fwmark_and_ipv6_services(netns, run_module):
    ns = netns
    four_way(run_module, ns, "ipvs_service", {"fwmark": 10, "persistence_timeout": 600})
    four_way(run_module, ns, "ipvs_service", {"fwmark": 10, "family": "ipv6", "scheduler": "rr",
                                              "persistence_timeout": 100, "persistence_netmask": "64"})
    four_way(run_module, ns, "ipvs_service", {"fwmark": 10, "family": "ipv6", "persistence_netmask": "48"})
    four_way(run_module, ns, "ipvs_service", {"address": "2001:DB8::1", "port": 443, "scheduler": "lc"})
    assert ns.ipvsadm_save() == sorted([
        "-A -f 10 -s wlc -p 600",
        "-A -f 10 -6 -s rr -p 100 -M 48",
        "-A -t [2001:db8::1]:443 -s lc",
    ])


def test_real_server_add_edit_each_setting_and_remove(netns, run_module):
    ns = netns
    apply(run_module, ns, "ipvs_service", {**SVC, "persistence_timeout": 600})
    rs = {"service": SVC, "address": "192.168.1.2"}
    four_way(run_module, ns, "ipvs_real_server", {**rs, "weight": 4})
    assert f"-a -t {VIP}:80 -r 192.168.1.2:80 -g -w 4" in ns.ipvsadm_save()
    four_way(run_module, ns, "ipvs_real_server", {**rs, "weight": 0})
    assert f"-a -t {VIP}:80 -r 192.168.1.2:80 -g -w 0" in ns.ipvsadm_save()
    four_way(run_module, ns, "ipvs_real_server", {**rs, "weight": 65535})

    def thresholds():
        return ns.ipvsadm_save(), ns.run("ipvsadm -Ln --thresholds")

    four_way(run_module, ns, "ipvs_real_server", {**rs, "upper_threshold": 100, "lower_threshold": 10},
             view=thresholds)
    assert _thresholds(ns, "192.168.1.2:80") == ("100", "10")
    four_way(run_module, ns, "ipvs_real_server", {**rs, "forwarding": "tunnel"})
    assert f"-a -t {VIP}:80 -r 192.168.1.2:80 -i -w 65535 --tun-type ipip" in ns.ipvsadm_save()
    four_way(run_module, ns, "ipvs_real_server", {**rs, "tunnel_type": "gue", "tunnel_port": 6080})
    four_way(run_module, ns, "ipvs_real_server", {**rs, "tunnel_checksum": "csum"})
    assert (f"-a -t {VIP}:80 -r 192.168.1.2:80 -i -w 65535 --tun-type gue --tun-port 6080 --tun-csum"
            in ns.ipvsadm_save())
    four_way(run_module, ns, "ipvs_real_server", {**rs, "forwarding": "dr"})
    assert f"-a -t {VIP}:80 -r 192.168.1.2:80 -g -w 65535" in ns.ipvsadm_save()
    # the thresholds survived every edit that did not name them
    assert _thresholds(ns, "192.168.1.2:80") == ("100", "10")
    nat = {"service": SVC, "address": "10.0.0.5", "port": 8080, "forwarding": "nat"}
    four_way(run_module, ns, "ipvs_real_server", nat)
    assert f"-a -t {VIP}:80 -r 10.0.0.5:8080 -m -w 1" in ns.ipvsadm_save()
    four_way(run_module, ns, "ipvs_real_server", {**nat, "state": "absent"})
    four_way(run_module, ns, "ipvs_real_server", {**rs, "state": "absent"})
    assert ns.ipvsadm_save() == [f"-A -t {VIP}:80 -s wlc -p 600"]


def test_real_servers_of_fwmark_and_ipv6_services(netns, run_module):
    ns = netns
    apply(run_module, ns, "ipvs_service", {"fwmark": 10, "persistence_timeout": 600})
    apply(run_module, ns, "ipvs_service", {"fwmark": 11, "family": "ipv6"})
    four_way(run_module, ns, "ipvs_real_server", {"service": {"fwmark": 10}, "address": "192.168.1.2", "weight": 4})
    four_way(run_module, ns, "ipvs_real_server", {"service": {"fwmark": 11, "family": "ipv6"},
                                                  "address": "2001:db8::2", "weight": 3})
    assert ns.ipvsadm_save() == sorted([
        "-A -f 10 -s wlc -p 600",
        "-a -f 10 -r 192.168.1.2:0 -g -w 4",
        "-A -f 11 -6 -s wlc",
        "-a -f 11 -6 -r [2001:db8::2]:0 -g -w 3",
    ])


def test_timeouts_only_given_values_change(netns, run_module):
    ns = netns
    view = ns.ipvsadm_timeouts
    assert view() == "Timeout (tcp tcpfin udp): 900 120 300"
    res = four_way(run_module, ns, "ipvs_timeouts", {"tcp": 300, "tcp_fin": 60, "udp": 100}, view=view)
    assert res["before"] == {"tcp": 900, "tcp_fin": 120, "udp": 300}
    assert res["timeouts"] == {"tcp": 300, "tcp_fin": 60, "udp": 100}
    assert res["diff"]["after"] == "Timeout (tcp tcpfin udp): 300 60 100\n"
    four_way(run_module, ns, "ipvs_timeouts", {"udp": 60}, view=view)
    assert view() == "Timeout (tcp tcpfin udp): 300 60 60"
    four_way(run_module, ns, "ipvs_timeouts", {"tcp_fin": 30}, view=view)
    four_way(run_module, ns, "ipvs_timeouts", {"tcp": 900}, view=view)
    assert view() == "Timeout (tcp tcpfin udp): 900 30 60"


def test_diff_shows_ipvsadm_lines(netns, run_module):
    ns = netns
    res = run_module(ns, "ipvs_service", {**SVC, "scheduler": "wlc", "persistence_timeout": 600},
                     check_mode=True, diff=True)
    assert res.result["diff"] == {"before": "", "after": f"-A -t {VIP}:80 -s wlc -p 600\n"}
    apply(run_module, ns, "ipvs_service", {**SVC, "scheduler": "wlc", "persistence_timeout": 600})
    res = run_module(ns, "ipvs_service", {**SVC, "scheduler": "rr"}, diff=True)
    assert res.result["diff"] == {
        "before": f"-A -t {VIP}:80 -s wlc -p 600\n",
        "after": f"-A -t {VIP}:80 -s rr -p 600\n",
    }
    assert res.result["changes"] == ["scheduler"]
