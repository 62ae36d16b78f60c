#!/usr/bin/python
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ipvs_config
short_description: Manage the whole IPVS table of a host as data (services, real servers, timeouts)
version_added: 0.1.0
description:
  - Manages every IPVS virtual service of a host, with its real servers, from one list, following
    Ansible's resource-module convention for O(state).
  - Each entry of O(config) has the options of M(lvs.ipvs.ipvs_service), plus O(config[].real_servers)
    with the options of M(lvs.ipvs.ipvs_real_server). One task replaces one task per service and one
    per real server.
  - The table is read once, the changes are planned as a whole, and only then applied. A bad O(config)
    changes nothing - every problem is reported at once, each naming the entry, its service and its
    real server.
  - "For example: C(config[2] TCP 192.0.2.1:80: real server 10.0.0.5:8080: dr forwarding sends packets to the
    service port 80; port 8080 is only possible with forwarding: nat)."
  - Changes are applied in an order that is safe for live traffic - new services, service edits,
    new real servers, real-server edits, then removals of real servers, then removals of services.
    Existing services and real servers are changed in place (C(ipvsadm -E) and C(-e), the kernel's
    SET commands), never deleted and re-added, so connections and persistence templates survive.
  - O(state=rendered) and O(state=parsed) convert between O(config) and C(ipvsadm -S -n) text on
    the machine that runs the module, without IPVS and without pyroute2.
author:
  - lvs.ipvs contributors (@lvs-ipvs)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
