# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two directors, keepalived's VRRP and the kernel's connection sync: persistent clients survive a failover.

The lab (lvslab.lab.Lab with ``directors=2``): director (10.77.N.2) and director2 (.3), three DR real
servers, eight clients, one bridge. Both directors get the same IPVS table from ``lvs.ipvs.ipvs_config``
and the same mark rules from ``lvs.ipvs.fwmark_rule``: a shop on a firewall-mark group (VIP .250, ports 80
and 443, mark 10), a PPC service (VIP .251 port 80) and a PCC service (VIP .252 port 0), all rr and
persistent. keepalived (Debian's package, which bin/setup installs) runs VRRP only in each director's namespace: one
instance holds the three VIPs, director has priority 150, director2 100, multicast adverts every second.
Both directors run a master **and** a backup sync daemon (``lvs.ipvs.ipvs_sync_daemon``, syncid 15).

Clients 1-4 stick to real servers through director; director's keepalived is stopped, the VIPs move to
director2 and every client's next requests (sent in the reverse order, so that a fresh scheduler would
hand out other servers) reach the same real server; the synced templates are on director2
(``ipvsadm -Lcn``); failback: the same again. Then the same with director's link cut (its switch port
down). Each switch runs under the load harness: failed requests, the longest wait for an answer and the
time until the VIPs moved are printed. The control: with the sync daemons stopped, clients 5-8 do the same
failover and some of them move, which the test asserts (it can fail).

The tests share one lab and run in file order (each starts from the state the one before left).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _fwmark_support import NamedNetns
from conftest import FIGURE_LINES, run_module_in, sh
from lvslab import load
from lvslab.lab import Lab, vrrp_config

MARK, SYNCID, PERSISTENCE = 10, 15, 300
PRIORITY = {"director": 150, "director2": 100}
# net.ipv4.vs.* on both directors (docs/ha.md says why each one)
SYSCTLS = {"expire_nodest_conn": 1, "expire_quiescent_template": 1, "conn_reuse_mode": 1, "sync_persist_mode": 0,
           "sloppy_tcp": 1, "sync_threshold": "3 50", "sync_refresh_period": 0}
SYNCED = ["client1", "client2", "client3", "client4"]
CONTROL = ["client5", "client6", "client7", "client8"]


