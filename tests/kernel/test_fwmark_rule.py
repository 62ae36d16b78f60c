# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lvs.ipvs.fwmark_rule on real netfilter, each test in its own network namespace.

Every behaviour is checked against ``iptables-<backend> -t mangle -S`` read independently of
the module, on both backends Debian's iptables package ships (nft and legacy).
"""

from __future__ import annotations

import pytest
from _fwmark_support import BACKENDS, make_backend, mangle_rules, strip_tag

VIP = "192.0.2.10"
LAB_VIP = "192.0.2.20"
VIP6 = "2001:db8::10"


def _rule(addr: str, port: int, mark: int, chain: str = "PREROUTING", proto: str = "tcp") -> str:
    prefix = 128 if ":" in addr else 32
    return (f'-A {chain} -d {addr}/{prefix} -p {proto} -m {proto} --dport {port} '
            f'-m comment --comment "lvs.ipvs fwmark={mark}" -j MARK --set-xmark {mark:#x}/0xffffffff')


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path, monkeypatch):
    """The iptables backend the module sees (first on PATH) for this test."""
    chosen = make_backend(request.param, tmp_path)
    monkeypatch.setenv("PATH", f"{chosen.bindir}:/usr/sbin:/usr/bin:/sbin:/bin")
    return chosen


def test_seed_rules_mark_like_the_hand_typed_commands(make_netns, run_module, backend):
    by_hand, by_module = make_netns("fwh"), make_netns("fwm")
    seeds = [(VIP, 80, 10), (VIP, 443, 10), (LAB_VIP, 80, 8), (LAB_VIP, 23, 8)]
    for addr, port, mark in seeds:
        by_hand.run(f"{backend.cmd()} -t mangle -A PREROUTING -d {addr} -p tcp --dport {port} "
                    f"-j MARK --set-mark {mark}")
    for mark, addr, ports in ((10, VIP, [80, 443]), (8, LAB_VIP, [80, 23])):
        res = run_module(by_module, "fwmark_rule", {"mark": mark, "address": addr, "ports": ports})
        assert res.rc == 0 and res.changed, res.result
        assert res.result["backend"] == backend.name

    hand, module = mangle_rules(by_hand, backend), mangle_rules(by_module, backend)
    # The only difference is the ownership tag, which the hand-typed rules do not carry.
    assert strip_tag(module) == sorted(hand)
    assert sorted(module) == sorted(_rule(a, p, m) for a, p, m in seeds)


def test_four_ways_check_apply_again_check(netns, run_module, backend):
    args = {"mark": 10, "address": VIP, "ports": [80, 443]}
    wanted = [_rule(VIP, 80, 10), _rule(VIP, 443, 10)]

    check = run_module(netns, "fwmark_rule", args, check_mode=True, diff=True)
    assert check.rc == 0 and check.changed, check.result
    assert check.result["diff"]["before"] == ""
    assert check.result["diff"]["after"] == "".join(line + "\n" for line in wanted)
    assert mangle_rules(netns, backend) == []

    apply = run_module(netns, "fwmark_rule", args, diff=True)
    assert apply.rc == 0 and apply.changed, apply.result
    assert apply.result["rules"] == wanted
    assert mangle_rules(netns, backend) == wanted

    again = run_module(netns, "fwmark_rule", args, diff=True)
    assert again.rc == 0 and not again.changed, again.result
    assert again.result["batch"] == []
    assert again.result["diff"]["before"] == again.result["diff"]["after"]

    check_again = run_module(netns, "fwmark_rule", args, check_mode=True, diff=True)
    assert check_again.rc == 0 and not check_again.changed, check_again.result
    assert mangle_rules(netns, backend) == wanted


def test_removing_one_port_removes_exactly_that_rule(netns, run_module, backend):
    # A rule the module does not own, on the same VIP and mark: it must survive everything below.
    netns.run(f"{backend.cmd()} -t mangle -A PREROUTING -d {VIP} -p tcp --dport 8080 -j MARK --set-mark 10")
    args = {"mark": 10, "address": VIP, "ports": [80, 443, 23], "chains": ["PREROUTING", "OUTPUT"]}
    assert run_module(netns, "fwmark_rule", args).changed
    before = mangle_rules(netns, backend)
    assert len(before) == 7

    res = run_module(netns, "fwmark_rule", {**args, "ports": [80, 443], "purge": True}, diff=True)
    assert res.rc == 0 and res.changed, res.result
    after = mangle_rules(netns, backend)
    assert sorted(set(before) - set(after)) == sorted([_rule(VIP, 23, 10), _rule(VIP, 23, 10, "OUTPUT")])
    assert set(after) <= set(before) and len(after) == 5
    assert "--dport 23" in res.result["diff"]["before"] and "--dport 23" not in res.result["diff"]["after"]

    # Without purge, a port left out is kept; state=absent with one port removes exactly that rule.
    assert not run_module(netns, "fwmark_rule", {**args, "ports": [80]}).changed
    res = run_module(netns, "fwmark_rule", {**args, "ports": [443], "chains": ["OUTPUT"], "state": "absent"})
    assert res.rc == 0 and res.changed, res.result
    assert sorted(set(after) - set(mangle_rules(netns, backend))) == [_rule(VIP, 443, 10, "OUTPUT")]

    # state=absent without ports removes every owned rule of the mark for the VIP, and only those.
    res = run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "state": "absent"})
    assert res.rc == 0 and res.changed, res.result
    assert mangle_rules(netns, backend) == [
        f"-A PREROUTING -d {VIP}/32 -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0xa/0xffffffff"
    ]
    assert not run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "state": "absent"}).changed


def test_batch_with_one_impossible_rule_changes_nothing(netns, run_module, backend, monkeypatch):
    import subprocess

    from ansible_collections.lvs.ipvs.plugins.module_utils import _fwmark as model
    from ansible_collections.lvs.ipvs.plugins.module_utils._errors import KernelError
    from ansible_collections.lvs.ipvs.plugins.module_utils._iptables import Iptables

    assert run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "ports": [80]}).changed
    start = mangle_rules(netns, backend)

    # Through the module: the last rule of the batch cannot exist (-i is impossible in OUTPUT).
    real_wanted = model.Request.wanted

    def wanted_plus_impossible(self):
        return [*real_wanted(self), model.MarkRule("OUTPUT", self.address, "tcp", "9", self.mark, "eth0")]

    with monkeypatch.context() as patch:
        patch.setattr(model.Request, "wanted", wanted_plus_impossible)
        res = run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "ports": [443, 23], "purge": True})
    assert res.rc == 1 and res.failed, res.result
    assert "nothing was changed" in res.msg
    assert "cannot apply fwmark 10 for tcp 192.0.2.10/32" in res.msg and "Can't use -i with OUTPUT" in res.msg
    assert mangle_rules(netns, backend) == start

    # Through _iptables directly, with a rule the kernel itself refuses (TPROXY is PREROUTING-only),
    # after a delete and two good adds: none of them is left behind.
    def run(args, data=None):
        proc = subprocess.run(["ip", "netns", "exec", netns.name, *args], input=data,
                              capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    tables = Iptables("ipv4", run, lambda name: str(backend.bindir / name))
    batch = "\n".join([
        "*mangle",
        _rule(VIP, 80, 10).replace("-A", "-D", 1),
        _rule(VIP, 1000, 10),
        _rule(VIP, 1001, 10),
        "-A OUTPUT -p tcp -j TPROXY --on-port 1 --tproxy-mark 0x1/0x1",
        "COMMIT",
        "",
    ])
    with pytest.raises(KernelError, match="nothing was changed"):
        tables.restore(batch)
    assert mangle_rules(netns, backend) == start


def test_ipv6_vip_is_marked_through_ip6tables(netns, run_module, backend):
    args = {"mark": 10, "address": VIP6, "ports": [80, 443]}
    res = run_module(netns, "fwmark_rule", args, diff=True)
    assert res.rc == 0 and res.changed, res.result
    assert res.result["family"] == "ipv6" and res.result["backend"] == backend.name
    assert mangle_rules(netns, backend, "ipv6") == [_rule(VIP6, 80, 10), _rule(VIP6, 443, 10)]
    assert mangle_rules(netns, backend, "ipv4") == []
    assert not run_module(netns, "fwmark_rule", args).changed
    assert not run_module(netns, "fwmark_rule", args, check_mode=True).changed


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"mark": 0}, "invalid mark 0"),
        ({"mark": 4294967296}, "invalid mark 4294967296"),
        ({"ports": [80, 70000]}, "port 70000 is outside 1..65535"),
        ({"ports": []}, "needs at least one port"),
        ({"ports": None}, "ports"),
        ({"ports": ["90:80"]}, "first port is above the last"),
        ({"protocol": "icmp"}, "protocol"),
        ({"address": "192.0.2.300"}, "invalid address"),
        ({"in_interface": "a very bad name"}, "invalid in_interface"),
        ({"chains": ["INPUT"]}, "chains"),
    ],
)
def test_bad_input_fails_clearly_and_changes_nothing(netns, run_module, override, message):
    netns.run("iptables -t mangle -A PREROUTING -d 192.0.2.99 -p tcp --dport 80 -j MARK --set-mark 3")
    start = netns.run("iptables -t mangle -S")
    args = {"mark": 10, "address": VIP, "ports": [80, 443], **override}
    if override.get("ports", 0) is None:
        del args["ports"]
    res = run_module(netns, "fwmark_rule", args)
    assert res.rc == 1 and res.failed, res.result
    assert message in res.msg, res.msg
    assert netns.run("iptables -t mangle -S") == start


def test_mark_used_by_foreign_rules_for_another_vip_is_refused(netns, run_module):
    foreign = "-A PREROUTING -d 192.0.2.99/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff"
    netns.run("iptables -t mangle " + foreign)
    res = run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "ports": [80, 443]})
    assert res.rc == 1 and res.failed, res.result
    assert "already set by rules that lvs.ipvs does not own" in res.msg and "192.0.2.99/32" in res.msg
    assert res.result["conflicting_rules"] == [foreign]
    assert [x for x in netns.run("iptables -t mangle -S").splitlines() if x.startswith("-A")] == [foreign]

    # The same mark set by hand for the same VIP is not a conflict: a warning, and the rules are added.
    netns.run("iptables -t mangle -F PREROUTING")
    netns.run(f"iptables -t mangle -A PREROUTING -d {VIP} -p tcp --dport 80 -j MARK --set-mark 10")
    res = run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "ports": [80, 443]})
    assert res.rc == 0 and res.changed, res.result
    assert res.result["unowned_rules"] == [
        f"-A PREROUTING -d {VIP}/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0xa/0xffffffff"
    ]


def test_output_chain_and_in_interface(netns, run_module):
    args = {"mark": 7, "address": VIP, "protocol": "udp", "ports": ["5000-5010", 53],
            "chains": ["PREROUTING", "OUTPUT"], "in_interface": "eth0"}
    res = run_module(netns, "fwmark_rule", args)
    assert res.rc == 0 and res.changed, res.result
    tag = '-m comment --comment "lvs.ipvs fwmark=7" -j MARK --set-xmark 0x7/0xffffffff'
    assert [x for x in netns.run("iptables -t mangle -S").splitlines() if x.startswith("-A")] == [
        f"-A PREROUTING -d {VIP}/32 -i eth0 -p udp -m udp --dport 5000:5010 {tag}",
        f"-A PREROUTING -d {VIP}/32 -i eth0 -p udp -m udp --dport 53 {tag}",
        f"-A OUTPUT -d {VIP}/32 -p udp -m udp --dport 5000:5010 {tag}",
        f"-A OUTPUT -d {VIP}/32 -p udp -m udp --dport 53 {tag}",
    ]
    assert not run_module(netns, "fwmark_rule", args).changed
    # Moving to another interface with purge replaces the PREROUTING rules, leaves OUTPUT alone.
    res = run_module(netns, "fwmark_rule", {**args, "in_interface": "eth1", "purge": True})
    assert res.changed and len(res.result["rules"]) == 4
    assert "-i eth0" not in netns.run("iptables -t mangle -S")


# -- the list form: every group in one task --------------------------------------------------
GROUPS = [
    {"mark": 10, "address": VIP, "ports": [80, 443]},
    {"mark": 8, "address": LAB_VIP, "ports": [80, 23], "chains": ["PREROUTING", "OUTPUT"]},
    {"mark": 10, "address": VIP6, "ports": [80, 443]},
]
GROUPS_V4 = [_rule(VIP, 80, 10), _rule(VIP, 443, 10), _rule(LAB_VIP, 80, 8), _rule(LAB_VIP, 23, 8),
             _rule(LAB_VIP, 80, 8, "OUTPUT"), _rule(LAB_VIP, 23, 8, "OUTPUT")]
GROUPS_V6 = [_rule(VIP6, 80, 10), _rule(VIP6, 443, 10)]


def _tables(ns, backend) -> tuple[list[str], list[str]]:
    return mangle_rules(ns, backend, "ipv4"), mangle_rules(ns, backend, "ipv6")


def test_list_form_four_ways(netns, run_module, backend):
    args = {"rules": GROUPS}

    check = run_module(netns, "fwmark_rule", args, check_mode=True, diff=True)
    assert check.rc == 0 and check.changed, check.result
    assert check.result["diff"]["before"] == ""
    assert check.result["diff"]["after"] == "".join(line + "\n" for line in GROUPS_V4 + GROUPS_V6)
    assert check.result["families"]["ipv4"]["batch"] == ["*mangle", *GROUPS_V4, "COMMIT"]
    assert _tables(netns, backend) == ([], [])

    apply = run_module(netns, "fwmark_rule", args, diff=True)
    assert apply.rc == 0 and apply.changed, apply.result
    assert {f: r["backend"] for f, r in apply.result["families"].items()} == {"ipv4": backend.name,
                                                                              "ipv6": backend.name}
    assert apply.result["families"]["ipv4"]["rules"] == GROUPS_V4
    assert apply.result["families"]["ipv6"]["rules"] == GROUPS_V6
    assert _tables(netns, backend) == (GROUPS_V4, GROUPS_V6)

    again = run_module(netns, "fwmark_rule", args, diff=True)
    assert again.rc == 0 and not again.changed, again.result
    assert all(r["batch"] == [] for r in again.result["families"].values())
    assert again.result["diff"]["before"] == again.result["diff"]["after"]

    check_again = run_module(netns, "fwmark_rule", args, check_mode=True, diff=True)
    assert check_again.rc == 0 and not check_again.changed, check_again.result
    assert _tables(netns, backend) == (GROUPS_V4, GROUPS_V6)


def test_list_form_sets_what_one_task_per_group_sets(make_netns, run_module, backend):
    per_group, listed = make_netns("fwg"), make_netns("fwl")
    for group in GROUPS:
        assert run_module(per_group, "fwmark_rule", group).changed
    assert run_module(listed, "fwmark_rule", {"rules": GROUPS}).changed
    assert _tables(listed, backend) == _tables(per_group, backend)


def test_list_purge_removes_unlisted_owned_marks_and_never_untagged_rules(netns, run_module, backend):
    # Owned rules of three marks (one IPv6), and two untagged rules, one of them setting a listed mark.
    stale = [{"mark": 8, "address": LAB_VIP, "ports": [80, 23]}, {"mark": 9, "address": VIP6, "ports": [22]},
             {"mark": 10, "address": VIP, "ports": [80, 8443]}]
    assert run_module(netns, "fwmark_rule", {"rules": stale}).changed
    hand = [f"-A PREROUTING -d {VIP}/32 -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0xa/0xffffffff",
            f"-A PREROUTING -d {LAB_VIP}/32 -p tcp -m tcp --dport 25 -j MARK --set-xmark 0x1e/0xffffffff"]
    for line in hand:
        netns.run(f"{backend.cmd()} -t mangle {line}")
    hand6 = "-A OUTPUT -d 2001:db8::99/128 -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x9/0xffffffff"
    netns.run(f"{backend.cmd('ipv6')} -t mangle {hand6}")
    start = _tables(netns, backend)
    assert len(start[0]) == 6 and len(start[1]) == 2

    args = {"rules": [{"mark": 10, "address": VIP, "ports": [80, 443]}], "purge": True}
    check = run_module(netns, "fwmark_rule", args, check_mode=True, diff=True)
    assert check.rc == 0 and check.changed, check.result
    assert _tables(netns, backend) == start
    assert check.result["diff"]["before"] == "".join(
        line + "\n" for line in [_rule(LAB_VIP, 80, 8), _rule(LAB_VIP, 23, 8), _rule(VIP, 80, 10),
                                 _rule(VIP, 8443, 10), _rule(VIP6, 22, 9)])
    assert check.result["diff"]["after"] == f"{_rule(VIP, 80, 10)}\n{_rule(VIP, 443, 10)}\n"

    apply = run_module(netns, "fwmark_rule", args)
    assert apply.rc == 0 and apply.changed, apply.result
    # Every untagged rule is still there, in its place; of the owned ones only the listed group is left.
    assert _tables(netns, backend) == ([_rule(VIP, 80, 10), *hand, _rule(VIP, 443, 10)], [hand6])
    assert apply.result["families"]["ipv4"]["unowned_rules"] == [hand[0]]

    assert not run_module(netns, "fwmark_rule", args).changed
    assert not run_module(netns, "fwmark_rule", args, check_mode=True).changed

    # An empty list with purge takes every owned rule away, and still nothing else.
    assert run_module(netns, "fwmark_rule", {"rules": [], "purge": True}).changed
    assert _tables(netns, backend) == (hand, [hand6])


def test_list_with_bad_entries_changes_nothing_and_names_each(netns, run_module, backend):
    assert run_module(netns, "fwmark_rule", {"rules": [GROUPS[0], GROUPS[2]]}).changed
    netns.run(f"{backend.cmd()} -t mangle -A PREROUTING -d 192.0.2.99 -p tcp --dport 80 -j MARK --set-mark 3")
    start = _tables(netns, backend)
    bad = [
        GROUPS[1],
        {"mark": 0, "address": "192.0.2.30", "ports": [80]},
        {"mark": 11, "address": "192.0.2.300", "ports": [80, 70000]},
        {"mark": 12, "address": VIP6, "protocol": "icmp", "chains": ["INPUT"]},
        {"mark": 10, "address": VIP, "ports": [443], "state": "absent"},
    ]
    res = run_module(netns, "fwmark_rule", {"rules": [GROUPS[0], *bad], "purge": True})
    assert res.rc == 1 and res.failed, res.result
    assert [e.split(": ", 1)[0] for e in res.result["errors"]] == [
        "rules[2] (mark 0, 192.0.2.30)",
        "rules[3] (mark 11, 192.0.2.300)", "rules[3] (mark 11, 192.0.2.300)",
        "rules[4] (mark 12, 2001:db8::10)", "rules[4] (mark 12, 2001:db8::10)", "rules[4] (mark 12, 2001:db8::10)",
        "rules[5] (mark 10, 192.0.2.10)",
    ]
    assert "port 70000 is outside 1..65535" in res.msg and "would remove a rule that rules[0]" in res.msg
    assert res.msg.startswith("7 problems in rules, nothing was changed:")
    assert _tables(netns, backend) == start

    # A mark that untagged rules set for another VIP: refused in the family where it happens, and the
    # other family, whose entries are fine, is not changed either.
    mixed = [GROUPS[1], {"mark": 3, "address": VIP6, "ports": [80]}, {"mark": 3, "address": VIP, "ports": [80]}]
    res = run_module(netns, "fwmark_rule", {"rules": mixed})
    assert res.rc == 1 and res.failed, res.result
    assert res.result["errors"] == [
        f"rules[2] (mark 3, {VIP}): mark 3 is already set by rules that lvs.ipvs does not own for another "
        "destination (-A PREROUTING -d 192.0.2.99/32 -p tcp -m tcp --dport 80 -j MARK --set-xmark "
        "0x3/0xffffffff); choose another mark or remove those rules"
    ]
    assert _tables(netns, backend) == start


# -- faults found by probing (issue 14) -------------------------------------------------------
def _after_list_rules(monkeypatch, actions: dict):
    """Wrap ``Iptables.list_rules``: after its Nth read (1-based) of the table, run ``actions[N]`` (another task)."""
    from ansible_collections.lvs.ipvs.plugins.module_utils._iptables import Iptables

    real = Iptables.list_rules
    calls: list[int] = []

    def wrapped(self, table):
        out = real(self, table)
        calls.append(len(calls) + 1)
        if len(calls) in actions:
            actions[len(calls)]()
        return out

    monkeypatch.setattr(Iptables, "list_rules", wrapped)
    return calls


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_any_address_rule_is_recognised_and_removed(netns, run_module, backend, family):
    """``iptables -S`` prints a rule for 0.0.0.0/0 (::/0) without ``-d``: it is still the module's own rule."""
    anywhere = "::/0" if family == "ipv6" else "0.0.0.0/0"
    args = {"mark": 12, "address": anywhere, "ports": [80, 443]}
    tag = '-m comment --comment "lvs.ipvs fwmark=12" -j MARK --set-xmark 0xc/0xffffffff'
    wanted = [f"-A PREROUTING -p tcp -m tcp --dport {port} {tag}" for port in (80, 443)]
    res = run_module(netns, "fwmark_rule", args)
    assert res.rc == 0 and res.changed, res.result
    assert mangle_rules(netns, backend, family) == wanted
    again = run_module(netns, "fwmark_rule", args)
    assert again.rc == 0 and not again.changed, again.result
    assert res.result["rules"] == wanted, "the rules returned are not the ones iptables -S shows"
    assert not run_module(netns, "fwmark_rule", args, check_mode=True).changed
    gone = run_module(netns, "fwmark_rule", {"mark": 12, "address": anywhere, "state": "absent"})
    assert gone.rc == 0 and gone.changed, gone.result
    assert mangle_rules(netns, backend, family) == []
    # the list form, with purge, sees them too
    assert run_module(netns, "fwmark_rule", {"rules": [args]}).changed
    assert run_module(netns, "fwmark_rule", {"rules": [], "purge": True}).changed
    assert mangle_rules(netns, backend, family) == []


