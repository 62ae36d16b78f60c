# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Proof that the test bed is a real kernel with IPVS: a service made over netlink shows in ipvsadm."""

from __future__ import annotations

from pyroute2 import IPVS, IPVSDest, IPVSService


def test_persistent_service_via_pyroute2_is_seen_by_ipvsadm(netns):
    svc = IPVSService(protocol=6, addr="192.0.2.10", port=80, sched_name="wlc", timeout=600,
                      flags={"flags": 0x1, "mask": 0xFFFF})  # IP_VS_SVC_F_PERSISTENT
    with netns.entered():
        ipvs = IPVS()
        try:
            ipvs.service("add", svc)
            for addr, weight in (("192.0.2.21", 4), ("192.0.2.22", 2)):
                ipvs.dest("add", service=svc, dest=IPVSDest(addr=addr, port=80, weight=weight))
        finally:
            ipvs.close()

    assert netns.ipvsadm_save() == sorted([
        "-A -t 192.0.2.10:80 -s wlc -p 600",
        "-a -t 192.0.2.10:80 -r 192.0.2.21:80 -g -w 4",
        "-a -t 192.0.2.10:80 -r 192.0.2.22:80 -g -w 2",
    ])

    with netns.entered():
        ipvs = IPVS()
        try:
            ipvs.service("del", svc)
        finally:
            ipvs.close()
    assert netns.ipvsadm_save() == []
