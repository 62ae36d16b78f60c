# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input: a clear error naming the object and the problem, and ipvsadm -Sn unchanged."""

from __future__ import annotations

import os

import pytest
from _ipvs_helpers import VIP, apply, fails
from conftest import Netns, run_module_in, sh

SVC = {"protocol": "tcp", "address": VIP, "port": 80}

CASES = [
    ("port 0 without persistence", "ipvs_service", {"address": VIP, "port": 0},
     ["TCP 192.168.0.1:0", "port 0", "persistent"]),
    ("fwmark 0", "ipvs_service", {"fwmark": 0, "persistence_timeout": 600}, ["firewall mark 0"]),
    ("fwmark with address", "ipvs_service", {"fwmark": 10, "address": VIP},
     ["mutually exclusive", "fwmark", "address"]),
    ("weight 70000", "ipvs_real_server", {"service": SVC, "address": "192.168.1.2", "weight": 70000},
     ["192.168.1.2", "TCP 192.168.0.1:80", "weight 70000"]),
    ("lower threshold above upper", "ipvs_real_server",
     {"service": SVC, "address": "192.168.1.2", "upper_threshold": 10, "lower_threshold": 20},
     ["cannot add real server 192.168.1.2:80 to TCP 192.168.0.1:80: lower threshold above upper"]),
    ("lower threshold above upper on an edit", "ipvs_real_server",
     {"service": SVC, "address": "192.168.1.9", "lower_threshold": 200},
     ["real server 192.168.1.9:80 of TCP 192.168.0.1:80", "lower threshold above upper"]),
    ("unknown scheduler", "ipvs_service", {"address": VIP, "port": 443, "scheduler": "nosuch"},
     ["TCP 192.168.0.1:443", "scheduler nosuch is not available"]),
    ("unknown scheduler on an edit", "ipvs_service", {**SVC, "scheduler": "nosuch"},
     ["TCP 192.168.0.1:80", "scheduler nosuch is not available"]),
    ("IPv6 address with an IPv4 netmask", "ipvs_service",
     {"address": "2001:db8::1", "port": 80, "persistence_timeout": 600, "persistence_netmask": "255.255.255.0"},
     ["TCP [2001:db8::1]:80", "IPv6 persistence granularity", "255.255.255.0"]),
    ("real server of a missing service", "ipvs_real_server",
     {"service": {"address": VIP, "port": 8443}, "address": "192.168.1.2"},
     ["cannot add real server 192.168.1.2 to TCP 192.168.0.1:8443: the service does not exist"]),
    ("malformed service address", "ipvs_service", {"address": "192.168.0.300", "port": 80},
     ["'192.168.0.300' is not an IPv4 or IPv6 address"]),
    ("malformed real server address", "ipvs_real_server", {"service": SVC, "address": "10.0.0"},
     ["real server address '10.0.0' is not an IPv4 or IPv6 address"]),
    ("DR real server on another port", "ipvs_real_server",
     {"service": SVC, "address": "192.168.1.2", "port": 8080, "forwarding": "dr"},
     ["service port 80", "forwarding: nat"]),
    ("one-packet on TCP", "ipvs_service", {**SVC, "one_packet": True}, ["one-packet scheduling is only for UDP"]),
    ("timeout 0", "ipvs_timeouts", {"tcp": 0}, ["tcp timeout to 0"]),
]


@pytest.fixture(scope="module")
def director(ipvs_kernel):
    """One namespace for every case: bad input must leave it as it was, which each case checks."""
    ns = Netns(f"lvs-bad-{os.getpid()}")
    sh(["ip", "netns", "add", ns.name])
    try:
        ns.run("ip link set lo up")
        apply(run_module_in, ns, "ipvs_service", {**SVC, "scheduler": "rr", "persistence_timeout": 300})
        apply(run_module_in, ns, "ipvs_real_server",
              {"service": SVC, "address": "192.168.1.9", "upper_threshold": 100, "lower_threshold": 50})
        yield ns
    finally:
        sh(["ip", "netns", "del", ns.name], check=False)


@pytest.mark.parametrize(("module", "args", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
def test_bad_input_fails_clearly_and_changes_nothing(module, args, needles, check_mode, director):
    before_timeouts = director.ipvsadm_timeouts()
    fails(run_module_in, director, module, args, *needles, check_mode=check_mode)
    assert director.ipvsadm_timeouts() == before_timeouts
    assert len(director.ipvsadm_save()) == 2
