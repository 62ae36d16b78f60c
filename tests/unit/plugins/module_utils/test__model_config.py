# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole table as data (ipvs_config's pure layer): check, plan, render, parse - no kernel."""

from __future__ import annotations

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils import _model as m
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ConfigError, ValidationError

VIP = "192.0.2.1"

# The seeds' tables as ipvsadm -S -n prints them (tests/kernel/test_roles_site.py types them by hand).
PPC = """\
-A -t 10.77.1.250:80 -s rr -p 300
-a -t 10.77.1.250:80 -r 10.77.1.11:80 -g -w 1
-a -t 10.77.1.250:80 -r 10.77.1.12:80 -g -w 1
-A -t 10.77.1.250:22 -s rr -p 300
-a -t 10.77.1.250:22 -r 10.77.1.11:22 -g -w 1
-a -t 10.77.1.250:22 -r 10.77.1.12:22 -g -w 1
"""
PCC = """\
-A -t 10.77.1.250:0 -s rr -p 600
-a -t 10.77.1.250:0 -r 10.77.1.11:0 -g -w 1
-a -t 10.77.1.250:0 -r 10.77.1.12:0 -g -w 1
"""
FWMARK = """\
-A -f 10 -s rr -p 3600
-a -f 10 -r 10.77.1.11:0 -g -w 1
-a -f 10 -r 10.77.1.12:0 -g -w 1
"""
# Every kind of line ipvsadm 1.31 saves: IPv6, firewall marks of both families, UDP with an engine and
# one-packet, scheduler flags, SCTP, NAT on another port, every tunnel, granularity.
EVERYTHING = """\
-A -f 11 -6 -s sh -p 360 -M 64 -b sh-fallback,sh-port
-a -f 11 -6 -r [2001:db8::2]:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-A -u 192.168.0.9:5060 -s sh -p 100 -M 255.255.0.0 --pe sip -o -b sh-port
-a -u 192.168.0.9:5060 -r 10.0.0.5:5070 -m -w 0
-A --sctp-service 192.168.0.1:9 -s mh -b mh-port
-a --sctp-service 192.168.0.1:9 -r 10.0.0.6:9 -i -w 3 --tun-type gre --tun-csum
-A -t [2001:db8::1]:443 -s wlc -p 120 -M 48
-a -t [2001:db8::1]:443 -r [2001:db8::5]:443 -g -w 2
-a -t [2001:db8::1]:443 -r 10.0.0.7:443 -i -w 1 --tun-type ipip
-A -t 192.168.0.1:80 -s wrr
-a -t 192.168.0.1:80 -r 10.0.0.8:8080 -m -w 5
"""
SEEDS = {"ppc": PPC, "pcc": PCC, "fwmark": FWMARK, "everything": EVERYTHING}


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def table(text: str) -> list[tuple[m.Service, list[m.Dest]]]:
    """A table as the kernel would hold it after ``ipvsadm -R`` of ``text``."""
    return m.apply_to_table([], m.plan([], m.validate_config(m.parse_ipvsadm_save(text)), "overridden"))


def plan(current_text: str, config: list[dict], state: str, **kwargs) -> list[str]:
    return [op.words for op in m.plan(table(current_text), m.validate_config(config), state, **kwargs)]


def after(current_text: str, config: list[dict], state: str) -> list[str]:
    current = table(current_text)
    return m.render_table(m.apply_to_table(current, m.plan(current, m.validate_config(config), state)))


def svc(port: int = 80, **options) -> dict:
    return {"address": VIP, "port": port, **options}


def rs(address: str, **options) -> dict:
    return {"address": address, **options}


# --- parse and render ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_render_of_parse_is_the_sorted_save_text(seed):
    text = SEEDS[seed]
    assert m.render_wanted(m.validate_config(m.parse_ipvsadm_save(text))) == sorted(lines(text))


