# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The list form of the firewall-mark model: checking ``rules``, planning a whole family's table."""

from __future__ import annotations

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils import _fwmark as model
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ConfigError


def rule(addr: str, port: int | str, mark: int, chain: str = "PREROUTING", *, iface: str = "") -> str:
    prefix = 128 if ":" in addr else 32
    dev = f" -i {iface}" if iface else ""
    return (f"-A {chain} -d {addr}/{prefix}{dev} -p tcp -m tcp --dport {port} "
            f'-m comment --comment "lvs.ipvs fwmark={mark}" -j MARK --set-xmark {mark:#x}/0xffffffff')


def table(*lines: str) -> list[model.ParsedRule]:
    return model.parse_rules("-P PREROUTING ACCEPT\n-P OUTPUT ACCEPT\n" + "\n".join(lines) + "\n")


def delete(line: str) -> str:
    return line.replace("-A", "-D", 1)


SHOP = {"mark": 10, "address": "192.0.2.10", "ports": [80, 443]}
LAB = {"mark": 8, "address": "192.0.2.20", "ports": [80, 23], "chains": ["PREROUTING", "OUTPUT"]}
SHOP6 = {"mark": 10, "address": "2001:db8::10", "ports": [80, 443]}
HAND = "-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0xa/0xffffffff"


def plan(raw: list[dict], current: list[model.ParsedRule], family: str = "ipv4", purge: bool = False):
    entries = model.check_rules(raw)
    return entries, model.plan_rules(entries, family, current, purge)


# -- checking the list ---------------------------------------------------------------------
def test_check_rules_normalizes_with_the_single_forms_defaults():
    entries = model.check_rules([SHOP, {**LAB, "chains": ["output", "PREROUTING"]},
                                 {"mark": 3, "address": "2001:DB8::3", "state": "absent"}])
    assert [e.label for e in entries] == [
        "rules[0] (mark 10, 192.0.2.10)", "rules[1] (mark 8, 192.0.2.20)", "rules[2] (mark 3, 2001:DB8::3)"]
    shop, lab, gone = (e.request for e in entries)
    assert shop == model.validate(**SHOP)
    assert shop.protocol == "tcp" and shop.state == "present" and not shop.purge and shop.chains is None
    assert lab.chains == ("OUTPUT", "PREROUTING") and lab.ports == ("80", "23")
    assert gone.family == "ipv6" and gone.address == "2001:db8::3/128" and gone.ports is None
    assert model.check_rules([]) == []


def test_every_problem_of_every_entry_at_once_in_list_order():
    raw = [
        SHOP,
        {"mark": 0, "address": "192.0.2.300", "ports": [80]},
        {"mark": 10, "address": "192.0.2.1", "ports": [70000, "90:80"], "protocol": "gre", "chains": ["INPUT"]},
        {"mark": 11, "address": "192.0.2.11"},
        {"address": "192.0.2.12", "ports": [80], "in_interface": "eth0 ; reboot", "state": "gone"},
        "not a dict",
        {"mark": 12, "address": "192.0.2.1/24", "ports": [80], "chains": [], "colour": "red"},
    ]
    with pytest.raises(ConfigError) as err:
        model.check_rules(raw)
    assert err.value.errors == [
        "rules[1] (mark 0, 192.0.2.300): invalid mark 0: a firewall mark for IPVS is 1..4294967295 (0 means unmarked)",
        "rules[1] (mark 0, 192.0.2.300): invalid address '192.0.2.300': "
        "'192.0.2.300' does not appear to be an IPv4 or IPv6 network",
        "rules[2] (mark 10, 192.0.2.1): invalid protocol 'gre': choose one of tcp, udp, sctp",
        "rules[2] (mark 10, 192.0.2.1): invalid port '70000': port 70000 is outside 1..65535",
        "rules[2] (mark 10, 192.0.2.1): invalid port range '90:80': the first port is above the last",
        "rules[2] (mark 10, 192.0.2.1): invalid chain 'INPUT': choose PREROUTING and/or OUTPUT",
        "rules[3] (mark 11, 192.0.2.11): state=present needs at least one port or port range in ports "
        "(tcp rules match destination ports)",
        "rules[4] (no mark, 192.0.2.12): mark is required: the firewall mark, 1..4294967295",
        "rules[4] (no mark, 192.0.2.12): invalid state 'gone': choose present or absent",
        "rules[4] (no mark, 192.0.2.12): invalid in_interface 'eth0 ; reboot': an interface name is 1..15 "
        "letters, digits or _.:-, optionally ending in + as a wildcard",
        "rules[5]: an entry is a dictionary with mark, address, protocol, ports, in_interface, chains, state, "
        "purge, got 'not a dict'",
        "rules[6] (mark 12, 192.0.2.1/24): unknown option colour: an entry has mark, address, protocol, ports, "
        "in_interface, chains, state, purge",
        "rules[6] (mark 12, 192.0.2.1/24): invalid address '192.0.2.1/24': 192.0.2.1/24 has host bits set",
        "rules[6] (mark 12, 192.0.2.1/24): chains is empty: give PREROUTING and/or OUTPUT",
    ]
    assert str(err.value).startswith("14 problems in rules, nothing was changed:\n- rules[1] (mark 0, ")


