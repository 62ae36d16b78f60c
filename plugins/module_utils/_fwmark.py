# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure model of the firewall-mark rules behind lvs.ipvs.fwmark_rule (no I/O).

A firewall-mark group is a set of mangle-table rules, one per (chain, port or port range),
each shaped exactly like the hand-typed command::

    iptables -t mangle -A PREROUTING -d VIP -p tcp --dport 80 -j MARK --set-mark 10

plus a comment match that tags the rule as owned by the collection. ``iptables -S`` prints
such a rule in one canonical form on both backends::

    -A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 \\
        -m comment --comment "lvs.ipvs fwmark=10" -j MARK --set-xmark 0xa/0xffffffff

This module parses those lines into records, validates a request (the single form) or a list
of entries (the list form, every problem at once, each naming ``rules[N]``), works out which
rules to delete and add in one family's table (:func:`plan_table`, shared by both forms), and
renders the ``iptables-restore --noflush`` batch. Rules without the tag are never deleted;
they are only inspected to detect a mark used for another address.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import typing as t
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ConfigError, ValidationError

PROTOCOLS = ("tcp", "udp", "sctp")
CHAINS = ("PREROUTING", "OUTPUT")
MARK_MIN = 1
MARK_MAX = 0xFFFFFFFF
FULL_MASK = 0xFFFFFFFF
TAG_PREFIX = "lvs.ipvs fwmark="
TABLE = "mangle"

_IFACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,14}$")
_PORT_RE = re.compile(r"^\s*(\d+)\s*(?:[:-]\s*(\d+)\s*)?$")


def tag(mark: int) -> str:
    """The comment that marks a rule as owned by lvs.ipvs for ``mark``."""
    return f"{TAG_PREFIX}{mark}"


def family_of(address: str) -> str:
    """``ipv4`` or ``ipv6`` for a canonical ``address/prefix``."""
    return "ipv6" if ":" in address else "ipv4"


# -- records -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarkRule:
    """One owned marking rule, normalized. Equality is the canonical comparison."""

    chain: str
    address: str  # canonical network, e.g. 192.0.2.10/32 or 2001:db8::10/128
    protocol: str
    port: str  # "80" or "8000:8100"
    mark: int
    in_interface: str = ""

    @property
    def family(self) -> str:
        return family_of(self.address)

    @property
    def anywhere(self) -> bool:
        """Whether the rule matches every destination (``0.0.0.0/0`` or ``::/0``)."""
        return self.address.endswith("/0")

    def describe(self) -> str:
        """``fwmark 10 for tcp 192.0.2.10/32 port 80 in PREROUTING`` (``on eth0`` with an interface), for messages."""
        where = f"in {self.chain}" + (f" on {self.in_interface}" if self.in_interface else "")
        return f"fwmark {self.mark} for {self.protocol} {self.address} port {self.port} {where}"

    def spec(self) -> str:
        """The rule specification (everything after ``-A CHAIN``) in iptables -S order.

        A destination of every address (``0.0.0.0/0``, ``::/0``) is no match at all: iptables -S
        prints no ``-d`` for it, and neither does this.
        """
        parts = [] if self.anywhere else [f"-d {self.address}"]
        if self.in_interface:
            parts.append(f"-i {self.in_interface}")
        parts.append(f"-p {self.protocol} -m {self.protocol} --dport {self.port}")
        parts.append(f'-m comment --comment "{tag(self.mark)}"')
        parts.append(f"-j MARK --set-xmark {self.mark:#x}/{FULL_MASK:#x}")
        return " ".join(parts)

    def render(self, action: str = "-A") -> str:
        """The rule as ``iptables -S`` prints it (``-A``), or as a delete line (``-D``)."""
        return f"{action} {self.chain} {self.spec()}"

    def sort_key(self) -> tuple:
        return (CHAINS.index(self.chain) if self.chain in CHAINS else len(CHAINS), self.chain,
                self.address, self.protocol, _port_key(self.port), self.in_interface)