@pytest.mark.parametrize("seed", SEEDS)
def test_parsed_is_config_and_gathered_has_the_same_shape(seed):
    parsed = m.parse_ipvsadm_save(SEEDS[seed])
    gathered = m.table_config(m.sort_table(table(SEEDS[seed])))

    def canon(config):  # (parsed keeps the file's order, gathered sorts)
        return sorted(repr({**s, "real_servers": sorted(map(repr, s["real_servers"]))}) for s in config)

    assert canon(parsed) == canon(gathered)
    # feeding it back changes nothing, in every state
    for state in ("merged", "replaced", "overridden"):
        assert plan(SEEDS[seed], parsed, state) == []


def test_parse_keeps_line_order_and_reads_sorted_files():
    parsed = m.parse_ipvsadm_save(PPC)
    assert [(s["port"], [r["address"] for r in s["real_servers"]]) for s in parsed] == [
        (80, ["10.77.1.11", "10.77.1.12"]), (22, ["10.77.1.11", "10.77.1.12"])]
    # sorted ipvsadm -S output has every -A line before the -a lines
    assert m.parse_ipvsadm_save("\n".join(sorted(lines(PPC)))) == sorted(parsed, key=lambda s: s["port"])


def test_parse_long_options_commands_comments_and_defaults():
    text = """
    # a rules file written by hand
    ipvsadm --add-service --tcp-service 192.0.2.1 --scheduler wlc --persistent
    ipvsadm --add-server --tcp-service 192.0.2.1:0 --real-server 10.0.0.1 --gatewaying --weight 4
    -A --fwmark-service 7 --ipv6 --scheduler rr   # comment after a line
    -a -f 7 -6 -r 2001:db8::9 --masquerading --u-threshold 100 --l-threshold 10
    -A -u 192.0.2.2:53 -s rr -p -M 24 --ops
    """
    parsed = m.parse_ipvsadm_save(text)
    assert parsed == [
        {"protocol": "tcp", "address": VIP, "port": 0, "scheduler": "wlc", "persistent": True,
         "persistence_timeout": 300, "real_servers": [{"address": "10.0.0.1", "port": 0, "forwarding": "dr",
                                                       "weight": 4}]},
        {"fwmark": 7, "family": "ipv6", "scheduler": "rr", "persistent": False,
         "real_servers": [{"address": "2001:db8::9", "port": 0, "forwarding": "nat", "weight": 1,
                           "upper_threshold": 100, "lower_threshold": 10}]},
        {"protocol": "udp", "address": "192.0.2.2", "port": 53, "scheduler": "rr", "persistent": True,
         "persistence_timeout": 300, "persistence_netmask": "255.255.255.0", "one_packet": True, "real_servers": []},
    ]
    assert m.render_wanted(m.validate_config(parsed)) == [
        "-A -f 7 -6 -s rr",
        "-A -t 192.0.2.1:0 -s wlc -p 300",
        "-A -u 192.0.2.2:53 -s rr -p 300 -M 255.255.255.0 -o",
        "-a -f 7 -6 -r [2001:db8::9]:0 -m -w 1 -x 100 -y 10",
        "-a -t 192.0.2.1:0 -r 10.0.0.1:0 -g -w 4",
    ]
    assert m.parse_ipvsadm_save("") == [] and m.parse_ipvsadm_save("# nothing\n\n") == []


