# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure IPVS model: normalization, validation, comparison, rendering, /proc parsing (no kernel)."""

from __future__ import annotations

import re

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils import _model as m
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ValidationError

VIP = "192.168.0.1"


def svc(**params):
    params.setdefault("address", VIP)
    params.setdefault("port", 80)
    return m.merge_service(None, m.service_spec_from_params(params))


def key(**params):
    return m.service_key_from_params(params)


# --- normalization -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("192.0.2.1", ("ipv4", "192.0.2.1")), ("2001:DB8::1", ("ipv6", "2001:db8::1")),
     ("[2001:db8:0::1]", ("ipv6", "2001:db8::1")), (" 10.0.0.1 ", ("ipv4", "10.0.0.1"))],
)
def test_addresses_are_normalized(value, expected):
    assert m.normalize_address(value) == expected


@pytest.mark.parametrize("value", ["192.168.0.300", "10.0.0", "host.example", "", "2001:db8::1::2"])
def test_malformed_addresses_are_refused(value):
    with pytest.raises(ValidationError, match="is not an IPv4 or IPv6 address"):
        m.normalize_address(value)


@pytest.mark.parametrize(("value", "expected"), [("TCP", "tcp"), ("udp", "udp"), (132, "sctp"), ("6", "tcp")])
def test_protocols_are_normalized(value, expected):
    assert m.normalize_protocol(value) == expected


@pytest.mark.parametrize(
    ("value", "family", "expected"),
    [("255.255.255.0", "ipv4", "255.255.255.0"), ("24", "ipv4", "255.255.255.0"), ("/16", "ipv4", "255.255.0.0"),
     (None, "ipv4", "255.255.255.255"), ("64", "ipv6", 64), (48, "ipv6", 48), (None, "ipv6", 128)],
)
def test_netmasks_are_normalized(value, family, expected):
    assert m.normalize_netmask(value, family) == expected


@pytest.mark.parametrize(
    ("value", "family", "needle"),
    [("255.255.255.0", "ipv6", "IPv6 persistence granularity"), ("129", "ipv6", "from 1 to 128"),
     ("255.0.255.0", "ipv4", "not an IPv4 netmask"), ("33", "ipv4", "from 1 to 32")],
)
def test_bad_netmasks_are_refused(value, family, needle):
    with pytest.raises(ValidationError, match=needle):
        m.normalize_netmask(value, family)


def test_netmask_kernel_encoding_round_trips():
    for mask in ("255.255.255.255", "255.255.255.0", "255.0.0.0"):
        assert m.netmask_from_kernel(m.netmask_to_kernel(mask, "ipv4"), "ipv4") == mask
    assert m.netmask_to_kernel(64, "ipv6") == 64
    assert m.netmask_to_kernel("255.255.255.255", "ipv4") == 0xFFFFFFFF


def test_scheduler_flags_by_name_and_bits():
    assert m.sched_flags_to_bits(["sh-fallback", "sh-port"], "sh") == m.SVC_F_SCHED1 | m.SVC_F_SCHED2
    assert m.sched_flags_from_bits(m.SVC_F_SCHED2, "mh") == ("mh-port",)
    assert m.sched_flags_from_bits(m.SVC_F_SCHED3, "rr") == ("flag-3",)
    with pytest.raises(ValidationError, match="scheduler flag 'sh-port' is not valid for scheduler rr"):
        m.sched_flags_to_bits(["sh-port"], "rr")


def test_quiesce_fallback_only_for_hash_schedulers_without_it():
    assert m.quiesce_fallback("sh", ()) == ("sh-fallback",)
    assert m.quiesce_fallback("sh", ("sh-port",)) == ("sh-fallback", "sh-port")
    assert m.quiesce_fallback("mh", ["mh-port", "flag-3"]) == ("mh-fallback", "mh-port", "flag-3")
    assert m.quiesce_fallback("sh", ("sh-fallback",)) is None
    assert m.quiesce_fallback("mh", ("mh-fallback", "mh-port")) is None
    for scheduler in ("rr", "wlc", "dh", "lblc"):  # no fallback flag: nothing to set (dh has none)
        assert m.quiesce_fallback(scheduler, ()) is None