@dataclass
class ParsedRule:
    """Any ``-A`` line of the mangle table, as far as this module understands it."""

    line: str
    chain: str
    destination: str | None = None
    destination_negated: bool = False
    in_interface: str | None = None
    protocol: str | None = None
    dport: str | None = None
    comment: str | None = None
    target: str | None = None
    mark: int | None = None
    mask: int | None = None
    extra: list[str] = field(default_factory=list)  # tokens outside the simple shape

    def owned(self) -> MarkRule | None:
        """The :class:`MarkRule` this line is, if it is one the collection owns; else None."""
        if (
            self.extra
            or self.destination is None
            or self.destination_negated
            or self.protocol not in PROTOCOLS
            or self.dport is None
            or self.target != "MARK"
            or self.mark is None
            or self.mask != FULL_MASK
            or self.comment != tag(self.mark)
            or self.chain not in CHAINS
        ):
            return None
        return MarkRule(
            chain=self.chain,
            address=self.destination,
            protocol=self.protocol,
            port=self.dport,
            mark=self.mark,
            in_interface=self.in_interface or "",
        )


def _canonical_network(text: str) -> str:
    return str(ipaddress.ip_network(text, strict=False))


def _parse_mark(value: str) -> tuple[int, int]:
    if "/" in value:
        val, mask = value.split("/", 1)
    else:
        val, mask = value, str(FULL_MASK)
    return int(val, 0), int(mask, 0)


ANYWHERE = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}


def parse_rule(line: str, family: str = "ipv4") -> ParsedRule | None:
    """Parse one ``iptables -S`` line of ``family``'s table; None for anything that is not an ``-A`` rule.

    iptables -S leaves out what matches everything: a rule without ``-d`` is a rule for
    ``0.0.0.0/0`` (``::/0`` in ip6tables), as it was written.
    """
    try:
        tokens = shlex.split(line)
    except ValueError:
        return None
    if len(tokens) < 2 or tokens[0] != "-A":
        return None
    rule = ParsedRule(line=line, chain=tokens[1])
    i = 2
    negate = False
    match = None  # the current -m module
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        step = 2
        if tok == "!":
            negate = True
            i += 1
            continue
        if tok in ("-d", "--destination") and nxt is not None:
            try:
                rule.destination = _canonical_network(nxt)
            except ValueError:
                rule.extra += [tok, nxt]
            rule.destination_negated = negate
        elif tok in ("-i", "--in-interface") and nxt is not None and not negate:
            rule.in_interface = nxt
        elif tok in ("-p", "--protocol") and nxt is not None and not negate:
            rule.protocol = nxt
        elif tok in ("-m", "--match") and nxt is not None and not negate:
            match = nxt
            if nxt not in (rule.protocol, "comment"):
                rule.extra += [tok, nxt]
        elif tok in ("--dport", "--destination-port") and nxt is not None and not negate and match in PROTOCOLS:
            rule.dport = nxt
        elif tok == "--comment" and nxt is not None and match == "comment" and not negate:
            rule.comment = nxt
        elif tok in ("-j", "--jump") and nxt is not None:
            rule.target = nxt
        elif tok in ("--set-xmark", "--set-mark") and nxt is not None and rule.target == "MARK":
            try:
                rule.mark, rule.mask = _parse_mark(nxt)
            except ValueError:
                rule.extra += [tok, nxt]
        else:
            step = 1
            rule.extra.append(("! " if negate else "") + tok)
            if negate and nxt is not None and tok.startswith("-"):
                rule.extra.append(nxt)
                step = 2
        negate = False
        i += step
    if rule.destination is None and not any(tok in ("-d", "--destination") for tok in rule.extra):
        rule.destination = ANYWHERE[family]
    return rule


