# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ipvs_config on a kernel, judged by ipvsadm: every state four ways (check, apply, again, check again),
the seeds' ``ipvsadm -S`` text parsed and then merged, a live persistence template through a ``replaced``
run, a race lost to another task, and bad configs that change nothing and name every offender."""

from __future__ import annotations

import pytest
from _ipvs_helpers import VIP, apply, four_way
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs
from ansible_collections.lvs.ipvs.plugins.module_utils._model import parse_ip_vs_conn
from conftest import Netns
from lvslab.lab import Lab

RS1, RS2, RS3 = "192.168.1.2", "192.168.1.3", "192.168.1.4"

# The seeds, typed by hand with ipvsadm (the PPC, PCC and firewall-mark examples of the seeds, and one
# with every other kind of setting the collection manages).
SEEDS = {
    "ppc": [f"-A -t {VIP}:80 -s rr -p 300", f"-a -t {VIP}:80 -r {RS1}:80 -g -w 1",
            f"-a -t {VIP}:80 -r {RS2}:80 -g -w 1", f"-A -t {VIP}:22 -s rr -p 300",
            f"-a -t {VIP}:22 -r {RS1}:22 -g -w 1", f"-a -t {VIP}:22 -r {RS2}:22 -g -w 1"],
    "pcc": [f"-A -t {VIP}:0 -s rr -p 600", f"-a -t {VIP}:0 -r {RS1}:0 -g -w 1", f"-a -t {VIP}:0 -r {RS2}:0 -g -w 1"],
    "fwmark": ["-A -f 10 -s rr -p 3600", f"-a -f 10 -r {RS1}:0 -g -w 1", f"-a -f 10 -r {RS2}:0 -g -w 1"],
    "everything": [
        f"-A -t {VIP}:443 -s wlc -p 600 -M 255.255.255.0",
        f"-a -t {VIP}:443 -r {RS1} -g -w 4",
        f"-a -t {VIP}:443 -r 192.168.1.9:8443 -m -w 0 -x 100 -y 10",
        "-A -f 11 -6 -s sh -b sh-fallback,sh-port -p 360 -M 64",
        "-a -f 11 -6 -r 2001:db8::2 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
        "-A -u [2001:db8::1]:53 -s rr -p 100 -M 48 -o",
        "-a -u [2001:db8::1]:53 -r [2001:db8::3]:53 -m -w 2",
        "-A --sctp-service 192.168.0.5:9 -s mh -b mh-port",
        "-a --sctp-service 192.168.0.5:9 -r 192.168.1.10:9 -i -w 3 --tun-type gre",
        "-A -u 192.168.0.9:5060 -s sh -b sh-port -p 100 -M 255.255.0.0 --pe sip -o",
        "-a -u 192.168.0.9:5060 -r 192.168.1.11:5060 -g -w 1",
    ],
}

WEB = {"address": VIP, "port": 80, "scheduler": "rr", "persistence_timeout": 300,
       "real_servers": [{"address": RS1}, {"address": RS2, "weight": 2}]}
SHOP = {"fwmark": 10, "scheduler": "wlc", "persistence_timeout": 3600, "persistence_netmask": "255.255.255.0",
        "real_servers": [{"address": RS1, "weight": 4}, {"address": RS2, "forwarding": "nat", "port": 8080}]}


def seed(ns: Netns, commands: list[str]) -> None:
    for cmd in commands:
        ns.run(f"ipvsadm {cmd}")


def _thresholds(ns: Netns, dest: str) -> tuple[str, str]:
    for line in ns.run("ipvsadm -Ln --thresholds").splitlines():
        cols = line.split()
        if cols[:2] == ["->", dest]:
            return cols[2], cols[3]
    raise AssertionError(f"no real server {dest} in ipvsadm -Ln --thresholds")


def _threshold_map(ns: Netns) -> dict[tuple[str, str], tuple[str, str]]:
    """``{(service, real server): (upper, lower)}`` from ``ipvsadm -Ln --thresholds`` (its order is per namespace)."""
    out, service = {}, ""
    for line in ns.run("ipvsadm -Ln --thresholds").splitlines():
        cols = line.split()
        if cols and cols[0] in ("TCP", "UDP", "SCTP", "FWM"):
            service = " ".join(cols[:2])
        elif cols[:1] == ["->"] and len(cols) >= 4 and cols[1] != "RemoteAddress:Port":
            out[(service, cols[1])] = (cols[2], cols[3])
    return out


def config(run_module, ns, state: str, entries: list | None = None, **extra) -> dict:
    args = {"state": state, **extra}
    if entries is not None:
        args["config"] = entries
    return four_way(run_module, ns, "ipvs_config", args)


def test_merged(netns, run_module):
    ns = netns
    res = config(run_module, ns, "merged", [WEB, SHOP])
    assert res["changes"] == [
        f"-A -t {VIP}:80 -s rr -p 300",
        "-A -f 10 -s wlc -p 3600 -M 255.255.255.0",
        f"-a -t {VIP}:80 -r {RS1}:80 -g -w 1",
        f"-a -t {VIP}:80 -r {RS2}:80 -g -w 2",
        f"-a -f 10 -r {RS1}:0 -g -w 4",
        f"-a -f 10 -r {RS2}:8080 -m -w 1",
    ]
    assert ns.ipvsadm_save() == sorted(res["changes"])
    assert res["diff"]["before"] == "" and res["diff"]["after"] == "".join(f"{line}\n" for line in ns.ipvsadm_save())
    # an edit names a few settings: the rest stays, and so do the real servers it does not list
    res = config(run_module, ns, "merged", [
        {"address": VIP, "port": 80, "persistence_timeout": 600,
         "real_servers": [{"address": RS2, "weight": 0}, {"address": RS3}]}])
    assert res["changes"] == [f"-E -t {VIP}:80 -s rr -p 600", f"-a -t {VIP}:80 -r {RS3}:80 -g -w 1",
                              f"-e -t {VIP}:80 -r {RS2}:80 -g -w 0"]
    assert ns.ipvsadm_save() == sorted([
        f"-A -t {VIP}:80 -s rr -p 600", f"-a -t {VIP}:80 -r {RS1}:80 -g -w 1", f"-a -t {VIP}:80 -r {RS2}:80 -g -w 0",
        f"-a -t {VIP}:80 -r {RS3}:80 -g -w 1",
        "-A -f 10 -s wlc -p 3600 -M 255.255.255.0", f"-a -f 10 -r {RS1}:0 -g -w 4", f"-a -f 10 -r {RS2}:8080 -m -w 1"])
    # timeouts: only the ones given change
    view = ns.ipvsadm_timeouts
    four_way(run_module, ns, "ipvs_config", {"timeouts": {"tcp": 300, "udp": 100}}, view=view)
    assert view() == "Timeout (tcp tcpfin udp): 300 120 100"
    res = four_way(run_module, ns, "ipvs_config", {"config": [WEB], "timeouts": {"tcp_fin": 60}}, view=view)
    assert res["changes"] == [f"-E -t {VIP}:80 -s rr -p 300", f"-e -t {VIP}:80 -r {RS2}:80 -g -w 2", "--set 0 60 0"]
    assert view() == "Timeout (tcp tcpfin udp): 300 60 100"


def test_replaced(netns, run_module):
    ns = netns
    seed(ns, [f"-A -t {VIP}:80 -s sh -b sh-port -p 600 -M 255.255.0.0", f"-a -t {VIP}:80 -r {RS1} -g -w 4",
              f"-a -t {VIP}:80 -r {RS2} -g -w 2", f"-a -t {VIP}:80 -r {RS3} -g -w 2 -x 50",
              *SEEDS["fwmark"]])
    untouched = [line for line in ns.ipvsadm_save() if "-f 10" in line]
    res = config(run_module, ns, "replaced", [
        {"address": VIP, "port": 80, "scheduler": "sh", "persistence_timeout": 600,
         "real_servers": [{"address": RS3, "weight": 2}, {"address": RS2, "weight": 5}, {"address": "192.168.1.5"}]}])
    # in place (-E, -e: never -D and -A of the service); the new real server before the removal
    assert res["changes"] == [
        f"-E -t {VIP}:80 -s sh -p 600",
        f"-a -t {VIP}:80 -r 192.168.1.5:80 -g -w 1",
        f"-e -t {VIP}:80 -r {RS3}:80 -g -w 2",
        f"-e -t {VIP}:80 -r {RS2}:80 -g -w 5",
        f"-d -t {VIP}:80 -r {RS1}:80",
    ]
    assert ns.ipvsadm_save() == sorted([
        f"-A -t {VIP}:80 -s sh -p 600", f"-a -t {VIP}:80 -r {RS2}:80 -g -w 5", f"-a -t {VIP}:80 -r {RS3}:80 -g -w 2",
        f"-a -t {VIP}:80 -r 192.168.1.5:80 -g -w 1", *untouched])
    assert _thresholds(ns, f"{RS3}:80") == ("0", "0")  # replaced: the upper threshold not given went
    # a service listed without real servers loses them
    res = config(run_module, ns, "replaced", [{"fwmark": 10, "scheduler": "rr", "persistence_timeout": 3600}])
    assert res["changes"] == [f"-d -f 10 -r {RS1}:0", f"-d -f 10 -r {RS2}:0"]
    assert "-A -f 10 -s rr -p 3600" in ns.ipvsadm_save()


def test_overridden(netns, run_module):
    ns = netns
    seed(ns, SEEDS["ppc"] + SEEDS["everything"])
    res = config(run_module, ns, "overridden", [WEB, SHOP])
    # additions and edits first; the services not listed go last, each with its -D only (no -d of theirs)
    assert res["changes"] == [
        "-A -f 10 -s wlc -p 3600 -M 255.255.255.0",
        f"-a -f 10 -r {RS1}:0 -g -w 4",
        f"-a -f 10 -r {RS2}:8080 -m -w 1",
        f"-e -t {VIP}:80 -r {RS2}:80 -g -w 2",
        "-D --sctp-service 192.168.0.5:9",
        "-D -f 11 -6",
        f"-D -t {VIP}:22",
        f"-D -t {VIP}:443",
        "-D -u 192.168.0.9:5060",
        "-D -u [2001:db8::1]:53",
    ]
    ours = run_module(ns, "ipvs_config", {"state": "rendered", "config": [WEB, SHOP]})
    assert ns.ipvsadm_save() == ours.result["rendered"].splitlines()
    config(run_module, ns, "overridden", [])
    assert ns.ipvsadm_save() == []


def test_deleted(netns, run_module):
    ns = netns
    seed(ns, SEEDS["ppc"] + SEEDS["fwmark"])
    res = config(run_module, ns, "deleted", [{"address": VIP, "port": 22}, {"fwmark": 10, "scheduler": "sh"},
                                             {"address": VIP, "port": 8080}])
    assert res["changes"] == [f"-D -t {VIP}:22", "-D -f 10"]
    assert ns.ipvsadm_save() == sorted(SEEDS["ppc"][:3])
    # config: [] is every service (config left out is an error, not "everything")
    missing = run_module(ns, "ipvs_config", {"state": "deleted"})
    assert missing.failed and ns.ipvsadm_save() == sorted(SEEDS["ppc"][:3])
    config(run_module, ns, "deleted", [])
    assert ns.ipvsadm_save() == []


def test_gathered_round_trips(netns, run_module):
    ns = netns
    seed(ns, SEEDS["everything"])
    before = ns.ipvsadm_save()
    res = run_module(ns, "ipvs_config", {"state": "gathered"}, check_mode=True)
    assert not res.failed and not res.changed, res.result
    gathered = res.result["gathered"]
    nat = next(s for s in gathered if s.get("port") == 443)["real_servers"]
    assert {"address": "192.168.1.9", "port": 8443, "forwarding": "nat", "weight": 0, "upper_threshold": 100,
            "lower_threshold": 10} in nat
    for state in ("merged", "replaced", "overridden"):
        for check_mode in (True, False):
            again = run_module(ns, "ipvs_config", {"state": state, "config": gathered}, check_mode=check_mode)
            assert not again.failed and not again.changed, (state, again.result)
    assert ns.ipvsadm_save() == before
    rendered = run_module(ns, "ipvs_config", {"state": "rendered", "config": gathered}).result["rendered"]
    # ipvsadm -S leaves the thresholds out; otherwise the same lines
    assert [line.replace(" -x 100 -y 10", "") for line in rendered.splitlines()] == before


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_parsed_then_merged_gives_the_same_table(name, make_netns, run_module):
    by_hand, by_module = make_netns("hand"), make_netns("mod")
    seed(by_hand, SEEDS[name])
    text = by_hand.run("ipvsadm -Sn")
    parsed = run_module(by_module, "ipvs_config", {"state": "parsed", "running_config": text})
    assert not parsed.failed and not parsed.changed, parsed.result
    assert by_module.ipvsadm_save() == []
    config(run_module, by_module, "merged", parsed.result["parsed"])
    assert by_module.ipvsadm_save() == by_hand.ipvsadm_save()
    # What ipvsadm -S does not save (thresholds) is not in the text: the module's table is what
    # ipvsadm -R makes of the same text, thresholds included.
    restored = make_netns("restore")
    restored.run("ipvsadm -R", input=text)
    assert _threshold_map(by_module) == _threshold_map(restored)


def test_an_add_that_lost_a_race_reads_again(netns, run_module, monkeypatch):
    """Another task adds the service between this task's read and its add: EEXIST, read again, go on."""
    ns = netns
    real_config = _ipvs.IpvsHandle.config
    reads = []

    def config_then_other_task(self, keys=None):
        table = real_config(self, keys)
        reads.append(len(table))
        if len(reads) == 1:
            ns.run(f"ipvsadm -A -t {VIP}:80 -s wlc && ipvsadm -a -t {VIP}:80 -r {RS1} -g -w 7")
        return table

    monkeypatch.setattr(_ipvs.IpvsHandle, "config", config_then_other_task)
    res = run_module(ns, "ipvs_config", {"config": [WEB]})
    assert not res.failed and res.changed, res.result
    assert reads == [0, 1]
    assert res.result["changes"] == [f"-E -t {VIP}:80 -s rr -p 300", f"-a -t {VIP}:80 -r {RS2}:80 -g -w 2"]
    assert ns.ipvsadm_save() == sorted([f"-A -t {VIP}:80 -s rr -p 300", f"-a -t {VIP}:80 -r {RS1}:80 -g -w 7",
                                        f"-a -t {VIP}:80 -r {RS2}:80 -g -w 2"])