# --- service keys and specs ---------------------------------------------------------------


def test_service_keys():
    assert key(address=VIP, port=80) == m.ServiceKey("ipv4", "tcp", VIP, 80)
    assert key(address="2001:DB8::1", port=80, protocol="udp").label() == "UDP [2001:db8::1]:80"
    assert key(fwmark=10).label() == "FWM 10"
    assert key(fwmark=10, family="ipv6").rule() == "-f 10 -6"
    assert key(address=VIP, port=9, protocol="sctp").rule() == "--sctp-service 192.168.0.1:9"


@pytest.mark.parametrize(
    ("params", "needle"),
    [({"fwmark": 0}, "firewall mark 0"), ({"fwmark": 10, "address": VIP}, "cannot be given with fwmark"),
     ({"fwmark": 10, "port": 80}, "no port"), ({"address": VIP}, "needs a port"), ({}, "either address"),
     ({"address": VIP, "port": 70000}, "port 70000"),
     ({"address": "2001:db8::1", "port": 1, "family": "ipv4"}, "is ipv6, not ipv4")],
)
def test_bad_service_keys(params, needle):
    with pytest.raises(ValidationError, match=needle):
        m.service_key_from_params(params)


def test_new_service_defaults_as_ipvsadm():
    s = svc()
    assert (s.scheduler, s.persistent, s.persistence_netmask) == ("wlc", False, "255.255.255.255")
    p = svc(persistent=True)
    assert (p.persistent, p.persistence_timeout) == (True, 300)
    assert svc(persistence_timeout=600).persistent is True
    assert svc(address="2001:db8::1").persistence_netmask == 128


@pytest.mark.parametrize(
    ("params", "needle"),
    [({"port": 0}, "cannot configure service TCP 192.168.0.1:0: port 0 .* persistent service"),
     ({"persistent": False, "persistence_timeout": 60}, "need persistent: true"),
     ({"one_packet": True}, "one-packet scheduling is only for UDP"),
     ({"persistence_timeout": 60, "persistence_engine": "sip"}, "UDP services only"),
     ({"persistence_timeout": 0}, "persistence timeout 0"),
     ({"address": "2001:db8::1", "persistence_timeout": 1, "persistence_netmask": "255.255.255.0"},
      r"service TCP \[2001:db8::1\]:80: IPv6 persistence granularity"),
     ({"scheduler": "w l c"}, "not a scheduler name")],
)
def test_bad_services(params, needle):
    with pytest.raises(ValidationError, match=needle):
        svc(**params)


def test_pcc_port_zero_is_fine_with_persistence():
    pcc = svc(port=0, scheduler="wlc", persistence_timeout=600)
    assert m.render_service(pcc) == "-A -t 192.168.0.1:0 -s wlc -p 600"


# --- merging and comparison --------------------------------------------------------------


def test_edit_keeps_every_setting_not_named():
    current = svc(scheduler="sh", scheduler_flags=["sh-port"], persistence_timeout=600,
                  persistence_netmask="255.255.255.0")
    spec = m.service_spec_from_params({"address": VIP, "port": 80, "persistence_timeout": 900})
    target = m.merge_service(current, spec)
    assert m.service_changes(current, target) == ["persistence_timeout"]
    assert (target.scheduler, target.scheduler_flags, target.persistence_netmask) == ("sh", ("sh-port",),
                                                                                      "255.255.255.0")
    same = m.merge_service(target, m.service_spec_from_params({"address": VIP, "port": 80}))
    assert m.service_changes(target, same) == []


def test_turning_persistence_on_uses_300_and_keeps_a_known_timeout():
    plain = svc(scheduler="wlc")
    on = m.merge_service(plain, m.service_spec_from_params({"address": VIP, "port": 80, "persistent": True}))
    assert (on.persistence_timeout, m.service_changes(plain, on)) == (300, ["persistent", "persistence_timeout"])
    off = m.merge_service(svc(persistence_timeout=600), m.service_spec_from_params(
        {"address": VIP, "port": 80, "persistent": False}))
    again = m.merge_service(off, m.service_spec_from_params({"address": VIP, "port": 80, "persistent": True}))
    assert again.persistence_timeout == 300


