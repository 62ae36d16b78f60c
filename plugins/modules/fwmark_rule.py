#!/usr/bin/python
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fwmark_rule
short_description: Firewall-mark rules that group ports of a VIP for IPVS persistence
version_added: 0.1.0
description:
  - Manages the C(iptables -t mangle) rules that put a firewall mark on the traffic for a virtual IP
    address and a set of ports, so that an IPVS service keyed on that mark (see M(lvs.ipvs.ipvs_service))
    carries one persistence template across all of those ports, for example HTTP (80) and HTTPS (443).
  - Each rule is the hand-typed C(iptables -t mangle -A PREROUTING -d VIP -p tcp --dport 80 -j MARK --set-mark 10)
    plus a comment match C(lvs.ipvs fwmark=<mark>) that tags it as owned by this module. There is one rule per
    chain and per port or port range, so removing one port removes exactly that rule.
  - Rules without the tag are never changed or removed.
  - Reads the table with C(iptables -S), compares in canonical form and applies the whole change as one
    C(iptables-restore --noflush -w) batch, which the kernel applies atomically (all or nothing) and which waits
    for the xtables lock, up to O(lock_timeout) seconds.
  - C(iptables -S) leaves out what matches everything, so a rule for O(address=0.0.0.0/0) (or V(::/0)) shows no
    C(-d); the module reads a rule without C(-d) as one for every address of its family.
  - When C(iptables-restore) refuses the batch, the message names the rule of the line it refused (mark, address,
    port, chain). When the table changed between the read and the write (another task deleted a rule this one
    deletes, or added one it adds), the task reads the table again, plans again and applies that, once; should the
    table change again, it fails saying so.
  - Uses whichever backend (nft or legacy) the system's C(iptables) / C(ip6tables) uses, and reports it.
    Rules made through one backend are invisible to the other.
  - When O(state=present), refuses (changing nothing) a mark that rules this module does not own already set for
    another destination. Such rules for the same destination are left alone and reported in a warning.
  - The rules live in the running kernel only; to keep them over a reboot, save them with the system's
    iptables persistence (for example C(netfilter-persistent save)) or run the task at boot.
  - "Two forms: the single form (O(mark), O(address) and the options next to them) manages one group; the list
    form (O(rules)) manages any number of groups, of both address families, in one task - one read of each
    family's table, one plan, one C(iptables-restore --noflush -w) batch per family - so a play does not need a
    task per group. The list form checks every entry before reading anything and reports every problem at once,
    each naming its entry, for example C(rules[2] (mark 10, 192.0.2.1): invalid port '70000': port 70000 is
    outside 1..65535); then nothing is changed."
author:
  - lvs.ipvs contributors (@lvs-ipvs)
requirements:
  - C(iptables) (and C(ip6tables) for IPv6) with C(iptables-restore), nft or legacy backend, on the target.
