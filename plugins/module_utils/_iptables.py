# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The only place in lvs.ipvs that runs ``iptables``, ``ip6tables`` and ``iptables-restore``.

It uses whatever ``iptables`` the system selects (nft or legacy backend; rules made by one
are invisible to the other) and reads the backend from ``iptables -V``. Changes go in as one
``iptables-restore --noflush -w SECONDS`` batch per table, which the kernel applies atomically: a
batch with one bad line leaves the table as it was.

Every command waits for the xtables lock (the legacy backend's ``flock`` on ``/run/xtables.lock``,
or ``$XTABLES_LOCKFILE``; the nft backend has none) for ``lock_timeout`` seconds at most, then
fails with :class:`XtablesLockError`, which names the lock.

Commands are run through a ``run(args, data)`` callable returning ``(rc, stdout, stderr)``
(``AnsibleModule.run_command`` in modules, a fake in unit tests) and found through a
``which(name)`` callable returning a path or None (``AnsibleModule.get_bin_path``).
"""

from __future__ import annotations

import os
import re
import typing as t

from ansible_collections.lvs.ipvs.plugins.module_utils._errors import BackendUnavailableError, KernelError

if t.TYPE_CHECKING:  # pragma: no cover - typing only, keeps module_utils importable on older targets
    from collections.abc import Callable

    Runner = Callable[[list[str], t.Optional[str]], tuple[int, str, str]]
    Which = Callable[[str], t.Optional[str]]

_COMMANDS = {"ipv4": "iptables", "ipv6": "ip6tables"}
DEFAULT_LOCK_TIMEOUT = 30
XTABLES_LOCK = "/run/xtables.lock"
# "line 2 failed" (both backends), "line 3: RULE_APPEND failed" (nft), "Error occurred at line: 5" (parse errors)
_LINE_RE = re.compile(r"\bline:? (\d+)")


class XtablesLockError(KernelError):
    """Another program held the xtables lock for longer than the wait allowed; nothing was changed."""


class RestoreError(KernelError):
    """``iptables-restore`` refused a batch (nothing was changed); ``line`` is the batch line it named, if any."""

    def __init__(self, command: str, line: int | None, detail: str) -> None:
        super().__init__(f"{command} refused the batch, nothing was changed: {detail}")
        self.command = command  # e.g. "iptables-restore (nft)"
        self.line = line
        self.detail = detail


def lock_file() -> str:
    """The file iptables-legacy locks: ``$XTABLES_LOCKFILE`` when set, else ``/run/xtables.lock``."""
    return os.environ.get("XTABLES_LOCKFILE") or XTABLES_LOCK


def runner_from_module(module) -> Runner:
    """Adapt ``AnsibleModule.run_command`` to the ``run(args, data)`` interface."""

    def run(args: list[str], data: str | None = None) -> tuple[int, str, str]:
        if data is None:
            return module.run_command(args, environ_update={"LC_ALL": "C"})
        return module.run_command(args, data=data, binary_data=True, environ_update={"LC_ALL": "C"})

    return run


def which_from_module(module) -> Which:
    """Adapt ``AnsibleModule.get_bin_path`` (which searches PATH, then the sbin directories)."""

    def which(name: str) -> str | None:
        return module.get_bin_path(name, required=False)

    return which


class Iptables:
    """``iptables`` (family ``ipv4``) or ``ip6tables`` (``ipv6``) as the system selects it."""

    def __init__(self, family: str, run: Runner, which: Which, lock_timeout: int = DEFAULT_LOCK_TIMEOUT) -> None:
        if family not in _COMMANDS:
            raise ValueError(f"unknown address family {family!r}")
        if lock_timeout < 0:
            raise ValueError(f"lock_timeout {lock_timeout} is negative")
        self.family = family
        self.lock_timeout = lock_timeout
        self._run = run
        self._which = which
        self._cmd = _COMMANDS[family]
        self._binary: str | None = None
        self._backend: str | None = None

    # -- binaries ------------------------------------------------------------------------
    @property
    def binary(self) -> str:
        if self._binary is None:
            path = self._which(self._cmd)
            if not path:
                raise BackendUnavailableError(
                    f"{self._cmd} was not found: install the iptables package (nft or legacy backend)"
                )
            self._binary = path
        return self._binary

    def _companion(self, suffix: str) -> str:
        """``<cmd>-restore`` next to the ``<cmd>`` in use, so both talk to the same backend."""
        name = f"{self._cmd}-{suffix}"
        sibling = os.path.join(os.path.dirname(self.binary), name)
        if os.path.exists(sibling):
            return sibling
        path = self._which(name)
        if not path:
            raise BackendUnavailableError(f"{name} was not found next to {self.binary}: install the iptables package")
        return path

    # -- queries -------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """``nft`` or ``legacy``, from ``iptables -V`` (iptables before 1.8 is always legacy)."""
        if self._backend is None:
            rc, out, err = self._run([self.binary, "-V"], None)
            if rc != 0:
                raise BackendUnavailableError(f"{self._cmd} -V failed (rc {rc}): {(err or out).strip()}")
            text = out + err
            if "nf_tables" in text:
                self._backend = "nft"
            else:
                self._backend = "legacy"
        return self._backend

    def _wait(self) -> list[str]:
        """``-w SECONDS``: wait that long at most for the xtables lock (0: do not wait, as without ``-w``)."""
        return ["-w", str(self.lock_timeout)] if self.lock_timeout > 0 else []

    def _lock_problem(self, command: str, text: str) -> None:
        """Raise :class:`XtablesLockError` when ``text`` (a failed command's output) is about the xtables lock."""
        if "xtables lock" not in text:
            return
        waited = f"after waiting {self.lock_timeout} s (lock_timeout)" if self.lock_timeout else (
            "at once (lock_timeout is 0)")
        raise XtablesLockError(
            f"{command} ({self.backend}) gave up on the xtables lock {lock_file()} {waited}: another program "
            f"holds it (another iptables, a firewall service); nothing was changed: {' '.join(text.split())}"
        )

    def list_rules(self, table: str) -> str:
        """``<cmd> -w SECONDS -t TABLE -S``: the table's rules in canonical form."""
        rc, out, err = self._run([self.binary, *self._wait(), "-t", table, "-S"], None)
        if rc != 0:
            detail = (err or out).strip()
            self._lock_problem(self._cmd, detail)
            raise KernelError(f"cannot read the {table} table with {self._cmd} ({self.backend}): {detail}")
        return out

    # -- changes -------------------------------------------------------------------------
    def restore(self, batch: str) -> None:
        """Apply ``batch`` with ``<cmd>-restore --noflush -w SECONDS``: all of it or none of it.

        A refusal raises :class:`RestoreError` with the batch line iptables-restore named (``line``),
        a lock held too long :class:`XtablesLockError`.
        """
        rc, out, err = self._run([self._companion("restore"), "--noflush", *self._wait()], batch)
        if rc != 0:
            detail = " ".join((err or out).split())
            self._lock_problem(f"{self._cmd}-restore", detail)
            found = _LINE_RE.search(detail)
            raise RestoreError(
                f"{self._cmd}-restore ({self.backend})",
                int(found.group(1)) if found else None,
                detail,
            )
