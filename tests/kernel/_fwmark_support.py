# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the fwmark_rule kernel tests: pick an iptables backend, read the mangle table.

The backend is chosen per test by putting a directory first on PATH whose ``iptables``,
``ip6tables`` and ``*-restore`` are symlinks to Debian's ``*-nft`` or ``*-legacy`` commands
(xtables-*-multi dispatch on the name they are called by). That changes only the module's
view (it finds ``iptables`` through PATH, as on a real system), not the VM's /etc, so tests
cannot leak a backend choice into each other. The oracle reads the table with the backend's
own command (``iptables-legacy -t mangle -S``), independently of the module.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Both of Debian's backends unless told otherwise: the User-Mode Linux bed's kernel has no nf_tables for
# IPv4/IPv6, so bin/test runs these tests there with "legacy" only, and with both on the host kernel
# (stage netfilter). An unknown name fails in make_backend, never skips.
BACKENDS = tuple(os.environ.get("LVS_TEST_XTABLES", "nft legacy").split())
_COMMENT = re.compile(r' -m comment --comment "lvs\.ipvs fwmark=\d+"')


@dataclass
class Backend:
    name: str
    bindir: Path

    def cmd(self, family: str = "ipv4") -> str:
        """The backend's own command for the family, e.g. ``ip6tables-legacy``."""
        base = "ip6tables" if family == "ipv6" else "iptables"
        return f"{base}-{self.name}"


def make_backend(name: str, tmp: Path) -> Backend:
    bindir = tmp / f"xtables-{name}"
    bindir.mkdir(parents=True, exist_ok=True)
    for base in ("iptables", "ip6tables"):
        for suffix in ("", "-restore", "-save"):
            link = bindir / f"{base}{suffix}"
            if not link.exists():
                link.symlink_to(f"/usr/sbin/{base}-{name}{suffix}")
    return Backend(name, bindir)


def mangle_rules(ns, backend: Backend, family: str = "ipv4") -> list[str]:
    """The ``-A`` lines of the mangle table in ``ns``, read with the backend's own command."""
    out = ns.run(f"{backend.cmd(family)} -w -t mangle -S")
    return [line for line in out.splitlines() if line.startswith("-A ")]


def strip_tag(lines: list[str]) -> list[str]:
    """The lines without the module's comment match (the only thing it adds to the hand-typed rule)."""
    return sorted(_COMMENT.sub("", line) for line in lines)


@dataclass
class NamedNetns:
    """An existing namespace (e.g. a lab host's) in the shape ``run_module`` expects."""

    name: str

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        from pyroute2 import netns as pr_netns

        pr_netns.pushns(self.name)
        try:
            yield
        finally:
            pr_netns.popns()