attributes:
  check_mode:
    support: full
    description: Reports what would change (and the diff) without changing anything.
  diff_mode:
    support: full
    description:
      - The diff shows the owned rules in view, as C(iptables -S) lines, before and after - those of the mark in the
        single form; in the list form those of every mark an entry names (IPv4 lines, then IPv6), or every owned
        rule with O(purge=true).
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  mark:
    description:
      - The firewall mark, 1 to 4294967295 (0 means "no mark" and is refused).
      - The same number identifies the firewall-mark IPVS service (C(ipvsadm -A -f <mark>)).
      - Required, with O(address), in the single form; not with O(rules).
    type: int
  address:
    description:
      - The destination (virtual IP) whose traffic is marked, an IPv4 or IPv6 address, or a network in CIDR form.
      - An IPv4 address is handled with C(iptables), an IPv6 one with C(ip6tables).
      - Required, with O(mark), in the single form; not with O(rules).
    type: str
  protocol:
    description:
      - The transport protocol the rules match. Not with O(rules).
    type: str
    choices: [tcp, udp, sctp]
    default: tcp
  ports:
    description:
      - Destination ports or port ranges to mark, as numbers (V(80)) or ranges (V(8000:8100), also V(8000-8100)).
      - Required, and not empty, with O(state=present).
      - With O(state=absent), only the rules of these ports are removed; without O(ports), every owned rule of
        the mark for O(address) and O(protocol) is removed.
      - Not with O(rules).
    type: list
    elements: str
  in_interface:
    description:
      - Only mark packets that arrive on this interface (C(-i)); a trailing C(+) is a wildcard.
      - Applies to the PREROUTING rules only; packets in OUTPUT are generated locally and have no incoming interface.
      - With O(state=absent), limits the removal to PREROUTING rules with this interface.
      - Not with O(rules).
    type: str
  chains:
    description:
      - The mangle chains to put rules in. V(PREROUTING) marks traffic that arrives at the director;
        add V(OUTPUT) when clients run on the director itself.
      - Defaults to V([PREROUTING]) with O(state=present), and to every chain with O(state=absent).
      - Not with O(rules).
    type: list
    elements: str
    choices: [PREROUTING, OUTPUT]
  state:
    description:
      - V(present) makes sure the rules exist; V(absent) removes them.
      - Not with O(rules), whose entries have their own O(rules[].state).
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - In the single form, with O(state=present), also remove the rules this module owns for the same O(mark),
        O(address) and O(protocol) that the task no longer lists (another port, chain or interface).
        Owned rules of the mark for another address or protocol are not purged.
      - In the list form, remove B(every) rule this module owns - tagged C(lvs.ipvs fwmark=<mark>) - that no entry
        with O(rules[].state=present) describes, whatever its mark, address, protocol, chain or port, in the
        IPv4 table (C(iptables)) and in the IPv6 table (C(ip6tables)), even when no entry is of that family.
        With V(rules=[]) this removes every owned rule. A family whose command is not installed is skipped;
        one whose mangle table cannot be read (IPv6 disabled in the kernel) is skipped with a warning, unless
        an entry is of that family, which then fails the task.
      - Rules the module does not own (without the tag, or not of the exact shape it writes) are never purged,
        in either form, even when they set a listed mark.
    type: bool
    default: false
  lock_timeout:
    description:
      - How long, in seconds, each C(iptables), C(ip6tables) and C(iptables-restore) command waits for the xtables
        lock (C(-w SECONDS)) before the task fails, naming the lock. The legacy backend locks the file
        C(/run/xtables.lock) (or the one C(XTABLES_LOCKFILE) names) with C(flock); the nft backend takes no lock.
      - V(0) does not wait - the task fails at once when another program holds the lock.
      - Goes with both forms.
    type: int
    default: 30
  rules:
    description:
      - The list form - several firewall-mark groups in one task. Each entry has the options of the single form,
        with the same meaning and defaults.
      - Not with O(mark), O(address), O(protocol), O(ports), O(in_interface), O(chains) or O(state); O(purge)
        goes with both forms (see there what it removes in this one), as does O(lock_timeout).
      - Entries are applied together. Without O(purge), owned rules that no entry names stay as they are.
        Entries may share a mark (one firewall-mark service for several VIPs) and may overlap; a rule wanted by
        several entries is written once, and a rule one entry wants is never removed by another entry's purge.
        An entry with O(rules[].state=absent) that would remove a rule another entry adds is an error.
      - Each family's changes are one C(iptables-restore) batch, applied atomically. Should the IPv6 batch be
        refused after the IPv4 batch was applied (the kernel refuses a rule it should take), the task fails
        saying so, with C(changed=true).
    type: list
    elements: dict
    suboptions:
      mark:
        description:
          - The firewall mark, 1 to 4294967295. Required.
        type: int
      address:
        description:
          - The destination (virtual IP) whose traffic is marked, an IPv4 or IPv6 address, or a network in CIDR
            form. Required.
        type: str
      protocol:
        description:
          - V(tcp), V(udp) or V(sctp); V(tcp) when not given.
        type: str
      ports:
        description:
          - Ports or port ranges, as in O(ports). Required, and not empty, with O(rules[].state=present).
        type: list
        elements: str
      in_interface:
        description:
          - As O(in_interface), for the PREROUTING rules of this entry.
        type: str
      chains:
        description:
          - V(PREROUTING) and/or V(OUTPUT); V([PREROUTING]) when not given with O(rules[].state=present), every
            chain with O(rules[].state=absent).
        type: list
        elements: str
      state:
        description:
          - V(present) or V(absent), as O(state); V(present) when not given.
        type: str
      purge:
        description:
          - As O(purge) in the single form - remove the entry's owned rules of the same mark, address and
            protocol that it does not list - except those another entry wants. V(false) when not given.
        type: bool