def parse_rules(text: str, family: str = "ipv4") -> list[ParsedRule]:
    """Parse ``iptables -S`` output of ``family``'s table (policy, chain and comment lines are skipped)."""
    rules = []
    for line in text.splitlines():
        parsed = parse_rule(line.strip(), family)
        if parsed is not None:
            rules.append(parsed)
    return rules


# -- request -------------------------------------------------------------------------------
def _port_key(port: str) -> tuple[int, int]:
    lo, _sep, hi = port.partition(":")
    return int(lo), int(hi or lo)


def normalize_port(value: object) -> str:
    """``80`` / ``"80"`` -> ``"80"``; ``"8000:8100"`` or ``"8000-8100"`` -> ``"8000:8100"``."""
    if isinstance(value, bool):
        raise ValidationError(f"invalid port {value!r}: a port is a number 1..65535 or a range like 8000:8100")
    text = str(value)
    found = _PORT_RE.match(text)
    if not found:
        raise ValidationError(f"invalid port {text!r}: a port is a number 1..65535 or a range like 8000:8100")
    lo = int(found.group(1))
    hi = int(found.group(2)) if found.group(2) is not None else lo
    for num in (lo, hi):
        if not 1 <= num <= 65535:
            raise ValidationError(f"invalid port {text!r}: port {num} is outside 1..65535")
    if lo > hi:
        raise ValidationError(f"invalid port range {text!r}: the first port is above the last")
    return str(lo) if lo == hi else f"{lo}:{hi}"


@dataclass(frozen=True)
class Request:
    """A validated fwmark_rule task."""

    mark: int
    address: str
    protocol: str
    ports: tuple[str, ...] | None  # None: not given (only allowed with state=absent)
    chains: tuple[str, ...] | None  # None: not given
    in_interface: str | None
    state: str
    purge: bool

    @property
    def family(self) -> str:
        return family_of(self.address)

    def describe(self) -> str:
        return f"fwmark {self.mark} for {self.protocol} {self.address}"

    def wanted(self) -> list[MarkRule]:
        """The rules state=present asks for, in a stable order (chains, then the ports as listed)."""
        chains = self.chains or ("PREROUTING",)
        rules = []
        for chain in chains:
            for port in self.ports or ():
                # OUTPUT sees locally generated packets, which have no incoming interface.
                iface = self.in_interface if chain == "PREROUTING" and self.in_interface else ""
                rules.append(MarkRule(chain, self.address, self.protocol, port, self.mark, iface))
        return rules

    def matches_absent(self, rule: MarkRule) -> bool:
        """Whether an owned rule is one state=absent removes."""
        return (
            self.in_scope(rule)
            and (self.ports is None or rule.port in self.ports)
            and (self.chains is None or rule.chain in self.chains)
            and (self.in_interface is None or rule.chain != "PREROUTING" or rule.in_interface == self.in_interface)
        )

    def in_scope(self, rule: MarkRule) -> bool:
        """Owned rules this task may delete with purge: same mark, address and protocol."""
        return rule.mark == self.mark and rule.address == self.address and rule.protocol == self.protocol


def _mark_problem(mark: object) -> str | None:
    if isinstance(mark, bool) or not isinstance(mark, int):
        return f"invalid mark {mark!r}: a firewall mark is an integer 1..{MARK_MAX}"
    if not MARK_MIN <= mark <= MARK_MAX:
        return f"invalid mark {mark}: a firewall mark for IPVS is 1..{MARK_MAX} (0 means unmarked)"
    return None


def _ports(ports: Sequence[object] | None) -> tuple[str, ...] | None:
    """The ports normalized, in the order given, without repeats; ValidationError names the bad one."""
    if ports is None:
        return None
    seen: list[str] = []
    for port in ports:
        norm = normalize_port(port)
        if norm not in seen:
            seen.append(norm)
    return tuple(seen)


def _ports_needed(protocol: str) -> str:
    return (f"state=present needs at least one port or port range in ports "
            f"({protocol} rules match destination ports)")


