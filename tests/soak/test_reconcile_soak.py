# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A randomized reconcile soak: the director role applies random inventory edits while clients send requests.

A lab of one director, three DR real servers and two clients (tools/lvslab/cluster.py), set up once by
playbooks/site.yml with a pool of three VIPs on the real servers. Then ``LVS_SOAK_ROUNDS`` rounds (20), each:

1. a random edit of ``director_services`` (seeded: ``LVS_SOAK_SEED``, printed): services added and removed,
   real servers added, removed and reweighted, the scheduler or the persistence timeout changed;
2. both clients send requests to every service the round keeps (a new connection each, every 0.2 s), the
   persistence templates on the director are read, and site.yml runs for the director alone, with
   ``director_drain_removed`` on (a removed real server goes to weight 0 and is removed once its
   connections and templates are gone; ``expire_quiescent_template=1`` moves its persistent clients on);
3. then: ``ipvsadm -Sn`` is exactly the inventory's table (read independently of the role: every service,
   scheduler, persistence timeout, real server and weight); 0 requests failed; every template the director
   held before the run, on a service the round kept and to a real server the service kept, is still there
   and still points at the same real server (an edit in place loses no client).

A failure names the seed and the round: ``LVS_SOAK_SEED=N bin/test soak`` replays it.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from lvslab import COLLECTIONS, load
from lvslab.cluster import PLAIN_PORTS, SITE, SiteLab

sys.path.insert(0, str(COLLECTIONS))
from ansible_collections.lvs.ipvs.plugins.module_utils._model import INVALIDATED_PORT, parse_ip_vs_conn

ROUNDS = int(os.environ.get("LVS_SOAK_ROUNDS", "20"))
SEED = int(os.environ.get("LVS_SOAK_SEED") or random.SystemRandom().randrange(1, 1 << 31))
VIP_HOSTS = (200, 201, 202)
SCHEDULERS = ("rr", "wrr", "wlc", "lc", "sh")
TIMEOUTS = (60, 120, 300)


class SoakLab(SiteLab):
    """The lab with the soak's services instead of the cases' (and the VIP pool on every real server)."""

    def __init__(self) -> None:
        # The boot files (7 of the director role's tasks, each round) touch nothing the soak checks; the roles
        # stage and Molecule prove them.
        super().__init__([], tag="lvssoak", subnet=81, real_servers=3, boot_persistence=False)
        self.vips = [f"{self.net}.{h}" for h in VIP_HOSTS]
        self.services: list[dict] = []

    def director_vars(self) -> dict:
        out = super().director_vars()
        out["director_services"] = self.services
        out["director_timeouts"] = {"tcp_fin": 2}  # a closed connection leaves the drain's count soon
        # purge: a service the inventory no longer lists goes (the lab's director has the soak's services only)
        out.update(director_purge=True, director_drain_removed=True, director_drain_timeout=60,
                   director_drain_on_timeout="fail")
        return out

    def real_server_vars(self, name: str) -> dict:
        out = super().real_server_vars(name)
        out["real_server_vips"] = self.vips
        out["real_server_tls_subject_alt_names"] = ["DNS:shop.lab.example", *(f"IP:{v}" for v in self.vips)]
        return out

    def apply(self, services: list[dict], *limit: str):
        self.services = services
        self._write_inventory()
        return self.ansible("ansible-playbook", str(SITE), *limit)


def key(svc: dict) -> str:
    return f"{svc['vip']}:{svc['ports'][0]}"


def first_services(lab: SoakLab, rng: random.Random) -> list[dict]:
    return [new_service(lab, rng, vip, port) for vip, port in rng.sample(universe(lab), 4)]


def universe(lab: SoakLab) -> list[tuple[str, int]]:
    return [(vip, port) for vip in lab.vips for port in PLAIN_PORTS]


