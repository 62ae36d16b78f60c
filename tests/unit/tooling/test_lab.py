# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lvslab.lab and lvslab.cluster without namespaces: addresses, the director's templates, the verdicts."""

from __future__ import annotations

import subprocess

import pytest
from lvslab.cluster import verdict
from lvslab.lab import Answer, Lab, keepalived, vrrp_config

# /proc/net/ip_vs_conn: a firewall-mark template (IP, 0.0.0.10), a PCC template (port 0) and a connection.
CONN = """Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
IP  0A4D4F65 0000 0000000A 0000 0A4D4F0B 0000 NONE        3599
TCP 0A4D4F65 0000 0A4D4FFC 0000 0A4D4F0C 0000 NONE         599
TCP 0A4D4F65 D431 0A4D4FFC 0050 0A4D4F0C 0050 FIN_WAIT      58
"""


def test_addresses_follow_the_subnet():
    lab = Lab("unit", real_servers=3, clients=1, subnet=79)
    assert lab.vip == "10.77.79.250"
    assert [(n, h.ns, h.ip) for n, h in lab.hosts.items()] == [
        ("director", "unit-director", "10.77.79.2"), ("rs1", "unit-rs1", "10.77.79.11"),
        ("rs2", "unit-rs2", "10.77.79.12"), ("rs3", "unit-rs3", "10.77.79.13"),
        ("client1", "unit-client1", "10.77.79.101")]
    assert lab.real_servers == ["rs1", "rs2", "rs3"] and lab.clients == ["client1"]
    assert lab.server_of("10.77.79.12") == "rs2"


def test_two_directors_and_three_vips():
    lab = Lab("unit", real_servers=2, clients=1, subnet=79, directors=2, vips=3)
    assert lab.vips == ["10.77.79.250", "10.77.79.251", "10.77.79.252"] and lab.vip == "10.77.79.250"
    assert lab.directors == ["director", "director2"]
    assert (lab["director2"].ns, lab["director2"].ip) == ("unit-director2", "10.77.79.3")
    assert lab.director is lab["director"] and lab.real_servers == ["rs1", "rs2"]


@pytest.mark.parametrize("peers", [None, ["10.77.79.3"]], ids=["multicast", "unicast"])
def test_the_vrrp_config_is_one_keepalived_accepts(tmp_path, peers):
    conf = vrrp_config("director", interface="eth0", vips=["10.77.79.250", "10.77.79.251"], priority=150,
                       peers=peers, source="10.77.79.2" if peers else None)
    assert "        10.77.79.251/32 dev eth0\n" in conf and "    priority 150\n" in conf
    assert ("unicast_peer" in conf) is bool(peers)
    for text, ok in ((conf, True), (conf.replace("priority 150", "priority 999x"), False)):
        path = tmp_path / "keepalived.conf"
        path.write_text(text)
        proc = subprocess.run([keepalived(), "--config-test", "-f", str(path)], capture_output=True, text=True,
                              check=False, timeout=60)
        assert (proc.returncode == 0) is ok, proc.stderr


def test_templates_are_the_rows_with_client_port_0(monkeypatch):
    lab = Lab("unit", subnet=79)
    monkeypatch.setattr(lab, "conn_table", lambda director="director": CONN)
    rows = [(t["pro"], t["caddr"], t["vaddr"], t["vport"], lab.server_of(t["daddr"]), t["expires"])
            for t in lab.conn_templates()]
    assert rows == [("IP", "10.77.79.101", "0.0.0.10", 0, "rs1", 3599),
                    ("TCP", "10.77.79.101", "10.77.79.252", 0, "rs2", 599)]


def _answers(rows):
    return [Answer(i, c, p, s) for i, (c, p, s) in enumerate(rows, start=1)]


def test_verdicts():
    stuck = _answers([("client1", 80, "rs1"), ("client1", 443, "rs1"), ("client2", 80, "rs2")])
    assert verdict("fwmark", "shop", stuck)[0]
    ok, line = verdict("fwmark", "shop", _answers([("client1", 80, "rs1"), ("client1", 443, "rs2")]))
    assert not ok and "client1 NOT stuck on 80 and 443" in line
    per_port = _answers([("client1", 80, "rs1"), ("client1", 23, "rs2"), ("client1", 80, "rs1")])
    assert verdict("port", "ppc", per_port)[0]
    assert not verdict("client", "pcc", per_port)[0]
    assert verdict("none", "rr", _answers([("client1", 80, "rs1"), ("client1", 80, "rs2")]))[0]
    assert not verdict("none", "rr", _answers([("client1", 80, "rs1"), ("client1", 80, "(no answer: refused)")]))[0]
