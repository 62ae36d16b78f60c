# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""With real connections through a DR lab: edits keep live persistence templates, ipvs_info
shows them, and a drain waits for them."""

from __future__ import annotations

import threading
from collections.abc import Callable

from _ipvs_helpers import apply
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import STAT_NAMES
from ansible_collections.lvs.ipvs.plugins.module_utils._model import parse_ip_vs_conn
from conftest import Netns
from lvslab.lab import Lab


def _templates(director: Netns, port: int = 80) -> list[dict]:
    return [r for r in parse_ip_vs_conn(director.proc("net/ip_vs_conn")) if r["template"] and r["virtual_port"] == port]


def _two_real_servers(run_module, lab: Lab, scheduler: str) -> tuple[Netns, dict, str, str]:
    """A persistent (600 s) service of ``scheduler`` over the lab's two real servers, with
    expire_quiescent_template=1 and tcp_fin 1 s; client1's first request: (director, service, answer, its address)."""
    director = Netns(lab.director.ns)
    director.run("sysctl -qw net.ipv4.vs.expire_quiescent_template=1 && ipvsadm --set 900 1 300")
    svc = {"address": lab.vip, "port": 80}
    apply(run_module, director, "ipvs_service", {**svc, "scheduler": scheduler, "persistence_timeout": 600})
    for rs in lab.rs:
        apply(run_module, director, "ipvs_real_server", {"service": svc, "address": rs.ip, "weight": 1})
    first = lab.request("client1", 80)
    assert first.startswith("rs"), first
    return director, svc, first, lab[first].ip


def _drain_while(run_module, director: Netns, svc: dict, address: str, meanwhile: Callable[[], None]):
    """ipvs_real_server drains ``address`` (40 s deadline) while ``meanwhile`` runs beside it; it drained."""
    client = threading.Thread(target=meanwhile, daemon=True)
    client.start()
    res = run_module(director, "ipvs_real_server", {"service": svc, "address": address, "state": "absent",
                                                    "drain": True, "drain_timeout": 40})
    client.join()
    assert res.changed and not res.failed and res.result["drained"], res.result
    return res


def test_edits_keep_the_live_persistence_template(run_module):
    with Lab("ipvstpl", real_servers=2, clients=1, ports=(80,)) as lab:
        director = Netns(lab.director.ns)
        svc = {"address": lab.vip, "port": 80}
        apply(run_module, director, "ipvs_service", {**svc, "scheduler": "rr", "persistence_timeout": 600})
        for rs in lab.rs:
            apply(run_module, director, "ipvs_real_server", {"service": svc, "address": rs.ip, "weight": 1})
        first = lab.request("client1", 80)
        assert first.startswith("rs"), first
        (template,) = _templates(director)
        ident = (template["client_address"], template["dest_address"])
        assert template["client_port"] == 0 and template["client_address"] == lab.hosts["client1"].ip

        edits = [
            ("ipvs_service", {**svc, "scheduler": "wlc"}),
            ("ipvs_service", {**svc, "persistence_timeout": 900}),
            ("ipvs_real_server", {"service": svc, "address": template["dest_address"], "weight": 5}),
            ("ipvs_service", {**svc, "persistence_netmask": "255.255.255.0"}),
        ]
        for module, args in edits:
            res = run_module(director, module, args)
            assert res.changed and not res.failed, res.result
            left = [(t["client_address"], t["dest_address"]) for t in _templates(director)]
            assert ident in left, f"{module} {args} lost the persistence template {ident}: {left}"
            if "persistence_netmask" not in args:
                # The template still decides: the client lands on the same real server.
                assert lab.request("client1", 80) == first, f"after {module} {args}"
        assert director.ipvsadm_save()[0] == f"-A -t {lab.vip}:80 -s wlc -p 900 -M 255.255.255.0"


