# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Persistence proven with real requests through the director to DR real servers.

Each test talks to its own case's VIP (playbooks/lab/cases.yml) and checks what the clients
saw against the director's connection table (/proc/net/ip_vs_conn), not only the answers.
"""

from __future__ import annotations

import shlex
import time
from collections import Counter

from lvslab.cluster import SiteLab, verdict


def answers(lab: SiteLab, case: str, plan: list[tuple[str, int]]) -> list[tuple[str, int, str]]:
    got = [(c, p, lab.request(c, p, vip=lab.vip_of(case))) for c, p in plan]
    failed = [g for g in got if not g[2].startswith("rs")]
    assert not failed, f"{case}: requests without an answer from a real server: {failed}"
    return got


def templates(lab: SiteLab, **match: object) -> list[dict]:
    return [t for t in lab.conn_templates() if all(t[k] == v for k, v in match.items())]


def test_configured_over_ssh(lab: SiteLab) -> None:
    """Every host of the inventory answers over SSH (site.yml already ran over it)."""
    proc = lab.ansible("ansible", "all", "-m", "ansible.builtin.ping")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count('"pong"') == len(lab.hosts)


def test_no_persistence_spreads(lab: SiteLab) -> None:
    got = answers(lab, "none", [("client1", 80)] * 4)
    servers = Counter(row[2] for row in got)
    assert servers == Counter({"rs1": 2, "rs2": 2}), f"round robin without persistence should alternate: {got}"
    assert not templates(lab, vaddr=lab.vip_of("none")), "a service without persistence made templates"


def test_ppc_each_port_sticks_on_its_own(lab: SiteLab) -> None:
    got = answers(lab, "ppc", [("client1", 80), ("client1", 23)] * 4)
    per_port = {p: {row[2] for row in got if row[1] == p} for p in (80, 23)}
    # wrr 3:1 without persistence would send one of the four requests per port to the other server
    assert all(len(s) == 1 for s in per_port.values()), f"a port did not stick: {per_port}"
    # Which server each port lands on is the scheduler's business; what makes it PPC is one template
    # per port (PCC would hold a single port-0 template), each naming the server that answered.
    client1 = lab.hosts["client1"].ip
    mine = {t["vport"]: lab.server_of(t["daddr"]) for t in templates(lab, vaddr=lab.vip_of("ppc"), caddr=client1)}
    assert mine == {port: next(iter(s)) for port, s in per_port.items()}, f"PPC needs one template per port: {mine}"


def test_pcc_every_port_sticks(lab: SiteLab) -> None:
    got = answers(lab, "pcc", [("client1", 80), ("client1", 443), ("client1", 23)] * 3)
    servers = {row[2] for row in got}
    assert len(servers) == 1, f"PCC: client1's ports went to different servers: {got}"
    client1 = lab.hosts["client1"].ip
    tmpl = templates(lab, vaddr=lab.vip_of("pcc"), caddr=client1)
    assert [(t["vport"], lab.server_of(t["daddr"])) for t in tmpl] == [(0, servers.pop())], tmpl


def test_fwmark_80_443_stick_together_with_one_certificate(lab: SiteLab) -> None:
    seen = {}
    for client in ("client1", "client2"):
        got = answers(lab, "fwmark", [(client, 80), (client, 443)] * 4)
        servers = {row[2] for row in got}
        assert len(servers) == 1, f"{client}: 80 and 443 did not stick to one server: {got}"
        seen[client] = servers.pop()
        tmpl = templates(lab, caddr=lab.hosts[client].ip, pro="IP")
        assert [(t["vaddr"], lab.server_of(t["daddr"])) for t in tmpl] == [("0.0.0.10", seen[client])], tmpl
    # round robin gives the second client the other server: both real servers serve the VIP
    assert set(seen.values()) == {"rs1", "rs2"}, seen
    # the one certificate: the same fingerprint from each real server, and through the VIP
    prints = {rs: lab.cert_sha256("client1", lab.hosts[rs].ip) for rs in lab.real_servers}
    prints["vip"] = lab.cert_sha256("client1", lab.vip_of("fwmark"))
    assert len(set(prints.values())) == 1 and all(prints.values()), prints
    for rs in lab.real_servers:
        assert lab.key_path(rs).stat().st_mode & 0o777 == 0o600


def test_timeout_expires_and_client_is_scheduled_afresh(lab: SiteLab) -> None:
    vip = lab.vip_of("timeout")
    client1 = lab.hosts["client1"].ip
    first = answers(lab, "timeout", [("client1", 80)])[0][2]
    tmpl = templates(lab, vaddr=vip, caddr=client1)
    assert [lab.server_of(t["daddr"]) for t in tmpl] == [first], tmpl
    deadline = time.monotonic() + 60
    while templates(lab, vaddr=vip, caddr=client1):
        assert time.monotonic() < deadline, f"the 4 s template still lives after 60 s: {lab.conn_table()}"
        time.sleep(1)
    conns = [line for line in lab.director.run("ipvsadm -Lnc").splitlines() if f"{vip}:80" in line]
    assert not conns, f"template gone but connections left: {conns}"
    second = answers(lab, "timeout", [("client1", 80)])[0][2]
    assert second != first, "after the template expired, round robin should schedule client1 afresh"
    assert [lab.server_of(t["daddr"]) for t in templates(lab, vaddr=vip, caddr=client1)] == [second]


def test_granularity_two_clients_of_one_24_share_a_server(lab: SiteLab) -> None:
    got = answers(lab, "granularity", [("client1", 80), ("client2", 80)] * 3)
    servers = {row[2] for row in got}
    assert len(servers) == 1, f"clients of one /24 did not share a server: {got}"
    tmpl = templates(lab, vaddr=lab.vip_of("granularity"))
    assert [(t["caddr"], lab.server_of(t["daddr"])) for t in tmpl] == [(f"{lab.net}.0", servers.pop())], tmpl


def test_dr_is_dr(lab: SiteLab) -> None:
    """Real servers answer the client directly, and only the director answers ARP for a VIP."""
    for case in lab.case_names:
        for svc in lab.case(case)["services"]:
            ports = [p or 80 for p in svc["ports"]]
            answers(lab, case, [("client2", p) for p in ports])
    # The kernel adds the per-CPU counters into a service's totals from its rate estimator, every 2 s and, from
    # Linux 6.2 on, only once that estimator has joined its kthread (seconds after the service was made): wait.
    deadline = time.monotonic() + 60
    while True:
        stats = lab.director.run("ipvsadm -Ln --stats --exact")
        services = [line.split() for line in stats.splitlines() if line.startswith(("TCP", "FWM"))]
        if all(int(f[2]) > 0 for f in services) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(services) == 7, stats
    for fields in services:
        conns, inpkts, outpkts = (int(x) for x in fields[2:5])
        assert conns > 0 and inpkts > 0, f"no traffic through {fields[1]}:\n{stats}"
        assert outpkts == 0, f"{fields[1]}: the director forwarded replies, this is not DR:\n{stats}"
    director_mac = lab.mac("director")
    for case in lab.case_names:
        assert lab.arp_replies("client1", lab.vip_of(case)) == [director_mac], f"ARP for {lab.vip_of(case)}"
    # the probe itself works: a real server answers ARP for its own address
    assert lab.arp_replies("client1", lab.hosts["rs1"].ip) == [lab.mac("rs1")]


def test_a_broken_director_is_caught(lab: SiteLab) -> None:
    """The checks catch a broken cluster: without its marks the fwmark case fails, and passes once they are back.

    (What ``LVS_LAB_SABOTAGE="iptables -t mangle -F PREROUTING"`` did by hand before.)
    """
    plan = [("client1", 80), ("client1", 443)] * 3
    saved = lab.director.run("iptables-save -t mangle")
    lab.director.run("iptables -w -t mangle -F PREROUTING")
    try:
        ok, line = verdict("fwmark", "fwmark without its marks", lab.requests(plan, vip=lab.vip_of("fwmark")))
        assert not ok, line
    finally:
        lab.director.run(f"printf %s {shlex.quote(saved)} | iptables-restore -w")
    ok, line = verdict("fwmark", "fwmark with its marks back", lab.requests(plan, vip=lab.vip_of("fwmark")))
    assert ok, line