def test_timeout_differences_of_a_non_persistent_service_do_not_count():
    a = m.Service(key=key(address=VIP, port=80), persistence_timeout=0)
    b = m.Service(key=key(address=VIP, port=80), persistence_timeout=600)
    assert m.service_changes(a, b) == []


def test_hashed_flag_and_stats_do_not_count():
    a = m.Service(key=key(address=VIP, port=80), stats={"conns": 1})
    assert a == m.Service(key=key(address=VIP, port=80), stats={"conns": 2})
    assert not a.flags & m.SVC_F_HASHED


def test_scheduler_change_keeps_flag_bits_under_new_names():
    current = svc(scheduler="sh", scheduler_flags=["sh-fallback"])
    target = m.merge_service(current, m.service_spec_from_params({"address": VIP, "port": 80, "scheduler": "mh"}))
    assert target.scheduler_flags == ("mh-fallback",)


# --- real servers ---------------------------------------------------------------------------


def dest(service=None, current=None, **params):
    k = service or key(address=VIP, port=80)
    return m.merge_dest(current, m.dest_spec_from_params(params, k), k)


def test_dest_defaults_and_ports():
    d = dest(address="192.168.1.2")
    assert (d.port, d.forwarding, d.weight) == (80, "dr", 1)
    assert dest(service=key(fwmark=10), address="192.168.1.2").port == 0
    assert dest(address="10.0.0.5", forwarding="nat").port == 80
    assert dest(address="10.0.0.5", forwarding="nat", port=8080).port == 8080
    assert dest(address="192.168.1.2", port=80).port == 80


@pytest.mark.parametrize(
    ("params", "needle"),
    [({"weight": 70000}, "weight 70000 is not from 0 to 65535"),
     ({"upper_threshold": 10, "lower_threshold": 20},
      "cannot add real server 192.168.1.2:80 to TCP 192.168.0.1:80: lower threshold above upper"),
     ({"lower_threshold": 5}, "needs an upper threshold"),
     ({"port": 8080}, "service port 80"),
     ({"forwarding": "dr", "tunnel_type": "gue"}, "tunnel options need forwarding: tunnel"),
     ({"forwarding": "tunnel", "tunnel_type": "gue"}, "GUE tunnel needs tunnel_port"),
     ({"address": "2001:db8::2"}, "needs forwarding: tunnel"),
     ({"address": "10.0.0"}, "real server address '10.0.0' is not an IPv4 or IPv6 address")],
)
def test_bad_dests(params, needle):
    params.setdefault("address", "192.168.1.2")
    with pytest.raises(ValidationError, match=needle):
        dest(**params)


def test_dest_edit_keeps_settings_not_named():
    current = dest(address="192.168.1.2", weight=4, upper_threshold=100, lower_threshold=10)
    target = dest(current=current, address="192.168.1.2", weight=0)
    assert m.dest_changes(current, target) == ["weight"]
    assert (target.upper_threshold, target.lower_threshold) == (100, 10)
    tun = dest(current=target, address="192.168.1.2", forwarding="tunnel", tunnel_type="gue", tunnel_port=6080)
    assert (tun.tunnel_type, tun.tunnel_port, tun.tunnel_checksum) == ("gue", 6080, "nocsum")
    back = dest(current=tun, address="192.168.1.2", forwarding="dr")
    assert (back.tunnel_type, back.tunnel_port, back.tunnel_checksum) == (None, None, None)


def test_edit_to_lower_above_existing_upper_names_the_real_server():
    current = dest(address="192.168.1.2", upper_threshold=100, lower_threshold=50)
    expected = re.escape("cannot change real server 192.168.1.2:80 of TCP 192.168.0.1:80")
    with pytest.raises(ValidationError, match=expected):
        dest(current=current, address="192.168.1.2", lower_threshold=200)