# Several offenders in one config, with good services around them: nothing may change, each is named.
BAD = [
    {"address": VIP, "port": 80, "scheduler": "rr", "real_servers": [{"address": RS1}]},  # good
    {"address": VIP, "port": 81, "real_servers": [{"address": "10.0.0.5", "port": 8080, "forwarding": "dr"}]},
    {"address": VIP, "port": 82, "scheduler": "w l c"},
    {"address": VIP, "port": 83, "persistence_timeout": 2**33},
    {"address": VIP, "port": 84, "persistence_timeout": 60, "persistence_netmask": "0"},
    {"address": VIP, "port": 85, "scheduler": "nosuch"},
    {"address": VIP},
    {"fwmark": 12, "address": VIP},
    {"fwmark": 0},
    {"address": VIP, "port": 86, "protocol": "icmp"},
    {"address": "2001:db8::1", "port": 80, "persistence_timeout": 60, "persistence_netmask": "255.255.255.0"},
    {"address": VIP, "port": 87, "persistence_timeout": 60, "persistence_engine": "h323", "protocol": "udp"},
    {"address": VIP, "port": 88, "scheduler": "rr", "scheduler_flags": ["sh-port"]},
    {"address": VIP, "port": 89, "real_servers": [{"address": RS1, "weight": 70000}, {"address": RS2},
                                                  {"address": RS2, "port": 89}, {"weight": 1}, {"address": "10.0.0"},
                                                  {"address": "2001:db8::9"}]},
    {"address": VIP, "port": 80},  # the first service again
    {"address": VIP, "port": 90, "persistent": False, "persistence_timeout": 60},
    {"fwmark": 13, "protocol": "tcp"},
]
OFFENDERS = [
    "config[1] TCP 192.168.0.1:81: real server 10.0.0.5:8080: dr forwarding sends packets to the service port 81",
    "config[2] TCP 192.168.0.1:82: scheduler 'w l c' is not a scheduler name",
    "config[3] TCP 192.168.0.1:83: persistence timeout 8589934592 is not from 1 to 4294967295 seconds",
    "config[4] TCP 192.168.0.1:84: IPv4 persistence netmask /0 is not a prefix length from 1 to 32",
    "config[5] TCP 192.168.0.1:85: scheduler 'nosuch' is not one that Linux ships",
    "config[6]: service 192.168.0.1 needs a port",
    "config[7]: a firewall-mark service is identified by fwmark and family; address 192.168.0.1 cannot be given",
    "config[8]: firewall mark 0 is not from 1 to 4294967295",
    "config[9]: protocol 'icmp' is not one of tcp, udp, sctp",
    "config[10] TCP [2001:db8::1]:80: IPv6 persistence granularity '255.255.255.0' is not a prefix length",
    "config[11] UDP 192.168.0.1:87: persistence engine 'h323' is not one that Linux ships (sip)",
    "config[12] TCP 192.168.0.1:88: scheduler flag 'sh-port' is not valid for scheduler rr",
    "config[13] TCP 192.168.0.1:89: real server 192.168.1.2: weight 70000 is not from 0 to 65535",
    "config[13] TCP 192.168.0.1:89: real server 192.168.1.3:89: listed twice (real_servers[1] and [2])",
    "config[13] TCP 192.168.0.1:89: real_servers[3]: a real server needs an address",
    "config[13] TCP 192.168.0.1:89: real_servers[4]: real server address '10.0.0' is not an IPv4 or IPv6 address",
    "config[13] TCP 192.168.0.1:89: real server 2001:db8::9: an ipv6 real server of an ipv4 service needs forwarding",
    "config[14] TCP 192.168.0.1:80: listed twice (config[0] is the same service)",
    "config[15] TCP 192.168.0.1:90: persistence_timeout, persistence_netmask and persistence_engine need persistent",
    "config[16]: a firewall-mark service takes the marked packets of every protocol",
]


