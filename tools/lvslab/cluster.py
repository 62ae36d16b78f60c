# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab as a fleet: a :class:`lab.Lab` with sshd everywhere, configured by playbooks/site.yml over SSH.

It builds nothing of its own: the Lab (``ssh=True, dr=False``) gives the namespaces, sshd and the
controller's leg; this adds an inventory (``<lab dir>/inventory.yml``) with the connection settings,
per-host file paths (the hosts share one file system) and the variables of the chosen cases of
``playbooks/lab/cases.yml``, runs site.yml against it, and starts the web service on every real
server with the certificate the real_server role installed there. Each case has a VIP of its own,
so any set of cases is configured by one site.yml run and tested independently. Used by bin/demo,
tests/e2e and bin/lab (:func:`cli`: ``bin/lab up [--mode MODE] [--no-configure] | status | down``);
:func:`verdict` says whether answers show the persistence a case promises.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import yaml

from lvslab import COLLECTIONS, ROOT, VENV_BIN, bedctl
from lvslab.lab import Answer, Lab, log

CASES_FILE = ROOT / "playbooks" / "lab" / "cases.yml"
SITE = ROOT / "playbooks" / "site.yml"
PLAIN_PORTS = (80, 23, 8080)
TLS_PORTS = (443,)


def load_cases() -> dict:
    """playbooks/lab/cases.yml: the lab's persistence cases and which modes show which cases."""
    return yaml.safe_load(CASES_FILE.read_text())


def mode_cases(mode: str) -> list[str]:
    modes = load_cases()["modes"]
    if mode not in modes:
        raise SystemExit(f"unknown mode {mode!r}: choose one of {', '.join(modes)}")
    return list(modes[mode])


