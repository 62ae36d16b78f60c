# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exceptions shared by the lvs.ipvs module utilities.

Modules catch :class:`LvsIpvsError` and hand its message to ``fail_json``. Messages name
the object and the problem, e.g. ``cannot add real server 10.0.0.5:80 to TCP 192.0.2.1:80:
lower threshold above upper``.
"""

from __future__ import annotations

import typing as t

# Appended to the refusal of a write that was read and planned again once after a concurrent change (issue 14).
CHANGED_AGAIN = ("the table changed while this task wrote it: it was read again and planned again once, "
                 "and changed again; run the task again")


class LvsIpvsError(Exception):
    """Base class of every error the collection raises on purpose."""


class ValidationError(LvsIpvsError):
    """The requested state is invalid; nothing was changed."""


class KernelError(LvsIpvsError):
    """The kernel refused or failed a request."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class BackendUnavailableError(LvsIpvsError):
    """A required system facility (IPVS, iptables) is missing."""


def run_and_exit(module: t.Any, run: t.Callable[[t.Any], dict]) -> None:
    """A module's last step: ``run(module)``, then ``exit_json`` with its result.

    An :class:`LvsIpvsError` fails the task with its message instead (nothing was changed:
    every module validates before it acts).
    """
    try:
        result = run(module)
    except LvsIpvsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


def _error_order(message: str) -> int:
    """Where a message belongs: the N of its leading ``config[N]`` or ``line N`` (-1 when it has none)."""
    for prefix in ("config[", "line "):
        if message.startswith(prefix):
            digits = message[len(prefix):].split("]", 1)[0].split(" ", 1)[0]
            if digits.isdigit():
                return int(digits)
    return -1


class ConfigError(ValidationError):
    """Every problem of a whole configuration at once, in ``errors``, each naming its service (and real server).

    The message lists them all, one per line, in the order of the configuration.
    """

    def __init__(self, errors: t.Iterable[str], what: str = "config") -> None:
        self.errors = sorted(dict.fromkeys(errors), key=_error_order)
        count = len(self.errors)
        head = f"{count} problem{'' if count == 1 else 's'} in {what}, nothing was changed"
        super().__init__(head + ":\n" + "\n".join(f"- {error}" for error in self.errors))
