# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keepalived (Debian's 2.2.7, installed by bin/setup as ipvsadm is) runs the director from the rendered config.

A DR lab; keepalived in the director's namespace with the keepalived.conf that ``lvs.ipvs.keepalived_config``
renders for a persistent-port, a persistent-client and a firewall-mark service. Judged by ``ipvsadm -Sn`` (the
independent view) against the ``ipvsadm -R`` text ``director_plan`` renders for the same services, and by real
requests: keepalived's VRRP puts the VIP on the director, its health checks take a real server whose web
server stopped out of every service within the documented detection time and put it back when it answers.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _fwmark_support import NamedNetns
from ansible_collections.lvs.ipvs.plugins.filter import keepalived
from lvslab.lab import LABSERVER, Lab

# The role's default health check (keepalived.CHECK_DEFAULTS): a real server that refuses connections is out
# after at most delay_loop + retry x delay_before_retry seconds, and back at most delay_loop seconds after it
# answers again. Five seconds of slack for the one-CPU bed, which shares the machine's two cores with a second
# bed and the host's lint (a connection, a check's own scheduling); a check with other settings (retry 5, or a
# delay_loop of 12) still misses the bound.
DEFAULTS = keepalived.CHECK_DEFAULTS
SLACK = 5
DETECT_WITHIN = DEFAULTS["delay_loop"] + DEFAULTS["retry"] * DEFAULTS["delay_before_retry"] + SLACK
RETURN_WITHIN = DEFAULTS["delay_loop"] + SLACK


def _saved(host) -> list[str]:
    return sorted(line for line in host.run("ipvsadm -Sn").splitlines() if line.strip())


def _wait(predicate, timeout: float, step: float = 0.2) -> float | None:
    """Seconds until ``predicate()`` held, or None when it did not within ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


@dataclass
class Keepalived:
    lab: Lab
    services: list[dict]
    conf: Path
    rendered: list[str]
    proc: subprocess.Popen
    log: Path

    def web_server(self, index: int) -> subprocess.Popen:
        """Start the lab's web service on real server ``index`` (as Lab.start_servers does for all)."""
        name = self.lab.real_servers[index]
        ready = self.lab.ready_dir / name
        ready.unlink(missing_ok=True)
        proc = subprocess.Popen(["ip", "netns", "exec", self.lab.hosts[name].ns, sys.executable, str(LABSERVER), name,
                                 "--ports", ",".join(map(str, self.lab.ports)), "--ready", str(ready)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        assert _wait(ready.exists, 60), f"web service on {name} did not start"
        return proc


@pytest.fixture(scope="module")
def kad(ipvs_kernel, tmp_path_factory) -> Iterator[Keepalived]:
    scratch = tmp_path_factory.mktemp("keepalived")
    with Lab("kad", real_servers=2, clients=1, ports=(80, 443)) as lab:
        director = lab.director
        director.run(f"ip addr del {lab.vip}/32 dev eth0")  # keepalived's VRRP instance holds the VIP
        rs = [{"address": h.ip, "weight": 2} for h in lab.rs]
        services = [
            {"name": "ppc", "vip": lab.vip, "ports": [80], "scheduler": "rr", "persistence_timeout": 300,
             "real_servers": rs},
            {"name": "pcc", "vip": lab.vip, "ports": [0], "persistence_timeout": 600, "persistence_netmask": "24",
             "health_check": {"port": 443}, "real_servers": [{"address": h.ip} for h in lab.rs]},
            {"name": "shop", "vip": lab.vip, "ports": [80, 443], "fwmark": 10, "scheduler": "wlc",
             "persistence_timeout": 3600, "health_check": {"type": "http", "path": "/", "status_code": 200},
             "real_servers": [{"address": h.ip} for h in lab.rs]},
        ]
        ha = {"router_id": "kad", "vrrp": {"interface": "eth0", "virtual_router_id": 51, "priority": 150,
                                           "auth_pass": "kad"}}
        plan = keepalived.keepalived_plan(services, ha)
        assert plan["errors"] == []
        conf = scratch / "keepalived.conf"
        conf.write_text(plan["text"])
        log = scratch / "keepalived.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", director.ns, "keepalived", "--dont-fork", "--log-console", "--log-detail",
                 "--no-syslog",
                 "-f", str(conf), "-p", str(scratch / "keepalived.pid"), "-r", str(scratch / "vrrp.pid"),
                 "-c", str(scratch / "checkers.pid")], stdout=out, stderr=subprocess.STDOUT)
        run = Keepalived(lab, services, conf, sorted(plan["rendered"].splitlines()), proc, log)
        try:
            yield run
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"keepalived's log ({log}):\n" + log.read_text()[-4000:])


