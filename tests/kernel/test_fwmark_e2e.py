# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Firewall-mark persistence end to end, with real TCP connections through a DR lab.

lvs.ipvs.fwmark_rule marks VIP:80 and VIP:443 on the director; a persistent IPVS service on
that mark sends each client's connections to both ports to one real server. Without the mark
(one non-persistent service per port) the same requests are spread over the real servers.
The IPVS part is made with ipvsadm here (an independent tool), so the test proves the marks.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _fwmark_support import NamedNetns

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from drlab import DrLab

MARK = 10


def _templates(conn_table: str) -> list[list[str]]:
    """Persistence templates of a firewall-mark service: protocol IP, virtual address 0.0.0.<mark>."""
    rows = [line.split() for line in conn_table.splitlines()[1:] if line.strip()]
    return [row for row in rows if row[0] == "IP" and int(row[3], 16) == MARK]


def test_marked_ports_stick_to_one_real_server(run_module, ipvs_kernel):
    with DrLab("fwe2e", real_servers=2, clients=2, ports=(80, 443)) as lab:
        director = NamedNetns(lab.director.ns)
        res = run_module(director, "fwmark_rule", {"mark": MARK, "address": lab.vip, "ports": [80, 443]})
        assert res.rc == 0 and res.changed, res.result
        lab.director.run(f"ipvsadm -A -f {MARK} -s rr -p 600")
        for rs in lab.rs:
            lab.director.run(f"ipvsadm -a -f {MARK} -r {rs.ip} -g")

        seen = {}
        for client in ("client1", "client2"):
            answers = [lab.request(client, port) for port in (80, 443, 80, 443, 443, 80)]
            assert len(set(answers)) == 1, f"{client}: {answers}"
            seen[client] = answers[0]
        # Two clients, round robin: each got its own real server, and kept it on both ports.
        assert sorted(seen.values()) == ["rs1", "rs2"], seen
        assert len(_templates(lab.conn_table())) == 2, lab.conn_table()

        # Without the mark: one service per port, no persistence; the same requests spread out.
        assert run_module(director, "fwmark_rule",
                          {"mark": MARK, "address": lab.vip, "state": "absent"}).changed
        lab.director.run("ipvsadm -C")
        for port in (80, 443):
            lab.director.run(f"ipvsadm -A -t {lab.vip}:{port} -s rr")
            for rs in lab.rs:
                lab.director.run(f"ipvsadm -a -t {lab.vip}:{port} -r {rs.ip} -g")
        answers = [lab.request("client1", port) for port in (80, 443, 80, 443, 80, 443)]
        assert sorted(set(answers)) == ["rs1", "rs2"], answers
        # Each port's service schedules on its own: port 80 alternates, port 443 alternates.
        assert answers[0::2] != [answers[0]] * 3 and answers[1::2] != [answers[1]] * 3, answers
