# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a managed host has of what the collection needs: the Python library and the commands.

Read-only and cheap (no netlink, no subprocess): the roles' preflight calls it through
``lvs.ipvs.ipvs_info`` (``gather: [prerequisites]``) before they change anything, and map the
names in ``absent`` to the distribution's packages.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

# The commands the roles and their boot-time scripts run; "ip" and "sysctl" serve the real servers too.
COMMANDS = ("ipvsadm", "iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "modprobe", "ip", "sysctl",
            "keepalived")
# Where root's commands live even when the module's PATH lacks them (sudo, cron).
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")


def distribution_version(name: str) -> str | None:
    """The installed version of a Python distribution, or None (no importlib.metadata before 3.8)."""
    try:
        from importlib import metadata  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - Python 3.7
        return None
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def os_release(text: str) -> dict[str, Any]:
    """``/etc/os-release`` as {id, id_like, version_id, family}; family is debian, redhat, suse or the id."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Z_]+)=(.*)$", line.strip())
        if m:
            fields[m.group(1)] = m.group(2).strip().strip("\"'")
    ident = fields.get("ID", "").lower()
    like = fields.get("ID_LIKE", "").lower().split()
    names = {ident, *like}
    if "debian" in names or "ubuntu" in names:
        family = "debian"
    elif names & {"rhel", "fedora", "centos"}:
        family = "redhat"
    elif names & {"suse", "opensuse"}:
        family = "suse"
    else:
        family = ident or "unknown"
    return {"id": ident, "id_like": like, "version_id": fields.get("VERSION_ID", ""), "family": family}


def pyroute2_state(usable: bool, import_error: str | None, requirement: str, found: str | None) -> dict[str, Any]:
    """What the modules can expect of pyroute2, with a sentence saying what is wrong (``problem``)."""
    problem = None
    if not usable:
        last = (import_error or "").strip().splitlines()[-1:] or ["ImportError"]
        if found:
            problem = (f"pyroute2 {found} is installed for {sys.executable} but cannot be used "
                       f"({last[0]}); the modules need {requirement}")
        else:
            problem = f"pyroute2 is not installed for {sys.executable}; the modules need {requirement}"
    return {"found": found, "usable": usable, "required": requirement, "problem": problem}


def prerequisites(
    *,
    pyroute2: dict[str, Any],
    which: Callable[[str], str | None],
    read: Callable[[str], str | None],
    isdir: Callable[[str], bool] = os.path.isdir,
    kernel_release: str = "",
) -> dict[str, Any]:
    """The host's prerequisites; ``absent`` lists each missing piece by name (pyroute2 or a command).

    ``systemd``: whether systemd runs the host, as sd_booted(3) tells (``/run/systemd/system`` is a directory).
    ``ipvs_modules``: the IPVS kernel modules the running kernel (``kernel_release``) has, loaded or built in.
    """
    commands = {name: which(name) for name in COMMANDS}
    absent = [] if pyroute2["usable"] else ["pyroute2"]
    absent += [name for name, path in commands.items() if not path]
    release = read("/etc/os-release") or read("/usr/lib/os-release") or ""
    return {
        "python": {"executable": sys.executable, "version": ".".join(str(v) for v in sys.version_info[:3])},
        "pyroute2": pyroute2,
        "commands": commands,
        "ipvs_loaded": read("/proc/net/ip_vs") is not None,
        "systemd": isdir("/run/systemd/system"),
        "ipvs_modules": ipvs_modules(read("/proc/modules") or "",
                                     read(f"/lib/modules/{kernel_release}/modules.builtin") if kernel_release else ""),
        "os": os_release(release),
        "absent": absent,
    }


def ipvs_modules(proc_modules: str, builtin: str | None) -> list[str]:
    """The IPVS modules (``ip_vs`` and ``ip_vs_*``) the kernel has: loaded (``/proc/modules``) or built in.

    The same test as community.general.modprobe's: a module that is in either needs no modprobe.
    """
    names = {line.split(" ", 1)[0] for line in proc_modules.splitlines() if line.strip()}
    names |= {line.strip().rsplit("/", 1)[-1].split(".ko", 1)[0].replace("-", "_")
              for line in (builtin or "").splitlines() if line.strip()}
    return sorted(name for name in names if name == "ip_vs" or name.startswith("ip_vs_"))


def which_in(path_env: str | None) -> Callable[[str], str | None]:
    """A ``which`` that also looks in the sbin directories (a module's PATH may lack them)."""
    dirs = [d for d in (path_env or "").split(os.pathsep) if d]
    dirs += [d for d in SBIN_DIRS if d not in dirs]

    def which(name: str) -> str | None:
        for d in dirs:
            candidate = os.path.join(d, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    return which


def read_text(path: str) -> str | None:
    """A file's text, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except OSError:
        return None