class HA:
    """The lab and what the tests read from it."""

    def __init__(self, lab: Lab, out: Path) -> None:
        self.lab, self.out = lab, out
        self.shop, self.ppc, self.pcc = lab.vips
        # (service, URL) in the order a client sends them: both ports of the shop, the PPC port, two PCC ports
        self.urls = [("shop", f"http://{self.shop}:80/"), ("shop", f"http://{self.shop}:443/"),
                     ("ppc", f"http://{self.ppc}:80/"), ("pcc", f"http://{self.pcc}:80/"),
                     ("pcc", f"http://{self.pcc}:23/")]
        self.service_of = {vip: name for name, vip in (("shop", self.shop), ("ppc", self.ppc), ("pcc", self.pcc))}

    def module(self, director: str, name: str, args: dict) -> dict:
        res = run_module_in(NamedNetns(self.lab[director].ns), name, args)
        assert res.rc == 0 and not res.failed, (director, name, res.result)
        return res.result

    def holder(self) -> list[str]:
        """The directors that hold all three VIPs (``ip addr``)."""
        held = []
        for director in self.lab.directors:
            addresses = self.lab[director].run("ip -o -4 addr show dev eth0", check=False)
            if all(f" {vip}/32 " in addresses for vip in self.lab.vips):
                held.append(director)
        return held

    def wait_holder(self, director: str, timeout: float = 20) -> float:
        """Seconds until ``director`` alone holds the VIPs."""
        start = time.monotonic()
        while self.holder() != [director]:
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{director} did not take the VIPs within {timeout} s: holders {self.holder()}\n"
                                     + "".join(f"--- {d}\n{self.lab.keepalived_log(d)[-1500:]}"
                                               for d in self.lab.directors))
            time.sleep(0.05)
        return time.monotonic() - start

    def probe(self, clients: list[str]) -> dict[tuple[str, str], str]:
        """Each client in turn sends one request to each URL (one process per client: load.py, new connections);
        returns {(client, service): real server}, failing when a client got two servers for one service."""
        seen: dict[tuple[str, str], str] = {}
        for client in clients:
            urls = " ".join(u for _service, u in self.urls)
            out = self.lab[client].run(f"{sys.executable} {load.__file__} {client} {urls} --count {len(self.urls)} "
                                       "--interval 0 --deadline 60", timeout=90)
            for rec in map(json.loads, out.splitlines()):
                assert rec["ok"], rec
                key = (client, self.service_of[urlsplit(rec["url"]).hostname])
                assert seen.setdefault(key, rec["server"]) == rec["server"], (key, seen[key], rec)
        return seen

    def templates(self, director: str, clients: list[str]) -> dict[tuple[str, str], str]:
        """{(client, service): real server} of the persistence templates in ``ipvsadm -Lcn`` on ``director``."""
        ips = {self.lab[c].ip: c for c in clients}
        servers = {h.ip: n for n, h in self.lab.hosts.items() if h.role == "real_server"}
        found = {}
        for row in self.lab[director].run("ipvsadm -Lcn").splitlines():
            cols = row.split()  # pro expire state source virtual destination
            if len(cols) < 6 or not cols[3].endswith(":0"):
                continue
            client = ips.get(cols[3].rsplit(":", 1)[0])
            if client is None:
                continue
            virtual = cols[4].rsplit(":", 1)[0]
            service = "shop" if cols[0] == "IP" and virtual == f"0.0.0.{MARK}" else self.service_of.get(virtual)
            found[(client, service)] = servers.get(cols[5].rsplit(":", 1)[0], cols[5])
        return found

    def total_conns(self, director: str) -> int:
        """Connections ``director`` scheduled itself (/proc/net/ip_vs_stats; synced ones are not counted)."""
        return int(self.lab[director].run("cat /proc/net/ip_vs_stats").splitlines()[2].split()[0], 16)

    def switch(self, name: str, act, to: str, clients: list[str]) -> dict:
        """``act()`` under the load harness of ``clients``; the figures of the switch to ``to``."""
        out_dir = self.out / name
        procs = load.start({c: self.lab[c].ns for c in clients}, [u for _service, u in self.urls], count=10_000,
                           interval=0.25, deadline=60, out_dir=out_dir)
        # the switch only once every client has been answered a few times (a client starts in about a second)
        deadline = time.monotonic() + 60
        while any(len(path.read_text().splitlines()) < 3 if path.exists() else True for _proc, path in procs):
            assert time.monotonic() < deadline, f"{name}: the load clients did not start within 60 s"
            time.sleep(0.2)
        event, start = time.time(), time.monotonic()
        act()
        self.wait_holder(to)
        moved = time.monotonic() - start
        time.sleep(3)
        records = load.collect(procs, timeout=30)
        summary = load.summary(records, template=lambda r: (r["client"], urlsplit(r["url"]).hostname))
        wait = 0.0  # the longest a client waited for an answer across the switch
        for client in clients:
            done = sorted(r["t"] + r["ms"] / 1000 for r in records if r["client"] == client and r["ok"])
            wait = max([wait, *(b - a for a, b in itertools.pairwise(done))])
        figures = {"switch": name, "vips_moved_s": round(moved, 2), "requests": summary["requests"],
                   "failed": summary["failed"], "longest_wait_s": round(wait, 2), "moves": summary["moves"],
                   "errors": summary["errors"], "before_event": sum(r["t"] < event for r in records),
                   "after_vips_moved": sum(r["t"] > event + moved for r in records)}
        report(f"HA {name}: VIPs on {to} after {figures['vips_moved_s']} s; {summary['requests']} requests "
               f"({figures['before_event']} sent before the switch, {figures['after_vips_moved']} after the VIPs "
               f"moved), {summary['failed']} failed; longest wait for an answer {figures['longest_wait_s']} s; "
               f"clients moved under load: {summary['moves']}")
        FIGURES.append(figures)
        return figures


