# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab builder: an LVS-DR cluster of network namespaces on one bridge, for every test that needs real packets.

Topology (every name carries the lab's tag, so several labs can live side by side)::

    <tag>-sw        holds the bridge br0; one veth peer per host is enslaved to it
    <tag>-director  eth0 10.77.N.2/24
    <tag>-director2 eth0 10.77.N.3/24    (``directors=2``: the two-director lab of docs/ha.md)
    <tag>-rs1..     eth0 10.77.N.(10+i)/24
    <tag>-client1.. eth0 10.77.N.(100+i)/24

What else it builds is asked for (every namespace is the lab's own; no traffic leaves them):

* ``dr=True`` (default): the DR settings made by hand - the VIP 10.77.N.250/32 on the director's eth0,
  and on the real servers' lo with arp_ignore=1, arp_announce=2. ``dr=False`` leaves them to whoever
  configures the lab (the collection's roles). ``vips=K`` makes K VIPs (10.77.N.250, .251, ...), all of them
  on every real server's lo. With ``directors=2`` no director gets a VIP from the lab: whoever holds the
  VIPs (keepalived's VRRP, :meth:`Lab.start_keepalived`) puts them there.
* ``ssh=True``: sshd in every namespace on its own address (root, by key only; keys, known_hosts and
  an ssh_config in the lab directory) and a leg of the root namespace on the bridge (``<tag>-ctl``,
  .1), from where Ansible reaches every host as it would a fleet (lvslab.cluster does that).
* ``start_servers()`` (``up(servers=True)``): labserver.py on every real server, answering ``rsN port P`` on
  ``ports``, and over TLS on ``tls_ports``.

``start_keepalived(director, config)`` runs Debian's keepalived (installed by bin/setup)
in a director's namespace with any keepalived.conf: :func:`vrrp_config` writes the lab's VRRP-only one, and a
keepalived.conf rendered by the collection (virtual_server blocks included) runs the same way with
``vrrp_only=False``.

The clients send requests and record which real server answered: ``request(client, port)`` names it,
``requests(plan)`` returns :class:`Answer` rows; ``conn_templates()`` reads the persistence templates
of the director's /proc/net/ip_vs_conn. A load harness adds its client-side methods here.

IPVS itself is left to the test (or to the collection)::

    with Lab("t1") as lab:
        lab.director.run(f"ipvsadm -A -t {lab.vip}:80 -s rr")
        lab.request("client1", 80)   # -> "rs1"
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from lvslab import bedctl

LABSERVER = Path(__file__).with_name("labserver.py")
LABCLIENT = Path(__file__).with_name("labclient.py")


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def sh(args: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"lab command failed ({proc.returncode}): {shlex.join(args)}\n{proc.stdout}{proc.stderr}")
    return proc


def _cmdlines() -> list[tuple[str, str]]:
    """(pid, command line) of every process."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            out.append((proc.name, (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:
            continue
    return out


def keepalived() -> str:
    """Debian's keepalived, which bin/setup installs (as it does ipvsadm)."""
    system = shutil.which("keepalived") or shutil.which("keepalived", path="/usr/sbin:/sbin")
    if system is None:
        raise RuntimeError("no keepalived on this system: run bin/setup")
    return system


def vrrp_config(name: str, *, interface: str, vips: list[str], priority: int, router_id: int = 51,
                advert_int: float = 1, peers: list[str] | None = None, source: str | None = None,
                password: str = "lvslab") -> str:
    """A keepalived.conf with one VRRP instance holding ``vips`` (/32 on ``interface``), nothing else.

    Both directors start as BACKUP; the higher ``priority`` wins the election and takes the VIPs back when it
    returns (preemption, keepalived's default). ``peers``: unicast VRRP to those addresses (from ``source``)
    instead of multicast 224.0.0.18.
    """
    lines = ["global_defs {", f"    router_id {name}", "    vrrp_garp_master_delay 1",
             "    vrrp_garp_master_repeat 3", "}", "vrrp_instance VI_LVS {", "    state BACKUP",
             f"    interface {interface}", f"    virtual_router_id {router_id}", f"    priority {priority}",
             f"    advert_int {advert_int}", "    authentication {", "        auth_type PASS",
             f"        auth_pass {password}", "    }", "    virtual_ipaddress {",
             *(f"        {vip}/32 dev {interface}" for vip in vips), "    }"]
    if peers:
        lines += [f"    unicast_src_ip {source}", "    unicast_peer {", *(f"        {p}" for p in peers), "    }"]
    return "\n".join([*lines, "}", ""])


@dataclass
class Host:
    """One namespace of the lab."""

    role: str
    ns: str
    ip: str

    def run(self, cmd: str, *, check: bool = True, timeout: float = 60) -> str:
        """Run a shell command inside this host's namespace; return stdout."""
        return sh(["ip", "netns", "exec", self.ns, "sh", "-c", cmd], check=check, timeout=timeout).stdout

    def sysctl(self, key: str, value: str | int) -> None:
        self.run(f"sysctl -qw {shlex.quote(key)}={shlex.quote(str(value))}")


@dataclass
class Answer:
    """One request of a client and the real server that answered it."""

    n: int
    client: str
    port: int
    server: str

    @property
    def ok(self) -> bool:
        return re.fullmatch(r"rs\d+", self.server) is not None


class Lab:
    """One director, ``real_servers`` real servers and ``clients`` clients on one bridge."""

    def __init__(self, tag: str, *, real_servers: int = 2, clients: int = 2, ports: tuple[int, ...] = (80, 443, 23),
                 tls_ports: tuple[int, ...] = (), cert: str | Path | None = None, key: str | Path | None = None,
                 subnet: int | None = None, dr: bool = True, ssh: bool = False,
                 directory: str | Path | None = None, directors: int = 1, vips: int = 1) -> None:
        self.tag, self.ports, self.tls_ports, self.cert, self.key = tag, ports, tls_ports, cert, key
        self.dr, self.ssh = dr, ssh
        self.subnet = 1 + zlib.crc32(tag.encode()) % 200 if subnet is None else subnet
        self.net = f"10.77.{self.subnet}"
        self.prefix = f"{self.net}.0/24"
        self.vips = [f"{self.net}.{250 + i}" for i in range(vips)]
        self.vip = self.vips[0]
        self.switch = f"{tag}-sw"
        self.hosts: dict[str, Host] = {"director": Host("director", f"{tag}-director", f"{self.net}.2")}
        for i in range(2, directors + 1):
            self.hosts[f"director{i}"] = Host("director", f"{tag}-director{i}", f"{self.net}.{1 + i}")
        for i in range(1, real_servers + 1):
            self.hosts[f"rs{i}"] = Host("real_server", f"{tag}-rs{i}", f"{self.net}.{10 + i}")
        for i in range(1, clients + 1):
            self.hosts[f"client{i}"] = Host("client", f"{tag}-client{i}", f"{self.net}.{100 + i}")
        # In the bed, under $BED_OUT: the controller side (lvslab.bedctl) reads the same files.
        bed_out = os.environ.get("BED_OUT")
        self.dir = Path(directory or (Path(bed_out) / f"lab-{tag}" if bed_out else f"/tmp/lvs-lab-{tag}"))
        self.ready_dir = Path("/tmp") / f"{tag}-ready"
        self.ctl_if, self.ctl_ip = f"{tag}-ctl", f"{self.net}.1"
        self.ssh_config = self.dir / "ssh_config"
        self._procs: list[subprocess.Popen] = []
        self._keepalived: dict[str, subprocess.Popen] = {}

    # -- accessors ---------------------------------------------------------------------------
    @property
    def director(self) -> Host:
        return self.hosts["director"]

    @property
    def directors(self) -> list[str]:
        return [n for n, h in self.hosts.items() if h.role == "director"]

    @property
    def rs(self) -> list[Host]:
        return [h for h in self.hosts.values() if h.role == "real_server"]

    @property
    def real_servers(self) -> list[str]:
        return [n for n, h in self.hosts.items() if h.role == "real_server"]

    @property
    def clients(self) -> list[str]:
        return [n for n, h in self.hosts.items() if h.role == "client"]

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def server_of(self, ip: str) -> str:
        return next((n for n, h in self.hosts.items() if h.ip == ip), ip)

    # -- life cycle --------------------------------------------------------------------------
    def up(self, *, servers: bool = True) -> Lab:
        self.down(quiet=True)
        try:
            log(f"building namespaces {self.tag}-* on a bridge, subnet {self.prefix}")
            self._network()
            if self.ssh:
                self._ssh()
            if servers:
                self.start_servers()
        except BaseException:
            self.down(quiet=True)
            raise
        return self

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down(quiet=True)

    def _network(self) -> None:
        for args in (["netns", "add", self.switch], ["-n", self.switch, "link", "add", "br0", "type", "bridge"],
                     ["-n", self.switch, "link", "set", "br0", "up"], ["-n", self.switch, "link", "set", "lo", "up"]):
            sh(["ip", *args])
        for idx, host in enumerate(self.hosts.values()):
            sh(["ip", "netns", "add", host.ns])
            sh(["ip", "-n", self.switch, "link", "add", f"p{idx}", "type", "veth",
                "peer", "name", "eth0", "netns", host.ns])
            sh(["ip", "-n", self.switch, "link", "set", f"p{idx}", "master", "br0", "up"])
            host.run(f"ip link set lo up && ip addr add {host.ip}/24 dev eth0 && ip link set eth0 up")
            if self.dr and host.role == "director" and len(self.directors) == 1:
                host.run(f"ip addr add {self.vip}/32 dev eth0")
            elif self.dr and host.role == "real_server":
                # The DR real server: accept packets for the VIP, never answer ARP for it.
                for conf in ("all", "eth0"):
                    host.sysctl(f"net.ipv4.conf.{conf}.arp_ignore", 1)
                    host.sysctl(f"net.ipv4.conf.{conf}.arp_announce", 2)
                for vip in self.vips:
                    host.run(f"ip addr add {vip}/32 dev lo")

    def start_servers(self, certs: dict[str, tuple[Path, Path]] | None = None) -> None:
        """The web service on every real server: its name on ``ports``, over TLS on ``tls_ports``.

        ``certs``: each real server's own certificate and key (default: ``cert`` and ``key`` for all).
        """
        self.ready_dir.mkdir(parents=True, exist_ok=True)
        for name in self.real_servers:
            ready = self.ready_dir / name
            ready.unlink(missing_ok=True)
            cmd = ["ip", "netns", "exec", self.hosts[name].ns, sys.executable, str(LABSERVER), name,
                   "--ports", ",".join(map(str, self.ports)), "--ready", str(ready)]
            if self.tls_ports:
                cert, key = (certs or {}).get(name, (self.cert, self.key))
                cmd += ["--tls-ports", ",".join(map(str, self.tls_ports)), "--cert", str(cert), "--key", str(key)]
            self._procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                start_new_session=True))
        deadline = time.monotonic() + 120
        for name in self.real_servers:
            while not (self.ready_dir / name).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"lab {self.tag}: web service on {name} did not start within 120 s")
                time.sleep(0.2)

    def down(self, *, quiet: bool = False) -> None:
        """Remove everything: processes, namespaces (also those of this tag another process made), leg, directory."""
        for name in list(self._keepalived):
            self.stop_keepalived(name, kill=True)
        for proc in self._procs:
            proc.kill()
            proc.wait()
        self._procs.clear()
        if self.ssh:
            self._end_ssh_masters()
            sh(["ip", "link", "del", self.ctl_if], check=False)
        names = [line.split(" ")[0] for line in sh(["ip", "netns", "list"], check=False).stdout.splitlines()]
        for name in names:
            if name.startswith(f"{self.tag}-"):
                # whatever still runs in the namespace (servers, sshd) goes with it
                pids = sh(["ip", "netns", "pids", name], check=False).stdout.split()
                if pids:
                    sh(["kill", "-9", *pids], check=False)
                sh(["ip", "netns", "del", name], check=False)
        if self.ssh:
            shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.ready_dir, ignore_errors=True)
        if not quiet:
            left = self.leftovers()
            log("NOT CLEAN after down: " + "; ".join(left) if left else
                f"down: no namespace, link, process, mount or directory of {self.tag} left")

    def leftovers(self) -> list[str]:
        """What of this lab still exists (empty when the lab is gone)."""
        names = [n.split(" ")[0] for n in sh(["ip", "netns", "list"], check=False).stdout.splitlines()]
        left = [f"namespace {n}" for n in names if n.startswith(f"{self.tag}-")]
        if sh(["ip", "link", "show", self.ctl_if], check=False).returncode == 0:
            left.append(f"link {self.ctl_if}")
        left += [f"mount {line.split()[1]}" for line in Path("/proc/mounts").read_text().splitlines()
                 if f"/{self.tag}-" in line]
        left += [f"process {pid} ({cmd.strip()[:60]})" for pid, cmd in _cmdlines()
                 if (self.ssh and str(self.dir) in cmd) or (str(LABSERVER) in cmd and str(self.ready_dir) in cmd)]
        if self.ssh and self.dir.exists():
            left.append(f"directory {self.dir}")
        return left

    # -- sshd in every host, and the controller's leg ----------------------------------------
    def _ssh(self) -> None:
        sh(["ip", "link", "add", self.ctl_if, "type", "veth", "peer", "name", "pctl", "netns", self.switch])
        sh(["ip", "-n", self.switch, "link", "set", "pctl", "master", "br0", "up"])
        sh(["ip", "addr", "add", f"{self.ctl_ip}/24", "dev", self.ctl_if])
        sh(["ip", "link", "set", self.ctl_if, "up"])
        link = bedctl.controller_network()
        if link:  # the controller runs on the far side of the bed's link: every host routes back to it
            for host in self.hosts.values():
                sh(["ip", "-n", host.ns, "route", "replace", link, "via", self.ctl_ip])
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        (self.dir / "cp").mkdir(exist_ok=True)
        for key, comment in (("host_key", "host"), ("id_ed25519", "controller")):
            sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.tag}-{comment}",
                "-f", str(self.dir / key)])
        shutil.copy(self.dir / "id_ed25519.pub", self.dir / "authorized_keys")
        kind, hostkey = (self.dir / "host_key.pub").read_text().split()[:2]
        (self.dir / "known_hosts").write_text("".join(f"{h.ip} {kind} {hostkey}\n" for h in self.hosts.values()))
        common = "KexAlgorithms curve25519-sha256\n"
        self.ssh_config.write_text(
            f"Host {self.net}.*\n  User root\n  IdentityFile {self.dir}/id_ed25519\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.dir}/known_hosts\n  GlobalKnownHostsFile /dev/null\n"
            f"  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 60\n  {common}")
        (self.dir / "sshd_config").write_text(
            f"Port 22\nHostKey {self.dir}/host_key\nAuthorizedKeysFile {self.dir}/authorized_keys\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\nPrintMotd no\nPrintLastLog no\n"
            f"MaxStartups 64\nMaxSessions 64\nLogLevel ERROR\nSubsystem sftp internal-sftp\n{common}")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        shadow = self._unlocked_shadow()
        for name, host in self.hosts.items():
            sshd = ["/usr/sbin/sshd", "-f", str(self.dir / "sshd_config"), "-o", f"ListenAddress={host.ip}",
                    "-o", f"PidFile={self.dir}/sshd-{name}.pid", "-E", str(self.dir / f"sshd-{name}.log")]
            if shadow:
                sshd = ["unshare", "-m", "sh", "-c", f"mount --bind {shadow} /etc/shadow && exec {shlex.join(sshd)}"]
            sh(["ip", "netns", "exec", host.ns, *sshd])
        deadline = time.monotonic() + 60
        for host in self.hosts.values():
            while f"{host.ip}:22 " not in host.run("ss -Htln", check=False):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sshd in {host.ns} did not listen on {host.ip}:22 within 60 s")
                time.sleep(0.2)
        log(f"sshd listening in {len(self.hosts)} namespaces; controller leg {self.ctl_if} {self.ctl_ip}/24")

    def _unlocked_shadow(self) -> Path | None:
        """A copy of /etc/shadow with root unlocked (``!`` -> ``*``, still no password), if root is locked.

        sshd without PAM (a login with PAM costs seconds more) refuses key logins to a locked account.
        The copy is bind-mounted over /etc/shadow only in a private mount namespace of the lab's sshd
        processes: the system's file is never touched, and the mount goes with the last sshd.
        """
        text = Path("/etc/shadow").read_text()
        new = re.sub(r"^root:!", "root:*", text, count=1, flags=re.M)
        if new == text:
            return None
        copy = self.dir / "shadow"
        copy.touch(mode=0o600)
        copy.write_text(new)
        return copy

    def _end_ssh_masters(self) -> None:
        """The controller's persistent SSH masters (ControlPath in the lab directory) go with the lab."""
        for sock in (self.dir / "cp").glob("*") if (self.dir / "cp").exists() else []:
            exit_master = ["ssh", "-F", str(self.ssh_config), "-o", f"ControlPath={sock}", "-O", "exit", "lab"]
            bedctl.run(exit_master) if bedctl.remote() else sh(exit_master, check=False, timeout=30)
        for pid, cmd in _cmdlines():
            if cmd.startswith("ssh: ") and str(self.dir / "cp") in cmd:
                sh(["kill", pid], check=False)

    # -- keepalived in a director's namespace ----------------------------------------------------
    def keepalived_dir(self, director: str) -> Path:
        """keepalived.conf, pid files and keepalived.log of ``director`` (kept after ``down()``, for the record)."""
        return self.dir / "keepalived" / director

    def start_keepalived(self, director: str, config: str, *, vrrp_only: bool = True) -> subprocess.Popen:
        """Run keepalived in ``director``'s namespace with ``config`` (its log: keepalived.log beside it)."""
        if director in self._keepalived:
            raise RuntimeError(f"keepalived already runs on {director}")
        where = self.keepalived_dir(director)
        where.mkdir(parents=True, exist_ok=True)
        (where / "keepalived.conf").write_text(config)
        argv = [keepalived(), "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
                "-f", str(where / "keepalived.conf"), "-p", str(where / "keepalived.pid"),
                "-r", str(where / "vrrp.pid"), "-c", str(where / "checkers.pid")]
        if vrrp_only:
            argv.append("--vrrp")
        with open(where / "keepalived.log", "a", encoding="utf-8") as log_file:
            proc = subprocess.Popen(["ip", "netns", "exec", self.hosts[director].ns, *argv],
                                    stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        self._keepalived[director] = proc
        return proc

    def stop_keepalived(self, director: str, *, kill: bool = False) -> None:
        """Stop ``director``'s keepalived as systemd does (SIGTERM: it gives up its VIPs), or kill it."""
        proc = self._keepalived.pop(director, None)
        if proc is None:
            return
        if kill:
            os.killpg(proc.pid, 9)
        else:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()

    def keepalived_log(self, director: str) -> str:
        path = self.keepalived_dir(director) / "keepalived.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def holds(self, director: str, vip: str) -> bool:
        """Whether ``vip`` is on ``director``'s eth0 (as ``ip addr`` shows it)."""
        return f" {vip}/32 " in self.hosts[director].run("ip -o -4 addr show dev eth0", check=False)

    # -- clients: requests and who answered ---------------------------------------------------
    def request(self, client: str, port: int, *, vip: str | None = None, tls: bool | None = None,
                timeout: float = 5, local_port: int | None = None) -> str:
        """One real request from ``client`` to VIP:port (TLS on ``tls_ports``); the real server that answered."""
        scheme = "https" if (port in self.tls_ports if tls is None else tls) else "http"
        extra = f"--local-port {local_port} " if local_port else ""
        url = f"{scheme}://{vip or self.vip}:{port}/"
        out = self.hosts[client].run(f"curl -sS -k --max-time {timeout} {extra}{url} 2>&1", check=False,
                                     timeout=timeout + 20).strip()
        return out.split(" port ")[0] if " port " in out else f"(no answer: {out or 'timeout'})"

    def requests(self, plan: list[tuple[str, int]], *, vip: str | None = None, start: int = 1) -> list[Answer]:
        """``plan``: (client, port) pairs, sent in order; who answered each."""
        return [Answer(start + i, c, p, self.request(c, p, vip=vip)) for i, (c, p) in enumerate(plan)]

    # -- the director's view, and the network's ------------------------------------------------
    def conn_table(self, director: str = "director") -> str:
        """/proc/net/ip_vs_conn as the director sees it."""
        return self.hosts[director].run("cat /proc/net/ip_vs_conn")

    def conn_templates(self, director: str = "director") -> list[dict]:
        """Persistence templates (client port 0) of the director's /proc/net/ip_vs_conn."""
        def ip(h: str) -> str:
            return ".".join(str((int(h, 16) >> s) & 255) for s in (24, 16, 8, 0))
        rows = []
        for f in (line.split() for line in self.conn_table(director).splitlines()[1:]):
            if len(f) >= 9 and int(f[2], 16) == 0:
                rows.append({"pro": f[0], "caddr": ip(f[1]), "cport": 0, "vaddr": ip(f[3]), "vport": int(f[4], 16),
                             "daddr": ip(f[5]), "dport": int(f[6], 16), "state": f[7], "expires": int(f[8])})
        return rows

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
