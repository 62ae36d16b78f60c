# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH lab: an LVS-DR cluster of network namespaces that the collection configures over SSH.

Built on drlab.py (namespaces on a bridge), with:

* sshd in every namespace (director, real servers, clients), listening on that namespace's
  address only, root login by key only, host key / client key / known_hosts generated into the
  lab directory (``/tmp/lvs-lab-<tag>`` unless told);
* a leg of the root namespace on the lab bridge (``<tag>-ctl``, address .1), from where
  ``ansible-playbook`` reaches every sshd, as it would reach a fleet;
* a generated inventory (``<lab dir>/inventory.yml``) with the connection settings, per-host
  file paths (the hosts share one file system) and the variables of the chosen cases, read from
  ``playbooks/lab/cases.yml``;
* ``playbooks/site.yml`` run against it; then the web service of labserver.py on every
  real server, answering its name on 80, 23 and 8080, and on 443 over TLS with the certificate
  the real_server role installed on that host.

Each case of cases.yml has a VIP of its own, so any set of cases can be configured at once and
be tested independently (one site.yml run for all of them).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from lvslab import ROOT, bedctl
from lvslab.drlab import LABSERVER, DrLab, LabHost

CASES_FILE = ROOT / "playbooks" / "lab" / "cases.yml"
SITE = ROOT / "playbooks" / "site.yml"
VENV_BIN = ROOT / ".cache" / "venv" / "bin"
LABCLIENT = Path(__file__).with_name("labclient.py")
PLAIN_PORTS = (80, 23, 8080)
TLS_PORTS = (443,)
DEFAULT_TAG = "lvslab"
DEFAULT_SUBNET = 77


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def _run(args: list[str], *, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {shlex.join(args)}\n{proc.stdout}{proc.stderr}")
    return proc


def load_cases() -> dict:
    """playbooks/lab/cases.yml: the lab's persistence cases and which modes show which cases."""
    return yaml.safe_load(CASES_FILE.read_text())


def mode_cases(mode: str) -> list[str]:
    modes = load_cases()["modes"]
    if mode not in modes:
        raise SystemExit(f"unknown mode {mode!r}: choose one of {', '.join(modes)}")
    return list(modes[mode])


@dataclass
class Answer:
    """One request of a client and who answered it."""

    n: int
    client: str
    port: int
    server: str

    @property
    def ok(self) -> bool:
        return re.fullmatch(r"rs\d+", self.server) is not None


class SshLab:
    """The lab. ``up()`` builds the network and sshd, ``configure()`` runs site.yml, ``down()`` removes all."""

    def __init__(self, cases: list[str], *, tag: str = DEFAULT_TAG, subnet: int = DEFAULT_SUBNET,
                 directory: str | Path | None = None, config: str | None = None) -> None:
        self.tag = tag
        self.all_cases = load_cases()
        self.case_names = cases
        unknown = [c for c in cases if c not in self.all_cases["cases"]]
        if unknown:
            raise SystemExit(f"unknown lab case(s) {unknown}: see {CASES_FILE}")
        self.dr = DrLab(tag, real_servers=2, clients=2, ports=PLAIN_PORTS, subnet=subnet, configure_dr=False)
        self.net = f"10.77.{subnet}"
        # In the bed, under $BED_OUT: the controller side (lvslab.bedctl) reads the same files.
        bed_out = os.environ.get("BED_OUT")
        default_dir = Path(bed_out) / f"lab-{tag}" if bed_out else Path(f"/tmp/lvs-lab-{tag}")
        self.dir = Path(directory or os.environ.get("LVS_LAB_DIR") or default_dir)
        self.ctl_if = f"{tag}-ctl"
        self.ctl_ip = f"{self.net}.1"
        # site: playbooks/site.yml over SSH (the real thing). standin: plain ipvsadm/iptables in
        # the namespaces, only for developing the lab while the roles did not exist.
        self.config = config or os.environ.get("LVS_LAB_CONFIG", "site")
        self.inventory = self.dir / "inventory.yml"
        self.ssh_config = self.dir / "ssh_config"

    # -- addresses ---------------------------------------------------------------------------
    def case(self, name: str) -> dict:
        return self.all_cases["cases"][name]

    def vip(self, case: str) -> str:
        return f"{self.net}.{self.case(case)['vip']}"

    @property
    def hosts(self) -> dict[str, LabHost]:
        return self.dr.hosts

    @property
    def director(self) -> LabHost:
        return self.dr.director

    @property
    def real_servers(self) -> list[str]:
        return [n for n, h in self.hosts.items() if h.role == "real_server"]

    @property
    def clients(self) -> list[str]:
        return [n for n, h in self.hosts.items() if h.role == "client"]

    def host_dir(self, name: str) -> Path:
        """Per-host files: the hosts are namespaces sharing one file system."""
        return self.dir / "hosts" / name

    def cert_path(self, rs: str) -> Path:
        return self.host_dir(rs) / "tls" / "lab.crt"

    def key_path(self, rs: str) -> Path:
        return self.host_dir(rs) / "tls" / "lab.key"

    # -- life cycle --------------------------------------------------------------------------
    def up(self) -> SshLab:
        """Network, DR-less namespaces, controller leg, keys, sshd everywhere, inventory."""
        self.down(quiet=True)
        try:
            log(f"building namespaces {self.tag}-* on a bridge, subnet {self.net}.0/24")
            self.dr.up(servers=False)
            self._controller_leg()
            self._route_to_controller()
            self._keys()
            self._sshd()
            self._write_inventory()
        except BaseException:
            self.down(quiet=True)
            raise
        return self

    def _controller_leg(self) -> None:
        _run(["ip", "link", "add", self.ctl_if, "type", "veth", "peer", "name", "pctl", "netns", self.dr.switch])
        _run(["ip", "-n", self.dr.switch, "link", "set", "pctl", "master", "br0", "up"])
        _run(["ip", "addr", "add", f"{self.ctl_ip}/24", "dev", self.ctl_if])
        _run(["ip", "link", "set", self.ctl_if, "up"])

    def _route_to_controller(self) -> None:
        """When the controller runs on the far side of the bed's link, every host routes back to it."""
        link = bedctl.controller_network()
        if link:
            for host in self.hosts.values():
                _run(["ip", "-n", host.ns, "route", "replace", link, "via", self.ctl_ip])

    def _keys(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        for sub in ("cp", "remote-tmp", "ansible-local", "tls", "hosts"):
            (self.dir / sub).mkdir(exist_ok=True)
        for name in self.hosts:
            self.host_dir(name).mkdir(parents=True, exist_ok=True)
        for key, comment in (("host_key", "host"), ("id_ed25519", "controller")):
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.tag}-{comment}",
                  "-f", str(self.dir / key)])
        shutil.copy(self.dir / "id_ed25519.pub", self.dir / "authorized_keys")
        hostkey = (self.dir / "host_key.pub").read_text().split()
        (self.dir / "known_hosts").write_text(
            "".join(f"{h.ip} {hostkey[0]} {hostkey[1]}\n" for h in self.hosts.values()))
        self.ssh_config.write_text(f"""# generated by tools/lvslab/lab.py for the lab {self.tag}
Host {self.net}.*
  User root
  IdentityFile {self.dir}/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile {self.dir}/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 60
  KexAlgorithms curve25519-sha256
""")
        (self.dir / "sshd_config").write_text(f"""# generated by tools/lvslab/lab.py for the lab {self.tag}
Port 22
HostKey {self.dir}/host_key
AuthorizedKeysFile {self.dir}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
KexAlgorithms curve25519-sha256
PrintMotd no
PrintLastLog no
MaxStartups 64
MaxSessions 64
LogLevel ERROR
Subsystem sftp internal-sftp
""")

    def _sshd(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        shadow = self._unlocked_shadow()
        for name, host in self.hosts.items():
            sshd = ["/usr/sbin/sshd", "-f", str(self.dir / "sshd_config"),
                    "-o", f"ListenAddress={host.ip}", "-o", f"PidFile={self.dir}/sshd-{name}.pid",
                    "-E", str(self.dir / f"sshd-{name}.log")]
            if shadow:
                sshd = ["unshare", "-m", "sh", "-c",
                        f"mount --bind {shadow} /etc/shadow && exec {shlex.join(sshd)}"]
            _run(["ip", "netns", "exec", host.ns, *sshd])
        deadline = time.monotonic() + 60
        for host in self.hosts.values():
            while f"{host.ip}:22 " not in host.run("ss -Htln", check=False):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sshd in {host.ns} did not listen on {host.ip}:22 within 60 s")
                time.sleep(0.2)
        log(f"sshd listening in {len(self.hosts)} namespaces; controller leg {self.ctl_if} {self.ctl_ip}/24")

    def _unlocked_shadow(self) -> Path | None:
        """A copy of /etc/shadow with root unlocked (``!`` -> ``*``, still no password), if root is locked.

        sshd without PAM (a login costs ~4 s under emulation, ~20 s with PAM) refuses key logins to
        a locked account, and the test VM's root is locked. The copy is bind-mounted over
        /etc/shadow only in a private mount namespace of the lab's sshd processes: the system's
        file is never touched, and the mount goes with the last sshd.
        """
        lines = Path("/etc/shadow").read_text().splitlines(keepends=True)
        out, changed = [], False
        for line in lines:
            fields = line.split(":")
            if fields[0] == "root" and len(fields) > 1 and fields[1].startswith("!"):
                fields[1] = "*"
                changed = True
            out.append(":".join(fields))
        if not changed:
            return None
        copy = self.dir / "shadow"
        copy.touch(mode=0o600)
        copy.write_text("".join(out))
        return copy

    def down(self, *, quiet: bool = False) -> None:
        """Remove everything: processes in the namespaces, namespaces, the controller leg, the lab directory."""
        self.dr.down()
        # The controller's persistent SSH masters (ControlPath in the lab directory) live in this
        # namespace: end them, so that no process of the lab is left.
        for sock in (self.dir / "cp").glob("*") if (self.dir / "cp").exists() else []:
            exit_master = ["ssh", "-F", str(self.ssh_config), "-o", f"ControlPath={sock}", "-O", "exit", "lab"]
            if bedctl.remote():
                bedctl.run(exit_master)
            else:
                _run(exit_master, check=False, timeout=30)
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("ssh: ") and str(self.dir / "cp") in cmd:
                _run(["kill", proc.name], check=False)
        _run(["ip", "link", "del", self.ctl_if], check=False)
        # Namespaces of this tag made by another process (bin/lab up, then bin/lab down).
        for ns in _run(["ip", "netns", "list"], check=False).stdout.split("\n"):
            name = ns.split(" ")[0]
            if name.startswith(f"{self.tag}-"):
                pids = _run(["ip", "netns", "pids", name], check=False).stdout.split()
                if pids:
                    _run(["kill", "-9", *pids], check=False)
                _run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(Path("/tmp") / f"{self.tag}-ready", ignore_errors=True)
        if not quiet:
            left = self.leftovers()
            if left:
                log("NOT CLEAN after down: " + "; ".join(left))
            else:
                log(f"down: no namespace, link, process, mount or directory of {self.tag} left")

    def leftovers(self) -> list[str]:
        """What of this lab still exists (empty when the lab is gone)."""
        left = []
        ns = [n.split(" ")[0] for n in _run(["ip", "netns", "list"], check=False).stdout.splitlines()]
        left += [f"namespace {n}" for n in ns if n.startswith(f"{self.tag}-")]
        if _run(["ip", "link", "show", self.ctl_if], check=False).returncode == 0:
            left.append(f"link {self.ctl_if}")
        for line in Path("/proc/mounts").read_text().splitlines():
            if f"/{self.tag}-" in line:
                left.append(f"mount {line.split()[1]}")
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(self.dir) in cmd or (str(LABSERVER) in cmd and "--ready" in cmd and f"{self.tag}-ready" in cmd):
                left.append(f"process {proc.name} ({cmd.strip()[:60]})")
        if self.dir.exists():
            left.append(f"directory {self.dir}")
        return left

    def __enter__(self) -> SshLab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- inventory and configuration ---------------------------------------------------------
    def _write_inventory(self) -> None:
        python = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
        conn = {
            "ansible_user": "root",
            "ansible_ssh_common_args": f"-F {self.ssh_config}",
            # one SSH login per host for the whole run (a login costs seconds under emulation)
            "ansible_ssh_args": "-o ControlMaster=auto -o ControlPersist=30m",
            "ansible_ssh_timeout": 60,
            "ansible_ssh_private_key_file": str(self.dir / "id_ed25519"),
            "ansible_python_interpreter": python,
            "ansible_remote_tmp": str(self.dir / "remote-tmp"),
            "ansible_pipelining": True,
            # we log in as root: no sudo (and no PAM session per task)
            "ansible_become": False,
        }
        director = {"ansible_host": self.director.ip}
        director.update(self.director_vars())
        rss = {}
        for name in self.real_servers:
            rss[name] = {"ansible_host": self.hosts[name].ip}
            rss[name].update(self.real_server_vars(name))
        inv = {
            "all": {
                "vars": conn,
                "children": {
                    "directors": {"hosts": {"director": director}},
                    "real_servers": {"hosts": rss},
                    "clients": {"hosts": {c: {"ansible_host": self.hosts[c].ip} for c in self.clients}},
                },
            }
        }
        head = f"# generated by tools/lvslab/lab.py: lab {self.tag}, cases {', '.join(self.case_names)}\n"
        self.inventory.write_text(head + yaml.safe_dump(inv, sort_keys=False, default_flow_style=False))

    def director_vars(self) -> dict:
        """The director role's variables for the chosen cases (see playbooks/lab/cases.yml)."""
        services = []
        timeouts: dict = {}
        for name in self.case_names:
            case = self.case(name)
            for spec in case["services"]:
                svc = dict(spec)
                svc["vip"] = self.vip(name)
                weights = svc.pop("weights", {})
                svc["real_servers"] = [
                    {"address": self.hosts[rs].ip, "weight": weights.get(rs, 1), "forwarding": "dr"}
                    for rs in self.real_servers
                ]
                services.append(svc)
            timeouts.update(case.get("timeouts", {}))
        hd = self.host_dir("director")
        out = {
            "director_interface": "eth0",
            "director_services": services,
            "director_state_dir": str(hd / "state"),
            "director_systemd_unit_dir": str(hd / "systemd"),
        }
        if timeouts:
            out["director_timeouts"] = timeouts
        return out

    def real_server_vars(self, name: str) -> dict:
        hd = self.host_dir(name)
        return {
            "real_server_vips": [self.vip(c) for c in self.case_names],
            "real_server_interface": "eth0",
            "real_server_sysctl_file": str(hd / "sysctl.conf"),
            "real_server_state_dir": str(hd / "state"),
            "real_server_systemd_unit_dir": str(hd / "systemd"),
            "real_server_tls": True,
            "real_server_tls_common_name": "shop.lab.example",
            "real_server_tls_subject_alt_names": ["DNS:shop.lab.example",
                                                  *(f"IP:{self.vip(c)}" for c in self.case_names)],
            "real_server_tls_generate_dir": str(self.dir / "tls"),
            "real_server_tls_cert_path": str(self.cert_path(name)),
            "real_server_tls_key_path": str(self.key_path(name)),
        }

    def ansible_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.dir / "cp"),
            "ANSIBLE_LOCAL_TEMP": str(self.dir / "ansible-local"),
            "ANSIBLE_HOME": str(self.dir / "ansible-home"),
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "1",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORKS": "10",
            "ANSIBLE_PIPELINING": "1",
        })
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def ansible(self, *args: str, stream: bool = False) -> subprocess.CompletedProcess:
        """Run an ansible command (``ansible``, ``ansible-playbook``...) against the lab inventory."""
        exe = str(VENV_BIN / args[0]) if (VENV_BIN / args[0]).exists() else args[0]
        cmd = [exe, "-i", str(self.inventory), *args[1:]]
        # On the controller side (the host, from the UML bed: lvslab.bedctl), output to a file
        # as it comes, and to the terminal too when streaming.
        return bedctl.run(cmd, env=self.ansible_env(), cwd=ROOT, stream=stream, log=self.dir / "ansible.log")

    def configure(self, *, stream: bool = True) -> None:
        """Configure director and real servers (site.yml over SSH), then start the web services."""
        if self.config == "site":
            if not SITE.exists():
                raise RuntimeError(f"{SITE} does not exist (yet): the lab cannot be configured by the collection")
            log(f"ansible-playbook playbooks/site.yml over SSH (inventory {self.inventory})")
            start = time.monotonic()
            proc = self.ansible("ansible-playbook", str(SITE), stream=stream)
            if proc.returncode != 0:
                raise RuntimeError(f"ansible-playbook playbooks/site.yml failed (exit {proc.returncode})"
                                   + ("" if stream else f"\n{proc.stdout}{proc.stderr}"))
            log(f"site.yml done in {time.monotonic() - start:.0f} s")
        elif self.config == "standin":
            log("STAND-IN configuration (ipvsadm/iptables in the namespaces), not site.yml")
            self._standin()
        else:
            raise SystemExit(f"LVS_LAB_CONFIG must be site or standin, not {self.config!r}")
        sabotage = os.environ.get("LVS_LAB_SABOTAGE")
        if sabotage:
            log(f"LVS_LAB_SABOTAGE: breaking the director on purpose: {sabotage}")
            self.director.run(sabotage, check=False)
        self.start_servers()

    def _standin(self) -> None:
        d = self.director
        d.run("modprobe ip_vs; modprobe ip_vs_rr; modprobe ip_vs_wrr; true")
        tcpfin = 0
        for name in self.case_names:
            vip = self.vip(name)
            d.run(f"ip addr add {vip}/32 dev eth0")
            for svc in self.case(name)["services"]:
                opts = f"-s {svc.get('scheduler', 'wlc')}"
                port = svc["ports"][0]
                if svc.get("persistence_timeout"):
                    opts += f" -p {svc['persistence_timeout']}"
                if svc.get("persistence_netmask"):
                    opts += f" -M {svc['persistence_netmask']}"
                if "fwmark" in svc:
                    ports = ",".join(map(str, svc["ports"]))
                    d.run(f"iptables -t mangle -A PREROUTING -d {vip}/32 -p tcp -m multiport --dports {ports} "
                          f"-j MARK --set-mark {svc['fwmark']}")
                    key = f"-f {svc['fwmark']}"
                else:
                    key = f"-t {vip}:{port}"
                d.run(f"ipvsadm -A {key} {opts}")
                for rs in self.real_servers:
                    w = svc.get("weights", {}).get(rs, 1)
                    d.run(f"ipvsadm -a {key} -r {self.hosts[rs].ip} -g -w {w}")
            tcpfin = self.case(name).get("timeouts", {}).get("tcp_fin", tcpfin)
        if tcpfin:
            d.run(f"ipvsadm --set 0 {tcpfin} 0")
        for rs in self.real_servers:
            h = self.hosts[rs]
            for conf in ("all", "eth0"):
                h.sysctl(f"net.ipv4.conf.{conf}.arp_ignore", 1)
                h.sysctl(f"net.ipv4.conf.{conf}.arp_announce", 2)
            for name in self.case_names:
                h.run(f"ip addr add {self.vip(name)}/32 dev lo")
            self.cert_path(rs).parent.mkdir(parents=True, exist_ok=True)
            if not (self.dir / "tls" / "standin.crt").exists():
                _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-days", "2", "-subj", "/CN=shop.lab.example", "-keyout", str(self.dir / "tls" / "standin.key"),
                      "-out", str(self.dir / "tls" / "standin.crt")])
            shutil.copy(self.dir / "tls" / "standin.crt", self.cert_path(rs))
            shutil.copy(self.dir / "tls" / "standin.key", self.key_path(rs))

    def start_servers(self) -> None:
        """The web service on every real server: its name on 80, 23, 8080, and on 443 with its installed cert."""
        ready_dir = Path("/tmp") / f"{self.tag}-ready"
        ready_dir.mkdir(parents=True, exist_ok=True)
        for rs in self.real_servers:
            cert, key = self.cert_path(rs), self.key_path(rs)
            if not cert.exists() or not key.exists():
                raise RuntimeError(f"no TLS certificate/key installed on {rs} at {cert} / {key}")
            (ready_dir / rs).unlink(missing_ok=True)
            cmd = ["ip", "netns", "exec", self.hosts[rs].ns, sys.executable, str(LABSERVER), rs,
                   "--ports", ",".join(map(str, PLAIN_PORTS)), "--tls-ports", ",".join(map(str, TLS_PORTS)),
                   "--cert", str(cert), "--key", str(key), "--ready", str(ready_dir / rs)]
            self.dr._procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                   start_new_session=True))
        deadline = time.monotonic() + 120
        for rs in self.real_servers:
            while not (ready_dir / rs).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"web service on {rs} did not start within 120 s")
                time.sleep(0.2)
        log(f"web service up on {', '.join(self.real_servers)}: ports {PLAIN_PORTS} and TLS {TLS_PORTS}")

    # -- traffic and observation -------------------------------------------------------------
    def request(self, client: str, case: str, port: int, *, timeout: float = 5) -> str:
        """One real request from ``client`` to the case's VIP:port (TLS on 443); the real server that answered."""
        scheme = "https" if port in TLS_PORTS else "http"
        out = self.hosts[client].run(
            f"curl -sS -k --max-time {timeout} {scheme}://{self.vip(case)}:{port}/ 2>&1", check=False,
            timeout=timeout + 20).strip()
        return out.split(" port ")[0] if " port " in out else f"(no answer: {out or 'timeout'})"

    def requests(self, case: str, plan: list[tuple[str, int]], *, start: int = 1) -> list[Answer]:
        return [Answer(start + i, c, p, self.request(c, case, p)) for i, (c, p) in enumerate(plan)]

    def conn_templates(self) -> list[dict]:
        """Persistence templates (client port 0) of the director's /proc/net/ip_vs_conn."""
        rows = []
        for line in self.director.run("cat /proc/net/ip_vs_conn").splitlines()[1:]:
            f = line.split()
            if len(f) < 9:
                continue
            row = {"pro": f[0], "caddr": _hexip(f[1]), "cport": int(f[2], 16), "vaddr": _hexip(f[3]),
                   "vport": int(f[4], 16), "daddr": _hexip(f[5]), "dport": int(f[6], 16), "state": f[7],
                   "expires": int(f[8])}
            if row["cport"] == 0:
                rows.append(row)
        return rows

    def conn_table(self) -> str:
        """/proc/net/ip_vs_conn as the director sees it."""
        return self.director.run("cat /proc/net/ip_vs_conn")

    def server_of(self, ip: str) -> str:
        return next((n for n, h in self.hosts.items() if h.ip == ip), ip)

    def cert_sha256(self, client: str, address: str, port: int = 443) -> str:
        """SHA-256 fingerprint of the certificate served at address:port, seen from ``client``."""
        out = self.hosts[client].run(
            f"openssl s_client -connect {address}:{port} -servername shop.lab.example </dev/null 2>/dev/null"
            " | openssl x509 -noout -fingerprint -sha256", check=False)
        return out.strip().split("=", 1)[-1]

    def arp_replies(self, client: str, address: str) -> list[str]:
        """MAC addresses that answer an ARP request for ``address`` sent from ``client``'s eth0."""
        host = self.hosts[client]
        out = host.run(f"{shlex.quote(sys.executable)} {LABCLIENT} arp eth0 {host.ip} {address}", timeout=60)
        return sorted(set(out.split()))

    def mac(self, name: str) -> str:
        return self.hosts[name].run("cat /sys/class/net/eth0/address").strip()