FIGURES: list[dict] = []
LINES: list[str] = []


def report(line: str) -> None:
    """Print a figure now (with -s) and again in the run's summary (bin/test captures the output of tests)."""
    print(line)
    LINES.append(line)


@pytest.fixture(scope="module")
def ha(ipvs_kernel, tmp_path_factory, request):
    request.config.stash[FIGURE_LINES] = LINES
    lab = Lab("ha", real_servers=3, clients=len(SYNCED + CONTROL), directors=2, vips=3, ports=(80, 443, 23))
    lab.up(servers=True)
    try:
        out = Path(os.environ["BED_OUT"], "ha") if os.environ.get("BED_OUT") else tmp_path_factory.mktemp("ha")
        ha = HA(lab, out)
        real_servers = [{"address": rs.ip, "forwarding": "dr"} for rs in lab.rs]
        services = [
            {"fwmark": MARK, "scheduler": "rr", "persistence_timeout": PERSISTENCE, "real_servers": real_servers},
            {"address": ha.ppc, "port": 80, "scheduler": "rr", "persistence_timeout": PERSISTENCE,
             "real_servers": real_servers},
            {"address": ha.pcc, "port": 0, "scheduler": "rr", "persistence_timeout": PERSISTENCE,
             "real_servers": real_servers}]
        for director in lab.directors:
            for key, value in SYSCTLS.items():
                lab[director].sysctl(f"net.ipv4.vs.{key}", value)
            ha.module(director, "ipvs_config", {"state": "overridden", "config": services})
            ha.module(director, "fwmark_rule", {"mark": MARK, "address": ha.shop, "ports": [80, 443]})
            for state in ("master", "backup"):
                ha.module(director, "ipvs_sync_daemon", {"state": state, "interface": "eth0", "syncid": SYNCID})
        tables = {d: sorted(lab[d].run("ipvsadm -Sn").splitlines()) for d in lab.directors}
        assert tables["director"] == tables["director2"] and len(tables["director"]) == 3 + 9, tables
        for director in lab.directors:
            lab.start_keepalived(director, vrrp_config(director, interface="eth0", vips=lab.vips,
                                                       priority=PRIORITY[director]))
        ha.wait_holder("director", timeout=30)
        yield ha
    finally:
        if os.environ.get("BED_OUT"):
            Path(os.environ["BED_OUT"], "ha-figures.json").write_text(json.dumps(FIGURES, indent=1) + "\n")
        lab.down()


def test_vrrp_elects_director_and_both_directors_sync(ha):
    lab = ha.lab
    assert ha.holder() == ["director"]
    for director in lab.directors:
        daemons = lab[director].run("ipvsadm -L --daemon")
        assert f"master sync daemon (mcast=eth0, syncid={SYNCID}" in daemons, daemons
        assert f"backup sync daemon (mcast=eth0, syncid={SYNCID}" in daemons, daemons
        for key, value in SYSCTLS.items():
            assert lab[director].run(f"sysctl -n net.ipv4.vs.{key}").split() == str(value).split(), key
    # Only one holder: director2 hears director's multicast adverts (224.0.0.18) between the namespaces;
    # without them both would be MASTER and both would hold the VIPs.
    assert "Entering MASTER STATE" in lab.keepalived_log("director")
    assert "Entering BACKUP STATE" in lab.keepalived_log("director2")


def _kept(before: dict, after: dict) -> int:
    assert after.keys() == before.keys()
    return sum(after[k] == before[k] for k in before)


