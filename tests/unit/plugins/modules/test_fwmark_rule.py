# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fwmark_rule's argument handling and flow, with iptables faked (the kernel tests use the real one)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.lvs.ipvs.plugins.modules import fwmark_rule

R80 = ('-A PREROUTING -d 192.0.2.10/32 -p tcp -m tcp --dport 80 -m comment --comment "lvs.ipvs fwmark=10" '
       '-j MARK --set-xmark 0xa/0xffffffff')
R443 = R80.replace("--dport 80", "--dport 443")


class FakeIptables:
    """Answers iptables -V / -S from a list of lines; records restore batches."""

    def __init__(self, lines: list[str], backend: str = "nf_tables") -> None:
        self.lines = lines
        self.backend = backend
        self.batches: list[str] = []

    def run_command(self, args, **kwargs):
        if args[1:] == ["-V"]:
            return 0, f"iptables v1.8.9 ({self.backend})\n", ""
        if args[1:] == ["-w", "30", "-t", "mangle", "-S"]:
            return 0, "-P PREROUTING ACCEPT\n" + "".join(line + "\n" for line in self.lines), ""
        if args[0].endswith("-restore"):
            self.batches.append(kwargs["data"])
            return 0, "", ""
        raise AssertionError(f"unexpected command {args}")


def run(monkeypatch, capsys, fake: FakeIptables, args: dict, *, check_mode=False, diff=False) -> dict:
    payload = {**args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, a, **kw: fake.run_command(a, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kw: f"/nonexistent/{name}")
    with pytest.raises(SystemExit):
        fwmark_rule.main()
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_check_mode_reports_but_does_not_restore(monkeypatch, capsys):
    fake = FakeIptables([])
    res = run(monkeypatch, capsys, fake, {"mark": 10, "address": "192.0.2.10", "ports": [80, 443]},
              check_mode=True, diff=True)
    assert res["changed"] and fake.batches == []
    assert res["backend"] == "nft" and res["family"] == "ipv4"
    assert res["batch"] == ["*mangle", R80, R443, "COMMIT"]
    assert res["diff"]["before"] == "" and res["diff"]["after"] == f"{R80}\n{R443}\n"


def test_apply_sends_one_batch(monkeypatch, capsys):
    fake = FakeIptables([R80], backend="legacy")
    res = run(monkeypatch, capsys, fake, {"mark": 10, "address": "192.0.2.10", "ports": ["443", 80]})
    assert res["changed"] and res["backend"] == "legacy"
    assert fake.batches == [f"*mangle\n{R443}\nCOMMIT\n"]
    assert res["rules"] == [R80, R443]


def test_nothing_to_do(monkeypatch, capsys):
    fake = FakeIptables([R80, R443])
    res = run(monkeypatch, capsys, fake, {"mark": 10, "address": "192.0.2.10", "ports": [80, 443]})
    assert not res["changed"] and fake.batches == [] and res["batch"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"mark": 0}, "invalid mark 0"),
        ({"mark": 4294967296}, "invalid mark 4294967296"),
        ({"ports": [70000]}, "port 70000 is outside 1..65535"),
        ({"ports": []}, "needs at least one port"),
        ({"ports": None}, "ports"),
        ({"protocol": "gre"}, "protocol"),
        ({"chains": ["FORWARD"]}, "chains"),
    ],
)
def test_bad_input_fails_before_touching_iptables(monkeypatch, capsys, args, message):
    fake = FakeIptables([])
    full = {"mark": 10, "address": "192.0.2.10", "ports": [80], **args}
    if full["ports"] is None:
        del full["ports"]
    res = run(monkeypatch, capsys, fake, full)
    assert res["failed"] and message in res["msg"], res
    assert fake.batches == []


def test_conflict_fails_and_changes_nothing(monkeypatch, capsys):
    foreign = "-A PREROUTING -d 192.0.2.99/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff"
    fake = FakeIptables([foreign])
    res = run(monkeypatch, capsys, fake, {"mark": 10, "address": "192.0.2.10", "ports": [80]})
    assert res["failed"] and "does not own" in res["msg"]
    assert res["conflicting_rules"] == [foreign] and fake.batches == []
