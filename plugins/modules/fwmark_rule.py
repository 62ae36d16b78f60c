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
    for the xtables lock.
  - Uses whichever backend (nft or legacy) the system's C(iptables) / C(ip6tables) uses, and reports it.
    Rules made through one backend are invisible to the other.
  - When O(state=present), refuses (changing nothing) a mark that rules this module does not own already set for
    another destination. Such rules for the same destination are left alone and reported in a warning.
  - The rules live in the running kernel only; to keep them over a reboot, save them with the system's
    iptables persistence (for example C(netfilter-persistent save)) or run the task at boot.
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
    description: The diff shows the owned rules of the mark, as C(iptables -S) lines, before and after.
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  mark:
    description:
      - The firewall mark, 1 to 4294967295 (0 means "no mark" and is refused).
      - The same number identifies the firewall-mark IPVS service (C(ipvsadm -A -f <mark>)).
    type: int
    required: true
  address:
    description:
      - The destination (virtual IP) whose traffic is marked, an IPv4 or IPv6 address, or a network in CIDR form.
      - An IPv4 address is handled with C(iptables), an IPv6 one with C(ip6tables).
    type: str
    required: true
  protocol:
    description:
      - The transport protocol the rules match.
    type: str
    choices: [tcp, udp, sctp]
    default: tcp
  ports:
    description:
      - Destination ports or port ranges to mark, as numbers (V(80)) or ranges (V(8000:8100), also V(8000-8100)).
      - Required, and not empty, with O(state=present).
      - With O(state=absent), only the rules of these ports are removed; without O(ports), every owned rule of
        the mark for O(address) and O(protocol) is removed.
    type: list
    elements: str
  in_interface:
    description:
      - Only mark packets that arrive on this interface (C(-i)); a trailing C(+) is a wildcard.
      - Applies to the PREROUTING rules only; packets in OUTPUT are generated locally and have no incoming interface.
      - With O(state=absent), limits the removal to PREROUTING rules with this interface.
    type: str
  chains:
    description:
      - The mangle chains to put rules in. V(PREROUTING) marks traffic that arrives at the director;
        add V(OUTPUT) when clients run on the director itself.
      - Defaults to V([PREROUTING]) with O(state=present), and to every chain with O(state=absent).
    type: list
    elements: str
    choices: [PREROUTING, OUTPUT]
  state:
    description:
      - V(present) makes sure the rules exist; V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=present), also remove the rules this module owns for the same O(mark), O(address) and
        O(protocol) that the task no longer lists (another port, chain or interface).
      - Owned rules of the mark for another address or protocol, and rules the module does not own, are never
        purged.
    type: bool
    default: false
notes:
  - The rules go to the C(mangle) table, and C(iptables -t mangle -S) shows them, for example
    C(-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -m comment --comment "lvs.ipvs fwmark=10"
    -j MARK --set-xmark 0xa/0xffffffff).
  - C(ansible.builtin.iptables) cannot set marks, which is why this module exists.
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
"""

RETURN = r"""
backend:
  description: The iptables backend the rules went through.
  returned: success
  type: str
  sample: nft
family:
  description: The address family, which decides between C(iptables) and C(ip6tables).
  returned: success
  type: str
  sample: ipv4
rules:
  description: Every rule this module owns for the mark in this family after the task, as C(iptables -S) lines.
  returned: success
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
  returned: success
  type: list
  elements: str
  sample:
    - -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff
batch:
  description:
    - The C(iptables-restore --noflush) input that was applied (or, in check mode, would be).
    - Empty when nothing changes.
  returned: success
  type: list
  elements: str
  sample:
    - "*mangle"
    - -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 443 -m comment
      --comment "lvs.ipvs fwmark=10" -j MARK --set-xmark 0xa/0xffffffff
    - COMMIT
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lvs.ipvs.plugins.module_utils import _fwmark as model
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import KernelError, run_and_exit
from ansible_collections.lvs.ipvs.plugins.module_utils._iptables import (
    Iptables,
    runner_from_module,
    which_from_module,
)


def argument_spec() -> dict:
    return {
        "mark": {"type": "int", "required": True},
        "address": {"type": "str", "required": True},
        "protocol": {"type": "str", "choices": list(model.PROTOCOLS), "default": "tcp"},
        "ports": {"type": "list", "elements": "str"},
        "in_interface": {"type": "str"},
        "chains": {"type": "list", "elements": "str", "choices": list(model.CHAINS)},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "purge": {"type": "bool", "default": False},
    }


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
    tables = Iptables(request.family, runner_from_module(module), which_from_module(module))
    current = model.parse_rules(tables.list_rules(model.TABLE))
    plan = model.plan(request, current)
    if plan.conflicts:
        module.fail_json(msg=plan.conflict_message(), backend=tables.backend, family=request.family,
                         conflicting_rules=[r.line for r in plan.conflicts])
    if plan.foreign_same and request.state == "present":
        module.warn(
            f"{request.describe()}: rules that lvs.ipvs does not own already set mark {request.mark} for "
            f"{request.address}; they are left alone: " + "; ".join(r.line for r in plan.foreign_same)
        )
    batch = plan.batch() if plan.changed else ""
    if plan.changed and not module.check_mode:
        try:
            tables.restore(batch)
        except KernelError as exc:
            raise KernelError(f"cannot apply {request.describe()}: {exc}", exc.errno) from None
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


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("state", "present", ("ports",))],
        supports_check_mode=True,
    )
    run_and_exit(module, run)


if __name__ == "__main__":
    main()