def test_xtables_lock_wait_is_bounded_and_named(netns, run_module, tmp_path, monkeypatch):
    """iptables-legacy takes flock() on /run/xtables.lock (or $XTABLES_LOCKFILE): held by another program, the
    module gives up after lock_timeout seconds and says which lock. A private lock file keeps other users of
    this machine's /run/xtables.lock out of the test."""
    import fcntl
    import time

    legacy = make_backend("legacy", tmp_path)
    monkeypatch.setenv("PATH", f"{legacy.bindir}:/usr/sbin:/usr/bin:/sbin:/bin")
    lock = tmp_path / "xtables.lock"
    monkeypatch.setenv("XTABLES_LOCKFILE", str(lock))
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        start = time.monotonic()
        res = run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "ports": [80], "lock_timeout": 2})
        took = time.monotonic() - start
    assert res.rc == 1 and res.failed, res.result
    assert "xtables lock" in res.msg and str(lock) in res.msg and "2 s" in res.msg, res.msg
    assert took < 20, f"the module waited {took:.0f} s for a lock_timeout of 2 s"
    assert mangle_rules(netns, legacy) == []
    # the lock free again: the same task goes through
    assert run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "ports": [80], "lock_timeout": 2}).changed


def test_rejected_batch_names_the_rule(netns, run_module, backend, monkeypatch):
    """The table as read holds an owned rule the kernel does not have: its -D is refused; the message names it."""
    from ansible_collections.lvs.ipvs.plugins.module_utils._iptables import Iptables

    assert run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "ports": [80]}).changed
    start = mangle_rules(netns, backend)
    real = Iptables.list_rules
    ghost = _rule(VIP, 8080, 10)

    def with_ghost(self, table):
        return real(self, table) + ghost + "\n"

    monkeypatch.setattr(Iptables, "list_rules", with_ghost)
    res = run_module(netns, "fwmark_rule", {"mark": 10, "address": VIP, "ports": [80, 443], "purge": True})
    assert res.rc == 1 and res.failed, res.result
    assert "line 2" in res.msg and "port 8080" in res.msg and "fwmark 10" in res.msg, res.msg
    assert "deleting" in res.msg and "192.0.2.10/32" in res.msg, res.msg
    assert mangle_rules(netns, backend) == start


