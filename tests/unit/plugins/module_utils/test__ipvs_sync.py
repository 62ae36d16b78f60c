# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sync daemon messages without a kernel: the compiled codec against pyroute2's classes, the wire
formats, and the kernel's refusals as messages that name the daemon."""

from __future__ import annotations

import errno
import socket
import struct
from typing import ClassVar

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs
from ansible_collections.lvs.ipvs.plugins.module_utils import _model as m
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import KernelError

DAEMONS = [
    m.SyncDaemon("master", "eth1", syncid=10),
    m.SyncDaemon("backup", "sync0", syncid=4, maxlen=1200, group="ff02::1:81", port=9000, ttl=5),
    m.SyncDaemon("master", "a-15-chars-name", syncid=255, maxlen=65507, group="239.255.255.250", port=65535,
                 ttl=255),
]


def _pyroute2(cmd: int, attrs: list, seq: int = 7) -> bytes:
    msg = _ipvs.IpvsMessage()
    msg["cmd"], msg["version"], msg["attrs"] = cmd, 1, attrs
    msg["header"]["type"], msg["header"]["flags"], msg["header"]["pid"] = 30, 5, 99
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


@pytest.mark.parametrize("daemon", DAEMONS, ids=lambda d: d.words())
def test_the_codec_writes_what_pyroute2_writes_and_both_read_it_back(daemon):
    attrs = [("IPVS_CMD_ATTR_DAEMON", {"attrs": _ipvs.daemon_attrs(daemon)})]
    ours = _ipvs.encode_request(_ipvs.CMD_NEW_DAEMON, attrs, family=30, flags=5, seq=7, portid=99)
    assert ours == _pyroute2(_ipvs.CMD_NEW_DAEMON, attrs)
    (reply,) = _ipvs.decode_replies(ours, 30)
    assert reply.cmd == _ipvs.CMD_NEW_DAEMON
    assert _ipvs.daemon_from_nla(reply.attrs.get_attr("IPVS_CMD_ATTR_DAEMON")) == daemon
    theirs = _ipvs.IpvsMessage(ours)
    theirs.decode()
    assert _ipvs.daemon_from_nla(theirs.get_attr("IPVS_CMD_ATTR_DAEMON")) == daemon


def test_stop_and_dump_requests():
    stop = [("IPVS_CMD_ATTR_DAEMON", {"attrs": [("IPVS_DAEMON_ATTR_STATE", 2)]})]
    assert _ipvs.encode_request(_ipvs.CMD_DEL_DAEMON, stop, family=30, flags=5, seq=7, portid=99) == _pyroute2(
        _ipvs.CMD_DEL_DAEMON, stop)
    assert _ipvs.encode_request(_ipvs.CMD_GET_DAEMON, [], family=30, flags=5, seq=7, portid=99) == _pyroute2(
        _ipvs.CMD_GET_DAEMON, [])
    # the numbers of include/uapi/linux/ip_vs.h
    assert (_ipvs.CMD_NEW_DAEMON, _ipvs.CMD_DEL_DAEMON, _ipvs.CMD_GET_DAEMON) == (9, 10, 11)


def test_wire_formats():
    attrs = dict(_ipvs.daemon_attrs(DAEMONS[1]))
    assert attrs["IPVS_DAEMON_ATTR_MCAST_GROUP6"] == socket.inet_pton(socket.AF_INET6, "ff02::1:81")  # network order
    data = _ipvs.encode_attrs([("IPVS_DAEMON_ATTR_MCAST_PORT", 9000)], _ipvs.AttrTable(_ipvs.DAEMON_ATTRS))
    assert data[4:6] == struct.pack("=H", 9000)  # host order: the kernel does htons(mcast_port + id) itself
    assert "IPVS_DAEMON_ATTR_SYNC_MAXLEN" not in dict(_ipvs.daemon_attrs(DAEMONS[0]))  # the kernel chooses it
    assert dict(_ipvs.daemon_attrs(DAEMONS[0]))["IPVS_DAEMON_ATTR_MCAST_GROUP"] == bytes([224, 0, 0, 81])


def test_an_old_kernels_daemon_has_the_defaults():
    # kernels before 4.3 report only the state, the interface and the sync ID
    attrs = [("IPVS_DAEMON_ATTR_STATE", 1), ("IPVS_DAEMON_ATTR_MCAST_IFN", "eth1"), ("IPVS_DAEMON_ATTR_SYNC_ID", 3)]
    data = _pyroute2(_ipvs.CMD_NEW_DAEMON, [("IPVS_CMD_ATTR_DAEMON", {"attrs": attrs})])
    (reply,) = _ipvs.decode_replies(data, 30)
    assert _ipvs.daemon_from_nla(reply.attrs.get_attr("IPVS_CMD_ATTR_DAEMON")) == m.SyncDaemon("master", "eth1", 3)


class _Socket:
    """GenlSocket's request() and dump() answering with an errno (0: done)."""

    code = 0
    sent: ClassVar[list] = []

    def __init__(self, family):
        pass

    def request(self, cmd, attrs):
        _Socket.sent.append((cmd, attrs))
        if self.code:
            raise _ipvs.RequestError(self.code)
        return []

    def dump(self, cmd, attrs):
        return self.request(cmd, attrs)

    def close(self):
        pass


@pytest.fixture
def sock(monkeypatch):
    _Socket.code, _Socket.sent = 0, []
    monkeypatch.setattr(_ipvs, "GenlSocket", _Socket)
    return _Socket


@pytest.mark.parametrize(("code", "start", "message"), [
    (errno.EEXIST, True, "cannot start the master sync daemon (syncid 10 on eth1): a master sync daemon is already "
                         "running (the kernel cannot change a running daemon: it must be stopped and started)"),
    (errno.ENODEV, True, "cannot start the master sync daemon (syncid 10 on eth1): there is no interface eth1 in "
                         "this network namespace"),
    (errno.EINVAL, True, "The sync protocol also refuses to start while a service has real servers of another "
                         "address family"),
    (errno.ENETUNREACH, True, "interface eth1 has no usable IPv4 address or route for group 224.0.0.81"),
    (errno.ESRCH, False, "cannot stop the master sync daemon (syncid 10 on eth1): no master sync daemon is running"),
    (errno.EPERM, False, "permission denied: managing IPVS needs root"),
])
def test_refusals_name_the_daemon(sock, code, start, message):
    sock.code = code
    handle = _ipvs.IpvsHandle(lambda argv: (0, "", ""))
    with pytest.raises(KernelError) as caught:
        (handle.start_sync_daemon if start else handle.stop_sync_daemon)(DAEMONS[0])
    assert message in str(caught.value)
    assert caught.value.errno == code


def test_find_interface():
    assert _ipvs.find_interface("lo").mtu >= 1500
    assert not _ipvs.find_interface("lo").multicast
    assert _ipvs.find_interface("no-such-if0") is None
    assert _ipvs.find_interface("a" * 16) is None