def test_parse_errors_name_every_line_at_once():
    text = "\n".join([
        "-A -t 192.0.2.1:80 -s w l c",                # 1: stray words
        "-A -t 192.0.2.1:81 -s rr -p 8589934592",    # 2: 2^33
        "-a -t 192.0.2.1:81 -r 10.0.0.5:8080 -g",    # 3: DR on another port (its service is wrong too)
        "-a -t 192.0.2.9:80 -r 10.0.0.5 -g",         # 4: no such service
        "-C",                                         # 5: not a save line
        "-A -t 192.0.2.1:82 -s rr -p 60 -M 0",      # 6: netmask 0
        "-A -t 192.0.2.1:83 -s nosuch",              # 7: a scheduler Linux does not ship
        "-A -t 192.0.2.1:84 -s rr -w 3",             # 8: a real-server option on a service line
        "-A -t 192.0.2.1:85 -s rr",
        "-A -t 192.0.2.1:85 -s wlc",                 # 10: the same service again
        "-a -t 192.0.2.1:85 -r 10.0.0.6 -g -w 70000",  # 11
        "-a -t 192.0.2.1:85 -r 10.0.0.7 -g",
        "-a -t 192.0.2.1:85 -r 10.0.0.7:85 -m",      # 13: the same real server again
        "-A -t 192.0.2.300:80 -s rr",                # 14
        "-a -t 192.0.2.1:85 -r 10.0.0.8 -g -w",      # 15: -w needs a value
    ])
    with pytest.raises(ConfigError) as info:
        m.parse_ipvsadm_save(text)
    errors = info.value.errors
    assert str(info.value).startswith(f"{len(errors)} problems in running_config, nothing was changed:\n- line 1 ")
    expected = [
        "line 1 '-A -t 192.0.2.1:80 -s w l c': unknown option l",
        "line 2 '-A -t 192.0.2.1:81 -s rr -p 8589934592': persistence timeout 8589934592 is not from 1 to",
        "line 3 '-a -t 192.0.2.1:81 -r 10.0.0.5:8080 -g': dr forwarding sends packets to the service port 81",
        "line 4 '-a -t 192.0.2.9:80 -r 10.0.0.5 -g': no -A line for TCP 192.0.2.9:80",
        "line 5 '-C': -C is not -A or -a",
        "line 6 '-A -t 192.0.2.1:82 -s rr -p 60 -M 0': IPv4 persistence netmask /0 is not a prefix length",
        "line 7 '-A -t 192.0.2.1:83 -s nosuch': scheduler 'nosuch' is not one that Linux ships",
        "line 8 '-A -t 192.0.2.1:84 -s rr -w 3': real-server options (weight) on an -A line",
        "line 10 '-A -t 192.0.2.1:85 -s wlc': TCP 192.0.2.1:85 again (line 9)",
        "line 11 '-a -t 192.0.2.1:85 -r 10.0.0.6 -g -w 70000': weight 70000 is not from 0 to 65535",
        "line 13 '-a -t 192.0.2.1:85 -r 10.0.0.7:85 -m': real server 10.0.0.7:85 of TCP 192.0.2.1:85 again (line 12)",
        "line 14 '-A -t 192.0.2.300:80 -s rr': service address '192.0.2.300' is not an IPv4 or IPv6 address",
        "line 15 '-a -t 192.0.2.1:85 -r 10.0.0.8 -g -w': -w needs a value",
    ]
    assert len(errors) == len(expected), "\n".join(errors)
    for error, start in zip(errors, expected, strict=True):
        assert error.startswith(start), (error, start)


# --- checking a config -----------------------------------------------------------------------