def test_table_changed_between_read_and_write_is_read_again(netns, run_module, backend, monkeypatch):
    """Another task deletes a rule this one deletes, after this one's read: read again, plan again, go on."""
    args = {"mark": 10, "address": VIP, "ports": [80, 443]}
    assert run_module(netns, "fwmark_rule", args).changed
    by_hand = f"{backend.cmd()} -t mangle {_rule(VIP, 443, 10).replace('-A', '-D', 1)}"
    calls = _after_list_rules(monkeypatch, {1: lambda: netns.run(by_hand)})
    res = run_module(netns, "fwmark_rule", {**args, "ports": [80, 8080], "purge": True})
    assert res.rc == 0 and res.changed, res.result
    assert len(calls) >= 2, "the table was not read again"
    assert res.result["batch"] == ["*mangle", _rule(VIP, 8080, 10), "COMMIT"]
    assert mangle_rules(netns, backend) == [_rule(VIP, 80, 10), _rule(VIP, 8080, 10)]

    # the list form too
    calls = _after_list_rules(monkeypatch, {1: lambda: netns.run(by_hand.replace("443", "8080"))})
    res = run_module(netns, "fwmark_rule", {"rules": [{**args, "ports": [80, 22], "purge": True}]})
    assert res.rc == 0 and res.changed, res.result
    assert res.result["families"]["ipv4"]["batch"] == ["*mangle", _rule(VIP, 22, 10), "COMMIT"]
    assert mangle_rules(netns, backend) == [_rule(VIP, 80, 10), _rule(VIP, 22, 10)]
