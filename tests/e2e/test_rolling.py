# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/rolling_maintenance.yml over the lab's real servers while clients keep sending requests.

The clients' load (tools/lvslab/load.py) goes to every persistent case of the lab (firewall-mark 80+443, PPC 80
and 23, PCC, granularity), so every persistence template a real server holds is in use. The maintenance
tasks make the server refuse its web ports for a few seconds (as an upgrade restarting the web server
would): a request sent there in that time fails, so 0 failed requests shows that the drain took the server
out first. A thread reads the director's table (``ipvsadm -Sn``) twice a second: the weights over time, which
explain (or not) every client that moved. The maintenance tasks also save the director's
``/proc/net/ip_vs_conn`` as it is when they start: nothing there may point at the server.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from lvslab import load
from lvslab.cluster import SiteLab

ROLLING = Path(__file__).resolve().parents[2] / "playbooks" / "rolling_maintenance.yml"
CASES = {"fwmark": (80, 443), "ppc": (80, 23), "pcc": (80,), "granularity": (80,)}
MAINTENANCE = """\
---
- name: Save the director's connection table as the maintenance starts
  ansible.builtin.command: cat /proc/net/ip_vs_conn
  delegate_to: director
  register: lab_conns
  changed_when: false

- name: Keep it for the test
  ansible.builtin.copy:
    content: "{{{{ lab_conns.stdout }}}}"
    dest: "{dir}/conns-{{{{ inventory_hostname }}}}"
    mode: "0644"
  delegate_to: director

- name: Fail here when told (the failed-batch test)
  ansible.builtin.fail:
    msg: maintenance of {{{{ inventory_hostname }}}} failed on purpose
  when: inventory_hostname == (lab_fail_on | default(''))

- name: The web service is down for a while (an upgrade restarting it)
  ansible.builtin.command: >-
    iptables -I INPUT -p tcp -m multiport --dports 80,443,23,8080 -j REJECT --reject-with tcp-reset
  changed_when: true

- name: Upgrade time
  ansible.builtin.command: sleep 3
  changed_when: false

- name: The web service is back
  ansible.builtin.command: >-
    iptables -D INPUT -p tcp -m multiport --dports 80,443,23,8080 -j REJECT --reject-with tcp-reset
  changed_when: true
"""


class Weights(threading.Thread):
    """The director's weights over time: ``(time, {real server address: lowest weight over its services})``."""

    def __init__(self, lab: SiteLab) -> None:
        super().__init__(daemon=True)
        self.lab, self.samples, self.done = lab, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            now, table = time.time(), self.lab.director.run("ipvsadm -Sn", check=False)
            weights: dict[str, int] = {}
            for m in re.finditer(r"^-a .* -r \[?([0-9a-f.:]+?)\]?:\d+ .*-w (\d+)", table, re.M):
                weights[m.group(1)] = min(int(m.group(2)), weights.get(m.group(1), 1 << 30))
            self.samples.append((now, weights))
            self.done.wait(0.5)

    def out_of_rotation(self, server: str, t1: float, t2: float) -> bool:
        """Whether ``server`` (a name) had weight 0 somewhere between t1 and t2 (one sample of slack each side)."""
        address = self.lab.hosts[server].ip
        times = [sample[0] for sample in self.samples]
        first = max(0, next((i for i, t in enumerate(times) if t >= t1), len(times)) - 1)
        last = next((i for i, t in enumerate(times) if t > t2), len(times) - 1)
        return any(weights.get(address) == 0 for _when, weights in self.samples[first:last + 1])


def _under_load(lab: SiteLab, name: str, min_count: int, **extra: str):
    """Run the rolling playbook with ``extra`` variables while the clients send requests, at least ``min_count``
    each, until it ends (they stop by themselves after 3,000 each or 900 s)."""
    tasks = lab.dir / "maintenance.yml"
    tasks.write_text(MAINTENANCE.format(dir=lab.dir))
    urls = [f"{'https' if port == 443 else 'http'}://{lab.vip_of(case)}:{port}/"
            for case, ports in CASES.items() for port in ports]
    weights = Weights(lab)
    weights.start()
    procs = load.start({c: lab.hosts[c].ns for c in lab.clients}, urls, count=3000, interval=0.1, deadline=900,
                       out_dir=lab.dir / f"load-{name}", min_count=min_count)
    started = time.monotonic()
    args = [f"{k}={v}" for k, v in {"lvs_rolling_tasks": str(tasks), "lvs_rolling_drain_timeout": 120, **extra}.items()]
    proc = lab.ansible("ansible-playbook", str(ROLLING), *[a for kv in args for a in ("-e", kv)])
    playbook = time.monotonic() - started
    records = load.collect(procs, timeout=900)
    weights.done.set()
    weights.join()
    vips = {lab.vip_of(case): case for case in CASES}

    def template(r: dict) -> tuple:
        case = vips[r["url"].split("/")[2].rsplit(":", 1)[0]]
        if case == "granularity":
            return (case,)  # the clients of one /24 share a template
        return (r["client"], case) if case in ("fwmark", "pcc") else (r["client"], case, r["port"])

    seen = load.summary(records, template=template, out_of_rotation=weights.out_of_rotation)
    return proc, playbook, seen, records