class SiteLab(Lab):
    """``up()`` builds the lab and writes the inventory, ``configure()`` runs site.yml, ``down()`` removes all."""

    def __init__(self, cases: list[str], *, tag: str = "lvslab", subnet: int = 77, real_servers: int = 2,
                 directory: str | Path | None = None, boot_persistence: bool = True) -> None:
        super().__init__(tag, real_servers=real_servers, clients=2, ports=PLAIN_PORTS, tls_ports=TLS_PORTS,
                         subnet=subnet, dr=False, ssh=True, directory=directory)
        self.boot_persistence = boot_persistence  # the roles' *_boot_persistence
        self.all_cases = load_cases()
        unknown = [c for c in cases if c not in self.all_cases["cases"]]
        if unknown:
            raise SystemExit(f"unknown lab case(s) {unknown}: see {CASES_FILE}")
        self.case_names = cases
        self.inventory = self.dir / "inventory.yml"

    def case(self, name: str) -> dict:
        return self.all_cases["cases"][name]

    def vip_of(self, case: str) -> str:
        return f"{self.net}.{self.case(case)['vip']}"

    def host_dir(self, name: str) -> Path:
        """Per-host files: the hosts are namespaces sharing one file system."""
        return self.dir / "hosts" / name

    def cert_path(self, rs: str) -> Path:
        return self.host_dir(rs) / "tls" / "lab.crt"

    def key_path(self, rs: str) -> Path:
        return self.host_dir(rs) / "tls" / "lab.key"

    def up(self, *, servers: bool = False) -> SiteLab:
        super().up(servers=servers)
        for sub in ("remote-tmp", "ansible-local", "tls", *(f"hosts/{n}" for n in self.hosts)):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._write_inventory()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- inventory and configuration ---------------------------------------------------------
    def _write_inventory(self) -> None:
        python = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
        conn = {
            "ansible_user": "root",
            "ansible_ssh_common_args": f"-F {self.ssh_config}",
            # one SSH login per host for the whole run
            "ansible_ssh_args": "-o ControlMaster=auto -o ControlPersist=30m",
            "ansible_ssh_timeout": 60,
            "ansible_ssh_private_key_file": str(self.dir / "id_ed25519"),
            "ansible_python_interpreter": python,
            "ansible_remote_tmp": str(self.dir / "remote-tmp"),
            "ansible_pipelining": True,
            "ansible_become": False,  # we log in as root: no sudo (and no PAM session per task)
        }
        hosts = {name: {"ansible_host": self.hosts[name].ip} for name in self.hosts}
        hosts["director"].update(self.director_vars())
        for name in self.real_servers:
            hosts[name].update(self.real_server_vars(name))
        groups = {"directors": ["director"], "real_servers": self.real_servers, "clients": self.clients}
        inv = {"all": {"vars": conn, "children": {g: {"hosts": {n: hosts[n] for n in names}}
                                                  for g, names in groups.items()}}}
        head = f"# generated by tools/lvslab/cluster.py: lab {self.tag}, cases {', '.join(self.case_names)}\n"
        self.inventory.write_text(head + yaml.safe_dump(inv, sort_keys=False, default_flow_style=False))

    def director_vars(self) -> dict:
        """The director role's variables for the chosen cases (see playbooks/lab/cases.yml)."""
        services, timeouts = [], {}
        for name in self.case_names:
            for spec in self.case(name)["services"]:
                svc = {**spec, "vip": self.vip_of(name)}
                weights = svc.pop("weights", {})
                svc["real_servers"] = [{"address": self.hosts[rs].ip, "weight": weights.get(rs, 1), "forwarding": "dr"}
                                       for rs in self.real_servers]
                services.append(svc)
            timeouts.update(self.case(name).get("timeouts", {}))
        hd = self.host_dir("director")
        out = {"director_interface": "eth0", "director_services": services,
               "director_state_dir": str(hd / "state"), "director_systemd_unit_dir": str(hd / "systemd")}
        if timeouts:
            out["director_timeouts"] = timeouts
        return {**out, "director_boot_persistence": self.boot_persistence}

    def real_server_vars(self, name: str) -> dict:
        hd = self.host_dir(name)
        vips = [self.vip_of(c) for c in self.case_names]
        return {
            "real_server_vips": vips,
            "real_server_interface": "eth0",
            "real_server_sysctl_file": str(hd / "sysctl.conf"),
            "real_server_state_dir": str(hd / "state"),
            "real_server_systemd_unit_dir": str(hd / "systemd"),
            "real_server_tls": True,
            "real_server_tls_common_name": "shop.lab.example",
            "real_server_tls_subject_alt_names": ["DNS:shop.lab.example", *(f"IP:{v}" for v in vips)],
            "real_server_tls_generate_dir": str(self.dir / "tls"),
            "real_server_tls_cert_path": str(self.cert_path(name)),
            "real_server_tls_key_path": str(self.key_path(name)),
            "real_server_boot_persistence": self.boot_persistence,
        }

    def ansible(self, *args: str, stream: bool = False):
        """Run an ansible command (``ansible``, ``ansible-playbook``...) against the lab inventory."""
        exe = str(VENV_BIN / args[0]) if (VENV_BIN / args[0]).exists() else args[0]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
                   ANSIBLE_SSH_CONTROL_PATH_DIR=str(self.dir / "cp"),
                   ANSIBLE_LOCAL_TEMP=str(self.dir / "ansible-local"), ANSIBLE_HOME=str(self.dir / "ansible-home"),
                   ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_HOST_KEY_CHECKING="1", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORKS="10", ANSIBLE_PIPELINING="1")
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        # On the controller side (the host, from the UML bed: lvslab.bedctl), output to a file as it comes.
        return bedctl.run([exe, "-i", str(self.inventory), *args[1:]], env=env, cwd=ROOT, stream=stream,
                          log=self.dir / "ansible.log")

    def configure(self, *, stream: bool = True) -> None:
        """Configure director and real servers (site.yml over SSH), then start the web services."""
        log(f"ansible-playbook playbooks/site.yml over SSH (inventory {self.inventory})")
        start = time.monotonic()
        proc = self.ansible("ansible-playbook", str(SITE), stream=stream)
        if proc.returncode != 0:
            raise RuntimeError(f"ansible-playbook playbooks/site.yml failed (exit {proc.returncode})"
                               + ("" if stream else f"\n{proc.stdout}{proc.stderr}"))
        log(f"site.yml done in {time.monotonic() - start:.0f} s")
        missing = [p for rs in self.real_servers for p in (self.cert_path(rs), self.key_path(rs)) if not p.exists()]
        if missing:
            raise RuntimeError(f"no TLS certificate/key installed by the real_server role at {missing}")
        self.start_servers({rs: (self.cert_path(rs), self.key_path(rs)) for rs in self.real_servers})
        log(f"web service up on {', '.join(self.real_servers)}: ports {PLAIN_PORTS} and TLS {TLS_PORTS}")


    @contextlib.contextmanager
    def configured(self) -> Iterator[SiteLab]:
        """The lab up and configured (a test session's fixture); removed afterwards, failing if any of it is left."""
        subprocess.run(["modprobe", "ip_vs"], capture_output=True, check=False)
        if os.geteuid() != 0 or not Path("/proc/net/ip_vs").exists():
            raise RuntimeError(f"the {self.tag} lab needs root and a kernel with IPVS: run it in the bed (bin/test)")
        try:
            self.up()
            self.configure(stream=False)
            yield self
        finally:
            self.down()
            left = self.leftovers()
            assert not left, f"the lab left things behind: {left}"

# -- tables and verdicts ---------------------------------------------------------------------
def table(answers: list[Answer]) -> str:
    lines = [f"  {'#':>3}  {'client':<8} {'port':>5}  real server", f"  {'-' * 3}  {'-' * 8} {'-' * 5}  {'-' * 11}"]
    lines += [f"  {a.n:>3}  {a.client:<8} {a.port:>5}  {a.server}" for a in answers]
    return "\n".join(lines)


