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

This module parses those lines into records, validates a request, works out which rules to
delete and add, and renders the ``iptables-restore --noflush`` batch. Rules without the
tag are never deleted; they are only inspected to detect a mark used for another address.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ValidationError

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

    def spec(self) -> str:
        """The rule specification (everything after ``-A CHAIN``) in iptables -S order."""
        parts = [f"-d {self.address}"]
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


def parse_rule(line: str) -> ParsedRule | None:
    """Parse one ``iptables -S`` line; None for anything that is not an ``-A`` rule."""
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
    return rule


def parse_rules(text: str) -> list[ParsedRule]:
    """Parse ``iptables -S`` output (policy, chain and comment lines are skipped)."""
    rules = []
    for line in text.splitlines():
        parsed = parse_rule(line.strip())
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
    """Check every option and return a normalized :class:`Request`; raise ValidationError."""
    if isinstance(mark, bool) or not isinstance(mark, int):
        raise ValidationError(f"invalid mark {mark!r}: a firewall mark is an integer 1..{MARK_MAX}")
    if not MARK_MIN <= mark <= MARK_MAX:
        raise ValidationError(
            f"invalid mark {mark}: a firewall mark for IPVS is 1..{MARK_MAX} (0 means unmarked)"
        )
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
    norm_ports: tuple[str, ...] | None = None
    if ports is not None:
        seen: list[str] = []
        for port in ports:
            try:
                norm = normalize_port(port)
            except ValidationError as exc:
                raise ValidationError(f"{what}: {exc}") from None
            if norm not in seen:
                seen.append(norm)
        norm_ports = tuple(seen)
    if state == "present" and not norm_ports:
        raise ValidationError(
            f"{what}: state=present needs at least one port or port range in ports "
            f"({protocol} rules match destination ports)"
        )
    norm_chains: tuple[str, ...] | None = None
    if chains is not None:
        names: list[str] = []
        for chain in chains:
            name = str(chain).upper()
            if name not in CHAINS:
                raise ValidationError(f"{what}: invalid chain {chain!r}: choose PREROUTING and/or OUTPUT")
            if name not in names:
                names.append(name)
        if not names:
            raise ValidationError(f"{what}: chains is empty: give PREROUTING and/or OUTPUT")
        norm_chains = tuple(names)
    iface: str | None = None
    if in_interface is not None and in_interface != "":
        iface = str(in_interface)
        if not _IFACE_RE.match(iface):
            raise ValidationError(
                f"{what}: invalid in_interface {iface!r}: an interface name is 1..15 letters, digits or _.:-, "
                "optionally ending in + as a wildcard"
            )
    return Request(mark, canon, str(protocol), norm_ports, norm_chains, iface, str(state), bool(purge))


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


def plan(request: Request, current: Iterable[ParsedRule]) -> Plan:
    """Compare the table's current rules with the request (both in canonical form)."""
    before: list[MarkRule] = []
    conflicts: list[ParsedRule] = []
    foreign_same: list[ParsedRule] = []
    for parsed in current:
        owned = parsed.owned()
        if owned is not None:
            if owned.mark == request.mark:
                before.append(owned)
            continue
        if parsed.target == "MARK" and parsed.mark == request.mark:
            if parsed.destination == request.address and not parsed.destination_negated:
                foreign_same.append(parsed)
            else:
                conflicts.append(parsed)

    delete: list[MarkRule] = []
    add: list[MarkRule] = []
    if request.state == "present":
        wanted = request.wanted()
        kept: set[MarkRule] = set()
        for rule in before:
            if rule in wanted and rule not in kept:
                kept.add(rule)
            elif rule in wanted or (request.purge and request.in_scope(rule)):
                delete.append(rule)  # a duplicate of a wanted rule, or purged
        add = [rule for rule in wanted if rule not in kept]
    else:
        delete = [rule for rule in before if request.matches_absent(rule)]

    after = list(before)
    for rule in delete:
        after.remove(rule)  # the first copy, as -D does
    after += add
    return Plan(request, before, after, delete, add, conflicts if request.state == "present" else [], foreign_same)


def render_lines(rules: Iterable[MarkRule]) -> list[str]:
    return [rule.render() for rule in rules]