def _hexip(h: str) -> str:
    n = int(h, 16)
    return ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))


# -- tables and verdicts ---------------------------------------------------------------------
def table(answers: list[Answer]) -> str:
    lines = [f"  {'#':>3}  {'client':<8} {'port':>5}  real server", f"  {'-' * 3}  {'-' * 8} {'-' * 5}  {'-' * 11}"]
    lines += [f"  {a.n:>3}  {a.client:<8} {a.port:>5}  {a.server}" for a in answers]
    return "\n".join(lines)


def _stuck(answers: list[Answer]) -> tuple[str | None, int]:
    """The server all these answers came from (None if several or a failure), and how many."""
    servers = Counter(a.server for a in answers)
    if len(servers) == 1 and all(a.ok for a in answers):
        return next(iter(servers)), len(answers)
    return None, len(answers)


def _by(answers: list[Answer], key) -> dict:
    out: dict = {}
    for a in answers:
        out.setdefault(key(a), []).append(a)
    return out


def _ports(ports: list[int]) -> str:
    ps = [str(p) for p in sorted(set(ports))]
    return ps[0] if len(ps) == 1 else ", ".join(ps[:-1]) + " and " + ps[-1]


def verdict(kind: str, title: str, answers: list[Answer]) -> tuple[bool, str]:
    """One line saying whether the answers show the persistence ``kind`` promises."""
    parts, ok = [], True
    if kind in ("client", "fwmark"):
        # every request of a client, on every port of the group, to one real server
        for client, mine in _by(answers, lambda a: a.client).items():
            server, n = _stuck(mine)
            ports = _ports([a.port for a in mine])
            if server:
                parts.append(f"{client} stuck to {server} for {n}/{n} requests on {ports}")
            else:
                ok = False
                spread = ", ".join(f"{s} x{c}" for s, c in Counter(a.server for a in mine).items())
                parts.append(f"{client} NOT stuck on {ports}: {spread}")
    elif kind == "port":
        # per client and port one real server; ports of one client may differ
        for client, mine in _by(answers, lambda a: a.client).items():
            per = []
            for port, theirs in _by(mine, lambda a: a.port).items():
                server, n = _stuck(theirs)
                if server:
                    per.append(f"{port}->{server} {n}/{n}")
                else:
                    ok = False
                    per.append(f"{port} NOT stuck (" + ", ".join(sorted({a.server for a in theirs})) + ")")
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
