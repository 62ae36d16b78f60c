# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two DR real servers after lvs.ipvs.real_server: ARP sysctls, the VIP on lo, one shared cert."""

from __future__ import annotations

import json

import pytest
import testinfra

testinfra_hosts = ["ansible://real_servers"]

VIP = "192.0.2.10"
CERT = "/etc/ssl/certs/lvs-ipvs-www.example.com.crt"
KEY = "/etc/ssl/private/lvs-ipvs-www.example.com.key"
REAL_SERVERS = ("lvs-real-server-1", "lvs-real-server-2")


@pytest.mark.parametrize("iface", ["all", "eth0"])
def test_arp_ignore(host, iface: str) -> None:
    assert host.sysctl(f"net.ipv4.conf.{iface}.arp_ignore") == 1


@pytest.mark.parametrize("iface", ["all", "eth0"])
def test_arp_announce(host, iface: str) -> None:
    assert host.sysctl(f"net.ipv4.conf.{iface}.arp_announce") == 2


def test_vip_on_lo(host) -> None:
    addrs = json.loads(host.check_output("ip -j -4 addr show dev lo"))[0]["addr_info"]
    assert {"local": VIP, "prefixlen": 32} in [{"local": a["local"], "prefixlen": a["prefixlen"]} for a in addrs]


def test_sysctls_kept_for_boot(host) -> None:
    conf = host.file("/etc/sysctl.d/90-lvs-ipvs-real-server.conf")
    # File.contains() is grep's basic regular expression: "*", not "?"
    assert conf.contains("^net.ipv4.conf.all.arp_announce *= *2$")
    assert conf.contains("^net.ipv4.conf.eth0.arp_ignore *= *1$")


def test_key_file(host) -> None:
    key = host.file(KEY)
    assert key.is_file
    assert key.mode == 0o600
    assert key.user == "root"


def test_certificate_matches_key(host) -> None:
    cert_pub = host.check_output(f"openssl x509 -noout -pubkey -in {CERT} | sha256sum")
    key_pub = host.check_output(f"openssl pkey -pubout -in {KEY} | sha256sum")
    assert cert_pub == key_pub


def test_same_certificate_and_key_on_every_real_server() -> None:
    prints = set()
    for name in REAL_SERVERS:
        rs = testinfra.get_host(f"docker://{name}")
        prints.add((
            rs.check_output(f"openssl x509 -noout -fingerprint -sha256 -in {CERT}"),
            rs.check_output(f"openssl pkey -in {KEY} -outform DER | sha256sum"),
        ))
    assert len(prints) == 1, f"the real servers differ: {prints}"
