# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The netlink layer's own socket on a kernel: reads that match the per-request pyroute2 path they replace,
dumps and batches larger than a receive buffer, and a batch refused in the middle, judged by ipvsadm."""

from __future__ import annotations

import errno
import struct

import pytest
from _ipvs_helpers import VIP
from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs
from ansible_collections.lvs.ipvs.plugins.module_utils import _model as m
from conftest import Netns


def _table_lines(services: int) -> list[str]:
    """A table of every kind the collection manages: ``services`` services of 6 to 9 real servers each."""
    lines = []
    for i in range(services):
        kind = i % 6
        if kind == 0:
            sel, extra, rs = f"-t 10.1.{i // 200}.{i % 200 + 1}:80", "-s rr -p 300", "10.2.0.{n}:80"
        elif kind == 1:
            sel, extra, rs = f"-u 10.1.{i // 200}.{i % 200 + 1}:53", "-s wlc -p 60 -M 255.255.255.0 -o", "10.2.0.{n}:53"
        elif kind == 2:
            sel, extra, rs = f"-f {i + 1}", "-s sh -b sh-port -p 3600", "10.2.0.{n}:0"
        elif kind == 3:
            sel, extra, rs = f"-t [2001:db8::{i:x}]:443", "-s mh -b mh-port", "[2001:db8:1::{n}]:443"
        elif kind == 4:
            sel, extra, rs = f"-f {i + 1} -6", "-s rr -p 120 -M 64", "[2001:db8:2::{n}]:0"
        else:
            sel, extra, rs = f"--sctp-service 10.1.{i // 200}.{i % 200 + 1}:9", "-s lc", "10.2.0.{n}:9"
        lines.append(f"-A {sel} {extra}")
        for n in range(1, 7 + i % 3):
            fwd = ("-g", "-m", "-i")[n % 3] if kind not in (3, 4) else ("-g", "-m")[n % 2]
            address = rs.format(n=n)
            if fwd == "-m" and kind in (0, 1, 5):
                address = address.rsplit(":", 1)[0] + f":{8000 + n}"
            lines.append(f"-a {sel} -r {address} {fwd} -w {n % 4}")
    return lines


def _old_reader():
    """The per-request read this layer replaced: pyroute2's socket, one nlm_request per dump, its own decoding."""
    from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST
    from pyroute2.netlink.generic import GenericNetlinkSocket

    sock = GenericNetlinkSocket()
    sock.bind("IPVS", _ipvs.IpvsMessage)

    def dump(cmd: int, attrs: list) -> list:
        msg = _ipvs.IpvsMessage()
        msg["cmd"], msg["version"], msg["attrs"] = cmd, _ipvs.GENL_VERSION, attrs
        return list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=NLM_F_REQUEST | NLM_F_DUMP))

    try:
        services = [_ipvs.service_from_nla(msg.get_attr("IPVS_CMD_ATTR_SERVICE"))
                    for msg in dump(_ipvs.CMD_GET_SERVICE, [])]
        table = []
        for svc in services:
            key = [("IPVS_CMD_ATTR_SERVICE", {"attrs": _ipvs.service_key_attrs(svc.key)})]
            table.append((svc, [_ipvs.dest_from_nla(msg.get_attr("IPVS_CMD_ATTR_DEST"), svc.key)
                                for msg in dump(_ipvs.CMD_GET_DEST, key)]))
        return table
    finally:
        sock.close()


def _full(table) -> list:
    """Everything read, the counters and statistics included (the records compare without them)."""
    return [(svc, svc.stats, [(d, d.active_connections, d.inactive_connections, d.persistent_connections, d.stats)
                              for d in dests]) for svc, dests in table]