attributes:
  check_mode:
    support: full
    description: Plans and reports the changes (RV(changes), the diff) without touching the kernel.
  diff_mode:
    support: full
    description:
      - The table before and after as sorted C(ipvsadm -S -n) lines, with C(-x)/C(-y) thresholds, and an
        C(ipvsadm --set) line for the timeouts when O(timeouts) is given.
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  config:
    description:
      - The services, each identified as in M(lvs.ipvs.ipvs_service) by O(config[].protocol), O(config[].address)
        and O(config[].port), or by O(config[].fwmark) and O(config[].family). A service may be listed only once.
      - What is done with the list depends on O(state).
      - Values are checked by the same code as M(lvs.ipvs.ipvs_service) and M(lvs.ipvs.ipvs_real_server), and
        also against the schedulers and persistence engines that Linux ships.
      - Required with O(state=overridden), O(state=deleted) and O(state=rendered).
    type: list
    elements: dict
    suboptions:
      protocol:
        description:
          - V(tcp), V(udp) or V(sctp); V(tcp) when not given. Not with O(config[].fwmark).
        type: str
      address:
        description:
          - The virtual IP address (IPv4 or IPv6). Needs O(config[].port); not with O(config[].fwmark).
        type: str
      port:
        description:
          - The virtual port. V(0) means every port and is only valid for a persistent service (PCC).
        type: int
      fwmark:
        description:
          - The firewall mark of a firewall-mark service (1 to 4294967295).
          - Not with O(config[].address), O(config[].port) or O(config[].protocol).
        type: int
      family:
        description:
          - V(ipv4) or V(ipv6), the address family of a firewall-mark service (V(ipv4) when not given).
          - Derived from O(config[].address) otherwise; when given as well, it must match.
        type: str
      scheduler:
        description:
          - The scheduler, one that Linux ships - V(rr), V(wrr), V(lc), V(wlc), V(lblc), V(lblcr), V(dh), V(sh),
            V(sed), V(nq), V(fo), V(ovf), V(mh) or V(twos). A new service gets V(wlc) when not given.
        type: str
      scheduler_flags:
        description:
          - Scheduler flags, as C(ipvsadm -b) - V(sh-fallback) and V(sh-port) for V(sh), V(mh-fallback) and
            V(mh-port) for V(mh), V(flag-1), V(flag-2) and V(flag-3) for any scheduler.
        type: list
        elements: str
      persistent:
        description:
          - Whether the service is persistent (C(ipvsadm -p)). A service is persistent when
            O(config[].persistence_timeout) is given.
        type: bool
      persistence_timeout:
        description:
          - The persistence timeout in seconds, 1 to 4294967295.
          - A service that becomes persistent without it gets V(300) seconds, as the C(ipvsadm) man page promises
            (C(ipvsadm -p) without a value really stores V(360); give the value to match such a service).
        type: int
      persistence_netmask:
        description:
          - The persistence granularity - an IPv4 netmask such as V(255.255.255.0) (or a prefix length such as
            V(24)), or an IPv6 prefix length from 1 to 128.
        type: str
      persistence_engine:
        description:
          - A persistence engine, V(sip) (UDP services). An empty string removes it.
        type: str
      one_packet:
        description:
          - One-packet scheduling (C(ipvsadm -o)), for UDP services.
        type: bool
      real_servers:
        description:
          - The real servers of the service, with the options of M(lvs.ipvs.ipvs_real_server).
            A real server is identified by its address and port and may be listed only once.
          - With O(state=merged), real servers not listed stay. With O(state=replaced) and
            O(state=overridden), they are removed.
        type: list
        elements: dict
        suboptions:
          address:
            description:
              - The real server's IP address. Required.
            type: str
          port:
            description:
              - The real server's port. With V(dr) and V(tunnel) forwarding it is the service port (the packet
                keeps the port the client used; V(0) for a firewall-mark service) and may be left out; another
                port is an error. V(nat) real servers default to the service port.
            type: int
          forwarding:
            description:
              - V(dr) (direct routing, C(-g)), V(nat) (masquerading, C(-m)) or V(tunnel) (C(-i)). V(dr) when new.
            type: str
          weight:
            description:
              - The weight, 0 to 65535; V(0) makes the real server quiescent. V(1) when new.
            type: int
          upper_threshold:
            description:
              - The upper connection threshold (V(0) = no limit).
            type: int
          lower_threshold:
            description:
              - The lower connection threshold; needs an upper one, and not above it.
            type: int
          tunnel_type:
            description:
              - V(ipip), V(gue) or V(gre), for V(tunnel) forwarding (V(ipip) when not given).
            type: str
          tunnel_port:
            description:
              - The destination UDP port of a V(gue) tunnel.
            type: int
          tunnel_checksum:
            description:
              - V(nocsum), V(csum) or V(remcsum), for V(gue) and V(gre) tunnels (V(nocsum) when not given).
            type: str
  timeouts:
    description:
      - The connection timeouts, as M(lvs.ipvs.ipvs_timeouts). Only the values given are changed, whatever O(state).
      - Not used with O(state=deleted), O(state=gathered) and O(state=parsed). With O(state=rendered) they are
        checked but not rendered (C(ipvsadm -S) has no timeouts).
    type: dict
    suboptions:
      tcp:
        description: Idle TCP connections, in seconds.
        type: int
      tcp_fin:
        description: TCP connections after a FIN, in seconds.
        type: int
      udp:
        description: UDP, in seconds.
        type: int
  running_config:
    description:
      - C(ipvsadm -S -n) text (the lines of C(ipvsadm-save), or a rules file for C(ipvsadm -R)) to read with
        O(state=parsed). C(-A) and C(-a) lines, short or long options; blank lines and C(#) comments are skipped.
    type: str
  state:
    description:
      - V(merged) adds the services and real servers listed and changes the settings they name. Everything else
        stays - a listed service keeps the settings it does not name, and the real servers it does not list.
      - V(replaced) makes each listed service exactly as given - settings not named take their defaults, as for a
        new service, and real servers not listed are removed. Services not listed stay.
      - V(overridden) makes the whole table exactly the list - V(replaced) for the services listed, and every
        service not listed is removed. O(config) is required; V([]) empties the table.
      - V(deleted) removes the services listed (identified by their key; their other settings are checked but
        not compared) with their real servers. O(config) is required, and V(config=[]) removes B(every) service,
        as the resource-module convention has it; leaving O(config) out is an error, not a deletion of everything.
      - V(gathered) returns the live table in the shape of O(config), as RV(gathered).
      - V(rendered) returns the C(ipvsadm -R) text of O(config) as RV(rendered), without touching the host.
      - V(parsed) returns O(running_config) in the shape of O(config), as RV(parsed), without touching the host.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered, parsed]
    default: merged
