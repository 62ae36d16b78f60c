#!/usr/bin/python
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ipvs_service
short_description: Manage IPVS virtual services, with every kind of persistence
version_added: 0.1.0
description:
  - Adds, changes and removes a Linux Virtual Server (IPVS) virtual service, as C(ipvsadm -A), C(-E) and C(-D) do.
  - A service is identified by O(protocol), O(address) and O(port), or by a firewall mark O(fwmark) and O(family).
  - Editing changes only the settings given and keeps every other one. An existing service is
    changed in place (C(IPVS_CMD_SET_SERVICE)), never deleted and re-added, so established
    connections and persistence templates survive an edit.
  - Real servers are managed with M(lvs.ipvs.ipvs_real_server).
author:
  - lvs.ipvs contributors (@lvs-ipvs)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
attributes:
  check_mode:
    support: full
    description: Reports what would change without touching the kernel.
  diff_mode:
    support: full
    description: Shows the service before and after in the C(ipvsadm -S -n) line format.
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  protocol:
    description:
      - The protocol of a service identified by address and port. V(tcp) when not given.
      - Not used with O(fwmark).
    type: str
    choices: [tcp, udp, sctp]
  address:
    description:
      - The virtual IP address (IPv4 or IPv6; brackets around IPv6 are accepted).
      - Mutually exclusive with O(fwmark).
    type: str
  port:
    description:
      - The virtual port. V(0) means every port and is only valid for a persistent service
        (persistent client connection, PCC).
      - Required with O(address).
    type: int
  fwmark:
    description:
      - The firewall mark (1 to 4294967295) of a firewall-mark service, set on packets by
        C(iptables -t mangle ... -j MARK) (see M(lvs.ipvs.fwmark_rule)).
      - Mutually exclusive with O(address) and O(port).
    type: int
  family:
    description:
      - The address family of a firewall-mark service (V(ipv4) when not given).
      - Derived from O(address) otherwise; when given as well, it must match.
    type: str
    choices: [ipv4, ipv6]
  scheduler:
    description:
      - The scheduling algorithm, any the kernel has (V(rr), V(wrr), V(lc), V(wlc), V(lblc),
        V(lblcr), V(dh), V(sh), V(sed), V(nq), V(fo), V(ovf), V(mh), V(twos)...). Its module
        C(ip_vs_<scheduler>) is loaded when needed; a scheduler the kernel lacks is a clear error.
      - A new service gets V(wlc) when not given, as with C(ipvsadm); an existing one keeps its scheduler.
    type: str
  scheduler_flags:
    description:
      - Scheduler flags, as C(ipvsadm -b). V(sh-fallback) and V(sh-port) for V(sh),
        V(mh-fallback) and V(mh-port) for V(mh), V(flag-1), V(flag-2) and V(flag-3) for any scheduler.
      - An empty list removes every flag. Not given keeps the current flags.
    type: list
    elements: str
  persistent:
    description:
      - Whether the service is persistent (C(ipvsadm -p)).
      - Not given keeps the current setting; a new service is persistent when O(persistence_timeout)
        is given and not persistent otherwise.
    type: bool
  persistence_timeout:
    description:
      - The persistence timeout in seconds. Giving it makes the service persistent.
      - When a service becomes persistent without it, the timeout is V(300) seconds, as the
        C(ipvsadm) man page promises. Note that C(ipvsadm -p) without a value really stores
        V(360) (ipvsadm 1.31, as keepalived); give the value explicitly to match such a service.
    type: int
  persistence_netmask:
    description:
      - The persistence granularity, as C(ipvsadm -M). Clients in the same masked network share a template.
      - For IPv4, a netmask such as V(255.255.255.0) (a prefix length such as V(24) is accepted and
        converted). For IPv6, a prefix length from 1 to 128.
      - A new service gets the host mask (V(255.255.255.255) or V(128)).
    type: str
  persistence_engine:
    description:
      - A persistence engine, such as V(sip) (UDP services). An empty string removes it.
    type: str
  one_packet:
    description:
      - One-packet scheduling (C(ipvsadm -o)), for UDP services.
    type: bool
  state:
    description:
      - V(present) makes the service exist with the settings given; V(absent) removes it and its real servers.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: lvs.ipvs.ipvs_real_server
  - module: lvs.ipvs.ipvs_info
  - name: ipvsadm(8)
    description: The manual page of ipvsadm, the command-line tool for the same kernel objects.
    link: https://manpages.debian.org/ipvsadm.8
"""

EXAMPLES = r"""
- name: Persistent port (PPC) web service, as ipvsadm -A -t 192.168.0.1:80 -s wlc -p 600
  lvs.ipvs.ipvs_service:
    protocol: tcp
    address: 192.168.0.1
    port: 80
    scheduler: wlc
    persistence_timeout: 600

- name: A second PPC service for ssh, as ipvsadm -A -t 192.168.0.1:22 -s wlc -p 300
  lvs.ipvs.ipvs_service:
    address: 192.168.0.1
    port: 22
    scheduler: wlc
    persistence_timeout: 300

- name: Persistent client (PCC), every port, as ipvsadm -A -t 192.168.0.1:0 -s wlc -p 600
  lvs.ipvs.ipvs_service:
    address: 192.168.0.1
    port: 0
    scheduler: wlc
    persistence_timeout: 600

- name: Firewall-mark persistence, as ipvsadm -A -f 10 -s wlc -p 600
  lvs.ipvs.ipvs_service:
    fwmark: 10
    scheduler: wlc
    persistence_timeout: 600