def test_the_batched_reader_reads_what_the_per_request_reader_read(netns: Netns):
    lines = _table_lines(60)
    netns.run("ipvsadm -R", input="\n".join(lines) + "\n")
    assert len(netns.ipvsadm_save()) > 450
    with netns.entered():
        old = _old_reader()
        with _ipvs.IpvsHandle() as ipvs:
            new = ipvs.config()
            found = {svc.key: ipvs.find_service(svc.key) for svc, _dests in new}
            dests = {svc.key: ipvs.dests(svc.key) for svc, _dests in new}
            missing = ipvs.find_service(m.ServiceKey("ipv4", "tcp", VIP, 81))
    assert _full(new) == _full(old)
    assert sorted(m.render_config(new)) == netns.ipvsadm_save()
    for svc, svc_dests in new:  # one GET_SERVICE gives what the dump gave, statistics included
        assert found[svc.key] == svc and found[svc.key].stats == svc.stats
        assert dests[svc.key] == svc_dests
    assert missing is None


def test_dumps_and_batches_larger_than_a_receive_buffer(netns: Netns):
    """One service with 2,500 real servers (its dump spans many datagrams), 300 more services after it,
    and batches whose acks would overflow a default socket buffer in one window."""
    big = m.Service(key=m.ServiceKey("ipv4", "tcp", VIP, 80), scheduler="rr")
    dests = [m.Dest(f"10.3.{n // 250}.{n % 250 + 1}", 80, weight=n % 7) for n in range(2500)]
    others = [m.Service(key=m.ServiceKey("ipv4", "tcp", VIP, 1000 + i), scheduler="wlc") for i in range(300)]
    plan = ([m.Operation("add_service", big)] + [m.Operation("add_service", s) for s in others]
            + [m.Operation("add_dest", big, d) for d in dests])
    with netns.entered(), _ipvs.IpvsHandle() as ipvs:
        sock = ipvs._open()
        sock.max_window = 1024
        sock.rcvbuf = 1 << 30  # as if the buffer were endless: the real one must hold the acks of a window
        ipvs.apply(plan)
        datagrams = []
        real_recv = sock.recv

        def counting_recv(*args, **kwargs):
            replies = real_recv(*args, **kwargs)
            datagrams.append(len(replies))
            return replies

        sock.recv = counting_recv
        read = ipvs.config()
        assert len(datagrams) > 10, datagrams  # the big dump came in many datagrams, then 301 short dumps
        sock.recv = real_recv
        # and everything again, edited: SET_DEST and SET_SERVICE in windows, then removals
        ipvs.apply([m.Operation("edit_service", m.Service(key=s.key, scheduler="rr")) for s in others]
                   + [m.Operation("edit_dest", big, m.Dest(d.address, 80, weight=9)) for d in dests[::2]])
        edited = ipvs.config()
    read_dests = {svc.key: ds for svc, ds in read}
    assert sorted(d.address for d in read_dests[big.key]) == sorted(d.address for d in dests)
    assert len(read) == 301 and sum(len(ds) for ds in read_dests.values()) == 2500
    assert netns.ipvsadm_save() == sorted(m.render_config(edited))
    assert sum(1 for svc, ds in edited if svc.key == big.key for d in ds if d.weight == 9) == 1250
    assert {svc.scheduler for svc, _dests in edited} == {"rr"}


def test_a_batch_refused_in_the_middle_stops_there_and_says_what_was_done(netns: Netns):
    svc = m.Service(key=m.ServiceKey("ipv4", "tcp", VIP, 80), scheduler="rr")
    other = m.Service(key=m.ServiceKey("ipv4", "tcp", VIP, 81), scheduler="rr")
    good = [m.Dest(f"10.4.0.{n}", 80) for n in range(1, 13)]
    bad = m.Dest("10.4.0.99", 80, upper_threshold=5, lower_threshold=9)  # the kernel refuses it (ERANGE)
    adds = [m.Operation("add_dest", svc, d) for d in good[:6]] + [m.Operation("add_dest", svc, bad)] + [
        m.Operation("add_dest", svc, d) for d in good[6:]]
    plan = [m.Operation("add_service", svc), m.Operation("add_service", other), *adds,
            m.Operation("add_dest", other, m.Dest("10.4.1.1", 81)), m.Operation("delete_service", other)]
    with netns.entered(), _ipvs.IpvsHandle() as ipvs:
        ipvs._open().max_window = 4  # windows of add_dest: [0-3] [4-7: the refused one at 6] [8-11] ...
        with pytest.raises(_ipvs.BatchError) as caught:
            ipvs.apply(plan)
    exc = caught.value
    assert exc.failed == adds[6] and exc.refused == [adds[6]] and exc.errno == errno.ERANGE
    assert str(exc) == ("cannot add real server 10.4.0.99:80 to TCP 192.168.0.1:80: weight or thresholds out of "
                        "range (lower threshold above upper?)")
    # done: the services, the first window of real servers and the rest of the refused one's window; then it stopped
    assert exc.done == plan[:2] + adds[:6] + [adds[7]]
    assert netns.ipvsadm_save() == sorted(m.render_config(m.apply_to_table([], exc.done)))


