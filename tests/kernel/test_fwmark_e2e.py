# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Firewall-mark persistence end to end, with real TCP connections through a DR lab.

On the director, lvs.ipvs.fwmark_rule marks VIP:80 and VIP:443, lvs.ipvs.ipvs_service makes a
persistent service on that mark and lvs.ipvs.ipvs_real_server adds the two DR real servers.
Each client's connections to both ports then land on one real server, repeatedly. Without the
mark (one non-persistent service per port) the same requests are scheduled independently and
spread over both real servers. ``ipvsadm -Sn`` and /proc/net/ip_vs_conn are the oracle.
"""

from __future__ import annotations

from _fwmark_support import NamedNetns
from lvslab.lab import Lab

MARK = 10


def _templates(conn_table: str) -> list[list[str]]:
    """Persistence templates of a firewall-mark service: protocol IP, virtual address 0.0.0.<mark>."""
    rows = [line.split() for line in conn_table.splitlines()[1:] if line.strip()]
    return [row for row in rows if row[0] == "IP" and int(row[3], 16) == MARK]


def _ok(res) -> None:
    assert res.rc == 0 and not res.failed, res.result


def test_marked_ports_stick_to_one_real_server(run_module, ipvs_kernel):
    with Lab("fwe2e", real_servers=2, clients=2, ports=(80, 443)) as lab:
        director = NamedNetns(lab.director.ns)
        marks = {"mark": MARK, "address": lab.vip, "ports": [80, 443]}
        _ok(run_module(director, "fwmark_rule", marks))
        _ok(run_module(director, "ipvs_service",
                       {"fwmark": MARK, "scheduler": "rr", "persistence_timeout": 600}))
        for rs in lab.rs:
            _ok(run_module(director, "ipvs_real_server",
                           {"service": {"fwmark": MARK}, "address": rs.ip, "forwarding": "dr"}))
        saved = sorted(x for x in lab.director.run("ipvsadm -Sn").splitlines() if x.strip())
        assert saved == sorted([f"-A -f {MARK} -s rr -p 600",
                                *(f"-a -f {MARK} -r {rs.ip}:0 -g -w 1" for rs in lab.rs)]), saved
        assert not run_module(director, "fwmark_rule", marks).changed

        seen = {}
        for client in ("client1", "client2"):
            answers = [lab.request(client, port) for port in (80, 443, 80, 443, 443, 80)]
            assert len(set(answers)) == 1, f"{client}: {answers}"
            seen[client] = answers[0]
        # Two clients, round robin: each got its own real server, and kept it on both ports.
        assert sorted(seen.values()) == ["rs1", "rs2"], seen
        assert len(_templates(lab.conn_table())) == 2, lab.conn_table()
        # Once more for client1, after client2's template exists: still the same server.
        assert {lab.request("client1", port) for port in (443, 80)} == {seen["client1"]}

        # Without the mark: one non-persistent service per port; the same requests spread out.
        _ok(run_module(director, "fwmark_rule", {"mark": MARK, "address": lab.vip, "state": "absent"}))
        _ok(run_module(director, "ipvs_service", {"fwmark": MARK, "state": "absent"}))
        for port in (80, 443):
            service = {"protocol": "tcp", "address": lab.vip, "port": port}
            _ok(run_module(director, "ipvs_service", {**service, "scheduler": "rr"}))
            for rs in lab.rs:
                _ok(run_module(director, "ipvs_real_server",
                               {"service": service, "address": rs.ip, "forwarding": "dr"}))
        assert "-f" not in lab.director.run("ipvsadm -Sn")
        assert "MARK" not in lab.director.run("iptables -t mangle -S")
        answers = [lab.request("client1", port) for port in (80, 443, 80, 443, 80, 443)]
        assert sorted(set(answers)) == ["rs1", "rs2"], answers
        # Each port's service schedules on its own: port 80 alternates, and so does port 443.
        assert len(set(answers[0::2])) == 2 and len(set(answers[1::2])) == 2, answers
