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
from pyroute2.netlink.exceptions import NetlinkError


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
    binds: ClassVar[list[str]] = []
    fail_first = 0

    def bind(self, proto, msg_class):
        _FakeSocket.binds.append(proto)
        if len(_FakeSocket.binds) <= _FakeSocket.fail_first:
            raise NetlinkError(errno.ENOENT)

    def close(self):
        pass


@pytest.fixture
def fake_socket(monkeypatch):
    _FakeSocket.binds = []
    monkeypatch.setattr(_ipvs, "GenericNetlinkSocket", _FakeSocket)
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