notes:
  - The sub-options carry their types only. The rules that tie them together (V(fwmark) excludes V(address),
    V(address) needs V(port), a real server needs an address, the allowed values...) are checked by the
    collection's model, which names the entry and service of every problem and reports them all at once;
    an argument-spec constraint would stop at the first problem without saying which service it is in.
  - An add that finds its service or real server already there (another task added it meanwhile) reads the
    table again, plans again and goes on, once.
  - O(state=rendered) and O(state=parsed) need neither pyroute2 nor IPVS.
seealso:
  - module: lvs.ipvs.ipvs_service
  - module: lvs.ipvs.ipvs_real_server
  - module: lvs.ipvs.ipvs_timeouts
  - module: lvs.ipvs.ipvs_info
  - name: ipvsadm(8)
    description: The manual page of ipvsadm, whose C(-S) and C(-R) format RV(rendered) and O(running_config) use.
    link: https://manpages.debian.org/ipvsadm.8
"""

EXAMPLES = r"""
- name: Persistent port (PPC) web and ssh services with two DR real servers each; nothing else changes
  lvs.ipvs.ipvs_config:
    config:
      - address: 192.168.0.1
        port: 80
        scheduler: rr
        persistence_timeout: 300
        real_servers:
          - address: 192.168.1.2
          - address: 192.168.1.3
      - address: 192.168.0.1
        port: 22
        scheduler: rr
        persistence_timeout: 300
        real_servers:
          - address: 192.168.1.2
          - address: 192.168.1.3
    timeouts:
      tcp: 300
      tcp_fin: 60
      udp: 100

- name: The whole table is the e-commerce shop (80+443 under firewall mark 10); every other service goes
  lvs.ipvs.ipvs_config:
    state: overridden
    config:
      - fwmark: 10
        scheduler: rr
        persistence_timeout: 3600
        real_servers:
          - address: 192.168.1.2
            weight: 4
          - address: 192.168.1.3
            weight: 2

- name: Quiesce one real server of the PCC service and keep everything else as it is
  lvs.ipvs.ipvs_config:
    state: merged
    config:
      - address: 192.168.0.1
        port: 0
        real_servers:
          - address: 192.168.1.3
            weight: 0

- name: Remove the ssh service and its real servers
  lvs.ipvs.ipvs_config:
    state: deleted
    config:
      - address: 192.168.0.1
        port: 22

- name: Read an existing director's save file into inventory data (no IPVS needed)
  lvs.ipvs.ipvs_config:
    state: parsed
    running_config: "{{ lookup('ansible.builtin.file', 'ipvsadm.rules') }}"
  register: saved

- name: The same data as ipvsadm -R text, for a boot-time restore file
  lvs.ipvs.ipvs_config:
    state: rendered
    config: "{{ saved.parsed }}"
  register: rules

- name: Read the live table in the same shape
  lvs.ipvs.ipvs_config:
    state: gathered
  register: live
"""

RETURN = r"""
changes:
  description:
    - The operations run (in check mode, that would run), in order, as C(ipvsadm) command lines
      (C(-A), C(-E), C(-D), C(-a), C(-e), C(-d), C(--set); V(0) in C(--set) leaves that timeout as it is).
  returned: with the states that change the host
  type: list
  elements: str
  sample:
    - -A -t 192.168.0.1:443 -s rr -p 300
    - -E -t 192.168.0.1:80 -s rr -p 600
    - -a -t 192.168.0.1:443 -r 192.168.1.2:443 -g -w 1
    - -e -t 192.168.0.1:80 -r 192.168.1.3:80 -g -w 0
    - -d -t 192.168.0.1:80 -r 192.168.1.4:80
    - -D -t 192.168.0.1:22
    - --set 300 0 0
before:
  description: The table before the task, in the shape of O(config).
  returned: when something changed (or would change, in check mode)
  type: list
  elements: dict
  sample:
    - protocol: tcp
      address: 192.168.0.1
      port: 80
      scheduler: rr
      persistent: true
      persistence_timeout: 300
      real_servers:
        - {address: 192.168.1.2, port: 80, forwarding: dr, weight: 1}