def test_failover_and_failback_keep_every_client_on_its_real_server(ha):
    lab, n = ha.lab, len(SYNCED) * 3
    first = ha.probe(SYNCED)
    for service in ("shop", "ppc", "pcc"):  # rr spread the clients over the servers
        assert len({first[(c, service)] for c in SYNCED}) == 3, first
    assert ha.templates("director", SYNCED) == first, lab["director"].run("ipvsadm -Lcn")
    start = time.monotonic()
    deadline = start + 15  # the master sends its buffer every 2 s at the latest
    while ha.templates("director2", SYNCED) != first and time.monotonic() < deadline:
        time.sleep(0.25)
    synced = ha.templates("director2", SYNCED)
    report(f"HA templates synced to director2 before the failover: {len(synced)} of {n}, all there "
           f"{time.monotonic() - start:.1f} s after the last client's last answer")
    FIGURES.append({"switch": "sync", "synced": len(synced), "of": n, "seconds": round(time.monotonic() - start, 1)})
    print("\n".join(row for row in lab["director2"].run("ipvsadm -Lcn").splitlines() if ":0 " in row))
    assert synced == first, lab["director2"].run("ipvsadm -Lcn")

    conns = ha.total_conns("director2")
    figures = ha.switch("keepalived-stop", lambda: lab.stop_keepalived("director"), "director2", SYNCED)
    after = ha.probe(list(reversed(SYNCED)))
    kept = _kept(first, after)
    report(f"HA after failover (keepalived stopped): clients kept on their real server: {kept} of {n}")
    assert ha.total_conns("director2") > conns  # the requests went through director2 ...
    assert kept == n, (first, after)  # ... and every client kept its server
    assert figures["moves"] == 0, figures

    conns = ha.total_conns("director")
    figures = ha.switch("failback", lambda: lab.start_keepalived(
        "director", vrrp_config("director", interface="eth0", vips=lab.vips, priority=PRIORITY["director"])),
        "director", SYNCED)
    after = ha.probe(SYNCED)
    kept = _kept(first, after)
    report(f"HA after failback: clients kept on their real server: {kept} of {n}")
    assert ha.total_conns("director") > conns
    assert kept == n, (first, after)
    assert figures["moves"] == 0, figures


def test_a_cut_link_fails_over_and_back_keeping_the_clients(ha):
    lab, n = ha.lab, len(SYNCED) * 3
    port = f"p{list(lab.hosts).index('director')}"  # director's port on the switch
    first = ha.probe(SYNCED)

    def cut() -> None:
        sh(["ip", "-n", lab.switch, "link", "set", port, "down"])

    def mend() -> None:
        sh(["ip", "-n", lab.switch, "link", "set", port, "up"])

    try:
        figures = ha.switch("link-cut", cut, "director2", SYNCED)
        after = ha.probe(list(reversed(SYNCED)))
        kept = _kept(first, after)
        report(f"HA after failover (link cut): clients kept on their real server: {kept} of {n}")
        assert kept == n, (first, after)
        assert figures["moves"] == 0, figures
    finally:
        mend_figures = ha.switch("link-back", mend, "director", SYNCED)
    after = ha.probe(SYNCED)
    kept = _kept(first, after)
    report(f"HA after the link came back: clients kept on their real server: {kept} of {n}")
    assert kept == n, (first, after)
    assert mend_figures["moves"] == 0, mend_figures


def test_without_sync_the_same_failover_moves_clients(ha):
    """The control: the same failover with the sync daemons stopped moves clients, so the test above can fail."""
    lab, n = ha.lab, len(CONTROL) * 3
    for director in lab.directors:
        ha.module(director, "ipvs_sync_daemon", {"state": "absent"})
        assert lab[director].run("ipvsadm -L --daemon") == ""
    assert ha.holder() == ["director"]
    first = ha.probe(CONTROL)
    assert ha.templates("director", CONTROL) == first
    time.sleep(3)  # longer than the master's longest wait before it sends (2 s)
    assert ha.templates("director2", CONTROL) == {}, lab["director2"].run("ipvsadm -Lcn")
    lab.stop_keepalived("director")
    ha.wait_holder("director2")
    after = ha.probe(list(reversed(CONTROL)))
    moved = n - _kept(first, after)
    report(f"HA control, sync off: clients moved to another real server by the failover: {moved} of {n}")
    # rr from a fresh scheduler, clients in the reverse order: at least one client of each service moves
    assert moved >= 3, (first, after)
    FIGURES.append({"switch": "control-sync-off", "moved": moved, "of": n})