- name: Persistence granularity, as ipvsadm -A -t 192.168.0.1:80 -s wlc -p 600 -M 255.255.255.0
  lvs.ipvs.ipvs_service:
    address: 192.168.0.1
    port: 80
    scheduler: wlc
    persistence_timeout: 600
    persistence_netmask: 255.255.255.0

- name: Make a live service persistent in place, as ipvsadm -E -t 192.168.0.1:80 -s wlc -p 600
  lvs.ipvs.ipvs_service:
    address: 192.168.0.1
    port: 80
    scheduler: wlc
    persistent: true
    persistence_timeout: 600

- name: IPv6 service hashed by source port, with a /64 granularity
  lvs.ipvs.ipvs_service:
    protocol: udp
    address: "2001:db8::1"
    port: 53
    scheduler: sh
    scheduler_flags: [sh-port]
    persistence_timeout: 100
    persistence_netmask: "64"

- name: Remove a service and its real servers
  lvs.ipvs.ipvs_service:
    address: 192.168.0.1
    port: 22
    state: absent
"""

RETURN = r"""
service:
  description: The service as the kernel holds it after the task (as it would be, in check mode); V(null) when absent.
  returned: always
  type: dict
  sample:
    protocol: tcp
    address: 192.168.0.1
    port: 80
    family: ipv4
    scheduler: wlc
    scheduler_flags: []
    persistent: true
    persistence_timeout: 600
    persistence_netmask: 255.255.255.255
    persistence_engine: null
    one_packet: false
rule:
  description: The service in the C(ipvsadm -S -n) line format; empty when absent.
  returned: always
  type: str
  sample: -A -t 192.168.0.1:80 -s wlc -p 600
changes:
  description: The settings that changed (all of them for a new service).
  returned: always
  type: list
  elements: str
  sample: [scheduler, persistence_timeout]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import CHANGED_AGAIN, KernelError, run_and_exit
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import (
    HAS_PYROUTE2,
    PYROUTE2_IMPORT_ERROR,
    BatchError,
    IpvsHandle,
    pyroute2_problem,
    state_moved,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._model import (
    SERVICE_KEY_OPTIONS,
    ServiceSpec,
    merge_service,
    render_config,
    render_service,
    render_text,
    service_changes,
    service_spec_from_params,
)


def run(module: AnsibleModule) -> dict:
    """Read, plan, write; a write refused because another task changed the service meanwhile is done again, once.

    Another task may add the same service between the read and the add (EEXIST), or remove it
    before an edit or a delete (ESRCH): then the service is read again and the task reports ok,
    or makes the edit still needed, from what is there now.
    """
    spec = service_spec_from_params(module.params)
    with IpvsHandle(module.run_command) as ipvs:
        try:
            return converge(module, ipvs, spec)
        except BatchError as exc:
            if not state_moved(exc.failed.op, exc.errno):
                raise
        try:
            return converge(module, ipvs, spec)
        except BatchError as exc:
            if not state_moved(exc.failed.op, exc.errno):
                raise
            raise KernelError(f"{exc}; {CHANGED_AGAIN}", exc.errno) from None


def converge(module: AnsibleModule, ipvs: IpvsHandle, spec: ServiceSpec) -> dict:
    """One read of the service, the plan, and the write."""
    state = module.params["state"]
    current = ipvs.find_service(spec.key)
    result: dict = {"changed": False, "changes": []}
    if state == "absent":
        result["service"] = None
        result["rule"] = ""
        if current is None:
            return result
        dests = ipvs.dests(current.key) if module._diff else []
        result["changed"] = True
        result["changes"] = ["state"]
        if module._diff:
            result["diff"] = {"before": render_text(render_config([(current, dests)])), "after": ""}
        if not module.check_mode:
            ipvs.delete_service(current.key)
        return result

    target = merge_service(current, spec)
    if current is None:
        result["changes"] = ["state"]
    else:
        result["changes"] = service_changes(current, target)
    result["changed"] = bool(result["changes"])
    result["service"] = target.as_dict()
    result["rule"] = render_service(target)
    if module._diff:
        before = render_service(current) + "\n" if current is not None else ""
        result["diff"] = {"before": before, "after": render_service(target) + "\n"}
    new_modules = current is None or {"scheduler", "persistence_engine"} & set(result["changes"])
    if module.check_mode and new_modules:
        ipvs.check_scheduler(target)
    if result["changed"] and not module.check_mode:
        if current is None:
            ipvs.add_service(target)
        else:
            ipvs.edit_service(target)
    return result


def main() -> None:
    argument_spec = dict(SERVICE_KEY_OPTIONS)
    argument_spec.update(
        scheduler=dict(type="str"),
        scheduler_flags=dict(type="list", elements="str"),
        persistent=dict(type="bool"),
        persistence_timeout=dict(type="int"),
        persistence_netmask=dict(type="str"),
        persistence_engine=dict(type="str"),
        one_packet=dict(type="bool"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("fwmark", "address"), ("fwmark", "port"), ("fwmark", "protocol")],
        required_one_of=[("fwmark", "address")],
        required_by={"address": "port"},
        supports_check_mode=True,
    )
    if not HAS_PYROUTE2:
        module.fail_json(msg=pyroute2_problem(), exception=PYROUTE2_IMPORT_ERROR)
    run_and_exit(module, run)


if __name__ == "__main__":
    main()