@pytest.mark.parametrize("state", ["merged", "replaced", "overridden", "deleted"])
def test_a_bad_config_changes_nothing_and_names_every_offender(state, netns, run_module):
    ns = netns
    seed(ns, SEEDS["ppc"])
    before, timeouts = ns.ipvsadm_save(), ns.ipvsadm_timeouts()
    extra = {} if state == "deleted" else {"timeouts": {"tcp": 1, "udp": 0}}
    for check_mode in (True, False):
        res = run_module(ns, "ipvs_config", {"state": state, "config": BAD, **extra}, check_mode=check_mode)
        assert res.failed and not res.changed, res.result
        assert (ns.ipvsadm_save(), ns.ipvsadm_timeouts()) == (before, timeouts), f"{state} changed the kernel"
        errors = res.result["errors"]
        for offender in OFFENDERS:
            assert any(error.startswith(offender) for error in errors), (offender, errors)
            assert offender in res.msg
        assert res.msg.startswith(f"{len(errors)} problems in config, nothing was changed:\n- ")
        assert not any(error.startswith("config[0]") for error in errors)
        numbers = [int(error[len("config["):].split("]")[0]) for error in errors if error.startswith("config[")]
        assert numbers == sorted(numbers) and len(numbers) == len(OFFENDERS), errors  # in config order
        if state != "deleted":
            assert errors[0] == "timeouts: cannot set the udp timeout to 0: it must be from 1 to 2147483 seconds"


