# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure firewall-mark model: parsing iptables -S, validation, planning, rendering."""

from __future__ import annotations

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils import _fwmark as model
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ValidationError

TAG10 = '-m comment --comment "lvs.ipvs fwmark=10" -j MARK --set-xmark 0xa/0xffffffff'
R80 = f"-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 {TAG10}"
R443 = f"-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 443 {TAG10}"
R23 = f"-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 23 {TAG10}"
HAND80 = "-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff"
OTHER_VIP = "-A PREROUTING -d 192.0.2.99/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff"


def req(**kw):
    args = {"mark": 10, "address": "192.0.2.10", "ports": [80, 443]}
    args.update(kw)
    return model.validate(**args)


def table(*lines: str) -> list[model.ParsedRule]:
    text = "-P PREROUTING ACCEPT\n-P OUTPUT ACCEPT\n-N MYCHAIN\n" + "\n".join(lines) + "\n"
    return model.parse_rules(text)


# -- rendering and parsing -----------------------------------------------------------------
def test_render_matches_iptables_s_canonical_form():
    rule = model.MarkRule("PREROUTING", "192.0.2.10/32", "tcp", "80", 10)
    assert rule.render() == R80
    assert rule.render("-D") == R80.replace("-A", "-D", 1)
    iface = model.MarkRule("PREROUTING", "2001:db8::10/128", "sctp", "8000:8100", 4294967295, "eth0")
    assert iface.render() == (
        '-A PREROUTING -d 2001:db8::10/128 -i eth0 -p sctp -m sctp --dport 8000:8100 '
        '-m comment --comment "lvs.ipvs fwmark=4294967295" -j MARK --set-xmark 0xffffffff/0xffffffff'
    )


@pytest.mark.parametrize("line", [R80, R443, R80.replace("PREROUTING", "OUTPUT")])
def test_owned_rule_round_trips(line):
    (parsed,) = model.parse_rules(line)
    owned = parsed.owned()
    assert owned is not None and owned.render() == line


@pytest.mark.parametrize(
    "line",
    [
        HAND80,  # no tag
        R80.replace("fwmark=10", "fwmark=11"),  # tag for another mark
        R80.replace("0xffffffff", "0xff"),  # partial mask
        R80.replace("-d 192.0.2.10/32", "-s 198.51.100.1/32 -d 192.0.2.10/32"),  # extra match
        R80.replace("-d 192.0.2.10/32", "! -d 192.0.2.10/32"),  # negated destination
        R80.replace("--dport 80", "! --dport 80"),
        R80.replace("-p tcp -m tcp --dport 80", "-p tcp -m multiport --dports 80,443"),
        R80.replace("PREROUTING", "MYCHAIN"),
        R80.replace("-j MARK --set-xmark 0xa/0xffffffff", "-j CONNMARK --set-xmark 0xa/0xffffffff"),
    ],
)
def test_rules_the_module_does_not_own(line):
    (parsed,) = model.parse_rules(line)
    assert parsed.owned() is None


def test_parse_skips_policies_chains_and_warnings():
    text = "# Warning: iptables-legacy tables present\n-P PREROUTING ACCEPT\n-N X\n" + R80 + "\n"
    rules = model.parse_rules(text)
    assert [r.line for r in rules] == [R80]