# (case, config entry, the message it must give). Each message starts with the entry and its service.
BAD = [
    ("DR real server on another port", svc(real_servers=[rs("10.0.0.5", port=8080, forwarding="dr")]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5:8080: dr forwarding sends packets to the service port 80; "
     "port 8080 is only possible with forwarding: nat"),
    ("DR by default on another port", svc(real_servers=[rs("10.0.0.5", port=8080)]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5:8080: dr forwarding sends packets to the service port 80"),
    ("scheduler with spaces", svc(scheduler="w l c"),
     "config[0] TCP 192.0.2.1:80: scheduler 'w l c' is not a scheduler name"),
    ("scheduler Linux does not ship", svc(scheduler="nosuch"),
     "config[0] TCP 192.0.2.1:80: scheduler 'nosuch' is not one that Linux ships (rr, wrr, lc, wlc, lblc, lblcr, dh, "
     "sh, sed, nq, fo, ovf, mh, twos)"),
    ("persistence timeout 2^33", svc(persistence_timeout=2**33),
     "config[0] TCP 192.0.2.1:80: persistence timeout 8589934592 is not from 1 to 4294967295 seconds"),
    ("netmask 0", svc(persistence_timeout=60, persistence_netmask="0"),
     "config[0] TCP 192.0.2.1:80: IPv4 persistence netmask /0 is not a prefix length from 1 to 32"),
    ("IPv4 netmask on IPv6", {"address": "2001:db8::1", "port": 80, "persistence_timeout": 60,
                              "persistence_netmask": "255.255.255.0"},
     "config[0] TCP [2001:db8::1]:80: IPv6 persistence granularity '255.255.255.0' is not a prefix length"),
    ("address without port", {"address": VIP},
     "config[0]: service 192.0.2.1 needs a port (0 for all ports, with persistence)"),
    ("neither address nor fwmark", {"scheduler": "rr"},
     "config[0]: a service needs either address (with protocol and port) or fwmark"),
    ("fwmark with address", {"fwmark": 10, "address": VIP},
     "config[0]: a firewall-mark service is identified by fwmark and family; address 192.0.2.1 cannot be given"),
    ("fwmark with port", {"fwmark": 10, "port": 80}, "config[0]: a firewall-mark service has no port"),
    ("fwmark with protocol", {"fwmark": 10, "protocol": "tcp"},
     "config[0]: a firewall-mark service takes the marked packets of every protocol; protocol tcp cannot be given"),
    ("fwmark 0", {"fwmark": 0}, "config[0]: firewall mark 0 is not from 1 to 4294967295"),
    ("unknown protocol", svc(protocol="icmp"), "config[0]: protocol 'icmp' is not one of tcp, udp, sctp"),
    ("port not a number", svc(port="eighty"), "config[0]: port 'eighty' is not a whole number"),
    ("port out of range", svc(port=70000), "config[0]: service port 70000 is not from 0 to 65535"),
    ("unknown option", svc(ports=[80, 443]), "config[0] TCP 192.0.2.1:80: unknown option 'ports' (did you mean port?)"),
    ("settings of persistence without it", svc(persistent=False, persistence_timeout=60),
     "config[0] TCP 192.0.2.1:80: persistence_timeout, persistence_netmask and persistence_engine need persistent"),
    ("engine Linux does not ship", svc(protocol="udp", persistence_timeout=60, persistence_engine="h323"),
     "config[0] UDP 192.0.2.1:80: persistence engine 'h323' is not one that Linux ships (sip)"),
    ("flag of another scheduler", svc(scheduler="rr", scheduler_flags=["sh-port"]),
     "config[0] TCP 192.0.2.1:80: scheduler flag 'sh-port' is not valid for scheduler rr"),
    ("unknown flag", svc(scheduler_flags=["fast"]), "config[0] TCP 192.0.2.1:80: scheduler flag 'fast' is not one of"),
    ("persistent not a boolean", svc(persistent="maybe"),
     "config[0] TCP 192.0.2.1:80: persistent 'maybe' is not a boolean"),
    ("weight 70000", svc(real_servers=[rs("10.0.0.5", weight=70000)]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5: weight 70000 is not from 0 to 65535"),
    ("real server without address", svc(real_servers=[{"weight": 3}]),
     "config[0] TCP 192.0.2.1:80: real_servers[0]: a real server needs an address"),
    ("malformed real server address", svc(real_servers=[rs("10.0.0")]),
     "config[0] TCP 192.0.2.1:80: real_servers[0]: real server address '10.0.0' is not an IPv4 or IPv6 address"),
    ("real server of the other family", svc(real_servers=[rs("2001:db8::5")]),
     "config[0] TCP 192.0.2.1:80: real server 2001:db8::5: an ipv6 real server of an ipv4 service needs forwarding: "
     "tunnel"),
    ("unknown forwarding", svc(real_servers=[rs("10.0.0.5", forwarding="route")]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5: forwarding 'route' is not dr, nat or tunnel"),
    ("tunnel options without tunnel", svc(real_servers=[rs("10.0.0.5", forwarding="dr", tunnel_port=6080)]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5: tunnel options need forwarding: tunnel"),
    ("real server listed twice", svc(real_servers=[rs("10.0.0.5"), rs("10.0.0.5", port=80, weight=3)]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5:80: listed twice (real_servers[0] and [1])"),
    ("real server option unknown", svc(real_servers=[rs("10.0.0.5", wieght=3)]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5: unknown option 'wieght' (did you mean weight?)"),
    ("not a mapping", "192.0.2.1:80", "config[0]: a service is a mapping of options, not '192.0.2.1:80'"),
]


@pytest.mark.parametrize(("entry", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_entries_name_service_and_real_server(entry, message):
    _services, errors = m.check_config([entry])
    assert len(errors) == 1 and errors[0].startswith(message), errors
    with pytest.raises(ConfigError, match="1 problem in config, nothing was changed"):
        m.validate_config([entry])


# Problems that depend on the settings a service ends up with: found by plan() (for replaced, overridden
# and rendered against no table, for merged against the kernel's).
BAD_TARGETS = [
    ("port 0 without persistence", svc(port=0), "config[0] TCP 192.0.2.1:0: port 0 (all ports) is only valid for"),
    ("one-packet on TCP", svc(one_packet=True), "config[0] TCP 192.0.2.1:80: one-packet scheduling is only for UDP"),
    ("lower threshold above upper", svc(real_servers=[rs("10.0.0.5", upper_threshold=10, lower_threshold=20)]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5:80: lower threshold above upper (20 > 10)"),
    ("lower threshold alone", svc(real_servers=[rs("10.0.0.5", lower_threshold=20)]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5:80: lower threshold 20 needs an upper threshold"),
    ("GUE without a port", svc(real_servers=[rs("10.0.0.5", forwarding="tunnel", tunnel_type="gue")]),
     "config[0] TCP 192.0.2.1:80: real server 10.0.0.5:80: a GUE tunnel needs tunnel_port"),
]


@pytest.mark.parametrize(("entry", "message"), [c[1:] for c in BAD_TARGETS], ids=[c[0] for c in BAD_TARGETS])
@pytest.mark.parametrize("state", ["merged", "replaced", "overridden"])
def test_bad_targets_are_found_by_the_plan(entry, message, state):
    services = m.validate_config([entry])
    with pytest.raises(ConfigError) as info:
        m.plan([], services, state)
    assert len(info.value.errors) == 1 and info.value.errors[0].startswith(message), info.value.errors


def test_every_problem_at_once_in_config_order():
    config = [
        svc(scheduler="w l c", real_servers=[rs("10.0.0.5", port=8080)]),
        svc(81, persistence_timeout=2**33),
        {"address": VIP},
        svc(82, persistence_timeout=60, persistence_netmask="0",
            real_servers=[rs("10.0.0.6", weight=-1), rs("10.0.0.7", weight=70000)]),
        svc(83, scheduler="nosuch"),
        svc(80),
    ]
    _services, errors = m.check_config(config)
    assert [e.split(":", maxsplit=1)[0] for e in errors] == [
        "config[0] TCP 192.0.2.1", "config[0] TCP 192.0.2.1", "config[1] TCP 192.0.2.1", "config[2]",
        "config[3] TCP 192.0.2.1", "config[3] TCP 192.0.2.1", "config[3] TCP 192.0.2.1", "config[4] TCP 192.0.2.1",
        "config[5] TCP 192.0.2.1"]
    assert "real server 10.0.0.5:8080" in errors[1] and "10.0.0.6: weight -1" in errors[5]
    assert errors[-1] == "config[5] TCP 192.0.2.1:80: listed twice (config[0] is the same service)"
    text = str(ConfigError(errors))
    assert text.startswith("9 problems in config, nothing was changed:\n- config[0] ")
    assert text.count("\n- ") == 9


def test_good_configs_and_their_normal_form():
    config = [svc(scheduler="RR", persistence_timeout="600", persistent="yes",
                  real_servers=[rs("10.0.0.5", weight="4"), rs("10.0.0.6", port=80)]),
              {"fwmark": "10", "persistence_timeout": 3600, "real_servers": [rs("10.0.0.5")]}]
    services = m.validate_config(config)
    assert [s.label for s in services] == ["config[0] TCP 192.0.2.1:80", "config[1] FWM 10"]
    assert [(d.address, d.port, d.weight) for d in services[0].dests] == [("10.0.0.5", 80, 4), ("10.0.0.6", 80, None)]
    assert services[1].dests[0].port == 0
    assert m.validate_config(None) == [] and m.validate_config([]) == []
    with pytest.raises(ConfigError, match="config must be a list of services"):
        m.validate_config({"address": VIP})


def test_timeouts_are_checked_together():
    assert m.check_timeouts({"tcp": 300, "tcp_fin": None, "udp": "100"}) == ({"tcp": 300, "udp": 100}, [])
    wanted, errors = m.check_timeouts({"tcp": 2**33, "udp": 0, "tcp_fin": "x"})
    assert wanted == {} and errors == [
        "timeouts: tcp_fin 'x' is not a whole number",
        "timeouts: cannot set the tcp timeout to 8589934592: it must be from 1 to 2147483 seconds",
        "timeouts: cannot set the udp timeout to 0: it must be from 1 to 2147483 seconds",
    ]


# --- plans ---------------------------------------------------------------------------------------

TABLE = """\
-A -t 192.0.2.1:80 -s wlc -p 600 -M 255.255.255.0
-a -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 4
-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 2
-A -t 192.0.2.1:22 -s rr
-a -t 192.0.2.1:22 -r 10.0.0.1:22 -g -w 1
"""


def test_merged_from_empty_adds_services_then_real_servers():
    config = [svc(scheduler="rr", persistence_timeout=300, real_servers=[rs("10.0.0.1"), rs("10.0.0.2", weight=3)]),
              {"fwmark": 10, "persistent": True, "real_servers": [rs("10.0.0.1")]}]
    assert plan("", config, "merged") == [
        "-A -t 192.0.2.1:80 -s rr -p 300",
        "-A -f 10 -s wlc -p 300",
        "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 1",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 3",
        "-a -f 10 -r 10.0.0.1:0 -g -w 1",
    ]


def test_merged_changes_only_what_is_named():
    config = [svc(persistence_timeout=900, real_servers=[rs("10.0.0.2", weight=0), rs("10.0.0.3")])]
    assert plan(TABLE, config, "merged") == [
        "-E -t 192.0.2.1:80 -s wlc -p 900 -M 255.255.255.0",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 1",
        "-e -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 0",
    ]
    # the scheduler, the netmask, the unlisted real server 10.0.0.1 and the unlisted service stay
    assert after(TABLE, config, "merged") == sorted([
        "-A -t 192.0.2.1:80 -s wlc -p 900 -M 255.255.255.0",
        "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 4",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 0",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 1",
        "-A -t 192.0.2.1:22 -s rr",
        "-a -t 192.0.2.1:22 -r 10.0.0.1:22 -g -w 1",
    ])
    # a service named by its key only, and a real server by its address only, change nothing
    assert plan(TABLE, [svc(real_servers=[rs("10.0.0.1")])], "merged") == []
    # port 0 of a new service needs persistence; of one persistent already it does not
    assert plan("-A -t 192.0.2.1:0 -s rr -p 600\n", [svc(0, scheduler="wlc")], "merged") == [
        "-E -t 192.0.2.1:0 -s wlc -p 600"]


def test_merged_checks_against_the_table():
    current = "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 1 -x 100\n"
    # a lower threshold under the current upper one is fine when merged, not when replaced
    assert plan(current, [svc(real_servers=[rs("10.0.0.1", lower_threshold=50)])], "merged") == [
        "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 1 -x 100 -y 50"]
    with pytest.raises(ConfigError, match=r"real server 10.0.0.1:80: lower threshold 50 needs an upper threshold"):
        plan(current, [svc(real_servers=[rs("10.0.0.1", lower_threshold=50)])], "replaced")
    with pytest.raises(ConfigError, match=r"config\[0\] TCP 192.0.2.1:80: real server 10.0.0.1:80: lower threshold "
                                          r"above upper \(200 > 100\)"):
        plan(current, [svc(real_servers=[rs("10.0.0.1", lower_threshold=200)])], "merged")
    with pytest.raises(ConfigError, match="one-packet scheduling is only for UDP"):
        plan(current, [svc(one_packet=True)], "merged")


def test_replaced_makes_listed_services_exactly_as_given():
    config = [svc(scheduler="wlc", persistence_timeout=600, real_servers=[rs("10.0.0.2", weight=2), rs("10.0.0.3")])]
    ops = plan(TABLE, config, "replaced")
    # -M goes back to the default in place (SET, no -D/-A); the new real server comes before the removal
    assert ops == [
        "-E -t 192.0.2.1:80 -s wlc -p 600",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 1",
        "-d -t 192.0.2.1:80 -r 10.0.0.1:80",
    ]
    assert after(TABLE, config, "replaced") == sorted([
        "-A -t 192.0.2.1:80 -s wlc -p 600",
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 2",
        "-a -t 192.0.2.1:80 -r 10.0.0.3:80 -g -w 1",
        "-A -t 192.0.2.1:22 -s rr",  # not listed: stays
        "-a -t 192.0.2.1:22 -r 10.0.0.1:22 -g -w 1",
    ])
    # weights not given go back to 1; a service without real_servers loses them all
    assert plan(TABLE, [svc(scheduler="wlc", persistence_timeout=600, persistence_netmask="24",
                            real_servers=[rs("10.0.0.1"), rs("10.0.0.2")])], "replaced") == [
        "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -g -w 1",
        "-e -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 1",
    ]
    assert plan(TABLE, [svc(22, scheduler="rr")], "replaced") == ["-d -t 192.0.2.1:22 -r 10.0.0.1:22"]


def test_overridden_removes_unlisted_services_last_and_only_with_their_dash_d():
    config = [svc(443, scheduler="rr", persistence_timeout=300, real_servers=[rs("10.0.0.1")]),
              svc(22, scheduler="rr", real_servers=[rs("10.0.0.1", weight=5), rs("10.0.0.9")])]
    assert plan(TABLE, config, "overridden") == [
        "-A -t 192.0.2.1:443 -s rr -p 300",
        "-a -t 192.0.2.1:443 -r 10.0.0.1:443 -g -w 1",
        "-a -t 192.0.2.1:22 -r 10.0.0.9:22 -g -w 1",
        "-e -t 192.0.2.1:22 -r 10.0.0.1:22 -g -w 5",
        "-D -t 192.0.2.1:80",
    ]
    assert after(TABLE, config, "overridden") == m.render_wanted(m.validate_config(config))
    assert plan(TABLE, [], "overridden") == ["-D -t 192.0.2.1:22", "-D -t 192.0.2.1:80"]


def test_a_changed_key_is_another_service():
    # port 80 -> 8080: a new service and the old one removed, never an edit of the key
    config = [svc(8080, scheduler="wlc", persistence_timeout=600, persistence_netmask="255.255.255.0"),
              svc(22, scheduler="rr", real_servers=[rs("10.0.0.1")])]
    assert plan(TABLE, config, "overridden") == ["-A -t 192.0.2.1:8080 -s wlc -p 600 -M 255.255.255.0",
                                                 "-D -t 192.0.2.1:80"]


def test_deleted():
    assert plan(TABLE, [svc(22, scheduler="sh", real_servers=[rs("10.0.0.7")])], "deleted") == ["-D -t 192.0.2.1:22"]
    assert plan(TABLE, [svc(8080)], "deleted") == []
    # an empty config deletes every service (the resource-module convention; the module asks for config: [])
    assert plan(TABLE, [], "deleted") == ["-D -t 192.0.2.1:22", "-D -t 192.0.2.1:80"]
    assert plan("", [], "deleted") == []


@pytest.mark.parametrize("state", ["merged", "replaced", "overridden", "deleted"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_plan_applied_plans_nothing_the_second_time(state, seed):
    config = m.parse_ipvsadm_save(SEEDS[seed])
    config[0]["real_servers"] = config[0]["real_servers"][:1]
    config[0]["real_servers"][0]["weight"] = 7
    config.append(svc(8443, scheduler="rr", real_servers=[rs("10.0.0.1")]))
    services = m.validate_config(config)
    current = table(TABLE + SEEDS[seed])
    first = m.plan(current, services, state)
    assert first
    done = m.apply_to_table(current, first)
    assert m.plan(done, services, state) == []


def test_timeouts_only_given_values_change():
    now = m.Timeouts(tcp=900, tcp_fin=120, udp=300)
    assert plan("", [], "merged", timeouts={"tcp": 300}, current_timeouts=now) == ["--set 300 0 0"]
    assert plan("", [], "merged", timeouts={"tcp": 900, "udp": 100}, current_timeouts=now) == ["--set 0 0 100"]
    assert plan("", [], "overridden", timeouts={"tcp": 900, "tcp_fin": 120}, current_timeouts=now) == []
    ops = m.plan([], m.validate_config([svc(real_servers=[rs("10.0.0.1")])]), "merged",
                 timeouts={"tcp_fin": 60}, current_timeouts=now)
    assert [op.op for op in ops] == ["add_service", "add_dest", "set_timeouts"]  # timeouts last
    assert dict(ops[-1].timeouts) == {"tcp_fin": 60}
    with pytest.raises(ValueError, match="current_timeouts"):
        m.plan([], [], "merged", timeouts={"tcp": 1})


def test_operations_and_their_words():
    current = table(EVERYTHING)
    wanted = m.validate_config([
        {"fwmark": 11, "family": "ipv6", "scheduler": "mh", "real_servers": [
            rs("2001:db8::2", forwarding="tunnel", tunnel_type="gre", tunnel_checksum="remcsum", upper_threshold=9)]},
    ])
    ops = m.plan(current, wanted, "overridden")
    assert [op.words for op in ops] == [
        "-E -f 11 -6 -s mh",
        "-e -f 11 -6 -r [2001:db8::2]:0 -i -w 1 --tun-type gre --tun-remcsum -x 9",
        "-D --sctp-service 192.168.0.1:9",
        "-D -t 192.168.0.1:80",
        "-D -t [2001:db8::1]:443",
        "-D -u 192.168.0.9:5060",
    ]
    assert [op.op for op in ops] == ["edit_service", "edit_dest"] + ["delete_service"] * 4
    assert ops[0].service.scheduler_flags == ()  # replaced: the flags not given go, with -p and -M
    fwm, dests = next(row for row in current if row[0].key.is_fwmark)
    delete = m.Operation("delete_dest", fwm, dests[0])
    assert delete.words == "-d -f 11 -6 -r [2001:db8::2]:0"
    with pytest.raises(ValidationError, match="state 'present' is not one of merged"):
        m.plan([], [], "present")