notes:
  - The rules go to the C(mangle) table, and C(iptables -t mangle -S) shows them, for example
    C(-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -m comment --comment "lvs.ipvs fwmark=10"
    -j MARK --set-xmark 0xa/0xffffffff).
  - C(ansible.builtin.iptables) cannot set marks, which is why this module exists.
  - The sub-options of O(rules) carry their types only; the rules between them (required ones, allowed values,
    ports with V(present)) are checked by the collection's model, which names the entry of every problem and
    reports them all at once. An argument-spec constraint would stop at the first problem without saying which
    entry it is in.
seealso:
  - module: lvs.ipvs.ipvs_service
  - module: lvs.ipvs.ipvs_real_server
"""

EXAMPLES = r"""
- name: Mark HTTP and HTTPS for the shop's VIP with firewall mark 10
  lvs.ipvs.fwmark_rule:
    mark: 10
    address: 192.0.2.10
    protocol: tcp
    ports: [80, 443]

- name: The classic lab, 80 and 23 under mark 8, also for clients on the director itself
  lvs.ipvs.fwmark_rule:
    mark: 8
    address: 192.0.2.20
    ports: [80, 23]
    chains: [PREROUTING, OUTPUT]

- name: IPv6 VIP, only traffic that comes in on eth0, and drop any port no longer listed
  lvs.ipvs.fwmark_rule:
    mark: 10
    address: 2001:db8::10
    ports: [80, 443, "8000:8100"]
    in_interface: eth0
    purge: true

- name: Remove the rule for port 23 only
  lvs.ipvs.fwmark_rule:
    mark: 8
    address: 192.0.2.20
    ports: [23]
    state: absent

- name: Remove every rule of mark 8 for the VIP
  lvs.ipvs.fwmark_rule:
    mark: 8
    address: 192.0.2.20
    state: absent

- name: Every group of the director in one task; owned rules of any other mark go (purge)
  lvs.ipvs.fwmark_rule:
    rules:
      - mark: 10
        address: 192.0.2.10
        ports: [80, 443]
      - mark: 8
        address: 192.0.2.20
        ports: [80, 23]
        chains: [PREROUTING, OUTPUT]
      - mark: 10
        address: 2001:db8::10
        ports: [80, 443]
    purge: true

- name: Add one group and remove another, leaving every other owned rule alone
  lvs.ipvs.fwmark_rule:
    rules:
      - mark: 12
        address: 192.0.2.12
        protocol: udp
        ports: ["5000:5010"]
      - mark: 8
        address: 192.0.2.20
        state: absent

- name: Groups built from data, in one task
  lvs.ipvs.fwmark_rule:
    rules: >-
      {%- set out = [] -%}
      {%- for group in my_groups -%}
      {%-   set _ = out.append({'mark': group.mark, 'address': group.vip, 'ports': group.ports}) -%}
      {%- endfor -%}
      {{ out }}
    purge: true
"""

RETURN = r"""
backend:
  description: The iptables backend the rules went through.
  returned: success, in the single form
  type: str
  sample: nft
family:
  description: The address family, which decides between C(iptables) and C(ip6tables).
  returned: success, in the single form
  type: str
  sample: ipv4
