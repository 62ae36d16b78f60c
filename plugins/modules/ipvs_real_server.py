#!/usr/bin/python
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ipvs_real_server
short_description: Manage the real servers of an IPVS virtual service, with an optional drain
version_added: 0.1.0
description:
  - Adds, changes and removes a real server (destination) of an existing IPVS virtual service,
    as C(ipvsadm -a), C(-e) and C(-d) do.
  - Editing changes only the settings given and keeps every other one.
  - With O(drain=true), removal first sets the weight to V(0) (quiescent, no new clients), then
    waits until the real server's active, inactive and persistent connections are gone, up to
    O(drain_timeout) seconds, and only then removes it.
  - A hash scheduler (V(sh), V(mh)) without its fallback flag refuses the clients whose hash lands on a
    real server at weight 0 (the kernel answers ICMP port unreachable, a "connection refused"). So a drain in
    such a service first sets the fallback flag (V(sh-fallback), V(mh-fallback)), and those clients go to the
    next real server while the drain waits. Once the real server is gone and no other one of the service is
    at weight 0, the service gets its own flags back. At the drain deadline the flag stays with the
    quiesced real server. V(dh) has no fallback, so its drained real server's clients are refused.
  - A plain O(weight=0) (O(state=present)) does not touch the service's flags.
  - A real server another task removes meanwhile (while a drain waits, or between the read and the
    delete) is gone as wanted - the task succeeds and says so in RV(gone_meanwhile). One another task
    adds between the read and the add (or removes before an edit) is read again, and the task reports
    ok or makes the change still needed, once; should it change again, the task fails saying so.
author:
  - lvs.ipvs contributors (@lvs-ipvs)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
