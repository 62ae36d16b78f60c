# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The netlink layer without a kernel: message encoding round trips and the missing-IPVS paths."""

from __future__ import annotations

import errno
import struct
from typing import ClassVar

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs
from ansible_collections.lvs.ipvs.plugins.module_utils import _model as m
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import BackendUnavailableError


def _round_trip(attr: str, attrs: list) -> object:
    msg = _ipvs.IpvsMessage()
    msg["cmd"] = _ipvs.CMD_NEW_SERVICE
    msg["version"] = 1
    msg["attrs"] = [(attr, {"attrs": attrs})]
    msg.encode()
    back = _ipvs.IpvsMessage(msg.data)
    back.decode()
    return back.get_attr(attr)


@pytest.mark.parametrize(
    "params",
    [{"address": "192.168.0.1", "port": 80, "scheduler": "wlc", "persistence_timeout": 600,
      "persistence_netmask": "255.255.255.0"},
     {"fwmark": 10, "family": "ipv6", "scheduler": "sh", "scheduler_flags": ["sh-port"], "persistence_timeout": 60,
      "persistence_netmask": "64"},
     {"protocol": "udp", "address": "2001:db8::1", "port": 5060, "scheduler": "rr", "persistence_timeout": 30,
      "persistence_engine": "sip", "one_packet": True},
     {"protocol": "sctp", "address": "10.0.0.1", "port": 9, "scheduler": "mh"}],
)
def test_service_encodes_and_decodes_to_the_same_record(params):
    svc = m.merge_service(None, m.service_spec_from_params(params))
    assert _ipvs.service_from_nla(_round_trip("IPVS_CMD_ATTR_SERVICE", _ipvs.service_attrs(svc))) == svc


def test_netmask_wire_format():
    v4 = m.merge_service(None, m.service_spec_from_params(
        {"address": "10.0.0.1", "port": 80, "persistence_timeout": 1, "persistence_netmask": "255.255.255.0"}))
    v6 = m.merge_service(None, m.service_spec_from_params(
        {"address": "2001:db8::1", "port": 80, "persistence_timeout": 1, "persistence_netmask": "64"}))
    v4_value = dict(_ipvs.service_attrs(v4))["IPVS_SVC_ATTR_NETMASK"]
    v6_value = dict(_ipvs.service_attrs(v6))["IPVS_SVC_ATTR_NETMASK"]
    assert struct.pack("=I", v4_value) == bytes([255, 255, 255, 0])  # network order on the wire
    assert v6_value == 64  # a prefix length, host order


def test_hashed_flag_from_the_kernel_is_ignored():
    svc = m.merge_service(None, m.service_spec_from_params({"address": "10.0.0.1", "port": 80}))
    attrs = [(k, v) if k != "IPVS_SVC_ATTR_FLAGS" else (k, {"flags": m.SVC_F_HASHED, "mask": 0xFFFFFFFF})
             for k, v in _ipvs.service_attrs(svc)]
    assert _ipvs.service_from_nla(_round_trip("IPVS_CMD_ATTR_SERVICE", attrs)) == svc


def test_kernel_address_padding_is_ignored():
    svc = m.merge_service(None, m.service_spec_from_params({"address": "10.0.0.1", "port": 80}))
    attrs = [(k, v + b"\0" * 12) if k == "IPVS_SVC_ATTR_ADDR" else (k, v) for k, v in _ipvs.service_attrs(svc)]
    assert _ipvs.service_from_nla(_round_trip("IPVS_CMD_ATTR_SERVICE", attrs)).key.address == "10.0.0.1"


@pytest.mark.parametrize(
    "params",
    [{"address": "192.168.1.2", "weight": 4},
     {"address": "10.0.0.5", "port": 8080, "forwarding": "nat", "weight": 0, "upper_threshold": 100,
      "lower_threshold": 10},
     {"address": "192.168.1.9", "forwarding": "tunnel", "tunnel_type": "gue", "tunnel_port": 6080,
      "tunnel_checksum": "remcsum"}],
)
def test_dest_encodes_and_decodes_to_the_same_record(params):
    key = m.service_key_from_params({"address": "192.168.0.1", "port": 80})
    dest = m.merge_dest(None, m.dest_spec_from_params(params, key), key)
    nl = _round_trip("IPVS_CMD_ATTR_DEST", _ipvs.dest_attrs(dest))
    assert _ipvs.dest_from_nla(nl, key) == dest


