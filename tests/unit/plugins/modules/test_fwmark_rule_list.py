# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fwmark_rule's list form (O(rules)): argument handling and flow, with iptables and ip6tables faked."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.lvs.ipvs.plugins.modules import fwmark_rule


def rule(addr: str, port: int, mark: int, chain: str = "PREROUTING") -> str:
    prefix = 128 if ":" in addr else 32
    return (f"-A {chain} -d {addr}/{prefix} -p tcp -m tcp --dport {port} "
            f'-m comment --comment "lvs.ipvs fwmark={mark}" -j MARK --set-xmark {mark:#x}/0xffffffff')


class FakeXtables:
    """iptables and ip6tables: -V, -S from a list of lines per family, restore batches recorded."""

    def __init__(self, ipv4=(), ipv6=(), missing=(), refuse=(), unreadable=()) -> None:
        self.lines = {"iptables": list(ipv4), "ip6tables": list(ipv6)}
        self.missing = set(missing)
        self.refuse = set(refuse)
        self.unreadable = set(unreadable)
        self.batches: list[tuple[str, str]] = []
        self.reads: list[str] = []

    def run_command(self, args, **kwargs):
        cmd = args[0].rsplit("/", 1)[-1]
        if args[1:] == ["-V"]:
            return 0, f"{cmd} v1.8.9 (nf_tables)\n", ""
        if args[1:] == ["-w", "30", "-t", "mangle", "-S"]:
            self.reads.append(cmd)
            if cmd in self.unreadable:
                return 3, "", f"{cmd}: can't initialize {cmd} table `mangle': Address family not supported"
            return 0, "-P PREROUTING ACCEPT\n" + "".join(line + "\n" for line in self.lines[cmd]), ""
        if cmd.endswith("-restore"):
            base = cmd[: -len("-restore")]
            if base in self.refuse:
                return 2, "", f"{cmd} v1.8.9 (nf_tables): line 2 failed\n"
            self.batches.append((base, kwargs["data"]))
            return 0, "", ""
        raise AssertionError(f"unexpected command {args}")

    def which(self, name):
        return None if name.split("-")[0] in self.missing else f"/nonexistent/{name}"


