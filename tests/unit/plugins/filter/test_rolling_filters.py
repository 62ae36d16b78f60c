# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of playbooks/rolling_maintenance.yml."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lvs.ipvs.plugins.filter.rolling import rolling_connections, rolling_entries

SERVICES = [
    {"name": "web", "vip": "192.168.0.1", "ports": [80], "persistence_timeout": 300,
     "real_servers": [{"address": "192.168.1.2", "weight": 4}, "192.168.1.3"]},
    {"name": "all", "vip": "192.168.0.2", "ports": [0], "persistence_timeout": 600,
     "real_servers": [{"address": "192.168.1.2"}]},
    {"name": "shop", "vip": "192.168.0.3", "ports": [80, 443], "fwmark": 10, "real_servers": ["192.168.1.3"]},
    {"name": "old", "vip": "192.168.0.4", "ports": [25], "state": "absent", "real_servers": ["192.168.1.2"]},
]


def test_entries_per_director_and_service_with_weights_and_health_ports():
    entries = rolling_entries(["d1", "d2"], [SERVICES, SERVICES[2:3]], "192.168.1.2")
    assert entries == [
        {"director": "d1", "service": {"protocol": "tcp", "address": "192.168.0.1", "port": 80},
         "address": "192.168.1.2", "weight": 4, "label": "web (port)", "health_ports": [80], "scheduler_flags": []},
        {"director": "d1", "service": {"protocol": "tcp", "address": "192.168.0.2", "port": 0},
         "address": "192.168.1.2", "weight": 1, "label": "all (pcc)", "health_ports": [], "scheduler_flags": []},
    ]
    shop = rolling_entries(["d1", "d2"], [SERVICES, SERVICES[2:3]], "192.168.1.3")
    assert [(e["director"], e["label"], e["health_ports"]) for e in shop] == [
        ("d1", "web (port)", [80]), ("d1", "shop (fwmark)", [80, 443]), ("d2", "shop (fwmark)", [80, 443])]
    assert shop[1]["service"] == {"fwmark": 10, "family": "ipv4"}
    assert rolling_entries(["d1"], [SERVICES], "192.168.1.9") == []


def test_hash_schedulers_get_their_fallback_flag_while_the_server_is_out():
    services = [
        {"name": "sh", "vip": "192.168.0.1", "ports": [80], "scheduler": "sh", "scheduler_flags": ["sh-port"],
         "real_servers": ["192.168.1.2"]},
        {"name": "mh", "vip": "192.168.0.2", "ports": [80], "scheduler": "mh", "real_servers": ["192.168.1.2"]},
        {"name": "has", "vip": "192.168.0.3", "ports": [80], "scheduler": "sh", "scheduler_flags": "sh-fallback",
         "real_servers": ["192.168.1.2"]},
        {"name": "wlc", "vip": "192.168.0.4", "ports": [80], "real_servers": ["192.168.1.2"]},
    ]
    entries = rolling_entries(["d1"], [services], "192.168.1.2")
    assert [(e["label"], e["scheduler_flags"], e.get("fallback_flags")) for e in entries] == [
        ("sh (port)", ["sh-port"], ["sh-fallback", "sh-port"]),
        ("mh (port)", [], ["mh-fallback"]),
        ("has (port)", ["sh-fallback"], None),
        ("wlc (port)", [], None),
    ]


def test_bad_director_services_name_the_director():
    with pytest.raises(AnsibleFilterError, match=r"director_services of d2 do not check out.*w l c"):
        bad = [{"name": "x", "vip": "192.168.0.1", "ports": [80], "scheduler": "w l c"}]
        rolling_entries(["d1", "d2"], [SERVICES, bad], "192.168.1.2")
    with pytest.raises(AnsibleFilterError, match="'rs1' is not an IPv4 or IPv6 address"):
        rolling_entries(["d1"], [SERVICES], "rs1")


def test_connections_summed_over_services():
    services = [
        {"real_servers": [{"address": "192.168.1.2", "active_connections": 1, "inactive_connections": 2,
                           "persistent_connections": 3},
                          {"address": "192.168.1.3", "active_connections": 7}]},
        {"real_servers": [{"address": "192.168.1.2", "active_connections": 0, "inactive_connections": 0,
                           "persistent_connections": 1}]},
    ]
    assert rolling_connections(services, "192.168.1.2") == {"active": 1, "inactive": 2, "persistent": 4, "total": 7,
                                                            "left": []}
    assert rolling_connections(services, "192.168.1.4")["total"] == 0


def test_templates_the_kernel_invalidated_bind_nobody():
    services = [{"real_servers": [{"address": "192.168.1.2", "active_connections": 0, "inactive_connections": 1,
                                   "persistent_connections": 3}]}]

    def row(port, template=True, dest="192.168.1.2", state="NONE"):
        return {"client_address": "10.0.0.7", "client_port": 0 if template else 40000, "virtual_address": "192.168.0.1",
                "virtual_port": port, "dest_address": dest, "state": state, "expires": 50, "template": template}

    table = [row(65535), row(65535), row(80), row(80, template=False, state="FIN_WAIT"), row(80, dest="192.168.1.3")]
    left = rolling_connections(services, "192.168.1.2", table)
    assert (left["persistent"], left["total"]) == (1, 2)  # the kernel counts 3 templates; 2 are invalidated
    assert left["left"] == ["template 10.0.0.7:0 -> 192.168.0.1:80 expires in 50 s",
                            "FIN_WAIT 10.0.0.7:40000 -> 192.168.0.1:80 expires in 50 s"]
