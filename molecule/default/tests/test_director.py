# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The director after lvs.ipvs.director: IPVS state, firewall marks, VIP, timeouts, sysctls."""

from __future__ import annotations

import json

testinfra_hosts = ["ansible://directors"]

MARK = 10


def test_ipvs_state_is_the_shop_service(host, lab) -> None:
    """ipvsadm, not the collection, reads the kernel: one fwmark service, persistent, DR to every real server."""
    lines = sorted(host.check_output("ipvsadm -Sn").splitlines())
    assert lines == sorted([
        f"-A -f {MARK} -s rr -p 600",
        *(f"-a -f {MARK} -r {address}:0 -g -w 1" for address in lab.real_servers.values()),
    ])


def test_marks_on_80_and_443(host, lab) -> None:
    rules = host.check_output("iptables -w -t mangle -S PREROUTING").splitlines()
    for port in (80, 443):
        wanted = (f"-d {lab.vip}/32 ", f"--dport {port} ", f"--set-xmark {MARK:#x}/0xffffffff")
        matching = [r for r in rules if all(w in r for w in wanted)]
        assert len(matching) == 1, f"one MARK rule for {lab.vip}:{port} expected in:\n" + "\n".join(rules)


def test_vip_on_eth0(host, lab) -> None:
    addrs = json.loads(host.check_output("ip -j -4 addr show dev eth0"))[0]["addr_info"]
    assert {"local": lab.vip, "prefixlen": 32} in [{"local": a["local"], "prefixlen": a["prefixlen"]} for a in addrs]


def test_timeouts(host) -> None:
    assert host.check_output("ipvsadm -Ln --timeout").strip() == "Timeout (tcp tcpfin udp): 600 120 300"


def test_persistence_sysctls(host) -> None:
    assert host.sysctl("net.ipv4.vs.expire_quiescent_template") == 1
    assert host.sysctl("net.ipv4.vs.expire_nodest_conn") == 1


def test_packages_installed_by_the_role(host) -> None:
    """The image has none of them: the role installed them from the distribution's packages."""
    packages = ("ipvsadm", "iptables", "kmod", "python3-pyroute2")
    out = host.check_output("dpkg-query -W -f '${Package} ${db:Status-Status}\\n' " + " ".join(packages))
    assert sorted(out.splitlines()) == sorted(f"{p} installed" for p in packages)