def _chains(chains: Sequence[object] | None) -> tuple[str, ...] | None:
    if chains is None:
        return None
    names: list[str] = []
    for chain in chains:
        name = str(chain).upper()
        if name not in CHAINS:
            raise ValidationError(f"invalid chain {chain!r}: choose PREROUTING and/or OUTPUT")
        if name not in names:
            names.append(name)
    if not names:
        raise ValidationError("chains is empty: give PREROUTING and/or OUTPUT")
    return tuple(names)


def _interface(in_interface: object) -> str | None:
    if in_interface is None or in_interface == "":
        return None
    iface = str(in_interface)
    if not _IFACE_RE.match(iface):
        raise ValidationError(
            f"invalid in_interface {iface!r}: an interface name is 1..15 letters, digits or _.:-, "
            "optionally ending in + as a wildcard"
        )
    return iface


def validate(
    *,
    mark: object,
    address: object,
    protocol: object = "tcp",
    ports: Sequence[object] | None = None,
    chains: Sequence[object] | None = None,
    in_interface: object = None,
    state: object = "present",
    purge: object = False,
) -> Request:
    """Check every option and return a normalized :class:`Request`; raise ValidationError (the first problem)."""
    problem = _mark_problem(mark)
    if problem:
        raise ValidationError(problem)
    try:
        net = ipaddress.ip_network(str(address), strict=True)
    except ValueError as exc:
        raise ValidationError(f"invalid address {address!r} for fwmark {mark}: {exc}") from None
    canon = str(net)
    if protocol not in PROTOCOLS:
        raise ValidationError(f"invalid protocol {protocol!r} for fwmark {mark}: choose one of {', '.join(PROTOCOLS)}")
    if state not in ("present", "absent"):
        raise ValidationError(f"invalid state {state!r} for fwmark {mark}: choose present or absent")
    what = f"fwmark {mark} for {protocol} {canon}"
    try:
        norm_ports = _ports(ports)
        if state == "present" and not norm_ports:
            raise ValidationError(_ports_needed(str(protocol)))
        norm_chains = _chains(chains)
        iface = _interface(in_interface)
    except ValidationError as exc:
        raise ValidationError(f"{what}: {exc}") from None
    return Request(t.cast(int, mark), canon, str(protocol), norm_ports, norm_chains, iface, str(state), bool(purge))


# -- list form: several groups in one task ---------------------------------------------------
RULE_OPTIONS = ("mark", "address", "protocol", "ports", "in_interface", "chains", "state", "purge")


@dataclass(frozen=True)
class Entry:
    """One validated entry of the list form (``rules[index]``)."""

    index: int
    label: str  # "rules[2] (mark 10, 192.0.2.1)", as given
    request: Request


def entry_label(index: int, raw: Mapping[str, object]) -> str:
    """``rules[2] (mark 10, 192.0.2.1)``: the entry as the user wrote it, for messages."""
    mark = raw.get("mark")
    address = raw.get("address")
    what = [f"mark {mark}" if mark is not None else "no mark",
            str(address) if address not in (None, "") else "no address"]
    return f"rules[{index}] ({', '.join(what)})"


