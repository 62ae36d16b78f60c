# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real servers after lvs.ipvs.real_server: DR ARP settings kept for boot, the VIP on lo, the shared cert."""

from __future__ import annotations

import json

import pytest
import testinfra

testinfra_hosts = ["ansible://real_servers"]

CERT = "/etc/ssl/certs/lvs-ipvs-shop.example.com.crt"
KEY = "/etc/ssl/private/lvs-ipvs-shop.example.com.key"


@pytest.mark.parametrize("iface", ["all", "eth0"])
def test_arp_sysctls(host, iface: str) -> None:
    assert host.sysctl(f"net.ipv4.conf.{iface}.arp_ignore") == 1
    assert host.sysctl(f"net.ipv4.conf.{iface}.arp_announce") == 2


def test_sysctls_kept_for_boot(host) -> None:
    conf = host.file("/etc/sysctl.d/90-lvs-ipvs-real-server.conf")
    # File.contains() is grep's basic regular expression: "*", not "?"
    assert conf.contains("^net.ipv4.conf.all.arp_announce *= *2$")
    assert conf.contains("^net.ipv4.conf.eth0.arp_ignore *= *1$")


def test_vip_on_lo(host, lab) -> None:
    addrs = json.loads(host.check_output("ip -j -4 addr show dev lo"))[0]["addr_info"]
    assert {"local": lab.vip, "prefixlen": 32} in [{"local": a["local"], "prefixlen": a["prefixlen"]} for a in addrs]


def test_certificate_matches_key(host) -> None:
    key = host.file(KEY)
    assert key.is_file and key.mode == 0o600 and key.user == "root"
    assert host.file(CERT).is_file
    cert_pub = host.check_output(f"openssl x509 -noout -pubkey -in {CERT} | sha256sum")
    key_pub = host.check_output(f"openssl pkey -pubout -in {KEY} | sha256sum")
    assert cert_pub == key_pub


def test_same_certificate_and_key_on_every_real_server(lab) -> None:
    prints = {}
    for name in lab.real_servers:
        rs = testinfra.get_host(f"docker://{name}")
        prints[name] = (
            rs.check_output(f"openssl x509 -noout -fingerprint -sha256 -in {CERT}"),
            rs.check_output(f"openssl pkey -in {KEY} -outform DER | sha256sum"),
        )
    assert len(set(prints.values())) == 1, f"the real servers differ: {prints}"
