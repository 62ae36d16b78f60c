# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_iptables with a fake runner: which commands run, with what input, and how failures read."""

from __future__ import annotations

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import BackendUnavailableError, KernelError
from ansible_collections.lvs.ipvs.plugins.module_utils._iptables import Iptables, RestoreError, XtablesLockError


class FakeRunner:
    def __init__(self, answers: dict[str, tuple[int, str, str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, args, data=None):
        self.calls.append((list(args), data))
        key = " ".join(args[1:])
        return self.answers.get(key, (0, "", ""))


def which(name):
    return f"/usr/sbin/{name}"


@pytest.mark.parametrize(
    ("version", "backend"),
    [
        ("iptables v1.8.9 (nf_tables)\n", "nft"),
        ("iptables v1.8.9 (legacy)\n", "legacy"),
        ("iptables v1.6.1\n", "legacy"),
    ],
)
def test_backend_from_version(version, backend):
    run = FakeRunner({"-V": (0, version, "")})
    tables = Iptables("ipv4", run, which)
    assert tables.backend == backend
    assert tables.backend == backend
    assert run.calls == [(["/usr/sbin/iptables", "-V"], None)]


def test_ipv6_uses_ip6tables_and_reads_with_lock():
    run = FakeRunner({"-w 30 -t mangle -S": (0, "-P PREROUTING ACCEPT\n", "")})
    tables = Iptables("ipv6", run, which)
    assert tables.list_rules("mangle") == "-P PREROUTING ACCEPT\n"
    assert run.calls == [(["/usr/sbin/ip6tables", "-w", "30", "-t", "mangle", "-S"], None)]


def test_restore_is_one_noflush_batch_with_lock(tmp_path):
    (tmp_path / "iptables").touch()
    (tmp_path / "iptables-restore").touch()
    run = FakeRunner({})
    tables = Iptables("ipv4", run, lambda name: str(tmp_path / name) if name == "iptables" else None)
    tables.restore("*mangle\nCOMMIT\n")
    assert run.calls == [([str(tmp_path / "iptables-restore"), "--noflush", "-w", "30"], "*mangle\nCOMMIT\n")]


def test_restore_failure_says_nothing_changed():
    run = FakeRunner({
        "--noflush -w 30": (2, "", "iptables-restore v1.8.9 (nf_tables): Can't use -i with OUTPUT\n"
                                   "Error occurred at line: 5\n"),
        "-V": (0, "iptables v1.8.9 (nf_tables)", ""),
    })
    tables = Iptables("ipv4", run, which)
    expected = r"iptables-restore \(nft\) refused the batch, nothing was changed: .*line: 5"
    with pytest.raises(KernelError, match=expected):
        tables.restore("*mangle\nCOMMIT\n")


def test_missing_iptables_is_backend_unavailable():
    tables = Iptables("ipv6", FakeRunner({}), lambda name: None)
    with pytest.raises(BackendUnavailableError, match="ip6tables was not found"):
        tables.list_rules("mangle")


def test_read_failure_is_kernel_error():
    run = FakeRunner({
        "-w 30 -t mangle -S": (3, "", "can't initialize iptables table `mangle'"),
        "-V": (0, "iptables v1.8.9 (legacy)", ""),
    })
    with pytest.raises(KernelError, match="cannot read the mangle table with iptables"):
        Iptables("ipv4", run, which).list_rules("mangle")


def test_lock_timeout_is_the_wait_of_every_command_and_0_does_not_wait(tmp_path):
    (tmp_path / "iptables").touch()
    (tmp_path / "iptables-restore").touch()
    run = FakeRunner({})
    tables = Iptables("ipv4", run, lambda name: str(tmp_path / name), lock_timeout=0)
    tables.list_rules("mangle")
    tables.restore("*mangle\nCOMMIT\n")
    assert [call[0][1:] for call in run.calls] == [["-t", "mangle", "-S"], ["--noflush"]]
    with pytest.raises(ValueError, match="negative"):
        Iptables("ipv4", run, which, lock_timeout=-1)


@pytest.mark.parametrize("lockfile", [None, "/tmp/other.lock"])
def test_a_held_lock_fails_naming_it(monkeypatch, lockfile):
    if lockfile:
        monkeypatch.setenv("XTABLES_LOCKFILE", lockfile)
    else:
        monkeypatch.delenv("XTABLES_LOCKFILE", raising=False)
    held = (4, "", "Another app is currently holding the xtables lock. Stopped waiting after 5s.\n")
    run = FakeRunner({"-w 5 -t mangle -S": held, "--noflush -w 5": held, "-V": (0, "iptables v1.8.9 (legacy)", "")})
    tables = Iptables("ipv4", run, which, lock_timeout=5)
    expected = f"gave up on the xtables lock {lockfile or '/run/xtables.lock'} after waiting 5 s \\(lock_timeout\\)"
    with pytest.raises(XtablesLockError, match=expected):
        tables.list_rules("mangle")
    with pytest.raises(XtablesLockError, match="iptables-restore \\(legacy\\) gave up"):
        tables.restore("*mangle\nCOMMIT\n")


@pytest.mark.parametrize(("stderr", "line"), [
    ("iptables-restore: line 2 failed\n", 2),
    ("iptables-nft-restore: line 2 failed: Bad rule (does a matching rule exist in that chain?).\n", 2),
    ("iptables-nft-restore v1.8.9 (nf_tables): \nline 3: RULE_APPEND failed (Invalid argument): rule in OUTPUT\n", 3),
    ("iptables-restore v1.8.9 (legacy): Can't use -i with OUTPUT\nError occurred at line: 5\n", 5),
    ("iptables-restore: something else\n", None),
])
def test_a_refusal_carries_the_line_it_names(stderr, line):
    run = FakeRunner({"--noflush -w 30": (1, "", stderr), "-V": (0, "iptables v1.8.9 (nf_tables)", "")})
    with pytest.raises(RestoreError) as caught:
        Iptables("ipv4", run, which).restore("*mangle\nCOMMIT\n")
    assert caught.value.line == line
    assert caught.value.command == "iptables-restore (nft)"