def test_an_absent_entry_may_not_remove_what_a_present_entry_adds():
    raw = [SHOP, {"mark": 10, "address": "192.0.2.10", "ports": [443, 23], "state": "absent"},
           {"mark": 10, "address": "192.0.2.10", "chains": ["OUTPUT"], "state": "absent"}]
    with pytest.raises(ConfigError) as err:
        model.check_rules(raw)
    assert err.value.errors == [
        "rules[1] (mark 10, 192.0.2.10): state=absent would remove a rule that rules[0] (mark 10, 192.0.2.10) "
        f"adds: {rule('192.0.2.10', 443, 10)}",
    ]
    # Another chain, port, address or mark is no contradiction.
    fine = [SHOP, {"mark": 10, "address": "192.0.2.10", "ports": [23], "state": "absent"},
            {"mark": 10, "address": "192.0.2.11", "state": "absent"},
            {"mark": 11, "address": "192.0.2.10", "state": "absent"}]
    assert len(model.check_rules(fine)) == 4


# -- planning ------------------------------------------------------------------------------
def test_from_empty_every_group_in_one_batch():
    entries, p = plan([SHOP, LAB, SHOP6], table())
    wanted = [rule("192.0.2.10", 80, 10), rule("192.0.2.10", 443, 10),
              rule("192.0.2.20", 80, 8), rule("192.0.2.20", 23, 8),
              rule("192.0.2.20", 80, 8, "OUTPUT"), rule("192.0.2.20", 23, 8, "OUTPUT")]
    assert p.family == "ipv4" and p.changed and p.delete == [] and p.before == []
    assert model.render_lines(p.add) == wanted == model.render_lines(p.after)
    assert p.batch() == "*mangle\n" + "".join(line + "\n" for line in wanted) + "COMMIT\n"
    p6 = model.plan_rules(entries, "ipv6", table(), False)
    assert model.render_lines(p6.add) == [rule("2001:db8::10", 80, 10), rule("2001:db8::10", 443, 10)]


def test_again_changes_nothing_whatever_the_table_order():
    current = table(rule("192.0.2.20", 23, 8, "OUTPUT"), rule("192.0.2.10", 443, 10), rule("192.0.2.20", 80, 8),
                    rule("192.0.2.20", 23, 8), rule("192.0.2.10", 80, 10), rule("192.0.2.20", 80, 8, "OUTPUT"))
    _entries, p = plan([SHOP, LAB], current, purge=True)
    assert not p.changed and p.batch() == "*mangle\nCOMMIT\n"
    assert p.before == p.after and len(p.after) == 6


def test_without_purge_owned_rules_of_unlisted_marks_and_ports_stay_and_are_out_of_view():
    other = rule("192.0.2.30", 80, 30)
    current = table(rule("192.0.2.10", 80, 10), rule("192.0.2.10", 23, 10), other, HAND)
    _entries, p = plan([SHOP], current)
    assert model.render_lines(p.add) == [rule("192.0.2.10", 443, 10)] and p.delete == []
    # In view: the owned rules of the marks the list names, nothing else.
    assert model.render_lines(p.before) == [rule("192.0.2.10", 80, 10), rule("192.0.2.10", 23, 10)]


def test_purge_removes_every_owned_rule_no_entry_describes_and_never_an_untagged_one():
    current = table(rule("192.0.2.10", 80, 10), rule("192.0.2.10", 23, 10), rule("192.0.2.30", 80, 30),
                    rule("192.0.2.10", 80, 10, "OUTPUT"), rule("192.0.2.20", 80, 8, iface="eth0"), HAND,
                    "-A PREROUTING -d 192.0.2.40/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x28/0xffffffff")
    _entries, p = plan([SHOP, LAB], current, purge=True)
    assert model.render_lines(p.delete) == [
        rule("192.0.2.10", 23, 10), rule("192.0.2.30", 80, 30), rule("192.0.2.10", 80, 10, "OUTPUT"),
        rule("192.0.2.20", 80, 8, iface="eth0"),
    ]
    assert p.batch().splitlines()[1:5] == [delete(line) for line in model.render_lines(p.delete)]
    assert model.render_lines(p.after) == [rule("192.0.2.10", 80, 10), *model.render_lines(p.add)]
    # The hand-typed rule of mark 10 is reported, never deleted; the one of mark 40 is not even in view.
    assert [r.line for found in p.foreign_same for r in found] == [HAND]