def test_parse_foreign_mark_details():
    (parsed,) = model.parse_rules(OTHER_VIP.replace("--dport 80", "-m multiport --dports 80,443"))
    assert parsed.target == "MARK" and parsed.mark == 10 and parsed.destination == "192.0.2.99/32"


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"mark": 0}, "invalid mark 0"),
        ({"mark": -1}, "invalid mark -1"),
        ({"mark": 2**32}, "invalid mark 4294967296"),
        ({"mark": True}, "invalid mark"),
        ({"mark": "10"}, "invalid mark"),
        ({"ports": [70000]}, "port 70000 is outside 1..65535"),
        ({"ports": [0]}, "port 0 is outside"),
        ({"ports": ["80:70000"]}, "port 70000 is outside"),
        ({"ports": ["90:80"]}, "first port is above the last"),
        ({"ports": ["http"]}, "invalid port 'http'"),
        ({"ports": []}, "state=present needs at least one port"),
        ({"ports": None}, "state=present needs at least one port"),
        ({"protocol": "icmp"}, "invalid protocol 'icmp'"),
        ({"address": "192.0.2.300"}, "invalid address"),
        ({"address": "192.0.2.1/24"}, "invalid address"),
        ({"chains": ["INPUT"]}, "invalid chain 'INPUT'"),
        ({"chains": []}, "chains is empty"),
        ({"in_interface": "eth0 ; reboot"}, "invalid in_interface"),
        ({"in_interface": "averyveryverylongname"}, "invalid in_interface"),
        ({"state": "gone"}, "invalid state"),
    ],
)
def test_validation_errors_name_the_problem(kw, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        req(**kw)


def test_validation_normalizes():
    r = req(address="2001:DB8::10", ports=["443", 80, "8000-8100", "80:80", 443], chains=["output", "PREROUTING"])
    assert r.address == "2001:db8::10/128" and r.family == "ipv6"
    assert r.ports == ("443", "80", "8000:8100")
    assert r.chains == ("OUTPUT", "PREROUTING")
    assert req(address="192.0.2.0/24").address == "192.0.2.0/24"
    assert req(mark=4294967295).mark == 4294967295
    absent = req(ports=None, state="absent")
    assert absent.ports is None and absent.chains is None


# -- planning ------------------------------------------------------------------------------
def test_plan_from_empty_adds_one_rule_per_port():
    plan = model.plan(req(), table())
    assert plan.changed and plan.delete == []
    assert model.render_lines(plan.add) == [R80, R443]
    assert plan.batch() == f"*mangle\n{R80}\n{R443}\nCOMMIT\n"
    assert plan.before == [] and model.render_lines(plan.after) == [R80, R443]


def test_plan_is_idempotent_and_ignores_order():
    plan = model.plan(req(ports=[443, 80]), table(R80, R443))
    assert not plan.changed and model.render_lines(plan.after) == [R80, R443]


def test_plan_without_purge_keeps_unlisted_ports():
    plan = model.plan(req(ports=[80]), table(R80, R443, R23))
    assert not plan.changed


def test_plan_purge_removes_exactly_the_unlisted_rules():
    plan = model.plan(req(purge=True), table(R80, R443, R23))
    assert model.render_lines(plan.delete) == [R23]
    assert plan.batch() == f"*mangle\n{R23.replace('-A', '-D', 1)}\nCOMMIT\n"
    assert model.render_lines(plan.after) == [R80, R443]


def test_purge_scope_is_mark_address_and_protocol():
    other_vip = R80.replace("192.0.2.10", "192.0.2.11")
    udp = R80.replace("tcp", "udp")
    other_mark = R23.replace("fwmark=10", "fwmark=11").replace("0xa/", "0xb/")
    plan = model.plan(req(ports=[80], purge=True), table(R80, other_vip, udp, other_mark, HAND80))
    assert not plan.changed
    assert plan.foreign_same[0].line == HAND80 and plan.conflicts == []


def test_plan_collapses_duplicate_owned_rules():
    plan = model.plan(req(), table(R80, R80, R443))
    assert model.render_lines(plan.delete) == [R80]
    assert model.render_lines(plan.after) == [R80, R443]


def test_plan_output_chain_drops_in_interface():
    plan = model.plan(req(ports=[80], chains=["PREROUTING", "OUTPUT"], in_interface="eth0"), table())
    assert model.render_lines(plan.add) == [
        R80.replace("-d 192.0.2.10/32", "-d 192.0.2.10/32 -i eth0"),
        R80.replace("PREROUTING", "OUTPUT"),
    ]


def test_plan_absent():
    out80 = R80.replace("PREROUTING", "OUTPUT")
    current = table(R80, R443, out80, HAND80)
    plan = model.plan(req(ports=[80], state="absent"), current)
    assert model.render_lines(plan.delete) == [R80, out80]
    plan = model.plan(req(ports=[80], chains=["OUTPUT"], state="absent"), current)
    assert model.render_lines(plan.delete) == [out80]
    plan = model.plan(req(ports=None, state="absent"), current)
    assert model.render_lines(plan.delete) == [R80, R443, out80]
    assert model.plan(req(ports=None, state="absent"), table(HAND80)).changed is False


def test_conflict_with_foreign_rule_for_another_vip():
    plan = model.plan(req(), table(OTHER_VIP))
    assert [r.line for r in plan.conflicts] == [OTHER_VIP]
    msg = plan.conflict_message()
    assert "fwmark 10 for tcp 192.0.2.10/32" in msg and "192.0.2.99/32" in msg and "nothing was changed" in msg
    # A foreign rule for every destination uses the mark for other VIPs too.
    no_dest = "-A PREROUTING -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff"
    assert model.plan(req(), table(no_dest)).conflicts
    # Another mark, or removing rules, is no conflict.
    assert not model.plan(req(mark=11), table(OTHER_VIP)).conflicts
    assert not model.plan(req(state="absent"), table(OTHER_VIP)).conflicts


def test_owned_rules_of_the_mark_for_another_vip_are_no_conflict():
    other_vip_owned = R80.replace("192.0.2.10", "192.0.2.11")
    plan = model.plan(req(), table(other_vip_owned))
    assert plan.conflicts == [] and len(plan.add) == 2
    assert model.render_lines(plan.before) == [other_vip_owned]


@pytest.mark.parametrize(("family", "anywhere"), [("ipv4", "0.0.0.0/0"), ("ipv6", "::/0")])
def test_a_rule_without_destination_is_for_every_address(family, anywhere):
    """iptables -S leaves out ``-d 0.0.0.0/0`` (``::/0``): such a line is the module's rule for that address."""
    line = ('-A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment "lvs.ipvs fwmark=12" '
            "-j MARK --set-xmark 0xc/0xffffffff")
    (parsed,) = model.parse_rules(line + "\n", family)
    owned = parsed.owned()
    assert owned == model.MarkRule("PREROUTING", anywhere, "tcp", "80", 12)
    assert owned.render() == line  # rendered as iptables -S prints it
    request = model.validate(mark=12, address=anywhere, ports=[80])
    assert not model.plan(request, [parsed]).changed
    assert model.plan(model.validate(mark=12, address=anywhere, state="absent"), [parsed]).delete == [owned]
    # a destination that is not an address stays foreign, as before
    (odd,) = model.parse_rules(line.replace("-p tcp", "-d nonsense -p tcp") + "\n", family)
    assert odd.owned() is None


def test_batch_line_names_the_rule_of_a_line():
    delete = [model.MarkRule("PREROUTING", "192.0.2.10/32", "tcp", "80", 10)]
    add = [model.MarkRule("PREROUTING", "192.0.2.10/32", "tcp", "443", 10, "eth0"),
           model.MarkRule("OUTPUT", "192.0.2.10/32", "udp", "53", 10)]
    assert model.batch_line(delete, add, 2) == "deleting fwmark 10 for tcp 192.0.2.10/32 port 80 in PREROUTING"
    assert model.batch_line(delete, add, 3) == "adding fwmark 10 for tcp 192.0.2.10/32 port 443 in PREROUTING on eth0"
    assert model.batch_line(delete, add, 4) == "adding fwmark 10 for udp 192.0.2.10/32 port 53 in OUTPUT"
    assert model.batch_line(delete, add, 5).startswith("COMMIT, where the kernel refused one of: deleting fwmark 10")
    assert [model.batch_line(delete, add, n) for n in (1, 9, None)] == ["", "", ""]