def new_service(lab: SoakLab, rng: random.Random, vip: str, port: int) -> dict:
    servers = rng.sample(lab.real_servers, rng.randint(1, len(lab.real_servers)))
    return {"name": f"soak-{vip.rsplit('.', 1)[1]}-{port}", "vip": vip, "ports": [port],
            "scheduler": rng.choice(SCHEDULERS), "persistence_timeout": rng.choice(TIMEOUTS),
            "real_servers": [{"address": lab.hosts[rs].ip, "weight": rng.randint(1, 5), "forwarding": "dr"}
                             for rs in sorted(servers)]}


def edit(lab: SoakLab, rng: random.Random, services: list[dict]) -> tuple[list[dict], list[str]]:
    """A random edit of 1 to 3 changes; returns the new services and what changed, in words."""
    out = yaml.safe_load(yaml.safe_dump(services))
    words: list[str] = []
    for _change in range(rng.randint(1, 3)):
        kinds = ["reweight", "scheduler", "timeout"]
        free = [vp for vp in universe(lab) if f"{vp[0]}:{vp[1]}" not in {key(s) for s in out}]
        if free:
            kinds += ["add service"] * (2 if len(out) < 4 else 1)
        if len(out) > 2:
            kinds.append("remove service")
        if any(len(s["real_servers"]) < len(lab.real_servers) for s in out):
            kinds.append("add real server")
        if any(len(s["real_servers"]) > 1 for s in out):
            kinds.append("remove real server")
        kind = rng.choice(kinds)
        if kind == "add service":
            svc = new_service(lab, rng, *rng.choice(free))
            out.append(svc)
            words.append(f"add {key(svc)}")
            continue
        if kind == "remove service":
            svc = out.pop(rng.randrange(len(out)))
            words.append(f"remove {key(svc)}")
            continue
        if kind == "add real server":
            svc = rng.choice([s for s in out if len(s["real_servers"]) < len(lab.real_servers)])
            have = {rs["address"] for rs in svc["real_servers"]}
            address = rng.choice([lab.hosts[n].ip for n in lab.real_servers if lab.hosts[n].ip not in have])
            svc["real_servers"].append({"address": address, "weight": rng.randint(1, 5), "forwarding": "dr"})
            words.append(f"{key(svc)} add {address}")
            continue
        if kind == "remove real server":
            svc = rng.choice([s for s in out if len(s["real_servers"]) > 1])
            gone = svc["real_servers"].pop(rng.randrange(len(svc["real_servers"])))
            words.append(f"{key(svc)} remove {gone['address']}")
            continue
        svc = rng.choice(out)
        if kind == "reweight":
            rs = rng.choice(svc["real_servers"])
            rs["weight"] = rng.choice([w for w in range(1, 6) if w != rs["weight"]])
            words.append(f"{key(svc)} {rs['address']} weight {rs['weight']}")
        elif kind == "scheduler":
            svc["scheduler"] = rng.choice([s for s in SCHEDULERS if s != svc["scheduler"]])
            words.append(f"{key(svc)} scheduler {svc['scheduler']}")
        else:
            svc["persistence_timeout"] = rng.choice([t for t in TIMEOUTS if t != svc["persistence_timeout"]])
            words.append(f"{key(svc)} persistence {svc['persistence_timeout']}")
    return out, words


def kernel_table(lab: SoakLab) -> dict[str, dict]:
    """``ipvsadm -Sn`` as {VIP:port: {scheduler, timeout, real servers: {address: weight}}}."""
    table: dict[str, dict] = {}
    for line in lab.director.run("ipvsadm -Sn").splitlines():
        m = re.fullmatch(r"-A -t (\S+) -s (\w+)(?: -p (\d+))?", line.strip())
        if m:
            table[m.group(1)] = {"scheduler": m.group(2), "timeout": int(m.group(3) or 0), "real_servers": {}}
            continue
        m = re.fullmatch(r"-a -t (\S+) -r ([\d.]+):\d+ -g -w (\d+)", line.strip())
        if not m or m.group(1) not in table:
            raise AssertionError(f"a line of ipvsadm -Sn the soak did not configure: {line!r}")
        table[m.group(1)]["real_servers"][m.group(2)] = int(m.group(3))
    return table