def test_the_kernel_runs_one_dump_at_a_time_per_socket(netns: Netns):
    """Why the real-server dumps follow each other on one socket instead of being sent together: a second
    dump request meets EBUSY while the first dump is still running."""
    netns.run(f"ipvsadm -A -t {VIP}:80 -s rr && ipvsadm -a -t {VIP}:80 -r 10.5.0.1 -g")
    with netns.entered(), _ipvs.IpvsHandle() as ipvs:
        sock = ipvs._open()
        key = [("IPVS_CMD_ATTR_SERVICE", {"attrs": _ipvs.service_key_attrs(m.ServiceKey("ipv4", "tcp", VIP, 80))})]
        flags = _ipvs.NLM_F_REQUEST | _ipvs.NLM_F_DUMP
        sock.sock.send(sock.encode(_ipvs.CMD_GET_DEST, key, flags, 101)
                       + sock.encode(_ipvs.CMD_GET_DEST, key, flags, 102))
        replies = []
        sock.sock.settimeout(2)
        try:
            while True:
                replies += sock.recv()
        except TimeoutError:
            pass
    assert [(r.seq, r.type, r.error) for r in replies if r.seq == 102] == [(102, _ipvs.NLMSG_ERROR, errno.EBUSY)]
    assert [r.type for r in replies if r.seq == 101] == [sock.family, _ipvs.NLMSG_DONE]


def test_the_codec_reads_what_pyroute2_reads_from_the_kernel(netns: Netns):
    """Every dumped message decoded by both codecs (the kernel's own bytes, with this run's pyroute2)."""
    netns.run("ipvsadm -R", input="\n".join(_table_lines(6)) + "\n")
    with netns.entered(), _ipvs.IpvsHandle() as ipvs:
        sock = ipvs._open()
        raw = []
        real_recv_into = sock.sock.recv_into

        class Tap:
            def __getattr__(self, name):
                return getattr(real_sock, name)

            def recv_into(self, buf, nbytes=0, flags=0):
                size = real_recv_into(buf, nbytes, flags)
                raw.append(bytes(buf[:size]))
                return size

        real_sock = sock.sock
        sock.sock = Tap()
        try:
            table = ipvs.config()
        finally:
            sock.sock = real_sock
    checked = 0
    for data in raw:
        offset = 0
        while offset < len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if kind == sock.family:
                msg = _ipvs.IpvsMessage(data[offset:offset + length])
                msg.decode()
                ours = _ipvs.decode_replies(data[offset:offset + length], sock.family)[0].attrs
                if msg.get_attr("IPVS_CMD_ATTR_SERVICE") is not None:
                    assert (_ipvs.service_from_nla(ours.get_attr("IPVS_CMD_ATTR_SERVICE"))
                            == _ipvs.service_from_nla(msg.get_attr("IPVS_CMD_ATTR_SERVICE")))
                else:
                    key = table[0][0].key  # dest_from_nla needs a key for the family only
                    theirs = _ipvs.dest_from_nla(msg.get_attr("IPVS_CMD_ATTR_DEST"), key)
                    assert _ipvs.dest_from_nla(ours.get_attr("IPVS_CMD_ATTR_DEST"), key) == theirs
                    assert _ipvs.dest_from_nla(ours.get_attr("IPVS_CMD_ATTR_DEST"), key).stats == theirs.stats
                checked += 1
            offset += (length + 3) & ~3
    assert checked == sum(1 + len(dests) for _svc, dests in table)
