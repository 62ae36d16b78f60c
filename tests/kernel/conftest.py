# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests that need a real kernel with IPVS.

These tests run inside the kernel test bed (``bin/bed run -- pytest tests/kernel``), which
starts User-Mode Linux (a kernel with IPVS) once per test run, or runs directly on a host whose
kernel has IPVS when the user is root. Running them anywhere else fails loudly; it never skips.

Every test gets its own network namespaces (IPVS state, /proc/net/ip_vs* and the
net.ipv4.vs sysctls are per namespace), so tests cannot see each other's services.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
for path in (REPO / ".cache" / "collections", REPO / "tools"):  # the collection, and the tooling (lvslab)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

_counter = itertools.count()


def _has_ipvs() -> bool:
    if Path("/proc/net/ip_vs").exists():
        return True
    subprocess.run(["modprobe", "ip_vs"], capture_output=True, check=False)
    return Path("/proc/net/ip_vs").exists()


@pytest.fixture(scope="session", autouse=True)
def ipvs_kernel() -> str:
    """The running kernel's release, after making sure it has IPVS (fails, never skips)."""
    if os.geteuid() != 0:
        pytest.fail("kernel tests need root: run them with bin/bed run -- pytest tests/kernel", pytrace=False)
    if os.environ.get("LVS_TEST_NETFILTER_ONLY") == "1":
        # bin/test's netfilter stage: the fwmark_rule tests need netfilter and namespaces, not IPVS,
        # and run on the host kernel, which has both iptables backends.
        return os.uname().release
    if not _has_ipvs():
        pytest.fail(
            f"kernel {os.uname().release} has no IPVS: run the kernel tests through the test bed "
            "(bin/bed run -- pytest tests/kernel)",
            pytrace=False,
        )
    for mod in ("ip_vs_rr", "ip_vs_wrr", "ip_vs_wlc", "ip_vs_lc", "ip_vs_sh", "ip_vs_mh"):
        subprocess.run(["modprobe", mod], capture_output=True, check=False)
    return os.uname().release


# Which pyroute2 the modules imported, by how they were run; printed at the end of the run.
PYROUTE2_SEEN = pytest.StashKey[dict]()


@pytest.fixture(scope="session", autouse=True)
def pyroute2_used(request) -> dict[str, str]:
    """The pyroute2 the collection's netlink layer imports in this process: checked, and printed at the end.

    bin/test's kernel stage runs the IPVS tests a second time with Debian's python3-pyroute2
    first on the import path: ``LVS_TEST_PYROUTE2_PATH`` (that directory) and
    ``LVS_TEST_PYROUTE2_VERSION`` (the version it holds). Then every test fails unless the
    modules really use that one. Returns ``{how the modules were run: "version from where"}``;
    tests that run modules another way (through ansible) add theirs.
    """
    from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs

    seen = request.config.stash.setdefault(PYROUTE2_SEEN, {})
    seen["in-process (run_module, module_utils)"] = f"{_ipvs.PYROUTE2_VERSION} from {_ipvs.PYROUTE2_LOCATION}"
    assert _ipvs.HAS_PYROUTE2, _ipvs.pyroute2_problem()
    check_pyroute2(_ipvs.PYROUTE2_VERSION, _ipvs.PYROUTE2_LOCATION)
    # The pieces the netlink layer uses come from there too, not from another pyroute2 on the path.
    check_pyroute2(_ipvs.PYROUTE2_VERSION, sys.modules[_ipvs.genlmsg.__module__].__file__)
    return seen


def check_pyroute2(version: str | None, location: str | None) -> None:
    """Fail unless this is the pyroute2 the run asked for (LVS_TEST_PYROUTE2_PATH/_VERSION, when set)."""
    want_path = os.environ.get("LVS_TEST_PYROUTE2_PATH")
    want_version = os.environ.get("LVS_TEST_PYROUTE2_VERSION")
    if want_path:
        assert location and Path(location).resolve().is_relative_to(Path(want_path).resolve()), (
            f"pyroute2 came from {location}, not from LVS_TEST_PYROUTE2_PATH={want_path}"
        )
    if want_version:
        assert version == want_version, f"pyroute2 {version} was imported, not LVS_TEST_PYROUTE2_VERSION={want_version}"


# Figures a test measured (test_ha.py's failover times and counts), printed at the end of the run.
FIGURE_LINES = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    for how, what in config.stash.get(PYROUTE2_SEEN, {}).items():
        terminalreporter.write_line(f"pyroute2 used {how}: {what}")
    for line in config.stash.get(FIGURE_LINES, []):
        terminalreporter.write_line(line)