def test_gue_port_is_sent_in_network_order():
    key = m.service_key_from_params({"address": "192.168.0.1", "port": 80})
    dest = m.merge_dest(None, m.dest_spec_from_params(
        {"address": "192.168.1.9", "forwarding": "tunnel", "tunnel_type": "gue", "tunnel_port": 6080}, key), key)
    msg = _ipvs.IpvsMessage()
    msg["cmd"], msg["version"] = _ipvs.CMD_NEW_DEST, 1
    msg["attrs"] = [("IPVS_CMD_ATTR_DEST", {"attrs": _ipvs.dest_attrs(dest)})]
    msg.encode()
    assert struct.pack(">H", 6080) in msg.data


class _FakeSocket:
    """GenlSocket without a kernel: ``binds`` counts the opens, ``refuse`` maps ipvsadm words to an errno."""

    binds: ClassVar[list[str]] = []
    fail_first = 0
    window = 3
    refuse: ClassVar[dict[str, int]] = {}
    sent: ClassVar[list[list[str]]] = []  # the operations of each transact(), by their words

    def __init__(self, family):
        _FakeSocket.binds.append(family)
        if len(_FakeSocket.binds) <= _FakeSocket.fail_first:
            raise _ipvs.RequestError(errno.ENOENT)

    def transact(self, requests):
        words = [_WORDS[_ipvs.encode_request(cmd, attrs, family=30, flags=5, seq=1)] for cmd, attrs in requests]
        _FakeSocket.sent.append(words)
        return [self.refuse.get(w, 0) for w in words]

    def close(self):
        pass


_WORDS: dict[bytes, str] = {}  # the encoded request of each operation of the tests -> its ipvsadm words


@pytest.fixture
def fake_socket(monkeypatch):
    _FakeSocket.binds, _FakeSocket.fail_first, _FakeSocket.refuse, _FakeSocket.sent = [], 0, {}, []
    monkeypatch.setattr(_ipvs, "GenlSocket", _FakeSocket)
    return _FakeSocket


def test_missing_ip_vs_is_loaded_with_modprobe(fake_socket):
    fake_socket.fail_first = 1
    calls = []
    handle = _ipvs.IpvsHandle(lambda argv: calls.append(list(argv)) or (0, "", ""))
    handle._open()
    assert calls == [["modprobe", "ip_vs"]]
    assert fake_socket.binds == ["IPVS", "IPVS"]


def test_missing_ip_vs_that_cannot_be_loaded_fails_clearly(fake_socket):
    fake_socket.fail_first = 2
    handle = _ipvs.IpvsHandle(lambda argv: (1, "", "modprobe: FATAL: Module ip_vs not found"))
    with pytest.raises(BackendUnavailableError, match=r"IPVS is not available in kernel .*'modprobe ip_vs' failed: "
                                                      r"modprobe: FATAL: Module ip_vs not found"):
        handle._open()


# --- the compiled codec against pyroute2's classes, and the batch writer ------------------------------------

SERVICES = [m.merge_service(None, m.service_spec_from_params(p)) for p in (
    {"address": "192.0.2.1", "port": 80, "scheduler": "rr", "persistence_timeout": 300},
    {"protocol": "udp", "address": "2001:db8::1", "port": 5060, "scheduler": "sh", "scheduler_flags": ["sh-port"],
     "persistence_timeout": 60, "persistence_netmask": "64", "persistence_engine": "sip", "one_packet": True},
    {"fwmark": 10, "family": "ipv6", "scheduler": "mh", "scheduler_flags": ["mh-port"]},
    {"protocol": "sctp", "address": "10.0.0.1", "port": 9, "scheduler": "wlc"},
)]
KEY = SERVICES[0].key
DESTS = [m.merge_dest(None, m.dest_spec_from_params(p, KEY), KEY) for p in (
    {"address": "10.0.0.1", "weight": 4},
    {"address": "10.0.0.2", "port": 8080, "forwarding": "nat", "weight": 0, "upper_threshold": 100,
     "lower_threshold": 10},
    {"address": "10.0.0.3", "forwarding": "tunnel", "tunnel_type": "gue", "tunnel_port": 6080,
     "tunnel_checksum": "remcsum"},
    {"address": "2001:db8::9", "forwarding": "tunnel", "tunnel_type": "gre"},
)]
OPS = ([m.Operation(kind, svc) for kind in ("add_service", "edit_service", "delete_service") for svc in SERVICES]
       + [m.Operation(kind, SERVICES[0], d) for kind in ("add_dest", "edit_dest", "delete_dest") for d in DESTS]
       + [m.Operation("set_timeouts", timeouts=(("tcp", 300), ("udp", 5)))])


