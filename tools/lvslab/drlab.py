# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A direct-routing LVS lab made of network namespaces, for tests that need real packets.

Topology (all names carry the lab's tag, so several labs can live side by side)::

    <tag>-sw        holds the bridge br0; one veth peer per host is enslaved to it
    <tag>-director  eth0 10.77.X.2/24, VIP/32 on eth0 (answers ARP for the VIP)
    <tag>-rs1..N    eth0 10.77.X.(10+i)/24, VIP/32 on lo, arp_ignore=1, arp_announce=2
    <tag>-client1.. eth0 10.77.X.(100+i)/24

The VIP is 10.77.X.250. Every namespace is one the lab made itself; no traffic leaves them.
Real servers run labserver.py, answering ``rsN port P`` on every port asked for.
IPVS configuration is left to the test (or to the collection's modules): the lab only
provides the network, the DR real-server settings and the services behind the VIP.

Used as a context manager::

    with DrLab("t1") as lab:
        lab.director.run("ipvsadm -A -t 10.77.1.250:80 -s rr")
        lab.request("client1", 80)   # -> "rs1"
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

LABSERVER = Path(__file__).with_name("labserver.py")


def _sh(args: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"lab command failed ({proc.returncode}): {shlex.join(args)}\n{proc.stdout}{proc.stderr}")
    return proc


@dataclass
class LabHost:
    """One namespace of the lab."""

    role: str
    ns: str
    ip: str

    def run(self, cmd: str, *, check: bool = True, timeout: float = 60) -> str:
        """Run a shell command inside this host's namespace; return stdout."""
        return _sh(["ip", "netns", "exec", self.ns, "sh", "-c", cmd], check=check, timeout=timeout).stdout

    def sysctl(self, key: str, value: str | int) -> None:
        self.run(f"sysctl -qw {shlex.quote(key)}={shlex.quote(str(value))}")


@dataclass
class DrLab:
    """A DR lab: one director, ``real_servers`` real servers and ``clients`` clients on one bridge."""

    tag: str
    real_servers: int = 2
    clients: int = 2
    ports: tuple[int, ...] = (80, 443, 23)
    tls_ports: tuple[int, ...] = ()
    cert: str | None = None
    key: str | None = None
    subnet: int | None = None
    # False leaves the VIP and the DR real-server settings to whoever configures the lab (the
    # collection's roles, in the SSH lab of lab.py): only the network is built.
    configure_dr: bool = True
    hosts: dict[str, LabHost] = field(default_factory=dict)
    _procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.subnet is None:
            self.subnet = 1 + zlib.crc32(self.tag.encode()) % 200
        net = f"10.77.{self.subnet}"
        self.prefix = f"{net}.0/24"
        self.vip = f"{net}.250"
        self.switch = f"{self.tag}-sw"
        self.hosts["director"] = LabHost("director", f"{self.tag}-director", f"{net}.2")
        for i in range(1, self.real_servers + 1):
            self.hosts[f"rs{i}"] = LabHost("real_server", f"{self.tag}-rs{i}", f"{net}.{10 + i}")
        for i in range(1, self.clients + 1):
            self.hosts[f"client{i}"] = LabHost("client", f"{self.tag}-client{i}", f"{net}.{100 + i}")

    # -- accessors -------------------------------------------------------------------------
    @property
    def director(self) -> LabHost:
        return self.hosts["director"]

    @property
    def rs(self) -> list[LabHost]:
        return [h for h in self.hosts.values() if h.role == "real_server"]

    def __getitem__(self, name: str) -> LabHost:
        return self.hosts[name]

    # -- life cycle ------------------------------------------------------------------------
    def up(self, *, servers: bool = True) -> DrLab:
        self.down()
        try:
            self._build(servers)
        except BaseException:
            self.down()
            raise
        return self

    def _build(self, servers: bool) -> None:
        _sh(["ip", "netns", "add", self.switch])
        _sh(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        _sh(["ip", "-n", self.switch, "link", "set", "br0", "up"])
        _sh(["ip", "-n", self.switch, "link", "set", "lo", "up"])
        for idx, (name, host) in enumerate(self.hosts.items()):
            _sh(["ip", "netns", "add", host.ns])
            peer = f"p{idx}"
            _sh(["ip", "-n", self.switch, "link", "add", peer, "type", "veth",
                 "peer", "name", "eth0", "netns", host.ns])
            _sh(["ip", "-n", self.switch, "link", "set", peer, "master", "br0", "up"])
            host.run(f"ip link set lo up && ip addr add {host.ip}/24 dev eth0 && ip link set eth0 up")
            if not self.configure_dr:
                continue
            if name == "director":
                host.run(f"ip addr add {self.vip}/32 dev eth0")
            elif host.role == "real_server":
                # The DR real server: accept packets for the VIP, never answer ARP for it.
                for conf in ("all", "eth0"):
                    host.sysctl(f"net.ipv4.conf.{conf}.arp_ignore", 1)
                    host.sysctl(f"net.ipv4.conf.{conf}.arp_announce", 2)
                host.run(f"ip addr add {self.vip}/32 dev lo")
        if servers:
            self.start_servers()

    def start_servers(self) -> None:
        ready_dir = Path("/tmp") / f"{self.tag}-ready"
        ready_dir.mkdir(parents=True, exist_ok=True)
        for i, host in enumerate(self.rs, start=1):
            ready = ready_dir / f"rs{i}"
            ready.unlink(missing_ok=True)
            cmd = ["ip", "netns", "exec", host.ns, sys.executable, str(LABSERVER), f"rs{i}",
                   "--ports", ",".join(map(str, self.ports)), "--ready", str(ready)]
            if self.tls_ports:
                cmd += ["--tls-ports", ",".join(map(str, self.tls_ports)),
                        "--cert", str(self.cert), "--key", str(self.key)]
            self._procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 120
        for i in range(1, len(self.rs) + 1):
            while not (ready_dir / f"rs{i}").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"lab {self.tag}: web service on rs{i} did not start within 120 s")
                time.sleep(0.2)

    def down(self) -> None:
        for proc in self._procs:
            proc.kill()
            proc.wait()
        self._procs.clear()
        for host in self.hosts.values():
            # Whatever still runs in the namespace (servers started by tests) goes with it.
            pids = _sh(["ip", "netns", "pids", host.ns], check=False).stdout.split()
            if pids:
                _sh(["kill", "-9", *pids], check=False)
            _sh(["ip", "netns", "del", host.ns], check=False)
        _sh(["ip", "netns", "del", self.switch], check=False)

    def __enter__(self) -> DrLab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- traffic ---------------------------------------------------------------------------
    def request(self, client: str, port: int, *, tls: bool = False, timeout: float = 5,
                local_port: int | None = None) -> str:
        """One real request from ``client`` to VIP:port; returns the name of the real server that answered."""
        scheme = "https" if tls else "http"
        extra = f"--local-port {local_port} " if local_port else ""
        out = self.hosts[client].run(
            f"curl -sS -k --max-time {timeout} {extra}{scheme}://{self.vip}:{port}/", check=False, timeout=timeout + 10
        ).strip()
        return out.split(" port ")[0] if " port " in out else f"(no answer: {out or 'timeout'})"

    def conn_table(self) -> str:
        """/proc/net/ip_vs_conn as the director sees it."""
        return self.director.run("cat /proc/net/ip_vs_conn")
