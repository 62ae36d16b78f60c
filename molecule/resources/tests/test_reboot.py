# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A reboot, simulated: the boot path must bring back exactly the state the roles made.

Shared by every scenario (``additional_files_or_dirs``); ``conftest.py`` here runs it after the
scenario's own tests. For each director and real server:

1. save what a reboot loses, read with the system's tools: ``ipvsadm -Sn``, the timeouts,
   ``iptables -t mangle -S``, the addresses (director: eth0, real server: lo) and the sysctls;
2. wipe it: ``ipvsadm -C``, the kernel's default timeouts, the mangle table flushed, the VIPs
   removed, the sysctls back to the kernel's defaults;
3. run the boot path as systemd would at boot: the ``ExecStart`` of the unit that the roles
   enabled in multi-user.target.wants, with systemd's clean environment;
4. assert the wipe changed something and the state is back, equal to the saved one.

A boot path that does nothing, or forgets any piece, fails step 4.
"""

from __future__ import annotations

import json
import shlex

testinfra_hosts = ["ansible://directors", "ansible://real_servers"]

WANTS = "/etc/systemd/system/multi-user.target.wants"
UNITS = {"directors": "lvs-ipvs.service", "real_servers": "lvs-ipvs-real-server.service"}
# What systemd gives a system service: no inherited environment, its default PATH, / as directory.
SYSTEMD_ENV = "cd / && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin LANG=C.UTF-8"
VS_SYSCTLS = r"^net\.ipv4\.vs\."
ARP_SYSCTLS = r"^net\.ipv4\.conf\.(all|eth0)\.arp_(ignore|announce)$"
# What a reboot loses, read with the system's tools: one command per piece, all in one shell.
STATE = {
    "directors": {
        "ipvs": "ipvsadm -Sn",
        "timeouts": "ipvsadm -Ln --timeout",
        "mangle": "iptables -w -t mangle -S",
        "eth0": "ip -j addr show dev eth0",
        "sysctls": f"sysctl -a -r '{VS_SYSCTLS}'",
    },
    "real_servers": {
        "lo": "ip -j addr show dev lo",
        "sysctls": f"sysctl -a -r '{ARP_SYSCTLS}'",
    },
}
# The kernel's defaults (tcp tcpfin udp), as after a boot.
DEFAULT_TIMEOUTS = "900 120 300"


def _sysctl_values(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)


def _addresses(text: str) -> list[str]:
    return sorted(f"{a['local']}/{a['prefixlen']}" for a in json.loads(text)[0]["addr_info"])


def _state(host, kind: str) -> dict[str, object]:
    script = "set -e; " + "; ".join(f"echo '@@ {name}'; {cmd}" for name, cmd in STATE[kind].items())
    raw = dict(part.split("\n", 1) for part in host.check_output(script).split("@@ ")[1:])
    state: dict[str, object] = {}
    for name, text in raw.items():
        if name in ("eth0", "lo"):
            state[name] = _addresses(text)
        elif name == "sysctls":
            state[name] = _sysctl_values(text)
        elif name == "ipvs":
            state[name] = sorted(text.splitlines())  # ipvsadm -S does not keep the creation order
        else:
            state[name] = text.splitlines()
    return state


def _wipe(host, kind: str, saved: dict) -> None:
    """What a reboot does to the kernel's state (the files on disk stay)."""
    if kind == "directors":
        # a new network namespace shows the IPVS sysctls as the kernel sets them at boot
        fresh = _sysctl_values(host.check_output(f"unshare --net sysctl -a -r '{VS_SYSCTLS}'"))
        steps = [
            "ipvsadm -C",
            f"ipvsadm --set {DEFAULT_TIMEOUTS}",
            "iptables -w -t mangle -F",
            "iptables -w -t mangle -X",
            *(f"ip addr del {a} dev eth0" for a in saved["eth0"] if a.endswith(("/32", "/128"))),
            *(f"sysctl -q -w {shlex.quote(f'{k}={fresh[k]}')}" for k, v in saved["sysctls"].items()
              if k in fresh and fresh[k] != v),
        ]
    else:
        steps = [
            *(f"ip addr del {a} dev lo" for a in saved["lo"] if a not in ("127.0.0.1/8", "::1/128")),
            *(f"sysctl -q -w {k}=0" for k in saved["sysctls"]),  # the kernel's default
        ]
    host.check_output("set -e; " + "; ".join(steps))


def _exec_start(host, unit: str) -> str:
    """The command systemd runs at boot: the single ExecStart of the unit enabled in multi-user.target."""
    link = f"{WANTS}/{unit}"
    found = host.run(f'test -L {link} && grep "^ExecStart=" "$(readlink -f {link})"')
    assert found.rc == 0, f"{unit} is not enabled (no link {link}) or has no ExecStart"
    commands = [line.partition("=")[2].strip() for line in found.stdout.splitlines()]
    assert len(commands) == 1, f"{unit}: one ExecStart expected, found {commands}"
    return commands[0]


def test_boot_path_restores_the_state(host) -> None:
    groups = host.ansible.get_variables()["group_names"]
    kind = next(g for g in UNITS if g in groups)
    unit = UNITS[kind]
    command = _exec_start(host, unit)
    saved = _state(host, kind)
    _wipe(host, kind, saved)
    wiped = _state(host, kind)
    assert any(saved[k] != wiped[k] for k in saved), f"the simulated reboot changed nothing: {saved}"
    boot = host.run(f"{SYSTEMD_ENV} {command}")
    assert boot.rc == 0, f"{unit}: {command} failed (exit {boot.rc}): {boot.stdout}{boot.stderr}"
    restored = _state(host, kind)
    differs = {k: {"before reboot": saved[k], "after boot": restored[k]} for k in saved if saved[k] != restored[k]}
    assert not differs, f"{unit} ({command}) did not restore: {json.dumps(differs, indent=1)}"