def _conns_to(lab: SiteLab, rs: str) -> list[str]:
    """Rows of the saved /proc/net/ip_vs_conn that point at ``rs`` (real server address, hex, 6th field), but for
    templates the kernel invalidated when their client came back (virtual port FFFF): they bind nobody."""
    text = (lab.dir / f"conns-{rs}").read_text()
    hexip = "".join(f"{int(o):02X}" for o in lab.hosts[rs].ip.split("."))
    rows = [line.split() for line in text.splitlines()[1:]]
    return [" ".join(f) for f in rows if len(f) > 5 and f[5] == hexip and f[4] != "FFFF"]


def test_rolling_maintenance_under_load_drops_nothing(lab: SiteLab) -> None:
    before = lab.director.run("ipvsadm -Sn")
    proc, seconds, seen, records = _under_load(lab, "all", min_count=1000)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    print(f"\nrolling maintenance of {', '.join(lab.real_servers)} in {seconds:.0f} s under load: "
          f"{seen['requests']} requests, {seen['failed']} failed, answers {seen['servers']}, {seen['moves']} moves "
          f"of a client to another server, {seen['moves_unexplained']} of them away from a server in rotation")
    assert seen["requests"] >= 2000, seen
    assert seen["failed"] == 0, seen["errors"]
    assert seen["moves_unexplained"] == 0, seen["unexplained"]
    # it really went through both: every server saved the table as its maintenance began, nothing pointed at it
    for rs in lab.real_servers:
        left = _conns_to(lab, rs)
        assert left == [], f"{rs}'s maintenance began with connections or templates left: {left}"
    assert {r["server"] for r in records if r["ok"]} == set(lab.real_servers)
    assert lab.director.run("ipvsadm -Sn") == before, "the weights did not all come back"


def test_failed_maintenance_stops_with_the_server_out_of_rotation(lab: SiteLab) -> None:
    before = lab.director.run("ipvsadm -Sn")
    second = lab.real_servers[1]
    proc, seconds, seen, _records = _under_load(lab, "fail", min_count=0, lab_fail_on=second)
    print(f"\nrolling maintenance failing on {second} after {seconds:.0f} s: {seen['requests']} requests, "
          f"{seen['failed']} failed, {seen['moves_unexplained']} unexplained moves")
    assert proc.returncode != 0 and "failed on purpose" in proc.stdout, proc.stdout[-3000:]
    assert seen["failed"] == 0, seen["errors"]
    assert seen["moves_unexplained"] == 0, seen["unexplained"]
    after = lab.director.run("ipvsadm -Sn")
    address = lab.hosts[second].ip
    theirs = [line for line in after.splitlines() if f"-r {address}:" in line]
    assert theirs and all(line.endswith(" -w 0") for line in theirs), after
    # nothing else changed: the other lines as before, but the granularity case's sh service keeps sh-fallback while
    # the server is out (without it the kernel refuses the clients that hash to it); this server's lines as before
    # but for the weight
    strip = re.compile(r" -w \d+$")
    fallback = re.compile(r"^(-A .* -s sh(?: -p \d+)?(?: -M \S+)?)$")
    assert sorted(line for line in after.splitlines() if f"-r {address}:" not in line) == \
        sorted(fallback.sub(r"\1 -b sh-fallback", line) for line in before.splitlines() if f"-r {address}:" not in line)
    assert any(line.endswith(" -s sh -p 300 -M 255.255.255.0 -b sh-fallback") for line in after.splitlines()), after
    assert sorted(strip.sub("", line) for line in theirs) == \
        sorted(strip.sub("", line) for line in before.splitlines() if f"-r {address}:" in line)
    # run again for that server alone, without the failure: it is back with its weights
    again = lab.ansible("ansible-playbook", str(ROLLING), "-e", f"lvs_rolling_hosts={second}",
                        "-e", f"lvs_rolling_tasks={lab.dir / 'maintenance.yml'}")
    assert again.returncode == 0, again.stdout[-3000:]
    assert lab.director.run("ipvsadm -Sn") == before