rules:
  description: Every rule this module owns for the mark in this family after the task, as C(iptables -S) lines.
  returned: success, in the single form
  type: list
  elements: str
  sample:
    - -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -m comment
      --comment "lvs.ipvs fwmark=10" -j MARK --set-xmark 0xa/0xffffffff
    - -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 443 -m comment
      --comment "lvs.ipvs fwmark=10" -j MARK --set-xmark 0xa/0xffffffff
unowned_rules:
  description:
    - Rules this module does not own that set the same mark for the same destination (for example the
      hand-typed ones it replaces). They are left alone, and a warning names them.
  returned: success, in the single form
  type: list
  elements: str
  sample:
    - -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff
batch:
  description:
    - The C(iptables-restore --noflush) input that was applied (or, in check mode, would be).
    - Empty when nothing changes.
  returned: success, in the single form
  type: list
  elements: str
  sample:
    - "*mangle"
    - -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 443 -m comment
      --comment "lvs.ipvs fwmark=10" -j MARK --set-xmark 0xa/0xffffffff
    - COMMIT
families:
  description:
    - The list form's result per address family whose table was read (V(ipv4) for C(iptables), V(ipv6) for
      C(ip6tables)) - the families of the entries, and with O(purge=true) both, less those skipped.
  returned: success, in the list form
  type: dict
  contains:
    backend:
      description: The iptables backend of the family's command, V(nft) or V(legacy).
      type: str
      sample: nft
    rules:
      description:
        - The owned rules in view after the task, as C(iptables -S) lines - those of every mark an entry of the
          family names, or every owned rule with O(purge=true).
      type: list
      elements: str
      sample:
        - -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -m comment
          --comment "lvs.ipvs fwmark=10" -j MARK --set-xmark 0xa/0xffffffff
    unowned_rules:
      description: Rules this module does not own that set an entry's mark for that entry's destination.
      type: list
      elements: str
      sample: []
    batch:
      description: The C(iptables-restore --noflush) input applied (or, in check mode, that would be); empty
        when nothing changes in the family.
      type: list
      elements: str
      sample:
        - "*mangle"
        - -D PREROUTING -d 192.0.2.30/32 -p tcp -m tcp --dport 80 -m comment
          --comment "lvs.ipvs fwmark=30" -j MARK --set-xmark 0x1e/0xffffffff
        - COMMIT
  sample:
    ipv4:
      backend: nft
      rules:
        - -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -m comment
          --comment "lvs.ipvs fwmark=10" -j MARK --set-xmark 0xa/0xffffffff
      unowned_rules: []
      batch: []