def test_purge_of_an_empty_list_empties_the_owned_rules_of_the_family():
    current = table(rule("192.0.2.10", 80, 10), HAND)
    _entries, p = plan([], current, purge=True)
    assert model.render_lines(p.delete) == [rule("192.0.2.10", 80, 10)] and p.after == []
    _entries, p6 = plan([SHOP], table(rule("2001:db8::9", 80, 9)), family="ipv6", purge=True)
    assert model.render_lines(p6.delete) == [rule("2001:db8::9", 80, 9)] and p6.family == "ipv6"
    assert not model.plan_rules([], "ipv6", table(), True).changed


def test_an_entrys_purge_keeps_what_another_entry_wants():
    current = table(rule("192.0.2.10", 80, 10), rule("192.0.2.10", 443, 10), rule("192.0.2.10", 23, 10))
    raw = [{"mark": 10, "address": "192.0.2.10", "ports": [80], "purge": True},
           {"mark": 10, "address": "192.0.2.10", "ports": [443]}]
    _entries, p = plan(raw, current)
    assert model.render_lines(p.delete) == [rule("192.0.2.10", 23, 10)] and p.add == []


def test_entries_may_share_a_mark_and_rules_are_not_doubled():
    raw = [SHOP, {"mark": 10, "address": "192.0.2.11", "ports": [80]}, {**SHOP, "ports": [443, 80]}]
    _entries, p = plan(raw, table(rule("192.0.2.10", 80, 10), rule("192.0.2.10", 80, 10)))
    assert model.render_lines(p.delete) == [rule("192.0.2.10", 80, 10)]
    assert model.render_lines(p.add) == [rule("192.0.2.10", 443, 10), rule("192.0.2.11", 80, 10)]


def test_absent_entries_remove_what_they_match():
    current = table(rule("192.0.2.20", 80, 8), rule("192.0.2.20", 23, 8), rule("192.0.2.20", 23, 8, "OUTPUT"),
                    rule("192.0.2.10", 80, 10))
    raw = [SHOP, {"mark": 8, "address": "192.0.2.20", "ports": [23], "chains": ["OUTPUT"], "state": "absent"},
           {"mark": 3, "address": "192.0.2.3", "state": "absent"}]
    _entries, p = plan(raw, current)
    assert model.render_lines(p.delete) == [rule("192.0.2.20", 23, 8, "OUTPUT")]
    raw[1] = {"mark": 8, "address": "192.0.2.20", "state": "absent"}
    _entries, p = plan(raw, current)
    assert model.render_lines(p.delete) == [rule("192.0.2.20", 80, 8), rule("192.0.2.20", 23, 8),
                                            rule("192.0.2.20", 23, 8, "OUTPUT")]


def test_conflicts_name_each_entry_of_the_mark():
    foreign = "-A PREROUTING -d 192.0.2.99/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff"
    raw = [SHOP, LAB, {"mark": 10, "address": "192.0.2.11", "ports": [80]}]
    entries, p = plan(raw, table(foreign))
    assert model.conflict_errors(entries, p) == [
        f"rules[{i}] (mark 10, {addr}): mark 10 is already set by rules that lvs.ipvs does not own for another "
        f"destination ({foreign}); choose another mark or remove those rules"
        for i, addr in ((0, "192.0.2.10"), (2, "192.0.2.11"))
    ]
    # A foreign rule for a destination another entry of the mark has is "the same", not a conflict.
    entries, p = plan([*raw, {"mark": 10, "address": "192.0.2.99", "ports": [80]}], table(foreign))
    assert model.conflict_errors(entries, p) == []
    assert model.unowned_warnings(entries, p) == [
        "rules[3] (mark 10, 192.0.2.99): rules that lvs.ipvs does not own already set mark 10 for 192.0.2.99/32; "
        f"they are left alone: {foreign}"
    ]
    # Absent entries and entries of the other family see no conflict.
    entries, p = plan([{"mark": 10, "address": "192.0.2.10", "state": "absent"}, SHOP6], table(foreign))
    assert model.conflict_errors(entries, p) == []


def test_one_table_one_family():
    with pytest.raises(ValueError, match="one family"):
        model.plan_table([model.validate(**SHOP), model.validate(**SHOP6)], table())