def _by(answers: list[Answer], key) -> dict:
    out: dict = {}
    for a in answers:
        out.setdefault(key(a), []).append(a)
    return out


def _stuck(answers: list[Answer]) -> str | None:
    """The server all these answers came from (None if several, or a failure)."""
    servers = {a.server for a in answers}
    return servers.pop() if len(servers) == 1 and all(a.ok for a in answers) else None


def _ports(ports: list[int]) -> str:
    ps = [str(p) for p in sorted(set(ports))]
    return ps[0] if len(ps) == 1 else ", ".join(ps[:-1]) + " and " + ps[-1]


def verdict(kind: str, title: str, answers: list[Answer]) -> tuple[bool, str]:
    """One line saying whether the answers show the persistence ``kind`` (client, fwmark, port, none) promises."""
    parts, ok = [], True
    if kind in ("client", "fwmark"):  # every request of a client, on every port of the group, to one real server
        for client, mine in _by(answers, lambda a: a.client).items():
            server, n, ports = _stuck(mine), len(mine), _ports([a.port for a in mine])
            if server:
                parts.append(f"{client} stuck to {server} for {n}/{n} requests on {ports}")
            else:
                ok = False
                spread = ", ".join(f"{s} x{c}" for s, c in Counter(a.server for a in mine).items())
                parts.append(f"{client} NOT stuck on {ports}: {spread}")
    elif kind == "port":  # per client and port one real server; ports of one client may differ
        for client, mine in _by(answers, lambda a: a.client).items():
            per = []
            for port, theirs in _by(mine, lambda a: a.port).items():
                server = _stuck(theirs)
                ok = ok and server is not None
                per.append(f"{port}->{server} {len(theirs)}/{len(theirs)}" if server else
                           f"{port} NOT stuck (" + ", ".join(sorted({a.server for a in theirs})) + ")")
            parts.append(f"{client}: " + ", ".join(per))
        parts.append("each port sticks on its own")
    elif kind == "none":
        counts = Counter(a.server for a in answers)
        ok = all(a.ok for a in answers) and len(counts) > 1
        spread = ", ".join(f"{s} ({c})" for s, c in sorted(counts.items()))
        parts.append(f"{len(answers)} requests spread over {spread}")
    else:
        raise ValueError(kind)
    return ok, f"{title}: {'PASS' if ok else 'FAIL'} - " + "; ".join(parts)


def cli() -> int:
    """bin/lab up|status|down (root; ``up`` configures with site.yml, which needs a kernel with IPVS: run it in
    the bed, ``bin/bed run -- sh -c 'bin/lab up && ... ; bin/lab down'``, or use bin/demo)."""
    parser = argparse.ArgumentParser(prog="lab", description=cli.__doc__)
    parser.add_argument("--tag", default="lvslab",
                        help="name prefix of the lab's namespaces (default %(default)s)")
    sub = parser.add_subparsers(dest="verb", required=True)
    p_up = sub.add_parser("up", help="build the lab and configure it with site.yml")
    p_up.add_argument("--mode", default="fwmark", help="which cases to configure (default %(default)s)")
    p_up.add_argument("--no-configure", action="store_true", help="network, sshd and inventory only")
    sub.add_parser("status", help="what of the lab exists")
    sub.add_parser("down", help="remove the lab")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bin/lab: needs root (network namespaces)", file=sys.stderr)
        return 2

    if args.verb == "up":
        the_lab = SiteLab(mode_cases(args.mode), tag=args.tag)
        the_lab.up()
        try:
            if not args.no_configure:
                the_lab.configure()
        except BaseException:
            the_lab.down()
            raise
        print(f"lab {args.tag} is up (mode {args.mode}: {', '.join(the_lab.case_names)})")
        for name, host in the_lab.hosts.items():
            print(f"  {name:<9} {host.ip:<14} ip netns exec {host.ns} ...   ssh -F {the_lab.ssh_config} {host.ip}")
        for case in the_lab.case_names:
            print(f"  VIP {the_lab.vip_of(case):<14} {the_lab.case(case)['title']}")
        print(f"  inventory: {the_lab.inventory}")
        return 0
    the_lab = SiteLab([], tag=args.tag)
    if args.verb == "down":
        the_lab.down()
        return 0 if not the_lab.leftovers() else 1
    left = the_lab.leftovers()
    if not left:
        print(f"lab {args.tag}: nothing exists")
        return 0
    print(f"lab {args.tag}:")
    for item in left:
        print(f"  {item}")
    if any(item == f"namespace {the_lab.director.ns}" for item in left):
        print(the_lab.director.run("ipvsadm -Ln 2>&1; iptables -t mangle -S PREROUTING 2>&1", check=False))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