# --- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "line"),
    [({"scheduler": "wlc", "persistence_timeout": 600}, "-A -t 192.168.0.1:80 -s wlc -p 600"),
     ({"persistence_timeout": 600, "persistence_netmask": "255.255.255.0"},
      "-A -t 192.168.0.1:80 -s wlc -p 600 -M 255.255.255.0"),
     ({"fwmark": 10, "address": None, "port": None, "persistence_timeout": 600}, "-A -f 10 -s wlc -p 600"),
     ({"fwmark": 11, "family": "ipv6", "address": None, "port": None, "scheduler": "sh",
       "scheduler_flags": ["sh-fallback", "sh-port"], "persistence_timeout": 360},
      "-A -f 11 -6 -s sh -p 360 -b sh-fallback,sh-port"),
     ({"protocol": "udp", "address": "2001:db8::1", "port": 53, "scheduler": "rr", "persistence_timeout": 100,
       "persistence_netmask": "64", "one_packet": True}, "-A -u [2001:db8::1]:53 -s rr -p 100 -M 64 -o"),
     ({"protocol": "udp", "port": 5060, "scheduler": "sh", "scheduler_flags": ["sh-port"], "persistence_timeout": 100,
       "persistence_netmask": "255.255.0.0", "persistence_engine": "sip", "one_packet": True},
      "-A -u 192.168.0.1:5060 -s sh -p 100 -M 255.255.0.0 --pe sip -o -b sh-port"),
     ({"protocol": "sctp", "port": 9, "scheduler": "mh", "scheduler_flags": ["mh-port"]},
      "-A --sctp-service 192.168.0.1:9 -s mh -b mh-port"),
     ({"scheduler": "wrr", "persistence_netmask": None}, "-A -t 192.168.0.1:80 -s wrr")],
)
def test_service_rendering_is_ipvsadm_save(params, line):
    params = {k: v for k, v in params.items() if v is not None}
    if "fwmark" in params:
        params.pop("address", None)
        params.pop("port", None)
        s = m.merge_service(None, m.service_spec_from_params(params))
    else:
        s = svc(**params)
    assert m.render_service(s) == line


def test_dest_rendering_is_ipvsadm_save():
    k = key(address=VIP, port=80)
    assert m.render_dest(k, dest(address="192.168.1.2", weight=4)) == "-a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4"
    assert m.render_dest(key(fwmark=10), dest(service=key(fwmark=10), address="192.168.1.2", weight=4)) == (
        "-a -f 10 -r 192.168.1.2:0 -g -w 4")
    k6 = key(fwmark=11, family="ipv6")
    assert m.render_dest(k6, dest(service=k6, address="2001:db8::2", forwarding="tunnel")) == (
        "-a -f 11 -6 -r [2001:db8::2]:0 -i -w 1 --tun-type ipip")
    gue = dest(address="192.168.1.9", forwarding="tunnel", tunnel_type="gue", tunnel_port=6080)
    assert m.render_dest(k, gue) == (
        "-a -t 192.168.0.1:80 -r 192.168.1.9:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum")
    gre = dest(address="192.168.1.10", forwarding="tunnel", tunnel_type="gre", tunnel_checksum="csum")
    assert m.render_dest(k, gre) == "-a -t 192.168.0.1:80 -r 192.168.1.10:80 -i -w 1 --tun-type gre --tun-csum"
    nat = dest(address="10.0.0.5", port=8080, forwarding="nat", weight=0, upper_threshold=100, lower_threshold=10)
    assert m.render_dest(k, nat) == "-a -t 192.168.0.1:80 -r 10.0.0.5:8080 -m -w 0"
    assert m.render_dest(k, nat, thresholds=True) == "-a -t 192.168.0.1:80 -r 10.0.0.5:8080 -m -w 0 -x 100 -y 10"


def test_config_rendering_is_sorted():
    s = svc(persistence_timeout=600)
    lines = m.render_config([(s, [dest(address="192.168.1.3", weight=2), dest(address="192.168.1.2", weight=4)])])
    assert lines == sorted(lines)
    assert m.render_text(lines).endswith("\n") and m.render_text([]) == ""