after:
  description: The table after the task (as it would be, in check mode), in the shape of O(config).
  returned: when something changed (or would change, in check mode)
  type: list
  elements: dict
  sample:
    - protocol: tcp
      address: 192.168.0.1
      port: 80
      scheduler: rr
      persistent: true
      persistence_timeout: 600
      real_servers:
        - {address: 192.168.1.2, port: 80, forwarding: dr, weight: 1}
gathered:
  description:
    - The live table in the shape of O(config) (valid O(config) input that gives the same table),
      services and real servers sorted as C(ipvsadm -S -n) lines sort. Settings at their default are left out,
      except C(scheduler) and C(persistent).
  returned: when O(state=gathered)
  type: list
  elements: dict
  sample:
    - fwmark: 10
      family: ipv4
      scheduler: rr
      persistent: true
      persistence_timeout: 3600
      real_servers:
        - {address: 192.168.1.2, port: 0, forwarding: dr, weight: 4}
        - {address: 192.168.1.3, port: 0, forwarding: nat, weight: 2, upper_threshold: 100}
rendered:
  description:
    - O(config) as C(ipvsadm -R) text - sorted C(ipvsadm -S -n) lines, every service as given with defaults for
      the settings not named; real-server thresholds (which C(ipvsadm -S) does not save) as C(-x) and C(-y).
  returned: when O(state=rendered)
  type: str
  sample: |
    -A -f 10 -s rr -p 3600
    -a -f 10 -r 192.168.1.2:0 -g -w 4
parsed:
  description: O(running_config) in the shape of O(config), services in the order of their C(-A) lines.
  returned: when O(state=parsed)
  type: list
  elements: dict
  sample:
    - protocol: tcp
      address: 192.168.0.1
      port: 0
      scheduler: wlc
      persistent: true
      persistence_timeout: 600
      real_servers:
        - {address: 192.168.1.2, port: 0, forwarding: dr, weight: 1}
