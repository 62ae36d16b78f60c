# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the role tests: run playbooks/site.yml with an example inventory against a DR lab.

Every inventory host is a network namespace of a :class:`lvslab.lab.Lab`. Ansible reaches it with the
``local`` connection and an interpreter wrapper that runs Python inside the namespace
(``ip netns exec <ns> python``), so every module acts on that host's IPVS, netfilter, sysctls and
addresses. All lab hosts share one file system, so each gets its own state, unit and certificate paths.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from lvslab import ROOT as REPO
from lvslab import bedctl
from lvslab.lab import Lab

VENV_BIN = Path(sys.executable).parent
PLAYBOOKS = REPO / "playbooks"
INVENTORIES = PLAYBOOKS / "inventories"
# The example inventories use these addresses; the tests swap in the lab's.
EXAMPLE_VIP = "192.168.0.1"
EXAMPLE_RS = ("192.168.1.2", "192.168.1.3")

_RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class PlaybookRun:
    rc: int
    out: str

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP by host: ok, changed, unreachable, failed."""
        out: dict[str, dict[str, int]] = {}
        for host, ok, changed, unreachable, failed in _RECAP.findall(self.out):
            stats = out.setdefault(host, {"ok": 0, "changed": 0, "unreachable": 0, "failed": 0})
            for key, val in (("ok", ok), ("changed", changed), ("unreachable", unreachable), ("failed", failed)):
                stats[key] += int(val)  # a serial play prints one recap line per host overall; summing is safe
        return out

    def changed(self) -> int:
        return sum(s["changed"] for s in self.recap().values())

    def failed(self) -> int:
        return sum(s["failed"] + s["unreachable"] for s in self.recap().values())


class RoleLab:
    """A DR lab (director + 2 real servers + 1 client) and a scratch directory for one inventory."""

    def __init__(self, tag: str, scratch: Path, *, ports: tuple[int, ...] = (80, 443, 22)) -> None:
        self.tag = tag
        self.scratch = scratch
        self.lab = Lab(tag, real_servers=2, clients=1, ports=ports, dr=False)
        scratch.mkdir(parents=True, exist_ok=True)
        self.tls_gen = scratch / "tls-gen"

    def __enter__(self) -> RoleLab:
        self.lab.up(servers=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lab.down()

    # -- paths of each lab host -------------------------------------------------------------
    def host_dir(self, name: str) -> Path:
        return self.scratch / name

    def interpreter(self, name: str) -> str:
        """A wrapper that runs the venv's Python inside the host's namespace."""
        path = self.scratch / f"python-{name}"
        ns = self.lab[name].ns
        inner = f'ip netns exec {ns} {VENV_BIN / "python"}'
        if bedctl.remote():
            # ansible-playbook runs on the host (lvslab.bedctl): the module goes over SSH to the bed
            inner = f"{shlex.join(bedctl.ssh_prefix())} {inner}"
        path.write_text(f'#!/bin/sh\nexec {inner} "$@"\n')
        path.chmod(0o755)
        return str(path)

    def host_vars(self, name: str) -> dict:
        base = self.host_dir(name)
        out = {
            "ansible_connection": "local",
            "ansible_become": False,
            "ansible_python_interpreter": self.interpreter(name),
            "ansible_module_compression": "ZIP_STORED",  # no deflate per module under emulation
        }
        if name == "director":
            out.update(director_state_dir=str(base / "lvs-ipvs"), director_systemd_unit_dir=str(base / "systemd"))
        else:
            out.update(
                real_server_sysctl_file=str(base / "sysctl.d" / "90-lvs-ipvs-real-server.conf"),
                real_server_state_dir=str(base / "lvs-ipvs-real-server"),
                real_server_systemd_unit_dir=str(base / "systemd"),
                real_server_tls_generate_dir=str(self.tls_gen),
                real_server_tls_cert_path=str(base / "ssl" / "certs" / "shop.crt"),
                real_server_tls_key_path=str(base / "ssl" / "private" / "shop.key"),
            )
            (base / "sysctl.d").mkdir(parents=True, exist_ok=True)
        return out

    # -- inventories --------------------------------------------------------------------------
    def localize(self, text: str) -> str:
        """An example inventory's text with the lab's addresses."""
        text = text.replace(EXAMPLE_VIP, self.lab.vip)
        for example, rs in zip(EXAMPLE_RS, self.lab.rs, strict=True):
            text = text.replace(example, rs.ip)
        return text

    def hosts(self, example: str, *, edit=None) -> dict[str, dict[str, dict]]:
        """The example inventory ``example`` (ppc, pcc, fwmark) for this lab, flattened to host variables.

        Returns ``{"directors": {host: vars}, "real_servers": {host: vars}}`` with host names prefixed by
        ``example``, so that several labs can be driven by one ansible-playbook run.
        ``edit(vars)`` may change the inventory's variables first.
        """
        data = yaml.safe_load(self.localize((INVENTORIES / f"{example}.yml").read_text()))
        common = data["all"]["vars"]
        if edit is not None:
            edit(common)
        return {
            "directors": {f"{example}-director": {**common, **self.host_vars("director")}},
            "real_servers": {f"{example}-rs{i}": {**common, **self.host_vars(f"rs{i}")} for i in (1, 2)},
        }

    def inventory(self, example: str, *, edit=None, name: str | None = None) -> Path:
        """A one-lab inventory file (see :meth:`hosts`)."""
        return write_inventory(self.scratch / f"{name or example}.yml", [self.hosts(example, edit=edit)])

    def env(self, collections: tuple[Path, ...] = ()) -> dict[str, str]:
        env = dict(os.environ)
        tmp = self.scratch / "ansible"
        env.update(
            ANSIBLE_COLLECTIONS_PATH=":".join(str(p) for p in (*collections, REPO / ".cache" / "collections")),
            ANSIBLE_HOME=str(tmp / "home"),
            ANSIBLE_LOCAL_TEMP=str(tmp / "local"),
            ANSIBLE_REMOTE_TMP=str(tmp / "remote"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_PIPELINING="1",  # fewer file copies per task: Python is slow under emulation
            ANSIBLE_FORKS="10",  # the three labs' nine hosts in one wave per task, not two
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_DEPRECATION_WARNINGS="0",
            PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        )
        return env

    def playbook(self, inventory: Path, *args: str, playbook: str | None = None,
                 collections: tuple[Path, ...] = ()) -> PlaybookRun:
        """Run ansible-playbook (site.yml unless ``playbook``, a path or a collection playbook's FQCN)."""
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), playbook or str(PLAYBOOKS / "site.yml"), *args]
        # The output goes to a log file as it comes (follow it from the host in bin/bed's --out
        # directory; ansible-playbook's own output, with per-task times) and is read back for the checks.
        self._runs = getattr(self, "_runs", 0) + 1
        log = self.scratch / f"ansible-playbook-{self._runs}.log"
        env = self.env(collections)
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        proc = bedctl.run(cmd, env=env, cwd=self.scratch, log=log)
        return PlaybookRun(proc.returncode, f"$ {' '.join(cmd)}\n{proc.stdout}")

    # -- views of the state, from independent tools -------------------------------------------
    def director_state(self) -> dict[str, object]:
        d = self.lab.director
        return {
            "ipvs": sorted(line for line in d.run("ipvsadm -Sn").splitlines() if line.strip()),
            "mangle": sorted(line for line in d.run("iptables -w -t mangle -S").splitlines() if line.startswith("-A")),
            "timeouts": d.run("ipvsadm -Ln --timeout").strip(),
            "sysctls": d.run("sysctl net.ipv4.vs.expire_quiescent_template net.ipv4.vs.expire_nodest_conn "
                             "net.ipv4.vs.conn_reuse_mode").strip(),
            "addr": sorted(re.findall(r"inet6? (\S+)", d.run("ip addr show dev eth0"))),
        }

    def rs_state(self, name: str) -> dict[str, object]:
        h = self.lab[name]
        return {
            "sysctls": h.run("sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce "
                             "net.ipv4.conf.eth0.arp_ignore net.ipv4.conf.eth0.arp_announce").strip(),
            "lo": sorted(re.findall(r"inet6? (\S+)", h.run("ip addr show dev lo"))),
        }


def write_inventory(path: Path, parts: list[dict[str, dict[str, dict]]]) -> Path:
    """Write an inventory with the groups directors and real_servers made of ``parts``."""
    groups: dict[str, dict] = {"directors": {}, "real_servers": {}}
    for part in parts:
        for group, hosts in part.items():
            groups[group].update(hosts)
    data = {"all": {"children": {g: {"hosts": h} for g, h in groups.items()}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def strip_comment(rule: str) -> str:
    """An ``iptables -S`` rule without its comment match (hand-typed seeds have none)."""
    return re.sub(r' -m comment --comment ("[^"]*"|\S+)', "", rule)


def seed_state(make_netns, commands: list[str]) -> dict[str, list[str]]:
    """``ipvsadm -Sn`` and mangle rules after typing the seed commands by hand in a fresh namespace."""
    ns = make_netns("seed")
    for cmd in commands:
        ns.run(cmd)
    return {
        "ipvs": ns.ipvsadm_save(),
        "mangle": sorted(line for line in ns.run("iptables -w -t mangle -S").splitlines() if line.startswith("-A")),
        "timeouts": ns.ipvsadm_timeouts(),
    }