def wanted_table(services: list[dict]) -> dict[str, dict]:
    return {key(s): {"scheduler": s["scheduler"], "timeout": s["persistence_timeout"],
                     "real_servers": {rs["address"]: rs["weight"] for rs in s["real_servers"]}} for s in services}


def templates(lab: SoakLab) -> dict[tuple[str, str], str]:
    """The director's live persistence templates: {(client, VIP:port): real server}."""
    rows = parse_ip_vs_conn(lab.director.run("cat /proc/net/ip_vs_conn"))
    return {(r["client_address"], f"{r['virtual_address']}:{r['virtual_port']}"): r["dest_address"]
            for r in rows if r["template"] and r["virtual_port"] != INVALIDATED_PORT}


@pytest.fixture(scope="module")
def lab() -> Iterator[SoakLab]:
    the_lab = SoakLab()
    the_lab.services = first_services(the_lab, random.Random(SEED))  # up() writes the inventory with them
    with the_lab.configured():
        yield the_lab


def test_random_inventory_edits_under_load(lab: SoakLab) -> None:
    rng = random.Random(SEED)
    first_services(lab, rng)  # the same draws as the fixture's: the rounds follow from the seed alone
    services = lab.services
    totals = {"requests": 0, "failed": 0, "templates": 0, "kept": 0}
    print(f"\nsoak: seed {SEED} (replay: LVS_SOAK_SEED={SEED} bin/test soak), {ROUNDS} rounds")
    assert kernel_table(lab) == wanted_table(services), "site.yml's first run"
    for n in range(1, ROUNDS + 1):
        where = f"seed {SEED} round {n}"
        after, words = edit(lab, rng, services)
        kept = sorted({key(s) for s in services} & {key(s) for s in after})
        urls = [f"http://{k}/" for k in kept]
        procs = load.start({c: lab.hosts[c].ns for c in lab.clients}, urls, count=5000, interval=0.2, deadline=600,
                           out_dir=lab.dir / f"load-{n}", min_count=2 * len(urls))
        time.sleep(0.4 * len(urls) + 0.5)  # every kept service asked at least once by each client
        before = templates(lab)
        started = time.monotonic()
        run = lab.apply(after, "--limit", "directors")
        seconds = time.monotonic() - started
        records = load.collect(procs, timeout=60)
        now = templates(lab)
        seen = load.summary(records)
        kept_servers = {key(s): {rs["address"] for rs in s["real_servers"]} for s in after}
        should = {t: rs for t, rs in before.items() if t[1] in kept and rs in kept_servers[t[1]]}
        lost = {t: (rs, now.get(t)) for t, rs in should.items() if now.get(t) != rs}
        totals["requests"] += seen["requests"]
        totals["failed"] += seen["failed"]
        totals["templates"] += len(should)
        totals["kept"] += len(should) - len(lost)
        print(f"round {n:>2}: {'; '.join(words)}: role {seconds:.0f} s, {seen['requests']} requests to "
              f"{len(kept)} kept services, {seen['failed']} failed; templates to keep {len(should)}, lost {len(lost)}")
        assert run.returncode == 0, f"{where}: the role failed\n{run.stdout[-4000:]}{run.stderr[-2000:]}"
        assert kernel_table(lab) == wanted_table(after), f"{where}: ipvsadm -Sn is not the inventory's table"
        assert seen["failed"] == 0, f"{where}: failed requests {seen['errors']}"
        assert seen["requests"] >= 2 * len(urls), f"{where}: the load did not run: {seen}"
        assert not lost, f"{where}: templates lost or moved (client, service): (before, after) {lost}"
        services = after
    print(f"soak: {ROUNDS} rounds, {totals['requests']} requests, {totals['failed']} failed, "
          f"{totals['kept']} of {totals['templates']} templates kept")
    assert totals["templates"] > 0, "no template was ever checked: the soak proves nothing about persistence"