def _pyroute2_encoding(cmd: int, attrs: list, seq: int) -> bytes:
    msg = _ipvs.IpvsMessage()
    msg["cmd"], msg["version"], msg["attrs"] = cmd, 1, attrs
    msg["header"]["type"], msg["header"]["flags"], msg["header"]["pid"] = 30, 5, 99
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.words)
def test_the_codec_writes_what_pyroute2_writes_and_reads_it_back(op):
    cmd, attrs = _ipvs.op_request(op)
    ours = _ipvs.encode_request(cmd, attrs, family=30, flags=5, seq=7, portid=99)
    assert ours == _pyroute2_encoding(cmd, attrs, 7)
    (reply,) = _ipvs.decode_replies(ours, 30)
    assert (reply.type, reply.flags, reply.seq, reply.cmd, reply.error) == (30, 5, 7, cmd, 0)
    if op.op in ("add_dest", "edit_dest"):
        assert _ipvs.dest_from_nla(reply.attrs.get_attr("IPVS_CMD_ATTR_DEST"), KEY) == op.dest
    elif op.op in ("add_service", "edit_service"):
        assert _ipvs.service_from_nla(reply.attrs.get_attr("IPVS_CMD_ATTR_SERVICE")) == op.service
    elif op.op == "set_timeouts":
        assert reply.attrs == {"IPVS_CMD_ATTR_TIMEOUT_TCP": 300, "IPVS_CMD_ATTR_TIMEOUT_UDP": 5}


def test_a_datagram_of_replies_an_ack_an_error_and_done():
    stats = [("IPVS_STATS_ATTR_CONNS", 3), ("IPVS_STATS_ATTR_INBYTES", 2**40)]
    dest = [*_ipvs.dest_attrs(DESTS[1]), ("IPVS_DEST_ATTR_ACTIVE_CONNS", 2), ("IPVS_DEST_ATTR_PERSIST_CONNS", 1),
            ("IPVS_DEST_ATTR_STATS64", {"attrs": stats})]
    data = _pyroute2_encoding(_ipvs.CMD_NEW_DEST, [("IPVS_CMD_ATTR_DEST", {"attrs": dest})], 41)
    data += struct.pack("=IHHIIi", 20, _ipvs.NLMSG_ERROR, 0, 42, 99, 0)  # an ack
    data += struct.pack("=IHHIIi", 20, _ipvs.NLMSG_ERROR, 0, 43, 99, -errno.EEXIST)  # a refusal (capped: no echo)
    data += struct.pack("=IHHIIi", 20, _ipvs.NLMSG_DONE, 2, 44, 99, 0)
    first, ack, refusal, done = _ipvs.decode_replies(data, 30)
    got = _ipvs.dest_from_nla(first.attrs.get_attr("IPVS_CMD_ATTR_DEST"), KEY)
    assert got == DESTS[1] and (got.active_connections, got.persistent_connections) == (2, 1)
    assert got.stats["conns"] == 3 and got.stats["inbytes"] == 2**40
    assert [(r.type, r.seq, r.error) for r in (ack, refusal, done)] == [
        (_ipvs.NLMSG_ERROR, 42, 0), (_ipvs.NLMSG_ERROR, 43, errno.EEXIST), (_ipvs.NLMSG_DONE, 44, 0)]


def test_unknown_and_truncated_attributes_are_skipped():
    attrs = _ipvs.encode_attrs([("IPVS_DEST_ATTR_WEIGHT", 7)], _ipvs.AttrTable(_ipvs.DEST_ATTRS))
    unknown = struct.pack("=HHI", 8, 99, 1)
    short = struct.pack("=HHH", 6, 4, 1) + b"\0\0"  # a weight of two bytes
    parsed = _ipvs.decode_attrs(unknown + attrs + short, 0, len(unknown + attrs + short),
                                _ipvs.AttrTable(_ipvs.DEST_ATTRS))
    assert parsed == {"IPVS_DEST_ATTR_WEIGHT": 7}


def _handle() -> _ipvs.IpvsHandle:
    for op in OPS + ADDS:
        cmd, attrs = _ipvs.op_request(op)
        _WORDS[_ipvs.encode_request(cmd, attrs, family=30, flags=5, seq=1)] = op.words
    return _ipvs.IpvsHandle(lambda argv: (0, "", ""))