attributes:
  check_mode:
    support: full
    description: Reports what would change without touching the kernel (a drain does not wait).
  diff_mode:
    support: full
    description:
      - Shows the real server before and after in the C(ipvsadm -S -n) line format, with C(-x)/C(-y) thresholds.
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  service:
    description:
      - The virtual service, identified as in M(lvs.ipvs.ipvs_service). It must exist.
    type: dict
    required: true
    suboptions:
      protocol:
        description: The protocol of a service identified by address and port. V(tcp) when not given.
        type: str
        choices: [tcp, udp, sctp]
      address:
        description: The virtual IP address. Mutually exclusive with O(service.fwmark).
        type: str
      port:
        description: The virtual port (V(0) for a persistent all-ports service). Required with O(service.address).
        type: int
      fwmark:
        description: The firewall mark of a firewall-mark service. Mutually exclusive with O(service.address).
        type: int
      family:
        description: The address family of a firewall-mark service (V(ipv4) when not given).
        type: str
        choices: [ipv4, ipv6]
  address:
    description: The real server's IP address.
    type: str
    required: true
  port:
    description:
      - The real server's port.
      - With O(forwarding=dr) or O(forwarding=tunnel) the packet reaches the real server on the
        port the client used. The kernel keys such a real server by the service port, so the port
        may be left out (it is the service port; V(0) for a firewall-mark service, as C(ipvsadm) saves it)
        and another port is an error.
      - With O(forwarding=nat) it defaults to the service port (V(0) for a firewall-mark service,
        which keeps the client's port).
    type: int
  forwarding:
    description:
      - The packet forwarding method. V(dr) (direct routing, C(-g)), V(nat) (masquerading, C(-m)),
        V(tunnel) (IP encapsulation, C(-i)). A new real server gets V(dr).
    type: str
    choices: [dr, nat, tunnel]
  tunnel_type:
    description: The encapsulation of O(forwarding=tunnel) (V(ipip) when not given).
    type: str
    choices: [ipip, gue, gre]
  tunnel_port:
    description: The destination UDP port of a V(gue) tunnel.
    type: int
  tunnel_checksum:
    description: Checksum mode of a V(gue) or V(gre) tunnel (V(nocsum) when not given).
    type: str
    choices: [nocsum, csum, remcsum]
  weight:
    description:
      - The weight, 0 to 65535. V(0) makes the real server quiescent (no new connections).
      - A new real server gets V(1).
    type: int
  upper_threshold:
    description:
      - The upper connection threshold (V(0) = no limit).
      - C(ipvsadm -S) does not show it; M(lvs.ipvs.ipvs_info) does.
    type: int
  lower_threshold:
    description: The lower connection threshold; not above O(upper_threshold).
    type: int
  state:
    description: V(present) makes the real server exist with the settings given; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  drain:
    description:
      - With O(state=absent), drain the real server before removing it (see the description).
      - When the deadline passes with connections left, the real server is left in place with weight
        V(0), the task fails and RV(left) tells what was left; run it again later, or without
        O(drain) to remove it at once.
      - The kernel keeps persistence templates of a weight-0 real server alive while they are used unless the
        C(net.ipv4.vs.expire_quiescent_template) sysctl is V(1).
      - The templates waited for are those of C(/proc/net/ip_vs_conn) that still bind a client to the real server
        (for an IPv6 firewall-mark service, the kernel's persistent connection count). A template the kernel
        invalidated when its client came back (C(expire_quiescent_template=1), ports 65535 in C(ipvsadm -Lnc))
        binds nobody and is not waited for, although the kernel's count keeps it until its timer runs out.
    type: bool
    default: false
  drain_timeout:
    description: The drain deadline in seconds.
    type: int
    default: 300
seealso:
  - module: lvs.ipvs.ipvs_service
  - module: lvs.ipvs.ipvs_info
"""

EXAMPLES = r"""
- name: Real servers of the PPC web service, as ipvsadm -a -t 192.168.0.1:80 -r 192.168.1.2 -g -w 4 (and -w 2)
  lvs.ipvs.ipvs_real_server:
    service:
      address: 192.168.0.1
      port: 80
    address: "{{ item.address }}"
    forwarding: dr
    weight: "{{ item.weight }}"
  loop:
    - {address: 192.168.1.2, weight: 4}
    - {address: 192.168.1.3, weight: 2}

- name: The same real servers behind the PCC service 192.168.0.1:0
  lvs.ipvs.ipvs_real_server:
    service:
      address: 192.168.0.1
      port: 0
    address: "{{ item.address }}"
    weight: "{{ item.weight }}"
  loop:
    - {address: 192.168.1.2, weight: 4}
    - {address: 192.168.1.3, weight: 2}

- name: A real server of firewall-mark service 10, as ipvsadm -a -f 10 -r 192.168.1.2 -g -w 4
  lvs.ipvs.ipvs_real_server:
    service:
      fwmark: 10
    address: 192.168.1.2
    weight: 4

- name: A NAT real server on another port, with connection thresholds
  lvs.ipvs.ipvs_real_server:
    service:
      address: 192.168.0.1
      port: 80
    address: 10.0.0.5
    port: 8080
    forwarding: nat
    upper_threshold: 1000
    lower_threshold: 800

- name: Quiesce a real server (no new clients; existing ones stay)
  lvs.ipvs.ipvs_real_server:
    service:
      address: 192.168.0.1
      port: 80
    address: 192.168.1.3
    weight: 0

- name: Drain a real server for up to ten minutes, then remove it
  lvs.ipvs.ipvs_real_server:
    service:
      address: 192.168.0.1
      port: 80
    address: 192.168.1.3
    state: absent
    drain: true
    drain_timeout: 600
"""

RETURN = r"""
real_server:
  description: The real server after the task (as it would be, in check mode); V(null) when absent.
  returned: always
  type: dict
  sample:
    address: 192.168.1.2
    port: 80
    family: ipv4
    forwarding: dr
    weight: 4
    upper_threshold: 0
    lower_threshold: 0
    tunnel_type: null
    tunnel_port: null
    tunnel_checksum: null
    active_connections: 0
    inactive_connections: 0
    persistent_connections: 0
rule:
  description: The real server in the C(ipvsadm -S -n) line format (thresholds added as C(-x)/C(-y)); empty when absent.
  returned: always
  type: str
  sample: -a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4
changes:
  description:
    - The settings that changed (V(state) when the real server was added or removed).
    - V(scheduler_flags) when a drain set the service's hash fallback flag (see the description).
  returned: always
  type: list
  elements: str
  sample: [weight]
drained:
  description: With O(drain=true), whether the real server had no connections left before removal.
  returned: when a drain ran
  type: bool
  sample: true
gone_meanwhile:
  description:
    - With O(state=absent), whether another task removed the real server (or its service) after this task read it
      - while the drain waited, or before the delete. It is gone as wanted, so the task succeeds with C(changed).
  returned: when a real server was removed (not in check mode)
  type: bool
  sample: false
left:
  description: The connections left when the drain deadline passed.
  returned: when a drain ran
  type: dict
  sample: {active: 0, inactive: 2, persistent: 1}
"""

import time
from dataclasses import replace

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import (
    CHANGED_AGAIN,
    KernelError,
    ValidationError,
    run_and_exit,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import (
    HAS_PYROUTE2,
    PYROUTE2_IMPORT_ERROR,
    BatchError,
    IpvsHandle,
    pyroute2_problem,
    read_conn_table,
    state_moved,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._model import (
    HASH_FALLBACK,
    SERVICE_KEY_OPTIONS,
    Dest,
    DestSpec,
    Service,
    ServiceKey,
    dest_changes,
    dest_port,
    dest_spec_from_params,
    live_templates,
    merge_dest,
    parse_ip_vs_conn,
    quiesce_fallback,
    render_dest,
    service_key_from_params,
)

POLL_INTERVAL = 1.0


def find_current(dests: list[Dest], spec: DestSpec, key: ServiceKey) -> Dest | None:
    same_address = [d for d in dests if d.address == spec.address]
    if spec.port is None:
        if spec.forwarding is None and len(same_address) == 1:
            return same_address[0]
        port = dest_port(spec, key)
    else:
        port = spec.port
    for dest in same_address:
        if dest.port == port:
            return dest
    return None


def drain(module: AnsibleModule, ipvs: IpvsHandle, key: ServiceKey, dest: Dest, result: dict) -> tuple[bool, bool]:
    """Weight 0, then wait for the connections to go: (no connections left, the real server went meanwhile).

    Another task may remove the real server (or its service) while the drain waits: then it is gone,
    as wanted, and the drain is done.
    """
    gone = {"active": 0, "inactive": 0, "persistent": 0}
    if dest.weight != 0:
        try:
            ipvs.edit_dest(key, replace(dest, weight=0))
        except BatchError as exc:
            if not state_moved(exc.failed.op, exc.errno):
                raise
            result["left"] = gone
            return True, True
        result["changed"] = True
        result["changes"].append("weight")
    deadline = time.monotonic() + module.params["drain_timeout"]
    while True:
        try:
            now = {d.address: d for d in ipvs.dests(key) if d.port == dest.port}.get(dest.address)
        except KernelError as exc:
            if not state_moved("delete_dest", exc.errno):
                raise
            now = None  # the service went, and its real servers with it
        if now is None:
            result["left"] = gone
            return True, True
        templates = live_templates(parse_ip_vs_conn(read_conn_table()), key, dest.address, dest.port)
        result["left"] = {
            "active": now.active_connections,
            "inactive": now.inactive_connections,
            "persistent": now.persistent_connections if templates is None else templates,
        }
        if sum(result["left"].values()) == 0:
            return True, False
        if time.monotonic() >= deadline:
            return False, False
        time.sleep(POLL_INTERVAL)


def fall_back(ipvs: IpvsHandle, svc: Service, result: dict) -> bool | None:
    """Before a drain: the hash scheduler's fallback flag on ``svc`` when it lacks it (see the description).
    True when set, False when not needed, None when the service went meanwhile."""
    flags = quiesce_fallback(svc.scheduler, svc.scheduler_flags)
    if flags is None:
        return False
    try:
        ipvs.edit_service(replace(svc, scheduler_flags=flags))
    except BatchError as exc:
        if not state_moved(exc.failed.op, exc.errno):
            raise
        return None
    result["changed"] = True
    result["changes"].append("scheduler_flags")
    return True


def restore_flags(ipvs: IpvsHandle, svc: Service) -> None:
    """After a drain that set the fallback flag and removed its real server: the service's own flags back, unless
    another of its real servers is at weight 0 (quiesced: it still needs the fallback) or the service changed."""
    now = ipvs.find_service(svc.key)
    if now is None or now.scheduler != svc.scheduler or any(d.weight == 0 for d in ipvs.dests(svc.key)):
        return
    try:
        ipvs.edit_service(replace(now, scheduler_flags=svc.scheduler_flags))
    except BatchError as exc:
        if not state_moved(exc.failed.op, exc.errno):
            raise


def remove(module: AnsibleModule, ipvs: IpvsHandle, key: ServiceKey, spec: DestSpec) -> dict:
    """state=absent: remove the real server, after a drain when asked; one that another task removed meanwhile is
    gone as wanted (``gone_meanwhile``)."""
    p = module.params
    result: dict = {"changed": False, "changes": [], "real_server": None, "rule": ""}
    svc = ipvs.find_service(key)
    if svc is None:
        return result
    current = find_current(ipvs.dests(key), spec, key)
    if current is None:
        return result
    result["changed"] = True
    result["changes"] = ["state"]
    if module._diff:
        result["diff"] = {"before": render_dest(key, current, thresholds=True) + "\n", "after": ""}
    if module.check_mode:
        return result
    result["gone_meanwhile"] = False
    fell_back = False
    if p["drain"]:
        result["changes"] = []
        fell_back = fall_back(ipvs, svc, result)
        if fell_back is None:
            drained, gone = True, True
            result["left"] = {"active": 0, "inactive": 0, "persistent": 0}
        else:
            drained, gone = drain(module, ipvs, key, current, result)
        result["drained"] = drained
        if not drained:
            left = result["left"]
            result["real_server"] = current.as_dict()
            kept = f", and its service keeps {HASH_FALLBACK[svc.scheduler]} meanwhile" if fell_back else ""
            module.fail_json(
                msg=(
                    f"real server {current.label()} of {key.label()} still has {left['active']} active, "
                    f"{left['inactive']} inactive and {left['persistent']} persistent connections after "
                    f"{p['drain_timeout']} s of draining; it is left in place with weight 0{kept}"
                ),
                **result,
            )
        result["changes"].append("state")
        result["gone_meanwhile"] = gone
    if not result["gone_meanwhile"]:
        try:
            ipvs.delete_dest(key, current)
        except BatchError as exc:
            if not state_moved(exc.failed.op, exc.errno):
                raise
            result["gone_meanwhile"] = True  # another task removed it (or its service) after the read
    if fell_back:
        restore_flags(ipvs, svc)
    return result


def make_present(module: AnsibleModule, ipvs: IpvsHandle, key: ServiceKey, spec: DestSpec) -> dict:
    """state=present: one read of the real servers, the plan, the write (an add or an edit)."""
    result: dict = {"changed": False, "changes": [], "real_server": None, "rule": ""}
    if ipvs.find_service(key) is None:
        raise ValidationError(
            f"cannot add real server {spec.address} to {key.label()}: the service does not exist "
            "(create it first with lvs.ipvs.ipvs_service)"
        )
    current = find_current(ipvs.dests(key), spec, key)
    target = merge_dest(current, spec, key)
    result["changes"] = ["state"] if current is None else dest_changes(current, target)
    result["changed"] = bool(result["changes"])
    result["real_server"] = target.as_dict()
    result["rule"] = render_dest(key, target, thresholds=True)
    if module._diff:
        before = render_dest(key, current, thresholds=True) + "\n" if current is not None else ""
        result["diff"] = {"before": before, "after": result["rule"] + "\n"}
    if result["changed"] and not module.check_mode:
        if current is None:
            ipvs.add_dest(key, target)
        else:
            ipvs.edit_dest(key, target)
    return result


def run(module: AnsibleModule) -> dict:
    """Validate, then remove or make present.

    Another task may add the same real server between the read and the add (EEXIST), or remove it
    before an edit (ENOENT): the real servers are read again and the task reports ok, or makes the
    edit (or add) still needed, once; a second such refusal fails saying the table changed again.
    """
    p = module.params
    key = service_key_from_params(p["service"])
    spec = dest_spec_from_params(p, key)
    if spec.forwarding in ("dr", "tunnel"):
        dest_port(spec, key)  # a port the forwarding cannot use is an error before IPVS is asked
    with IpvsHandle(module.run_command) as ipvs:
        if p["state"] == "absent":
            return remove(module, ipvs, key, spec)
        try:
            return make_present(module, ipvs, key, spec)
        except BatchError as exc:
            if not state_moved(exc.failed.op, exc.errno):
                raise
        try:
            return make_present(module, ipvs, key, spec)
        except BatchError as exc:
            if not state_moved(exc.failed.op, exc.errno):
                raise
            raise KernelError(f"{exc}; {CHANGED_AGAIN}", exc.errno) from None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            service=dict(
                type="dict",
                required=True,
                options=dict(SERVICE_KEY_OPTIONS),
                mutually_exclusive=[("fwmark", "address"), ("fwmark", "port"), ("fwmark", "protocol")],
                required_one_of=[("fwmark", "address")],
                required_by={"address": "port"},
            ),
            address=dict(type="str", required=True),
            port=dict(type="int"),
            forwarding=dict(type="str", choices=["dr", "nat", "tunnel"]),
            tunnel_type=dict(type="str", choices=["ipip", "gue", "gre"]),
            tunnel_port=dict(type="int"),
            tunnel_checksum=dict(type="str", choices=["nocsum", "csum", "remcsum"]),
            weight=dict(type="int"),
            upper_threshold=dict(type="int"),
            lower_threshold=dict(type="int"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            drain=dict(type="bool", default=False),
            drain_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    if not HAS_PYROUTE2:
        module.fail_json(msg=pyroute2_problem(), exception=PYROUTE2_IMPORT_ERROR)
    run_and_exit(module, run)


if __name__ == "__main__":
    main()