def run(monkeypatch, capsys, fake: FakeXtables, args: dict, *, check_mode=False, diff=False) -> dict:
    payload = {**args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, a, **kw: fake.run_command(a, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kw: fake.which(name))
    with pytest.raises(SystemExit):
        fwmark_rule.main()
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


SHOP = {"mark": 10, "address": "192.0.2.10", "ports": [80, 443]}
SHOP6 = {"mark": 10, "address": "2001:db8::10", "ports": [80]}


def test_check_mode_plans_both_families_and_changes_nothing(monkeypatch, capsys):
    fake = FakeXtables()
    res = run(monkeypatch, capsys, fake, {"rules": [SHOP, SHOP6]}, check_mode=True, diff=True)
    assert res["changed"] and fake.batches == [] and fake.reads == ["iptables", "ip6tables"]
    v4 = [rule("192.0.2.10", 80, 10), rule("192.0.2.10", 443, 10)]
    v6 = [rule("2001:db8::10", 80, 10)]
    assert res["families"]["ipv4"] == {"backend": "nft", "rules": v4, "unowned_rules": [],
                                       "batch": ["*mangle", *v4, "COMMIT"]}
    assert res["families"]["ipv6"]["batch"] == ["*mangle", *v6, "COMMIT"]
    assert res["diff"]["before"] == "" and res["diff"]["after"] == "".join(x + "\n" for x in v4 + v6)
    assert res["diff"]["before_header"] == (
        "iptables -t mangle (nft); ip6tables -t mangle (nft), owned rules of marks 10")
    assert "backend" not in res and "rules" not in res


def test_one_read_and_one_batch_per_family(monkeypatch, capsys):
    fake = FakeXtables(ipv4=[rule("192.0.2.10", 80, 10)])
    res = run(monkeypatch, capsys, fake, {"rules": [SHOP, SHOP6, {**SHOP, "ports": [8080]}]})
    assert res["changed"] and fake.reads == ["iptables", "ip6tables"]
    assert fake.batches == [
        ("iptables", f"*mangle\n{rule('192.0.2.10', 443, 10)}\n{rule('192.0.2.10', 8080, 10)}\nCOMMIT\n"),
        ("ip6tables", f"*mangle\n{rule('2001:db8::10', 80, 10)}\nCOMMIT\n"),
    ]


def test_only_the_families_of_the_entries_without_purge(monkeypatch, capsys):
    fake = FakeXtables(ipv6=[rule("2001:db8::9", 80, 9)], missing=["ip6tables"])
    res = run(monkeypatch, capsys, fake, {"rules": [SHOP]})
    assert fake.reads == ["iptables"] and list(res["families"]) == ["ipv4"]


def test_purge_reads_both_families_and_removes_unlisted_owned_rules(monkeypatch, capsys):
    hand = "-A PREROUTING -d 192.0.2.8/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x8/0xffffffff"
    fake = FakeXtables(ipv4=[rule("192.0.2.10", 80, 10), rule("192.0.2.8", 80, 8), hand],
                       ipv6=[rule("2001:db8::9", 80, 9)])
    res = run(monkeypatch, capsys, fake, {"rules": [{**SHOP, "ports": [80]}], "purge": True}, diff=True)
    assert res["changed"]
    assert fake.batches == [
        ("iptables", f"*mangle\n{rule('192.0.2.8', 80, 8).replace('-A', '-D', 1)}\nCOMMIT\n"),
        ("ip6tables", f"*mangle\n{rule('2001:db8::9', 80, 9).replace('-A', '-D', 1)}\nCOMMIT\n"),
    ]
    assert res["families"]["ipv4"]["rules"] == [rule("192.0.2.10", 80, 10)]
    assert res["families"]["ipv6"]["rules"] == []
    assert res["diff"]["before_header"].endswith(", every owned rule")
    assert hand not in res["diff"]["before"]


def test_purge_skips_a_family_without_its_command_or_table(monkeypatch, capsys):
    fake = FakeXtables(ipv4=[rule("192.0.2.8", 80, 8)], missing=["ip6tables"])
    res = run(monkeypatch, capsys, fake, {"rules": [], "purge": True})
    assert res["changed"] and list(res["families"]) == ["ipv4"] and fake.reads == ["iptables"]
    fake = FakeXtables(unreadable=["ip6tables"])
    res = run(monkeypatch, capsys, fake, {"rules": [], "purge": True})
    assert not res["changed"] and list(res["families"]) == ["ipv4"]
    assert "purge skipped ipv6, whose mangle table cannot be read" in json.dumps(res["warnings"])
    # A family an entry needs is never skipped.
    fake = FakeXtables(unreadable=["ip6tables"])
    res = run(monkeypatch, capsys, fake, {"rules": [SHOP6], "purge": True})
    assert res["failed"] and "cannot read the mangle table with ip6tables" in res["msg"]


def test_empty_list_without_purge_reads_nothing(monkeypatch, capsys):
    fake = FakeXtables()
    res = run(monkeypatch, capsys, fake, {"rules": []}, diff=True)
    assert not res["changed"] and fake.reads == [] and res["families"] == {}
    assert res["diff"] == {"before_header": "iptables -t mangle, owned rules of marks ",
                           "after_header": "iptables -t mangle, owned rules of marks ", "before": "", "after": ""}


def test_bad_entries_all_reported_before_anything_is_read(monkeypatch, capsys):
    fake = FakeXtables()
    rules = [SHOP, {"mark": 0, "address": "192.0.2.1", "ports": [80]},
             {"mark": 10, "address": "192.0.2.2", "ports": ["70000"]}, {"mark": 11, "address": "192.0.2.3"}]
    res = run(monkeypatch, capsys, fake, {"rules": rules})
    assert res["failed"] and fake.reads == [] and fake.batches == []
    assert [e.split(":")[0] for e in res["errors"]] == [
        "rules[1] (mark 0, 192.0.2.1)", "rules[2] (mark 10, 192.0.2.2)", "rules[3] (mark 11, 192.0.2.3)"]
    assert res["msg"].startswith("3 problems in rules, nothing was changed:\n- rules[1] (mark 0, 192.0.2.1): ")


def test_conflicts_in_any_family_change_nothing(monkeypatch, capsys):
    foreign = "-A PREROUTING -d 2001:db8::99/128 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff"
    fake = FakeXtables(ipv6=[foreign])
    res = run(monkeypatch, capsys, fake, {"rules": [SHOP, SHOP6]})
    assert res["failed"] and fake.batches == []
    assert res["errors"] == [
        "rules[1] (mark 10, 2001:db8::10): mark 10 is already set by rules that lvs.ipvs does not own for "
        f"another destination ({foreign}); choose another mark or remove those rules"
    ]


def test_a_refused_second_batch_says_what_was_applied(monkeypatch, capsys):
    fake = FakeXtables(refuse=["ip6tables"])
    res = run(monkeypatch, capsys, fake, {"rules": [SHOP, SHOP6]})
    assert res["failed"] and res["changed"]
    assert res["msg"].startswith("cannot apply rules (ipv6): ip6tables-restore (nft) refused line 2 of the batch, "
                                 "adding fwmark 10 for tcp 2001:db8::10/128 port 80 in PREROUTING; "
                                 "nothing was changed: ")
    assert res["msg"].endswith("; the ipv4 changes had been applied")
    assert [family for family, _batch in fake.batches] == ["iptables"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"rules": [SHOP], "mark": 10}, "mutually exclusive: rules|mark"),
        ({"rules": [SHOP], "ports": [80]}, "mutually exclusive: rules|ports"),
        ({"rules": [SHOP], "state": "absent"}, "mutually exclusive: rules|state"),
        ({"rules": [SHOP], "protocol": "udp"}, "mutually exclusive: rules|protocol"),
        ({"purge": True}, "one of the following is required: mark, rules"),
        ({"mark": 10, "ports": [80]}, "parameters are required together: mark, address"),
        ({"rules": [{**SHOP, "colour": "red"}]}, "colour"),
    ],
)
def test_argument_constraints(monkeypatch, capsys, args, message):
    fake = FakeXtables()
    res = run(monkeypatch, capsys, fake, args)
    assert res["failed"] and message in res["msg"], res
    assert fake.reads == [] and fake.batches == []


def test_the_list_form_accepts_purge_per_entry_and_strings_from_templates(monkeypatch, capsys):
    fake = FakeXtables(ipv4=[rule("192.0.2.10", 80, 10), rule("192.0.2.10", 23, 10)])
    entry = {"mark": "10", "address": "192.0.2.10", "ports": ["80", "443"], "chains": ["PREROUTING"],
             "purge": "yes"}
    res = run(monkeypatch, capsys, fake, {"rules": [entry]})
    assert res["changed"] and fake.batches == [
        ("iptables", f"*mangle\n{rule('192.0.2.10', 23, 10).replace('-A', '-D', 1)}\n"
                     f"{rule('192.0.2.10', 443, 10)}\nCOMMIT\n")]