errors:
  description: Every problem found in O(config), O(timeouts) or O(running_config) (the task failed).
  returned: on failure because of bad input
  type: list
  elements: str
  sample:
    - "config[0] TCP 192.0.2.1:80: scheduler 'w l c' is not a scheduler name"
    - "config[2] TCP 192.0.2.1:80: real server 10.0.0.5:8080: dr forwarding sends packets to the service port 80;
      port 8080 is only possible with forwarding: nat"
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import (
    CHANGED_AGAIN,
    ConfigError,
    KernelError,
    LvsIpvsError,
    ValidationError,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import (
    HAS_PYROUTE2,
    PYROUTE2_IMPORT_ERROR,
    BatchError,
    IpvsHandle,
    pyroute2_problem,
    state_moved,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._model import (
    CONFIG_DEST_FIELDS,
    CONFIG_SERVICE_FIELDS,
    TIMEOUT_FIELDS,
    Dest,
    Operation,
    Service,
    ServiceConfig,
    Timeouts,
    apply_to_table,
    check_config,
    check_timeouts,
    merge_timeouts,
    message_reason,
    parse_ipvsadm_save,
    plan,
    render_table,
    render_text,
    render_wanted,
    sort_table,
    table_config,
)

Table = Sequence[tuple[Service, Sequence[Dest]]]

# The options each state reads; another one given is an error rather than silently ignored.
STATE_OPTIONS = {
    "merged": ("config", "timeouts"),
    "replaced": ("config", "timeouts"),
    "overridden": ("config", "timeouts"),
    "deleted": ("config",),
    "gathered": (),
    "rendered": ("config", "timeouts"),
    "parsed": ("running_config",),
}


class ApplyError(KernelError):
    """Operations of a plan were refused: the ones in ``done`` ran, ``failed`` is the first refused one
    (``refused``: every refused one of its window; the message names each)."""

    def __init__(self, exc: KernelError, done: list[Operation], failed: Operation,
                 refused: Sequence[Operation] = ()) -> None:
        super().__init__(str(exc), exc.errno)
        self.done = done
        self.failed = failed
        self.refused = list(refused) or [failed]
        self.errors = list(getattr(exc, "errors", None) or [str(exc)])


def apply(handle: IpvsHandle, ops: Sequence[Operation]) -> None:
    """Run a plan through ``handle``, in the plan's order: THE writer of ipvs_config.

    Batched (:meth:`IpvsHandle.apply`): many requests per send, each one acked, in windows of
    operations of one step, so nothing is sent that depends on a refused operation. Everything
    applied, or :class:`ApplyError` saying what ran and what was refused.
    """
    try:
        handle.apply(ops)
    except BatchError as exc:
        raise ApplyError(exc, exc.done, exc.failed, exc.refused) from exc


def scheduler_errors(handle: IpvsHandle, ops: Sequence[Operation], services: Sequence[ServiceConfig]) -> list[str]:
    """Before any change: every service whose scheduler or persistence engine this kernel cannot load."""
    labels = {w.key: w.label for w in services}
    verdicts: dict[tuple[str, str | None], str | None] = {}
    errors = []
    for op in ops:
        if op.op not in ("add_service", "edit_service") or op.service is None:
            continue
        svc = op.service
        pair = (svc.scheduler, svc.persistence_engine)
        if pair not in verdicts:
            try:
                handle.check_scheduler(svc)
                verdicts[pair] = None
            except KernelError as exc:
                verdicts[pair] = message_reason(exc, svc.key.label())
        if verdicts[pair]:
            errors.append(f"{labels.get(svc.key, svc.key.label())}: {verdicts[pair]}")
    return errors


def diff_text(table: Table, timeouts: Timeouts | None) -> str:
    lines = render_table(table)
    if timeouts is not None:
        lines.append(f"--set {timeouts.tcp} {timeouts.tcp_fin} {timeouts.udp}")
    return render_text(lines)


class Written(NamedTuple):
    """What a write did: ``done`` ran; ``table`` and ``timeouts`` with ``last`` applied are the result."""

    done: list[Operation]
    table: Table
    timeouts: Timeouts | None
    last: list[Operation]


class Writer:
    """Plans from a read of the table and applies the plan; a write the kernel refuses because the table moved
    since the read (another task added what it adds: EEXIST; removed what it edits or deletes: ESRCH, ENOENT)
    reads, plans and goes on, once."""

    def __init__(self, handle: IpvsHandle, replan: Callable[[Table, Timeouts | None], list[Operation]],
                 with_timeouts: bool) -> None:
        self.handle = handle
        self.replan = replan
        self.with_timeouts = with_timeouts

    def read(self) -> tuple[Table, Timeouts | None]:
        table = self.handle.config()
        return table, (self.handle.get_timeouts() if self.with_timeouts else None)

    def write(self, ops: list[Operation], table: Table, timeouts: Timeouts | None) -> Written:
        """Apply ``ops``, planned on ``table``; after a refusal of a table that moved, read, plan and apply (once).

        A second such refusal fails saying the table changed again (:data:`CHANGED_AGAIN`).
        """
        try:
            apply(self.handle, ops)
            return Written(ops, table, timeouts, ops)
        except ApplyError as exc:
            if not state_moved(exc.failed.op, exc.errno):
                raise
            done = exc.done
        table, timeouts = self.read()  # another task changed it meanwhile: plan again from what is there now
        again = self.replan(table, timeouts)
        try:
            apply(self.handle, again)
        except ApplyError as exc:
            exc.done = done + exc.done
            if state_moved(exc.failed.op, exc.errno):
                raise ApplyError(KernelError(f"{exc}; {CHANGED_AGAIN}", exc.errno), exc.done, exc.failed,
                                 exc.refused) from exc
            raise
        return Written(done + again, table, timeouts, again)


def check_options(params: dict[str, Any]) -> None:
    state = params["state"]
    extra = [name for name in ("config", "timeouts", "running_config")
             if params[name] is not None and name not in STATE_OPTIONS[state]]
    if extra:
        raise ValidationError(f"state {state} does not use {' or '.join(extra)}")
    if state in ("overridden", "deleted") and params["config"] is None:
        raise ValidationError(
            f"state {state} needs config: the services "
            + ("the table is to hold (config: [] empties it)" if state == "overridden"
               else "to delete, or config: [] to delete every service")
        )


def run(module: AnsibleModule, handle_factory: Callable[..., IpvsHandle] | None = None) -> dict:
    p = module.params
    state = p["state"]
    check_options(p)
    if state == "parsed":
        return {"changed": False, "parsed": parse_ipvsadm_save(p["running_config"])}
    services, errors = check_config(p["config"])
    wanted_timeouts, timeout_errors = check_timeouts(p["timeouts"])
    errors += timeout_errors
    if state == "rendered" or (errors and state in ("replaced", "overridden")):
        # Every service as given, defaults for the rest: what these states make of it, whatever the table.
        lines: list[str] = []
        try:
            lines = render_wanted(services)
        except ConfigError as exc:
            errors += exc.errors
        if errors:
            raise ConfigError(errors)
        return {"changed": False, "rendered": render_text(lines)}
    if errors and (state != "merged" or not HAS_PYROUTE2):
        raise ConfigError(errors)  # (merged reads the table first: what depends on it is reported as well)
    if not HAS_PYROUTE2:
        module.fail_json(msg=pyroute2_problem(), exception=PYROUTE2_IMPORT_ERROR)

    def replan(table: Table, timeouts: Timeouts | None) -> list[Operation]:
        return plan(table, services, state, timeouts=wanted_timeouts, current_timeouts=timeouts)

    with (handle_factory or IpvsHandle)(module.run_command) as ipvs:
        if state == "gathered":
            return {"changed": False, "gathered": table_config(sort_table(ipvs.config()))}
        writer = Writer(ipvs, replan, bool(wanted_timeouts))
        current, current_timeouts = writer.read()
        ops: list[Operation] = []
        try:
            ops = replan(current, current_timeouts)
        except ConfigError as exc:
            errors += exc.errors
        if errors:
            raise ConfigError(errors)
        errors = scheduler_errors(ipvs, ops, services)
        if errors:
            raise ConfigError(errors)
        written = Written(ops, current, current_timeouts, ops)
        if ops and not module.check_mode:
            try:
                written = writer.write(ops, current, current_timeouts)
            except ApplyError as exc:
                module.fail_json(
                    msg=f"{exc} ({len(exc.done)} operations were done: see changes)",
                    changed=bool(exc.done), changes=[op.words for op in exc.done], errors=exc.errors,
                )
    after = apply_to_table(written.table, written.last)
    result: dict[str, Any] = {"changed": bool(written.done), "changes": [op.words for op in written.done]}
    if written.done:
        result["before"] = table_config(sort_table(current))
        result["after"] = table_config(after)
    if module._diff:
        after_timeouts = None
        if written.timeouts is not None:
            after_timeouts = merge_timeouts(written.timeouts, wanted_timeouts)
        result["diff"] = {"before": diff_text(sort_table(current), current_timeouts),
                          "after": diff_text(after, after_timeouts)}
    return result


def argument_spec() -> dict[str, Any]:
    """Types only inside config (see the notes in DOCUMENTATION): the model checks the rules and names the service."""

    def options(fields: dict[str, str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, kind in fields.items():
            out[name] = {"type": kind}
            if kind == "list":
                out[name]["elements"] = "str"
        return out

    service = options(CONFIG_SERVICE_FIELDS)
    service["real_servers"] = {"type": "list", "elements": "dict", "options": options(CONFIG_DEST_FIELDS)}
    return {
        "config": {"type": "list", "elements": "dict", "options": service},
        "timeouts": {"type": "dict", "options": {name: {"type": "int"} for name in TIMEOUT_FIELDS}},
        "running_config": {"type": "str"},
        "state": {"type": "str", "default": "merged", "choices": list(STATE_OPTIONS)},
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[
            ("state", "parsed", ("running_config",)),
            ("state", "rendered", ("config",)),
            ("state", "overridden", ("config",)),
            ("state", "deleted", ("config",)),
        ],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except ConfigError as exc:
        module.fail_json(msg=str(exc), errors=exc.errors)
    except LvsIpvsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