def test_info_and_drain_with_live_connections(run_module):
    with Lab("ipvsinfo", real_servers=2, clients=1, ports=(80,)) as lab:
        director = Netns(lab.director.ns)
        svc = {"address": lab.vip, "port": 80}
        apply(run_module, director, "ipvs_service", {**svc, "scheduler": "rr", "persistence_timeout": 600})
        for rs in lab.rs:
            apply(run_module, director, "ipvs_real_server", {"service": svc, "address": rs.ip, "weight": 2})
        answer = lab.request("client1", 80)
        assert answer.startswith("rs"), answer
        busy_ip = lab.hosts[answer].ip
        idle_ip = next(rs.ip for rs in lab.rs if rs.ip != busy_ip)

        info = run_module(director, "ipvs_info", {}, check_mode=True)
        assert not info.failed and not info.changed, info.result
        r = info.result
        assert r["rules"] == director.ipvsadm_save()
        assert r["timeouts"] == {"tcp": 900, "tcp_fin": 120, "udp": 300}
        assert r["sysctls"]["expire_quiescent_template"] == "0"
        templates = [c for c in r["connections"] if c["template"]]
        assert [(t["client_address"], t["client_port"], t["dest_address"]) for t in templates] == [
            (lab.hosts["client1"].ip, 0, busy_ip)]
        assert any(not c["template"] and c["client_port"] != 0 for c in r["connections"])
        (service,) = r["services"]
        dests = {d["address"]: d for d in service["real_servers"]}
        assert dests[busy_ip]["persistent_connections"] == 1
        # (the kernel folds per-CPU counters into these every 2 s, so a fresh connection may not show yet)
        assert set(service["stats"]) == set(STAT_NAMES) and all(isinstance(v, int) for v in service["stats"].values())

        # The idle real server drains at once and is removed.
        res = run_module(director, "ipvs_real_server",
                         {"service": svc, "address": idle_ip, "state": "absent", "drain": True, "drain_timeout": 30})
        assert res.changed and not res.failed and res.result["drained"], res.result
        assert not any(idle_ip in line for line in director.ipvsadm_save())

        # The busy one keeps its template: the deadline passes, it stays with weight 0 and the task says why.
        res = run_module(director, "ipvs_real_server",
                         {"service": svc, "address": busy_ip, "state": "absent", "drain": True, "drain_timeout": 2})
        assert res.failed and res.changed, res.result
        assert res.result["left"]["persistent"] == 1
        assert f"real server {busy_ip}:80 of TCP {lab.vip}:80 still has" in res.msg
        assert f"-a -t {lab.vip}:80 -r {busy_ip}:80 -g -w 0" in director.ipvsadm_save()


def test_drain_does_not_wait_for_templates_the_kernel_invalidated(run_module):
    """With expire_quiescent_template=1, a client of a weight-0 server that comes back is scheduled afresh and its
    template is invalidated (ports 0xffff), yet it stays in the kernel's persistent count until its 600 s run out:
    the drain ends when the client has left, not 600 s later (before: it waited out its deadline)."""
    with Lab("ipvsinv", real_servers=2, clients=1, ports=(80,)) as lab:
        director, svc, first, busy_ip = _two_real_servers(run_module, lab, "rr")
        answers: list[str] = []

        def comes_back() -> None:  # while the drain waits: the client's next page, then another
            for _page in range(2):
                threading.Event().wait(3)
                answers.append(lab.request("client1", 80))

        _drain_while(run_module, director, svc, busy_ip, comes_back)
        assert answers and all(a.startswith("rs") and a != first for a in answers), (first, answers)
        assert not any(busy_ip in line for line in director.ipvsadm_save())
        # the invalidated template is still in the kernel's table (what the kernel's count kept waiting for)
        left = [r for r in parse_ip_vs_conn(director.proc("net/ip_vs_conn")) if r["template"]
                and r["dest_address"] == busy_ip]
        assert left and all(r["virtual_port"] == 0xFFFF for r in left), left


def test_drain_under_sh_passes_the_clients_on_with_the_fallback_flag(run_module):
    """sh without sh-fallback refuses a client whose hash lands on a weight-0 real server (ICMP port unreachable:
    "connection refused"), so a plain quiesce under sh refuses clients. A drain sets sh-fallback while it waits
    (the client comes back and gets the other real server) and gives the service its own flags back after."""
    with Lab("ipvssh", real_servers=2, clients=1, ports=(80,)) as lab:
        director, svc, first, busy_ip = _two_real_servers(run_module, lab, "sh")
        service_line = f"-A -t {lab.vip}:80 -s sh -p 600"
        assert director.ipvsadm_save()[0] == service_line

        # What the kernel does without the flag: a plain weight 0 refuses the client (the module leaves the flags).
        apply(run_module, director, "ipvs_real_server", {"service": svc, "address": busy_ip, "weight": 0})
        assert director.ipvsadm_save()[0] == service_line
        refused = lab.request("client1", 80)
        assert refused.startswith("curl: (7) Failed to connect"), refused  # curl's "connection refused"
        apply(run_module, director, "ipvs_real_server", {"service": svc, "address": busy_ip, "weight": 1})
        assert lab.request("client1", 80) == first

        answers: list[str] = []
        during: list[str] = []

        def comes_back() -> None:  # once the drain has quiesced the real server: the client's next page
            for _poll in range(150):
                save = director.ipvsadm_save()
                if f"-a -t {lab.vip}:80 -r {busy_ip}:80 -g -w 0" in save:
                    break
                threading.Event().wait(0.2)
            during.append(save[0])
            answers.append(lab.request("client1", 80))

        res = _drain_while(run_module, director, svc, busy_ip, comes_back)
        assert "scheduler_flags" in res.result["changes"], res.result
        assert during == [f"-A -t {lab.vip}:80 -s sh -p 600 -b sh-fallback"], during
        assert answers and all(a.startswith("rs") and a != first for a in answers), (first, answers)
        save = director.ipvsadm_save()
        assert save[0] == service_line, save
        assert not any(busy_ip in line for line in save), save