def check_entry(index: int, raw: Mapping[str, object]) -> tuple[Entry | None, list[str]]:
    """Every problem of one list entry (each prefixed with its label), or the normalized entry.

    The defaults are the single form's: protocol tcp, state present, purge false, chains
    PREROUTING for present and every chain for absent.
    """
    label = entry_label(index, raw)
    problems: list[str] = []
    unknown = sorted(set(raw) - set(RULE_OPTIONS))
    if unknown:
        problems.append(f"unknown option {', '.join(unknown)}: an entry has {', '.join(RULE_OPTIONS)}")
    mark = raw.get("mark")
    if mark is None:
        problems.append(f"mark is required: the firewall mark, 1..{MARK_MAX}")
    else:
        problem = _mark_problem(mark)
        if problem:
            problems.append(problem)
    address = raw.get("address")
    canon = ""
    if address in (None, ""):
        problems.append("address is required: the VIP or network whose traffic is marked")
    else:
        try:
            canon = str(ipaddress.ip_network(str(address), strict=True))
        except ValueError as exc:
            problems.append(f"invalid address {address!r}: {exc}")
    protocol = raw.get("protocol")
    protocol = "tcp" if protocol is None else protocol
    if protocol not in PROTOCOLS:
        problems.append(f"invalid protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    state = raw.get("state")
    state = "present" if state is None else state
    if state not in ("present", "absent"):
        problems.append(f"invalid state {state!r}: choose present or absent")
    ports = raw.get("ports")
    norm_ports: tuple[str, ...] | None = None
    if ports is not None and (isinstance(ports, (str, bytes)) or not isinstance(ports, Sequence)):
        problems.append(f"invalid ports {ports!r}: a list of ports or port ranges")
    else:
        port_problems = []
        for port in ports or ():
            try:
                normalize_port(port)
            except ValidationError as exc:
                port_problems.append(str(exc))
        problems += port_problems
        if not port_problems:
            norm_ports = _ports(ports)  # type: ignore[arg-type]
            if state == "present" and not norm_ports:
                problems.append(_ports_needed(str(protocol)))
    norm_chains: tuple[str, ...] | None = None
    chains = raw.get("chains")
    if chains is not None and (isinstance(chains, (str, bytes)) or not isinstance(chains, Sequence)):
        problems.append(f"invalid chains {chains!r}: a list of PREROUTING and/or OUTPUT")
    else:
        try:
            norm_chains = _chains(chains)  # type: ignore[arg-type]
        except ValidationError as exc:
            problems.append(str(exc))
    iface: str | None = None
    try:
        iface = _interface(raw.get("in_interface"))
    except ValidationError as exc:
        problems.append(str(exc))
    purge = raw.get("purge")
    if purge is not None and not isinstance(purge, bool):
        problems.append(f"invalid purge {purge!r}: true or false")
    if problems:
        return None, [f"{label}: {problem}" for problem in problems]
    request = Request(t.cast(int, mark), canon, str(protocol), norm_ports, norm_chains, iface, str(state), bool(purge))
    return Entry(index, label, request), []


def check_rules(raw_entries: Sequence[Mapping[str, object] | None]) -> list[Entry]:
    """Validate the list form: every entry, then how they fit together; ConfigError lists every problem.

    Besides each entry's own problems, an entry with state=absent may not remove a rule that
    an entry with state=present adds (the task would contradict itself).
    """
    entries: list[Entry] = []
    errors: list[str] = []
    for index, raw in enumerate(raw_entries):
        if not isinstance(raw, Mapping):
            errors.append(f"rules[{index}]: an entry is a dictionary with {', '.join(RULE_OPTIONS)}, got {raw!r}")
            continue
        entry, problems = check_entry(index, raw)
        errors += problems
        if entry is not None:
            entries.append(entry)
    wanted_by: dict[MarkRule, Entry] = {}
    for entry in entries:
        if entry.request.state == "present":
            for rule in entry.request.wanted():
                wanted_by.setdefault(rule, entry)
    for entry in entries:
        if entry.request.state != "absent":
            continue
        clashes = [(rule, other) for rule, other in wanted_by.items() if entry.request.matches_absent(rule)]
        for rule, other in clashes:
            errors.append(f"{entry.label}: state=absent would remove a rule that {other.label} adds: {rule.render()}")
    if errors:
        raise ConfigError(in_list_order(errors), "rules")
    return entries


def in_list_order(messages: Iterable[str]) -> list[str]:
    """Messages sorted by the N of their leading ``rules[N]`` (stable: an entry's own order is kept)."""

    def index(message: str) -> int:
        head = message.split("]", 1)[0][len("rules["):]
        return int(head) if message.startswith("rules[") and head.isdigit() else -1

    return sorted(messages, key=index)


# -- plan ----------------------------------------------------------------------------------
@dataclass
class Plan:
    """What a task changes in one family's mangle table."""

    request: Request
    before: list[MarkRule]  # every owned rule of the mark, in table order
    after: list[MarkRule]
    delete: list[MarkRule]
    add: list[MarkRule]
    conflicts: list[ParsedRule]  # foreign rules setting the mark for another destination
    foreign_same: list[ParsedRule]  # foreign rules setting the mark for the same destination

    @property
    def changed(self) -> bool:
        return bool(self.delete or self.add)

    def batch(self) -> str:
        """The ``iptables-restore --noflush`` input: deletes, then adds, one COMMIT."""
        return render_batch(self.delete, self.add)

    def conflict_message(self) -> str:
        lines = "; ".join(r.line for r in self.conflicts)
        return (
            f"cannot set {self.request.describe()}: mark {self.request.mark} is already set by rules "
            f"that lvs.ipvs does not own for another destination ({lines}); choose another mark or remove "
            "those rules; nothing was changed"
        )


def render_batch(delete: Iterable[MarkRule], add: Iterable[MarkRule]) -> str:
    lines = [f"*{TABLE}"]
    lines += [rule.render("-D") for rule in delete]
    lines += [rule.render("-A") for rule in add]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def batch_line(delete: Sequence[MarkRule], add: Sequence[MarkRule], number: int | None) -> str:
    """What line ``number`` (1-based) of :func:`render_batch`'s batch does, in words, for the message of a refusal.

    ``deleting fwmark 10 for tcp 192.0.2.10/32 port 80 in PREROUTING``; the COMMIT line (where
    iptables-legacy reports a rule the kernel refuses) names every rule of the batch.
    """
    if number is None:
        return ""
    if 2 <= number < 2 + len(delete):
        return f"deleting {delete[number - 2].describe()}"
    if 2 + len(delete) <= number < 2 + len(delete) + len(add):
        return f"adding {add[number - 2 - len(delete)].describe()}"
    if number == 2 + len(delete) + len(add):
        rules = [f"deleting {rule.describe()}" for rule in delete] + [f"adding {rule.describe()}" for rule in add]
        return "COMMIT, where the kernel refused one of: " + "; ".join(rules)
    return ""


@dataclass
class TablePlan:
    """What a task changes in one family's mangle table, for one or several requests."""

    family: str
    requests: list[Request]
    purge_all: bool
    before: list[MarkRule]  # the owned rules in view (see plan_table), in table order
    after: list[MarkRule]
    delete: list[MarkRule]
    add: list[MarkRule]
    conflicts: list[list[ParsedRule]]  # per request: foreign rules setting its mark for another destination
    foreign_same: list[list[ParsedRule]]  # per request: foreign rules setting its mark for its destination

    @property
    def changed(self) -> bool:
        return bool(self.delete or self.add)

    def batch(self) -> str:
        return render_batch(self.delete, self.add)


def plan_table(requests: Sequence[Request], current: Iterable[ParsedRule], purge_all: bool = False) -> TablePlan:
    """Plan one family's table for every request of that family (both in canonical form).

    In view (``before``/``after``) are the owned rules of every mark a request names, or, with
    ``purge_all``, every owned rule. Among them, a rule is deleted when it is an extra copy of
    a wanted rule, when an absent request matches it, when a present request with purge has it
    in scope, or, with ``purge_all``, when no present request wants it. A rule some present
    request wants is never deleted. Rules without the tag are never deleted; foreign rules
    that set a wanted mark are sorted into conflicts (another destination than every present
    request of that mark has) and same-destination ones.
    """
    families = {request.family for request in requests}
    if len(families) > 1:
        raise ValueError(f"one table, one family: got {sorted(families)}")
    family = families.pop() if families else ""
    marks = {request.mark for request in requests}
    present = [request for request in requests if request.state == "present"]
    absent = [request for request in requests if request.state == "absent"]
    before: list[MarkRule] = []
    foreign: list[ParsedRule] = []
    for parsed in current:
        owned = parsed.owned()
        if owned is None:
            if parsed.target == "MARK" and parsed.mark in marks:
                foreign.append(parsed)
        elif purge_all or owned.mark in marks:
            before.append(owned)
            family = family or owned.family

    wanted: list[MarkRule] = []
    for request in present:
        wanted += [rule for rule in request.wanted() if rule not in wanted]
    kept: set[MarkRule] = set()
    delete: list[MarkRule] = []
    for rule in before:
        if rule in wanted:
            if rule in kept:
                delete.append(rule)  # an extra copy of a wanted rule
            else:
                kept.add(rule)
        elif (
            purge_all
            or any(request.matches_absent(rule) for request in absent)
            or any(request.purge and request.in_scope(rule) for request in present)
        ):
            delete.append(rule)
    add = [rule for rule in wanted if rule not in kept]

    # Destinations each present mark is wanted for: a foreign rule for one of them is "the same".
    destinations: dict[int, set[str]] = {}
    for request in present:
        destinations.setdefault(request.mark, set()).add(request.address)
    conflicts: list[list[ParsedRule]] = []
    foreign_same: list[list[ParsedRule]] = []
    for request in requests:
        same = [p for p in foreign if p.mark == request.mark and not p.destination_negated
                and p.destination == request.address]
        other = [p for p in foreign if p.mark == request.mark
                 and (p.destination_negated or p.destination not in destinations.get(request.mark, ()))]
        foreign_same.append(same)
        conflicts.append(other if request.state == "present" else [])

    after = list(before)
    for rule in delete:
        after.remove(rule)  # the first copy, as -D does
    after += add
    return TablePlan(family, list(requests), purge_all, before, after, delete, add, conflicts, foreign_same)


def plan(request: Request, current: Iterable[ParsedRule]) -> Plan:
    """Compare the table's current rules with one request (the single form)."""
    table = plan_table([request], current)
    return Plan(request, table.before, table.after, table.delete, table.add, table.conflicts[0],
                table.foreign_same[0])


def plan_rules(entries: Sequence[Entry], family: str, current: Iterable[ParsedRule], purge: bool) -> TablePlan:
    """The list form's plan for one family: the entries of that family, and with ``purge`` every owned rule."""
    plan = plan_table([entry.request for entry in entries if entry.request.family == family], current, purge)
    plan.family = family
    return plan


def conflict_errors(entries: Sequence[Entry], plan: TablePlan) -> list[str]:
    """One message per entry whose mark foreign rules already set for another destination."""
    mine = [entry for entry in entries if entry.request.family == plan.family]
    errors = []
    for index, entry in enumerate(mine):
        found = plan.conflicts[index]
        if found:
            errors.append(
                f"{entry.label}: mark {entry.request.mark} is already set by rules that lvs.ipvs does not own "
                f"for another destination ({'; '.join(r.line for r in found)}); choose another mark or remove "
                "those rules"
            )
    return errors


def unowned_warnings(entries: Sequence[Entry], plan: TablePlan) -> list[str]:
    """One warning per present entry whose mark foreign rules also set for its own destination."""
    mine = [entry for entry in entries if entry.request.family == plan.family]
    warnings = []
    for index, entry in enumerate(mine):
        found = plan.foreign_same[index]
        if found and entry.request.state == "present":
            warnings.append(
                f"{entry.label}: rules that lvs.ipvs does not own already set mark {entry.request.mark} for "
                f"{entry.request.address}; they are left alone: " + "; ".join(r.line for r in found)
            )
    return warnings


def render_lines(rules: Iterable[MarkRule]) -> list[str]:
    return [rule.render() for rule in rules]