def _templates(director: Netns, port: int = 80) -> list[dict]:
    return [r for r in parse_ip_vs_conn(director.proc("net/ip_vs_conn")) if r["template"] and r["virtual_port"] == port]


def test_a_live_persistence_template_survives_a_replaced_run(run_module):
    with Lab("ipvscfg", real_servers=2, clients=1, ports=(80,)) as lab:
        director = Netns(lab.director.ns)
        rs = [{"address": h.ip, "weight": 1} for h in lab.rs]
        web = {"address": lab.vip, "port": 80, "scheduler": "rr", "persistence_timeout": 600, "real_servers": rs}
        apply(run_module, director, "ipvs_config", {"state": "overridden", "config": [web]})
        first = lab.request("client1", 80)
        assert first.startswith("rs"), first
        (template,) = _templates(director)
        ident = (template["client_address"], template["dest_address"])
        assert template["client_address"] == lab.hosts["client1"].ip

        other = next(h.ip for h in lab.rs if h.ip != template["dest_address"])
        edits = [
            {**web, "scheduler": "wlc"},
            {**web, "scheduler": "wlc", "persistence_timeout": 900},
            {**web, "scheduler": "wlc", "persistence_timeout": 900,
             "real_servers": [{"address": template["dest_address"], "weight": 5}, {"address": other, "weight": 1}]},
            {**web, "scheduler": "wlc", "persistence_timeout": 900, "persistence_netmask": "255.255.255.0",
             "real_servers": [{"address": template["dest_address"], "weight": 5}, {"address": other, "weight": 1}]},
        ]
        for edit in edits:
            res = four_way(run_module, director, "ipvs_config", {"state": "replaced", "config": [edit]})
            assert not any(c.startswith(("-D", "-A", "-d")) for c in res["changes"]), res["changes"]
            left = [(t["client_address"], t["dest_address"]) for t in _templates(director)]
            assert ident in left, f"replaced {edit} lost the persistence template {ident}: {left}"
            if "persistence_netmask" not in edit:
                assert lab.request("client1", 80) == first, f"after replaced {edit}"
        assert director.ipvsadm_save()[0] == f"-A -t {lab.vip}:80 -s wlc -p 900 -M 255.255.255.0"