ADDS = [m.Operation("add_dest", SERVICES[0], m.Dest(f"10.0.1.{i}", 80)) for i in range(1, 9)]


def test_a_batch_goes_in_windows_of_one_step(fake_socket):
    plan = [m.Operation("add_service", SERVICES[0]), m.Operation("add_service", SERVICES[3]), *ADDS,
            m.Operation("set_timeouts", timeouts=(("tcp", 300), ("udp", 5)))]
    _handle().apply(plan)
    assert fake_socket.sent == [[op.words for op in plan[:2]], [op.words for op in ADDS[:3]],
                                [op.words for op in ADDS[3:6]], [op.words for op in ADDS[6:]], [plan[-1].words]]


def test_a_refusal_stops_the_batch_after_its_window_and_says_what_was_done(fake_socket):
    fake_socket.refuse = {ADDS[4].words: errno.EINVAL, ADDS[5].words: errno.EEXIST}
    plan = [m.Operation("add_service", SERVICES[0]), *ADDS, m.Operation("delete_service", SERVICES[3])]
    with pytest.raises(_ipvs.BatchError) as caught:
        _handle().apply(plan)
    exc = caught.value
    # the window ADDS[3:6] was answered in full: ADDS[3] was done, 4 and 5 refused; nothing after it was sent
    assert fake_socket.sent[-1] == [op.words for op in ADDS[3:6]] and len(fake_socket.sent) == 3
    assert exc.done == [plan[0], *ADDS[:4]]
    assert exc.failed == ADDS[4] and exc.refused == [ADDS[4], ADDS[5]] and exc.errno == errno.EINVAL
    assert exc.errors == [
        "cannot add real server 10.0.1.5:80 to TCP 192.0.2.1:80: the kernel rejected the settings (EINVAL): is "
        "the address unicast, the loopback interface up, the forwarding method possible for this address family?",
        "cannot add real server 10.0.1.6:80 to TCP 192.0.2.1:80: the real server already exists"]
    assert str(exc) == "; ".join(exc.errors)


@pytest.mark.parametrize(("op", "code", "message"), [
    (OPS[0], errno.EEXIST, "cannot add service TCP 192.0.2.1:80: the service already exists"),
    (OPS[6], errno.ESRCH, "cannot change service FWM 10 IPv6: no such service"),
    (OPS[11], errno.ESRCH, "cannot delete service SCTP 10.0.0.1:9: no such service"),
    (OPS[0], errno.ENOENT, "cannot add service TCP 192.0.2.1:80: scheduler rr is not available in this kernel "
                           "(no module ip_vs_rr could be loaded) (modprobe ip_vs_rr: not found)"),
    (OPS[12 + 4], errno.ENOENT, "cannot change real server 10.0.0.1:80 of TCP 192.0.2.1:80: no such real server"),
    (OPS[-2], errno.ENOENT, "cannot delete real server [2001:db8::9]:80 from TCP 192.0.2.1:80: no such real server"),
    (OPS[-1], errno.EINVAL, "cannot set the IPVS timeouts (tcp=300, udp=5): the kernel rejected the settings as "
                            "invalid (EINVAL)"),
])
def test_refusals_name_the_object(op, code, message):
    assert _ipvs.op_error(op, code, ["modprobe ip_vs_rr: not found"]) == message


@pytest.mark.parametrize(("op", "code", "moved"), [
    ("add_service", errno.EEXIST, True),
    ("add_dest", errno.EEXIST, True),
    ("add_dest", errno.ESRCH, True),  # the service went
    ("edit_service", errno.ESRCH, True),
    ("delete_service", errno.ESRCH, True),
    ("edit_dest", errno.ENOENT, True),
    ("delete_dest", errno.ENOENT, True),
    ("delete_dest", errno.ESRCH, True),
    ("add_service", errno.ENOENT, False),  # an unknown scheduler, not a moved table
    ("edit_service", errno.ENOENT, False),
    ("add_dest", errno.EINVAL, False),
    ("edit_dest", errno.ERANGE, False),
    ("set_timeouts", errno.ESRCH, False),
    ("add_dest", None, False),
])
def test_state_moved_tells_a_table_that_changed_from_a_bad_request(op, code, moved):
    assert _ipvs.state_moved(op, code) is moved