def sh(cmd: str | list[str], *, check: bool = True, input: str | None = None) -> str:
    """Run a command, return its stdout; raise with its stderr when it fails and check is set."""
    args = cmd if isinstance(cmd, list) else ["sh", "-c", cmd]
    proc = subprocess.run(args, capture_output=True, text=True, input=input, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"command failed ({proc.returncode}): {cmd}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


@dataclass
class Netns:
    """A network namespace made for one test, with lo up; removed by the fixture finalizer."""

    name: str
    _cleanup: list[str] = field(default_factory=list)

    def run(self, cmd: str, *, check: bool = True, input: str | None = None) -> str:
        """Run a shell command inside the namespace and return its stdout."""
        return sh(["ip", "netns", "exec", self.name, "sh", "-c", cmd], check=check, input=input)

    def ipvsadm_save(self) -> list[str]:
        """``ipvsadm -Sn`` inside the namespace, sorted (ipvsadm does not keep creation order)."""
        return sorted(line for line in self.run("ipvsadm -Sn").splitlines() if line.strip())

    def ipvsadm_timeouts(self) -> str:
        return self.run("ipvsadm -Ln --timeout").strip()

    def proc(self, path: str) -> str:
        """Read a /proc file as seen from inside the namespace (e.g. ``net/ip_vs_conn``)."""
        return self.run(f"cat /proc/{shlex.quote(path)}")

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Move this (single-threaded) process into the namespace for the duration of the block."""
        from pyroute2 import netns as pr_netns

        pr_netns.pushns(self.name)
        try:
            yield
        finally:
            pr_netns.popns()


@pytest.fixture
def make_netns(ipvs_kernel: str) -> Iterator:
    """Factory: ``make_netns()`` returns a fresh :class:`Netns` with lo up."""
    made: list[Netns] = []

    def factory(prefix: str = "t") -> Netns:
        name = f"lvs-{prefix}-{os.getpid()}-{next(_counter)}"
        sh(["ip", "netns", "add", name])
        ns = Netns(name)
        made.append(ns)
        ns.run("ip link set lo up")
        return ns

    yield factory
    for ns in made:
        sh(["ip", "netns", "del", ns.name], check=False)


@pytest.fixture
def netns(make_netns) -> Netns:
    """One fresh network namespace."""
    return make_netns()


@dataclass
class ModuleResult:
    rc: int
    result: dict

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))


def run_module_in(ns: Netns, module: str, args: dict, *, check_mode: bool = False, diff: bool = False) -> ModuleResult:
    """Run ``lvs.ipvs.<module>`` in-process inside ``ns``, as ansible would, and return its JSON result.

    In-process (not ansible-playbook) because a process start costs seconds in the one-CPU bed; the
    module code path is the same one ansible executes: ``main()`` reading ANSIBLE_MODULE_ARGS.
    """
    import importlib

    from ansible.module_utils import _internal, basic
    from ansible.module_utils.common.text.converters import to_bytes

    # A test that imported controller code (a filter plugin: ansible.errors) sets ansible-core's is_controller
    # for the whole process, and a module's warn() then goes to the controller's display instead of its result:
    # run the module as on a managed host.
    _internal.is_controller = False
    payload = dict(args)
    payload["_ansible_check_mode"] = check_mode
    payload["_ansible_diff"] = diff
    payload["_ansible_remote_tmp"] = "/tmp"
    payload["_ansible_keep_remote_files"] = False
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
    basic._ANSIBLE_PROFILE = "legacy"
    mod = importlib.import_module(f"ansible_collections.lvs.ipvs.plugins.modules.{module}")
    out = io.StringIO()
    rc = 0
    with ns.entered(), contextlib.redirect_stdout(out):
        try:
            mod.main()
        except SystemExit as exc:
            rc = int(exc.code or 0)
    text = out.getvalue().strip()
    try:
        result = json.loads(text.splitlines()[-1]) if text else {}
    except json.JSONDecodeError as exc:  # pragma: no cover - diagnostic
        raise AssertionError(f"{module} printed no JSON result: {text!r}") from exc
    return ModuleResult(rc, result)


@pytest.fixture
def run_module():
    """``run_module(ns, "ipvs_service", {...}, check_mode=..., diff=...)`` -> :class:`ModuleResult`."""
    return run_module_in
