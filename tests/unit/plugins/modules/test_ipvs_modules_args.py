# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument handling of the IPVS modules, without a kernel: bad input fails before IPVS is touched."""

from __future__ import annotations

import pytest
from _runner import run_module
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs


def run(module: str, args: dict, *, check_mode: bool = False) -> dict:
    return run_module(module, args, check_mode=check_mode)


@pytest.fixture(autouse=True)
def no_kernel(monkeypatch):
    """Any attempt to reach the kernel fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the module tried to reach IPVS")
    monkeypatch.setattr(_ipvs.IpvsHandle, "_open", refuse)


@pytest.mark.parametrize(
    ("module", "args", "needle"),
    [("ipvs_service", {"fwmark": 10, "address": "192.0.2.1"}, "mutually exclusive: fwmark|address"),
     ("ipvs_service", {"address": "192.0.2.1"}, "missing parameter(s) required by 'address': port"),
     ("ipvs_service", {"port": 80}, "one of the following is required: fwmark, address"),
     ("ipvs_service", {"fwmark": 0}, "firewall mark 0"),
     ("ipvs_service", {"address": "192.0.2.300", "port": 80}, "'192.0.2.300' is not an IPv4 or IPv6 address"),
     ("ipvs_service", {"address": "2001:db8::1", "port": 80, "persistence_netmask": "255.255.255.0"},
      "IPv6 persistence granularity"),
     ("ipvs_service", {"address": "192.0.2.1", "port": 80, "protocol": "icmp"}, "value of protocol must be one of"),
     ("ipvs_real_server", {"service": {"address": "192.0.2.1", "port": 80}, "address": "10.0.0.1", "weight": 70000},
      "weight 70000"),
     ("ipvs_real_server", {"service": {"fwmark": 10, "address": "192.0.2.1"}, "address": "10.0.0.1"},
      "mutually exclusive: fwmark|address found in service"),
     ("ipvs_real_server",
      {"service": {"address": "192.0.2.1", "port": 80}, "address": "10.0.0.1", "port": 8080, "forwarding": "dr"},
      "service port 80"),
     ("ipvs_timeouts", {}, "one of the following is required: tcp, tcp_fin, udp"),
     ("ipvs_timeouts", {"udp": 0}, "cannot set the udp timeout to 0")],
)
def test_bad_arguments_fail_before_touching_ipvs(module, args, needle):
    result = run(module, args)
    assert result.get("failed"), result
    assert needle in result["msg"]


def test_info_without_services_does_not_need_ipvs():
    result = run("ipvs_info", {"gather": ["sysctls", "connections"]}, check_mode=True)
    assert not result.get("failed") and not result["changed"]
    assert set(result) >= {"sysctls", "connections"}