def test_keepalived_builds_the_rendered_table(kad, run_module):
    lab, director = kad.lab, kad.lab.director
    took = _wait(lambda: _saved(director) == kad.rendered, 30)
    assert took is not None, f"ipvsadm -Sn: {_saved(director)}\nrendered: {kad.rendered}\n{kad.log.read_text()}"
    print(f"keepalived built the rendered table ({len(kad.rendered)} lines) in {took:.1f} s")
    assert any(line.startswith("-A -f 10 ") for line in kad.rendered) and len(kad.rendered) == 9
    # VRRP: with nobody else on the segment, the instance becomes MASTER and puts the VIP on eth0.
    vip_after = _wait(lambda: f"{lab.vip}/32" in director.run("ip -br addr show dev eth0"), 20)
    assert vip_after is not None, director.run("ip addr show dev eth0")
    print(f"VRRP put {lab.vip} on the director's eth0 after {took + vip_after:.1f} s")
    # The collection's own check of the kernel, from ipvs_config's gathered table, agrees.
    gathered = run_module(NamedNetns(director.ns), "ipvs_config", {"state": "gathered"})
    assert gathered.rc == 0, gathered.result
    check = keepalived.keepalived_table_check(gathered.result["gathered"], "\n".join(kad.rendered))
    assert check == {"equal": True, "differences": [], "down": [], "live": kad.rendered}
    # Real packets through the table keepalived built: persistent port 80 keeps the client on one server.
    answers = {lab.request("client1", 80) for attempt in range(4)}
    assert len(answers) == 1 and answers <= {"rs1", "rs2"}, answers


def test_a_dead_real_server_leaves_the_table_and_comes_back(kad):
    lab, director = kad.lab, kad.lab.director
    assert _wait(lambda: _saved(director) == kad.rendered, 30) is not None
    rs1 = lab.rs[0].ip
    # Stop rs1's web server (ports 80 and 443): every service's check of rs1 now fails.
    server = lab._procs.pop(0)  # pylint: disable=protected-access
    server.kill()
    server.wait()
    gone = _wait(lambda: rs1 not in director.run("ipvsadm -Sn"), DETECT_WITHIN + 10)
    assert gone is not None, f"{rs1} is still in the table: {_saved(director)}"
    print(f"health check: {rs1} left all 3 services {gone:.1f} s after its web server stopped "
          f"(documented bound {DETECT_WITHIN - SLACK} s: delay_loop {DEFAULTS['delay_loop']} + retry "
          f"{DEFAULTS['retry']} x delay_before_retry {DEFAULTS['delay_before_retry']})")
    assert gone <= DETECT_WITHIN, f"{gone:.1f} s is over the detection time {DETECT_WITHIN} s"
    assert _saved(director) == [line for line in kad.rendered if rs1 + ":" not in line]
    assert {lab.request("client1", 80) for attempt in range(3)} == {"rs2"}
    # Start it again: it comes back into every service, with its weight.
    server = kad.web_server(0)
    try:
        back = _wait(lambda: _saved(director) == kad.rendered, RETURN_WITHIN + 10)
        assert back is not None, f"{rs1} did not come back: {_saved(director)}"
        print(f"health check: {rs1} was back in all 3 services {back:.1f} s after its web server started "
              f"(bound {RETURN_WITHIN - SLACK} s: delay_loop)")
        assert back <= RETURN_WITHIN
    finally:
        lab._procs.append(server)  # pylint: disable=protected-access  # Lab.down stops it


def test_the_kernel_check_catches_a_table_that_differs(kad, run_module):
    lab, director = kad.lab, kad.lab.director
    assert _wait(lambda: _saved(director) == kad.rendered, 30) is not None
    rs1 = lab.rs[0].ip
    director.run(f"ipvsadm -e -t {lab.vip}:80 -r {rs1}:80 -g -w 7 && ipvsadm -A -u {lab.vip}:53 -s rr")
    try:
        gathered = run_module(NamedNetns(director.ns), "ipvs_config", {"state": "gathered"})
        check = keepalived.keepalived_table_check(gathered.result["gathered"], "\n".join(kad.rendered))
        assert not check["equal"]
        assert check["differences"] == [
            f"service in the kernel that keepalived.conf does not describe: -A -u {lab.vip}:53 -s rr",
            f"real server in the kernel differs: -a -t {lab.vip}:80 -r {rs1}:80 -g -w 7 "
            f"(rendered: -a -t {lab.vip}:80 -r {rs1}:80 -g -w 2)",
        ], check
    finally:
        director.run(f"ipvsadm -e -t {lab.vip}:80 -r {rs1}:80 -g -w 2 && ipvsadm -D -u {lab.vip}:53")
    assert _saved(director) == kad.rendered


def test_keepalived_refuses_a_bad_config_in_the_director(kad, tmp_path):
    """``keepalived --config-test -f FILE``, the role's ``validate``: 0 for the rendered file, not 0 for a bad one."""
    director = kad.lab.director
    good = director.run(f"keepalived --config-test -f {kad.conf}; echo rc=$?", check=False)
    assert good.strip().endswith("rc=0"), good
    bad = tmp_path / "bad.conf"
    bad.write_text(kad.conf.read_text().replace("lb_algo rr", "lb_algo fastest", 1))
    out = director.run(f"keepalived --config-test -f {bad} 2>&1; echo rc=$?", check=False)
    assert not out.strip().endswith("rc=0") and "fastest" in out, out
    # A config naming an interface the director does not have is refused as well.
    bad.write_text(kad.conf.read_text().replace("interface eth0", "interface eth9"))
    out = director.run(f"keepalived --config-test -f {bad} 2>&1; echo rc=$?", check=False)
    assert not out.strip().endswith("rc=0") and "eth9" in out, out
