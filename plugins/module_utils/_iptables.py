# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The only place in lvs.ipvs that runs ``iptables``, ``ip6tables`` and ``iptables-restore``.

It uses whatever ``iptables`` the system selects (nft or legacy backend; rules made by one
are invisible to the other) and reads the backend from ``iptables -V``. Changes go in as one
``iptables-restore --noflush -w`` batch per table, which the kernel applies atomically: a
batch with one bad line leaves the table as it was.

Commands are run through a ``run(args, data)`` callable returning ``(rc, stdout, stderr)``
(``AnsibleModule.run_command`` in modules, a fake in unit tests) and found through a
``which(name)`` callable returning a path or None (``AnsibleModule.get_bin_path``).
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.lvs.ipvs.plugins.module_utils._errors import BackendUnavailableError, KernelError

if t.TYPE_CHECKING:  # pragma: no cover - typing only, keeps module_utils importable on older targets
    from collections.abc import Callable

    Runner = Callable[[list[str], t.Optional[str]], tuple[int, str, str]]
    Which = Callable[[str], t.Optional[str]]

_COMMANDS = {"ipv4": "iptables", "ipv6": "ip6tables"}


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

    def __init__(self, family: str, run: Runner, which: Which) -> None:
        if family not in _COMMANDS:
            raise ValueError(f"unknown address family {family!r}")
        self.family = family
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

    def list_rules(self, table: str) -> str:
        """``<cmd> -w -t TABLE -S``: the table's rules in canonical form."""
        rc, out, err = self._run([self.binary, "-w", "-t", table, "-S"], None)
        if rc != 0:
            detail = (err or out).strip()
            raise KernelError(f"cannot read the {table} table with {self._cmd} ({self.backend}): {detail}")
        return out

    # -- changes -------------------------------------------------------------------------
    def restore(self, batch: str) -> None:
        """Apply ``batch`` with ``<cmd>-restore --noflush -w``: all of it or none of it."""
        rc, out, err = self._run([self._companion("restore"), "--noflush", "-w"], batch)
        if rc != 0:
            detail = " ".join((err or out).split())
            raise KernelError(
                f"{self._cmd}-restore ({self.backend}) refused the batch, nothing was changed: {detail}"
            )