errors:
  description: Every problem of O(rules), each naming its entry, when the list form fails on them.
  returned: failure, in the list form
  type: list
  elements: str
  sample:
    - "rules[2] (mark 10, 192.0.2.1): invalid port '70000': port 70000 is outside 1..65535"
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lvs.ipvs.plugins.module_utils import _fwmark as model
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import (
    CHANGED_AGAIN,
    BackendUnavailableError,
    ConfigError,
    KernelError,
    LvsIpvsError,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._iptables import (
    DEFAULT_LOCK_TIMEOUT,
    Iptables,
    RestoreError,
    XtablesLockError,
    runner_from_module,
    which_from_module,
)

FAMILIES = ("ipv4", "ipv6")
COMMANDS = {"ipv4": "iptables", "ipv6": "ip6tables"}
SINGLE_OPTIONS = ("mark", "address", "protocol", "ports", "in_interface", "chains", "state")


def argument_spec() -> dict:
    """The single form's options, and O(rules) with the same names carrying types only (the model checks them)."""
    entry = {
        "mark": {"type": "int"},
        "address": {"type": "str"},
        "protocol": {"type": "str"},
        "ports": {"type": "list", "elements": "str"},
        "in_interface": {"type": "str"},
        "chains": {"type": "list", "elements": "str"},
        "state": {"type": "str"},
        "purge": {"type": "bool"},
    }
    return {
        "mark": {"type": "int"},
        "address": {"type": "str"},
        "protocol": {"type": "str", "choices": list(model.PROTOCOLS), "default": "tcp"},
        "ports": {"type": "list", "elements": "str"},
        "in_interface": {"type": "str"},
        "chains": {"type": "list", "elements": "str", "choices": list(model.CHAINS)},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "purge": {"type": "bool", "default": False},
        "rules": {"type": "list", "elements": "dict", "options": entry},
        "lock_timeout": {"type": "int", "default": DEFAULT_LOCK_TIMEOUT},
    }


def refusal(exc: RestoreError, plan: model.Plan | model.TablePlan) -> str:
    """The refusal of a batch, naming the rule of the line iptables-restore reported."""
    words = model.batch_line(plan.delete, plan.add, exc.line)
    if not words:
        return str(exc)
    return f"{exc.command} refused line {exc.line} of the batch, {words}; nothing was changed: {exc.detail}"


P = t.TypeVar("P", model.Plan, model.TablePlan)


def write(tables: Iptables, text: str, plan: P, replan: t.Callable[[list[model.ParsedRule]], P]) -> P:
    """Apply ``plan`` (made on the table read as ``text``); returns the plan that was applied.

    When iptables-restore refuses the batch and the table is no longer what was read (another
    task changed it: a rule to delete is gone, one to add is there), read it again, plan again
    with ``replan`` (which also raises on conflicts) and apply that, once. A refusal of a table
    that did not move, or of the second batch, raises :class:`KernelError` naming the rule.
    """
    try:
        tables.restore(plan.batch())
        return plan
    except RestoreError as exc:
        first = exc
    text_again = tables.list_rules(model.TABLE)
    if text_again == text:
        raise KernelError(refusal(first, plan))
    plan = replan(model.parse_rules(text_again, tables.family))
    if plan.changed:
        try:
            tables.restore(plan.batch())
        except RestoreError as exc:
            raise KernelError(f"{refusal(exc, plan)}; {CHANGED_AGAIN}") from None
    return plan


def run(module: AnsibleModule) -> dict:
    params = module.params
    request = model.validate(
        mark=params["mark"],
        address=params["address"],
        protocol=params["protocol"],
        ports=params["ports"],
        chains=params["chains"],
        in_interface=params["in_interface"],
        state=params["state"],
        purge=params["purge"],
    )
    tables = Iptables(request.family, runner_from_module(module), which_from_module(module), params["lock_timeout"])

    def plan_on(current: list[model.ParsedRule]) -> model.Plan:
        found = model.plan(request, current)
        if found.conflicts:
            module.fail_json(msg=found.conflict_message(), backend=tables.backend, family=request.family,
                             conflicting_rules=[r.line for r in found.conflicts])
        return found

    text = tables.list_rules(model.TABLE)
    plan = plan_on(model.parse_rules(text, request.family))
    if plan.foreign_same and request.state == "present":
        module.warn(
            f"{request.describe()}: rules that lvs.ipvs does not own already set mark {request.mark} for "
            f"{request.address}; they are left alone: " + "; ".join(r.line for r in plan.foreign_same)
        )
    if plan.changed and not module.check_mode:
        try:
            plan = write(tables, text, plan, plan_on)
        except KernelError as exc:
            raise KernelError(f"cannot apply {request.describe()}: {exc}", exc.errno) from None
    batch = plan.batch() if plan.changed else ""
    result = {
        "changed": plan.changed,
        "backend": tables.backend,
        "family": request.family,
        "rules": model.render_lines(plan.after),
        "unowned_rules": [r.line for r in plan.foreign_same],
        "batch": batch.splitlines(),
    }
    if module._diff:
        command = "ip6tables" if request.family == "ipv6" else "iptables"
        header = f"{command} -t mangle ({tables.backend}), mark {request.mark}"
        result["diff"] = {
            "before_header": header,
            "after_header": header,
            "before": "".join(line + "\n" for line in model.render_lines(plan.before)),
            "after": "".join(line + "\n" for line in model.render_lines(plan.after)),
        }
    return result


def run_list(module: AnsibleModule) -> dict:
    """The list form: check every entry, read each family's table once, plan, one batch per family."""
    purge = bool(module.params["purge"])
    entries = model.check_rules(module.params["rules"])
    needed = {entry.request.family for entry in entries}
    runner, which = runner_from_module(module), which_from_module(module)

    # One read per family: the families of the entries, and with purge both.
    read: dict[str, tuple[Iptables, model.TablePlan]] = {}
    texts: dict[str, str] = {}
    for family in FAMILIES:
        if family not in needed and not purge:
            continue
        tables = Iptables(family, runner, which, module.params["lock_timeout"])
        try:
            text = tables.list_rules(model.TABLE)
        except BackendUnavailableError:
            if family in needed:
                raise
            continue  # no ip6tables (or iptables) installed: nothing of that family to purge
        except XtablesLockError:
            raise
        except KernelError as exc:
            if family in needed:
                raise
            module.warn(f"purge skipped {family}, whose mangle table cannot be read: {exc}")
            continue
        texts[family] = text
        read[family] = (tables, model.plan_rules(entries, family, model.parse_rules(text, family), purge))

    errors: list[str] = []
    for _tables, plan in read.values():
        errors += model.conflict_errors(entries, plan)
    if errors:
        raise ConfigError(model.in_list_order(errors), "rules")
    for _tables, plan in read.values():
        for warning in model.unowned_warnings(entries, plan):
            module.warn(warning)

    def plan_on(family: str, current: list[model.ParsedRule]) -> model.TablePlan:
        found = model.plan_rules(entries, family, current, purge)
        problems = model.conflict_errors(entries, found)
        if problems:
            raise ConfigError(model.in_list_order(problems), "rules")
        return found

    applied: list[str] = []
    for family, (tables, plan) in read.items():
        if not plan.changed or module.check_mode:
            continue
        try:
            read[family] = (tables, write(tables, texts[family], plan,
                                          lambda current, family=family: plan_on(family, current)))
        except KernelError as exc:
            done = f"; the {' and '.join(applied)} changes had been applied" if applied else ""
            module.fail_json(msg=f"cannot apply rules ({family}): {exc}{done}", changed=bool(applied))
        applied.append(family)

    result: dict = {
        "changed": any(plan.changed for _tables, plan in read.values()),
        "families": {
            family: {
                "backend": tables.backend,
                "rules": model.render_lines(plan.after),
                "unowned_rules": [r.line for found in plan.foreign_same for r in found],
                "batch": plan.batch().splitlines() if plan.changed else [],
            }
            for family, (tables, plan) in read.items()
        },
    }
    if module._diff:
        scope = "every owned rule" if purge else "owned rules of marks " + ", ".join(
            str(mark) for mark in sorted({entry.request.mark for entry in entries}))
        header = "; ".join(f"{COMMANDS[family]} -t mangle ({tables.backend})"
                           for family, (tables, _plan) in read.items()) or "iptables -t mangle"
        header += f", {scope}"
        result["diff"] = {
            "before_header": header,
            "after_header": header,
            "before": "".join(line + "\n" for _t, plan in read.values() for line in model.render_lines(plan.before)),
            "after": "".join(line + "\n" for _t, plan in read.values() for line in model.render_lines(plan.after)),
        }
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("rules", option) for option in SINGLE_OPTIONS],
        required_one_of=[("mark", "rules")],
        required_together=[("mark", "address")],
        supports_check_mode=True,
    )
    if module.params["lock_timeout"] < 0:
        module.fail_json(msg=f"lock_timeout {module.params['lock_timeout']} is negative: give the seconds to wait "
                             "for the xtables lock, or 0 not to wait")
    try:
        result = run_list(module) if module.params["rules"] is not None else run(module)
    except ConfigError as exc:
        module.fail_json(msg=str(exc), errors=exc.errors)
    except LvsIpvsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
