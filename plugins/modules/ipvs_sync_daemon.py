#!/usr/bin/python
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ipvs_sync_daemon
short_description: Run, change or stop the IPVS connection sync daemons (master and backup)
version_added: 0.1.0
description:
  - Manages the kernel's IPVS connection synchronization daemons, as C(ipvsadm --start-daemon) and
    C(ipvsadm --stop-daemon) do. A B(master) daemon sends the director's connections and persistence
    templates to a multicast group; a B(backup) daemon receives them from there and adds them to its
    own table, so that after a failover the clients stay on their real servers.
  - The master and the backup daemon are independent. One task manages one of them, and both may run
    at once on a host (what keepalived's maintainers advise for directors that fail over both ways).
  - B(A running daemon cannot be changed in place.) The kernel has no request to edit one, so a task
    that changes a setting of a running daemon stops it and starts it again with the new settings
    (the diff and RV(changes) show both steps). While it is stopped, for a moment, no connection is
    synced. If the start fails, the module starts the daemon again with its old settings.
  - Settings not given keep the running daemon's values; a daemon started by the task gets the
    kernel's defaults for them (group V(224.0.0.81), port V(8848), TTL V(1), sync ID V(0)).
  - Works in the network namespace it runs in (the daemons, like the rest of IPVS, are per namespace).
author:
  - lvs.ipvs contributors (@lvs-ipvs)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
attributes:
  check_mode:
    support: full
    description: Reports what would be stopped and started without touching the kernel.
  diff_mode:
    support: full
    description: Shows the daemons before and after, as C(ipvsadm -L --daemon) prints them.
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  state:
    description:
      - V(master) or V(backup) runs that daemon with the settings given.
      - V(absent) stops the daemon named by O(daemon), or both when O(daemon) is not given; the settings
        options are then not used.
    type: str
    choices: [master, backup, absent]
    required: true
  daemon:
    description:
      - With O(state=absent), the daemon to stop. Not given, both are stopped.
      - With O(state=master) or O(state=backup) it is not needed; it must then equal O(state).
    type: str
    choices: [master, backup]
  interface:
    description:
      - The interface the daemon sends (master) or receives (backup) its multicast messages on, as
        C(ipvsadm --mcast-interface). It must exist in the network namespace. It should have the
        C(MULTICAST) flag; the module warns when it does not.
      - Required to start a daemon that is not running.
    type: str
  syncid:
    description:
      - The sync ID (0 to 255), as C(ipvsadm --syncid). A backup takes only the messages of masters
        with its sync ID; V(0) on a backup takes every master's.
    type: int
  group:
    description:
      - The multicast group, IPv4 (V(224.0.0.0/4)) or IPv6 (V(ff00::/8)), as C(ipvsadm --mcast-group).
        V(224.0.0.81) when a daemon is started without one.
    type: str
  port:
    description:
      - The UDP port of the messages (1 to 65535), as C(ipvsadm --mcast-port). V(8848) when a daemon is
        started without one. With the sysctl C(net.ipv4.vs.sync_ports) above 1 the kernel uses that many
        ports from this one on.
    type: int
  ttl:
    description:
      - The multicast TTL (1 to 255), as C(ipvsadm --mcast-ttl). V(1) when a daemon is started without one.
    type: int
  maxlen:
    description:
      - The largest payload of a sync message in bytes, as C(ipvsadm --sync-maxlen). A master takes 1 to
        65507 (65487 with an IPv6 group), a backup 1024 to 65507 (65487); the kernel would store another
        value for what lies outside, so the module refuses it.
      - Not given, a running daemon's value is not compared, and a daemon the task starts gets the
        kernel's choice - 1500 (master) or the interface's MTU from 1500 to 65535 (backup), minus the
        IP and UDP headers (28 bytes with an IPv4 group, 48 with an IPv6 one), so 1472 on a common network.
    type: int
notes:
  - The kernel refuses to start a daemon while a service has real servers of another address family
    (the sync protocol cannot carry them); the module says so before changing anything.
  - What is synced, and how persistent clients leave a dead real server, is decided by the sysctls
    C(net.ipv4.vs.sync_persist_mode), C(sync_threshold), C(sync_period), C(sync_version),
    C(expire_nodest_conn) and C(expire_quiescent_template); the P(lvs.ipvs.director#role) role sets them.
seealso:
  - module: lvs.ipvs.ipvs_info
    description: Reads the running daemons (O(lvs.ipvs.ipvs_info#module:gather=sync_daemons)).
"""

EXAMPLES = r"""
- name: Send this director's connections to the other directors (ipvsadm --start-daemon master ...)
  lvs.ipvs.ipvs_sync_daemon:
    state: master
    interface: eth1
    syncid: 10

- name: And receive theirs, so that templates survive a failover either way
  lvs.ipvs.ipvs_sync_daemon:
    state: backup
    interface: eth1
    syncid: 10

- name: Sync over a dedicated IPv6 group and port (a running daemon is stopped and started)
  lvs.ipvs.ipvs_sync_daemon:
    state: master
    interface: eth1
    group: ff02::1:81
    port: 9000
    ttl: 1

- name: Stop the backup daemon only
  lvs.ipvs.ipvs_sync_daemon:
    state: absent
    daemon: backup

- name: Stop both daemons
  lvs.ipvs.ipvs_sync_daemon:
    state: absent
"""

RETURN = r"""
sync_daemon:
  description:
    - The daemon the task manages, as it is after the task (as it would be, in check mode), or V(null)
      when it does not run. With O(state=absent) always V(null).
  returned: always
  type: dict
  sample: {state: master, interface: eth1, syncid: 10, maxlen: 1472, group: 224.0.0.81, port: 8848, ttl: 1}
sync_daemons:
  description: Every daemon running after the task (as it would be, in check mode), the master first.
  returned: always
  type: list
  elements: dict
  sample:
    - {state: master, interface: eth1, syncid: 10, maxlen: 1472, group: 224.0.0.81, port: 8848, ttl: 1}
    - {state: backup, interface: eth1, syncid: 10, maxlen: 1472, group: 224.0.0.81, port: 8848, ttl: 1}
before:
  description: Every daemon running before the task, the master first.
  returned: always
  type: list
  elements: dict
  sample: []
changes:
  description:
    - What was done (would be done, in check mode), as C(ipvsadm) command lines. A changed setting of
      a running daemon is a stop and a start.
  returned: always
  type: list
  elements: str
  sample:
    - --stop-daemon master
    - --start-daemon master --mcast-interface eth1 --syncid 10 --mcast-group 224.0.0.81 --mcast-port 9000 --mcast-ttl 1
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import KernelError, ValidationError, run_and_exit
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import (
    HAS_PYROUTE2,
    PYROUTE2_IMPORT_ERROR,
    IpvsHandle,
    find_interface,
    pyroute2_problem,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._model import (
    SyncOperation,
    apply_sync_plan,
    plan_sync_daemons,
    render_sync_daemons,
    sync_daemon_spec_from_params,
)


def check_starts(module: AnsibleModule, ipvs: IpvsHandle, ops: list[SyncOperation]) -> dict[str, int]:
    """Refuse, before anything changes, what the kernel would refuse; the MTU of each interface a start uses."""
    mtu: dict[str, int] = {}
    starts = [op.daemon for op in ops if op.op == "start"]
    for daemon in starts:
        found = find_interface(daemon.interface)
        if found is None:
            raise ValidationError(f"cannot start the {daemon.label()}: there is no interface {daemon.interface} "
                                  "in this network namespace")
        if not found.multicast:
            module.warn(f"interface {daemon.interface} of the {daemon.state} sync daemon has no MULTICAST flag: "
                        "its sync messages may not reach the other directors")
        mtu[daemon.interface] = found.mtu
    if starts:
        mixed = [svc.key.label() for svc, dests in ipvs.config() if any(d.family != svc.key.family for d in dests)]
        if mixed:
            raise ValidationError(
                f"cannot start the {starts[0].label()}: the sync protocol cannot carry services with real servers "
                f"of another address family, and the kernel refuses to start it while there are any: "
                f"{', '.join(mixed)}")
    return mtu


def act(ipvs: IpvsHandle, ops: list[SyncOperation]) -> None:
    """Stop and start as planned; a restart whose start fails starts the old daemon again."""
    stopped = {}
    for op in ops:
        if op.op == "stop":
            ipvs.stop_sync_daemon(op.daemon)
            stopped[op.daemon.state] = op.daemon
            continue
        try:
            ipvs.start_sync_daemon(op.daemon)
        except KernelError as exc:
            old = stopped.get(op.daemon.state)
            if old is None:
                raise
            try:
                ipvs.start_sync_daemon(old)
            except KernelError as again:
                raise KernelError(f"{exc}; it had been stopped to change it, and starting it again with its old "
                                  f"settings failed too ({again}): no {old.state} sync daemon runs now",
                                  exc.errno) from exc
            raise KernelError(f"{exc}; it had been stopped to change it and was started again with its old settings",
                              exc.errno) from exc


def run(module: AnsibleModule) -> dict:
    spec = sync_daemon_spec_from_params(module.params)
    with IpvsHandle(module.run_command) as ipvs:
        current = ipvs.sync_daemons()
        ops = plan_sync_daemons(current, spec)
        mtu = check_starts(module, ipvs, ops)
        after = apply_sync_plan(current, ops, mtu)
        if ops and not module.check_mode:
            act(ipvs, ops)
            after = ipvs.sync_daemons()
    mine = [d for d in after if d.state == spec.state]
    result = {
        "changed": bool(ops),
        "changes": [op.words for op in ops],
        "before": [d.as_dict() for d in current],
        "sync_daemons": [d.as_dict() for d in after],
        "sync_daemon": mine[0].as_dict() if mine else None,
    }
    if module._diff:
        restarted = sorted({op.daemon.state for op in ops if op.op == "stop"} & {op.daemon.state for op in ops
                                                                                 if op.op == "start"})
        note = "; ".join(f"the {state} sync daemon is stopped and started again (a running daemon cannot be changed)"
                         for state in restarted)
        result["diff"] = {
            "before_header": "sync daemons (ipvsadm -L --daemon)",
            "after_header": "sync daemons (ipvsadm -L --daemon)" + (f": {note}" if note else ""),
            "before": render_sync_daemons(current),
            "after": render_sync_daemons(after),
        }
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["master", "backup", "absent"]),
            daemon=dict(type="str", choices=["master", "backup"]),
            interface=dict(type="str"),
            syncid=dict(type="int"),
            group=dict(type="str"),
            port=dict(type="int"),
            ttl=dict(type="int"),
            maxlen=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    if not HAS_PYROUTE2:
        module.fail_json(msg=pyroute2_problem(), exception=PYROUTE2_IMPORT_ERROR)
    run_and_exit(module, run)


if __name__ == "__main__":
    main()