def test_timeouts():
    assert m.timeouts_from_params({"tcp": 300, "tcp_fin": None, "udp": 100}) == {"tcp": 300, "udp": 100}
    merged = m.merge_timeouts(m.Timeouts(), {"tcp": 300, "tcp_fin": 60, "udp": 100})
    assert merged.render() == "Timeout (tcp tcpfin udp): 300 60 100"
    with pytest.raises(ValidationError, match="cannot set the tcp timeout to 0"):
        m.timeouts_from_params({"tcp": 0})


# --- /proc/net/ip_vs_conn (sample text from the 6.1 test bed) ----------------------------------

CONN = """\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP fd99:0000:0000:0000:0000:0000:0000:0008 8246 fd99:0000:0000:0000:0000:0000:0000:0008 0050 fd00:0000:0000:0000:0000:0000:0000:0002 0050 SYN_RECV         58
IP  0A090908 0000 00000005 0000 0A090002 0000 NONE            290
TCP fd99:0000:0000:0000:0000:0000:0000:0000 0000 fd99:0000:0000:0000:0000:0000:0000:0008 0050 fd00:0000:0000:0000:0000:0000:0000:0002 0050 NONE            297
TCP 0A090908 A2D0 0A090908 0050 0A090002 0050 SYN_RECV         51
UDP 0A090908 13C4 0A090909 13C4 0A090002 13C4 UDP             180 sip 6162632D31
"""  # noqa: E501


def test_conn_table_parsing_marks_templates():
    rows = m.parse_ip_vs_conn(CONN)
    assert len(rows) == 5
    v6, fwm, v6tpl, v4, sip = rows
    assert (v6["family"], v6["client_address"], v6["client_port"], v6["template"]) == ("ipv6", "fd99::8", 0x8246, False)
    assert fwm == {
        "protocol": "IP", "family": "ipv4", "client_address": "10.9.9.8", "client_port": 0,
        "virtual_address": "0.0.0.5", "virtual_port": 0, "dest_address": "10.9.0.2", "dest_port": 0,
        "state": "NONE", "expires": 290, "pe_name": None, "pe_data": None, "template": True, "fwmark": 5,
    }
    assert (v6tpl["client_address"], v6tpl["template"], v6tpl["dest_address"]) == ("fd99::", True, "fd00::2")
    assert (v4["virtual_port"], v4["template"], v4["fwmark"]) == (80, False, None)
    assert (sip["pe_name"], sip["pe_data"]) == ("sip", "6162632D31")
    assert m.parse_ip_vs_conn("") == []


def test_live_templates_leave_out_what_the_kernel_invalidated():
    rows = m.parse_ip_vs_conn(CONN + """IP  0A090907 0000 00000005 FFFF 0A090002 FFFF NONE            3000
TCP 0A090906 0000 0A090909 FFFF 0A090002 FFFF NONE            250
TCP 0A090906 0000 0A090909 0050 0A090002 0050 NONE            250
TCP 0A090905 0000 0A090909 0050 0A090003 0050 NONE            250
""")
    fwm = m.ServiceKey(family="ipv4", fwmark=5)
    web = m.ServiceKey(family="ipv4", protocol="tcp", address="10.9.9.9", port=80)
    assert m.live_templates(rows, fwm, "10.9.0.2", 0) == 1  # the invalidated one (ports FFFF) binds nobody
    assert m.live_templates(rows, web, "10.9.0.2", 80) == 1
    assert m.live_templates(rows, web, "10.9.0.3", 80) == 1 and m.live_templates(rows, web, "10.9.0.4", 80) == 0
    assert m.live_templates(rows, m.ServiceKey(family="ipv6", fwmark=5), "fd00::2", 0) is None
    v6 = m.ServiceKey(family="ipv6", protocol="tcp", address="fd99::8", port=80)
    assert m.live_templates(rows, v6, "fd00::2", 80) == 1
