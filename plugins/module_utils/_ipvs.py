# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's only door to the kernel's IPVS: generic netlink, on a socket driven by hand.

:class:`IpvsHandle` takes and returns the normalized records of ``_model.py`` and raises the
collection's exceptions (``KernelError`` naming the object, ``BackendUnavailableError`` when
IPVS cannot be loaded). It reads the kernel with one dump of the services and one dump of real
servers per service, one after the other on one socket (the kernel runs one dump at a time per
socket), or one ``IPVS_CMD_GET_SERVICE`` for one service; it writes a plan with many requests per
``send`` and every ack checked (:meth:`IpvsHandle.apply`). No event loop and no thread: the
requests go out as bytes on a ``socket.socket(AF_NETLINK)`` and the replies are matched by
sequence number.

The messages are defined once, by the kernel's attribute types (include/uapi/linux/ip_vs.h:
:data:`CMD_ATTRS` and the tables it nests). Two codecs read that definition: pyroute2's ``genlmsg``/``nla``
classes (:class:`IpvsMessage`, the reference) and a codec compiled to ``struct`` calls
(:func:`encode_request`, :func:`decode_replies`), which the handle uses: pyroute2's nla code costs
about 0.5 ms per real server to encode or decode (measured, tools/lvslab/bench.py's tables), which a
table of 11,000 objects read or written as a whole cannot afford. The tests prove the two codecs
write the same bytes and read the same records, with the pinned pyroute2 and with Debian 12's 0.7.2.

pyroute2's high-level ``IPVSService``/``IPVSDest`` are not used: their message types get the
netmask (IPv6 prefix), the GUE tunnel port and the global timeouts wrong, and objects built
from messages keep defaults instead of the kernel's values. pyroute2 0.7.x has no IPVS module
at all, so the statistics types are defined here too. The collection requires pyroute2 0.7.2 or
later (:data:`PYROUTE2_REQUIREMENT`); an older one is refused with a message naming the version
found and where (:func:`pyroute2_problem`).
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import functools
import ipaddress
import os
import platform
import re
import socket
import struct
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import BackendUnavailableError, KernelError
from ansible_collections.lvs.ipvs.plugins.module_utils._model import (
    FAMILIES,
    FAMILY_NAMES,
    FORWARDING,
    FORWARDING_NAMES,
    PROTOCOL_NAMES,
    PROTOCOLS,
    SCHED_FLAG_BITS,
    SVC_F_ONEPACKET,
    SVC_F_PERSISTENT,
    SYNC_STATE_NAMES,
    SYNC_STATES,
    TUNNEL_CSUM,
    TUNNEL_CSUM_NAMES,
    TUNNEL_TYPE_NAMES,
    TUNNEL_TYPES,
    Dest,
    Operation,
    Service,
    ServiceKey,
    SyncDaemon,
    Timeouts,
    netmask_from_kernel,
    netmask_to_kernel,
    sched_flag_names,
    sched_flags_to_bits,
)

# The oldest pyroute2 proven on a kernel (Debian 12's python3-pyroute2; bin/test's kernel stage runs
# the IPVS tests with it and with the pinned one). Only its low-level netlink pieces are used.
PYROUTE2_MINIMUM = (0, 7, 2)
PYROUTE2_REQUIREMENT = "pyroute2>=" + ".".join(str(part) for part in PYROUTE2_MINIMUM)

PYROUTE2_VERSION: str | None = None  # the version found, when pyroute2 itself could be imported
PYROUTE2_LOCATION: str | None = None  # the directory it was imported from
PYROUTE2_IMPORT_ERROR: str | None = None
try:
    import pyroute2

    PYROUTE2_LOCATION = os.path.dirname(getattr(pyroute2, "__file__", None) or "") or None
    PYROUTE2_VERSION = str(getattr(pyroute2, "__version__", "unknown"))
    from pyroute2.netlink import genlmsg, nla
except ImportError:
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()


def installed_version(package_dir: str | None, name: str = "pyroute2") -> str | None:
    """The version in the metadata installed beside an imported package (a ``*.dist-info`` or ``*.egg-info``).

    Debian's python3-pyroute2 0.7.2 has no ``pyroute2/config/version.py``, so its
    ``pyroute2.__version__`` is ``"unknown"``; its ``pyroute2-0.7.2.dist-info`` says the version.
    Only the directory the package came from is read, not another copy elsewhere on the path.
    """
    if not package_dir:
        return None
    try:
        from importlib import metadata  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - Python 3.7
        return None
    for dist in metadata.distributions(path=[os.path.dirname(package_dir)]):
        if str(dist.metadata["Name"] or "").lower() == name:
            return str(dist.version)
    return None


if PYROUTE2_VERSION == "unknown":
    PYROUTE2_VERSION = installed_version(PYROUTE2_LOCATION) or PYROUTE2_VERSION


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """``"0.7.2"`` -> ``(0, 7, 2)``; the leading numbers of a version (``None`` when it has none)."""
    match = re.match(r"\d+(?:\.\d+)*", (text or "").strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else None


def pyroute2_too_old(version: str | None) -> bool:
    """Whether a pyroute2 of this version is older than :data:`PYROUTE2_MINIMUM` (an unreadable one is not)."""
    found = version_tuple(version)
    return found is not None and found < PYROUTE2_MINIMUM


HAS_PYROUTE2 = PYROUTE2_IMPORT_ERROR is None and not pyroute2_too_old(PYROUTE2_VERSION)


def pyroute2_problem(version: str | None = PYROUTE2_VERSION, location: str | None = PYROUTE2_LOCATION) -> str:
    """Why pyroute2 cannot be used on this host, for ``fail_json`` (only meaningful when not :data:`HAS_PYROUTE2`).

    A pyroute2 that is there but too old is named, with where it was found and what is needed;
    one that cannot be imported at all (``version`` None) gets Ansible's missing-library message.
    """
    if version is not None and pyroute2_too_old(version):
        where = f" (imported from {location})" if location else ""
        return (
            f"pyroute2 {version}{where} on {platform.node()}'s Python {sys.executable} is too old: "
            f"the lvs.ipvs modules need {PYROUTE2_REQUIREMENT}. Install a newer pyroute2 for that Python "
            "(Debian 12 and later: the python3-pyroute2 package), or set ansible_python_interpreter to "
            "a Python that has one."
        )
    return missing_required_lib(PYROUTE2_REQUIREMENT)


CMD_NEW_SERVICE = 1
CMD_SET_SERVICE = 2
CMD_DEL_SERVICE = 3
CMD_GET_SERVICE = 4
CMD_NEW_DEST = 5
CMD_SET_DEST = 6
CMD_DEL_DEST = 7
CMD_GET_DEST = 8
CMD_NEW_DAEMON = 9
CMD_DEL_DAEMON = 10
CMD_GET_DAEMON = 11
CMD_SET_CONFIG = 12
CMD_GET_CONFIG = 13
GENL_VERSION = 1

STAT_NAMES = ("conns", "inpkts", "outpkts", "inbytes", "outbytes", "cps", "inpps", "outpps", "inbps", "outbps")

# The IPVS generic netlink messages (include/uapi/linux/ip_vs.h): attribute names in the order of their
# numbers, with the kernel's types. One definition, read by two codecs: pyroute2's classes below (the
# reference, cross-checked byte for byte in the tests) and the compiled codec further down (what the
# handle sends and reads: pyroute2's nla code costs about 0.5 ms per real server, measured, and a table of
# 11,000 objects is read and written as a whole).
STATS_ATTRS = (
    ("IPVS_STATS_ATTR_UNSPEC", "none"),
    ("IPVS_STATS_ATTR_CONNS", "uint32"),
    ("IPVS_STATS_ATTR_INPKTS", "uint32"),
    ("IPVS_STATS_ATTR_OUTPKTS", "uint32"),
    ("IPVS_STATS_ATTR_INBYTES", "uint64"),
    ("IPVS_STATS_ATTR_OUTBYTES", "uint64"),
    ("IPVS_STATS_ATTR_CPS", "uint32"),
    ("IPVS_STATS_ATTR_INPPS", "uint32"),
    ("IPVS_STATS_ATTR_OUTPPS", "uint32"),
    ("IPVS_STATS_ATTR_INBPS", "uint32"),
    ("IPVS_STATS_ATTR_OUTBPS", "uint32"),
)
STATS64_ATTRS = tuple((name, "uint64" if kind != "none" else kind) for name, kind in STATS_ATTRS)
SERVICE_ATTRS = (
    ("IPVS_SVC_ATTR_UNSPEC", "none"),
    ("IPVS_SVC_ATTR_AF", "uint16"),
    ("IPVS_SVC_ATTR_PROTOCOL", "uint16"),
    ("IPVS_SVC_ATTR_ADDR", "cdata"),
    ("IPVS_SVC_ATTR_PORT", "be16"),
    ("IPVS_SVC_ATTR_FWMARK", "uint32"),
    ("IPVS_SVC_ATTR_SCHED_NAME", "asciiz"),
    ("IPVS_SVC_ATTR_FLAGS", "flags"),
    ("IPVS_SVC_ATTR_TIMEOUT", "uint32"),
    ("IPVS_SVC_ATTR_NETMASK", "uint32"),
    ("IPVS_SVC_ATTR_STATS", "stats"),
    ("IPVS_SVC_ATTR_PE_NAME", "asciiz"),
    ("IPVS_SVC_ATTR_STATS64", "stats64"),
)
DEST_ATTRS = (
    ("IPVS_DEST_ATTR_UNSPEC", "none"),
    ("IPVS_DEST_ATTR_ADDR", "cdata"),
    ("IPVS_DEST_ATTR_PORT", "be16"),
    ("IPVS_DEST_ATTR_FWD_METHOD", "uint32"),
    ("IPVS_DEST_ATTR_WEIGHT", "uint32"),
    ("IPVS_DEST_ATTR_U_THRESH", "uint32"),
    ("IPVS_DEST_ATTR_L_THRESH", "uint32"),
    ("IPVS_DEST_ATTR_ACTIVE_CONNS", "uint32"),
    ("IPVS_DEST_ATTR_INACT_CONNS", "uint32"),
    ("IPVS_DEST_ATTR_PERSIST_CONNS", "uint32"),
    ("IPVS_DEST_ATTR_STATS", "stats"),
    ("IPVS_DEST_ATTR_ADDR_FAMILY", "uint16"),
    ("IPVS_DEST_ATTR_STATS64", "stats64"),
    ("IPVS_DEST_ATTR_TUN_TYPE", "uint8"),
    ("IPVS_DEST_ATTR_TUN_PORT", "be16"),
    ("IPVS_DEST_ATTR_TUN_FLAGS", "uint16"),
)
# A connection sync daemon (IPVS_CMD_ATTR_DAEMON). The groups are addresses in network order (the kernel's
# policy says NLA_U32 for the IPv4 one, read with nla_get_in_addr); the port is host order, unlike a service's.
DAEMON_ATTRS = (
    ("IPVS_DAEMON_ATTR_UNSPEC", "none"),
    ("IPVS_DAEMON_ATTR_STATE", "uint32"),
    ("IPVS_DAEMON_ATTR_MCAST_IFN", "asciiz"),
    ("IPVS_DAEMON_ATTR_SYNC_ID", "uint32"),
    ("IPVS_DAEMON_ATTR_SYNC_MAXLEN", "uint16"),
    ("IPVS_DAEMON_ATTR_MCAST_GROUP", "cdata"),
    ("IPVS_DAEMON_ATTR_MCAST_GROUP6", "cdata"),
    ("IPVS_DAEMON_ATTR_MCAST_PORT", "uint16"),
    ("IPVS_DAEMON_ATTR_MCAST_TTL", "uint8"),
)
CMD_ATTRS = (
    ("IPVS_CMD_ATTR_UNSPEC", "none"),
    ("IPVS_CMD_ATTR_SERVICE", "service"),
    ("IPVS_CMD_ATTR_DEST", "dest"),
    ("IPVS_CMD_ATTR_DAEMON", "daemon"),
    ("IPVS_CMD_ATTR_TIMEOUT_TCP", "uint32"),
    ("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", "uint32"),
    ("IPVS_CMD_ATTR_TIMEOUT_UDP", "uint32"),
)
# The generic netlink controller, to find the IPVS family's id (include/uapi/linux/genetlink.h).
CTRL_ATTRS = (("CTRL_ATTR_UNSPEC", "none"), ("CTRL_ATTR_FAMILY_ID", "uint16"), ("CTRL_ATTR_FAMILY_NAME", "asciiz"))
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3

if HAS_PYROUTE2:

    class IpvsStats:  # pylint: disable=too-few-public-methods
        """The statistics nested in a service or real server (pyroute2 0.7.x has no ``ipvsstats``: defined here)."""

        class stats(nla):  # noqa: N801 - pyroute2 resolves nla types by class name
            nla_map = STATS_ATTRS

        class stats64(nla):  # noqa: N801
            nla_map = STATS64_ATTRS

    class IpvsMessage(genlmsg):  # pylint: disable=too-few-public-methods
        """An IPVS generic netlink message with the kernel's attribute types, as pyroute2 reads and writes it."""

        prefix = "IPVS_CMD_ATTR_"
        nla_map = CMD_ATTRS

        class service(nla, IpvsStats):  # noqa: N801
            prefix = "IPVS_SVC_ATTR_"
            nla_map = SERVICE_ATTRS

            class flags(nla):  # noqa: N801
                fields = (("flags", "I"), ("mask", "I"))

        class dest(nla, IpvsStats):  # noqa: N801
            prefix = "IPVS_DEST_ATTR_"
            nla_map = DEST_ATTRS

        class daemon(nla):  # noqa: N801
            prefix = "IPVS_DAEMON_ATTR_"
            nla_map = DAEMON_ATTRS


# --- the compiled codec: the attribute tables above, packed and unpacked with struct ---------------------
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10  # errors without the request echoed: acks stay small
SO_RCVBUFFORCE = 33

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence number, port id
_GENLHDR = struct.Struct("=BBH")  # command, version, reserved
_NLAHDR = struct.Struct("=HH")  # length, type
_ERRNO = struct.Struct("=i")
_FIXED = {"uint8": struct.Struct("=B"), "uint16": struct.Struct("=H"), "uint32": struct.Struct("=I"),
          "uint64": struct.Struct("=Q"), "be16": struct.Struct(">H")}
_FLAGS = struct.Struct("=II")


class AttrTable:
    """One attribute table: by name -> (number, kind) for encoding, by number -> (name, how, struct) for decoding."""

    def __init__(self, attrs: Sequence[tuple[str, str]]) -> None:
        self.by_name = {name: (number, kind) for number, (name, kind) in enumerate(attrs)}
        self.by_number: dict[int, tuple[str, str, Any]] = {}
        for number, (name, kind) in enumerate(attrs):
            if kind in _FIXED:
                self.by_number[number] = (name, "fixed", _FIXED[kind])
            elif kind == "flags":
                self.by_number[number] = (name, "fixed", _FLAGS)
            elif kind in ("asciiz", "cdata", "hex"):
                self.by_number[number] = (name, kind, None)
            elif kind != "none":
                self.by_number[number] = (name, "nested", kind)  # resolved in _TABLES when read


_TABLES = {"cmd": AttrTable(CMD_ATTRS), "service": AttrTable(SERVICE_ATTRS), "dest": AttrTable(DEST_ATTRS),
           "stats": AttrTable(STATS_ATTRS), "stats64": AttrTable(STATS64_ATTRS), "ctrl": AttrTable(CTRL_ATTRS),
           "daemon": AttrTable(DAEMON_ATTRS)}


def encode_attrs(attrs: Iterable[tuple[str, Any]], table: AttrTable) -> bytes:
    """Attributes as netlink TLVs; nested ones are given as ``{"attrs": [...]}``, flags as ``{"flags", "mask"}``."""
    parts = []
    for name, value in attrs:
        number, kind = table.by_name[name]
        fixed = _FIXED.get(kind)
        if fixed is not None:
            payload = fixed.pack(int(value))
        elif kind in _TABLES:
            payload = encode_attrs(value["attrs"], _TABLES[kind])
        elif kind == "flags":
            payload = _FLAGS.pack(int(value["flags"]), int(value["mask"]))
        elif kind == "asciiz":
            payload = str(value).encode("ascii") + b"\0"
        else:  # cdata, hex
            payload = bytes(value)
        length = 4 + len(payload)
        parts.append(_NLAHDR.pack(length, number) + payload + b"\0" * (-length % 4))
    return b"".join(parts)


def encode_request(cmd: int, attrs: Iterable[tuple[str, Any]], *, family: int, flags: int, seq: int,
                   portid: int = 0, table: AttrTable | None = None) -> bytes:
    """One generic netlink request: netlink header, generic header, attributes."""
    body = _GENLHDR.pack(cmd, GENL_VERSION, 0) + encode_attrs(attrs, table or _TABLES["cmd"])
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), family, flags, seq, portid) + body


class Attrs(dict):
    """Decoded attributes by name, read like pyroute2's nla (``get_attr``); nested ones are decoded when read."""

    def get_attr(self, name: str, default: Any = None) -> Any:
        value = self.get(name, default)
        if type(value) is _Nested:  # pylint: disable=unidiomatic-typecheck
            value = self[name] = decode_attrs(value.data, value.start, value.end, value.table)
        return value


class _Nested(NamedTuple):
    data: bytes
    start: int
    end: int
    table: AttrTable


def decode_attrs(data: bytes, start: int, end: int, table: AttrTable) -> Attrs:
    """The attributes in ``data[start:end]`` (unknown numbers and short values are skipped)."""
    out = Attrs()
    by_number = table.by_number
    header = _NLAHDR.unpack_from
    while start + 4 <= end:
        length, number = header(data, start)
        if length < 4 or start + length > end:
            break
        entry = by_number.get(number & NLA_TYPE_MASK)
        if entry is not None:
            name, how, arg = entry
            first = start + 4
            if how == "fixed":
                if length - 4 >= arg.size:
                    value = arg.unpack_from(data, first)
                    out[name] = value[0] if len(value) == 1 else {"flags": value[0], "mask": value[1]}
            elif how == "nested":
                out[name] = _Nested(data, first, start + length, _TABLES[arg])
            elif how == "asciiz":
                out[name] = data[first:start + length].split(b"\0", 1)[0].decode("ascii", "replace")
            else:
                out[name] = data[first:start + length]
        start += (length + 3) & ~3
    return out


class Reply(NamedTuple):
    """One netlink message read: its header, and its attributes (an IPVS message) or error code (an ack)."""

    type: int
    flags: int
    seq: int
    cmd: int
    attrs: Attrs
    error: int  # 0, or the errno of NLMSG_ERROR / a failed NLMSG_DONE


def decode_replies(data: bytes, family: int, table: AttrTable | None = None) -> list[Reply]:
    """Every netlink message of one datagram."""
    out = []
    offset, size = 0, len(data)
    table = table or _TABLES["cmd"]
    while offset + _NLMSGHDR.size <= size:
        length, kind, flags, seq, _portid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > size:
            break
        body = offset + _NLMSGHDR.size
        if kind in (NLMSG_ERROR, NLMSG_DONE):
            code = -_ERRNO.unpack_from(data, body)[0] if length >= _NLMSGHDR.size + 4 else 0
            out.append(Reply(kind, flags, seq, 0, Attrs(), code))
        elif kind == family and length >= _NLMSGHDR.size + _GENLHDR.size:
            attrs = decode_attrs(data, body + _GENLHDR.size, offset + length, table)
            out.append(Reply(kind, flags, seq, data[body], attrs, 0))
        elif kind == NLMSG_OVERRUN:
            out.append(Reply(kind, flags, seq, 0, Attrs(), errno_mod.ENOBUFS))
        offset += (length + 3) & ~3
    return out


class RequestError(Exception):
    """The kernel answered a request with an error (``code`` is the errno)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"{errno_mod.errorcode.get(code, code)}: {os.strerror(code)}")
        self.code = code


class GenlSocket:
    """A generic netlink socket driven by hand: requests go out as bytes, many per ``send``; replies are read
    with ``recv`` and matched by sequence number. No event loop, no thread.

    The kernel runs one dump at a time per socket (a second dump request meets EBUSY until the first has
    ended), so dumps follow each other; requests that are not dumps are batched (:meth:`transact`).
    """

    RCVBUF = 8 << 20  # room for the acks of a window (each ack takes about 1 KiB of the buffer)
    RECV_SIZE = 1 << 16  # a datagram: the kernel's dump skbs are at most 32 KiB
    MAX_SEND = 1 << 16  # bytes of requests per send (the socket's send buffer takes about 200 KiB)
    max_window = 256  # requests waiting for their acks at most (fewer when the receive buffer is small)

    def __init__(self, family: str) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)  # pylint: disable=no-member
        try:
            sock.bind((0, 0))
            for level, option, value in ((socket.SOL_SOCKET, SO_RCVBUFFORCE, self.RCVBUF),
                                         (socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF),
                                         (SOL_NETLINK, NETLINK_CAP_ACK, 1)):
                with contextlib.suppress(OSError):  # FORCE needs CAP_NET_ADMIN; then SO_RCVBUF up to rmem_max
                    sock.setsockopt(level, option, value)
                    if option == SO_RCVBUFFORCE:
                        break
            self.rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            self.portid = sock.getsockname()[0]
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._seq = 0
        self._buf = bytearray(self.RECV_SIZE)
        self.family = GENL_ID_CTRL
        try:
            (reply,) = self.request(CTRL_CMD_GETFAMILY, [("CTRL_ATTR_FAMILY_NAME", family)], table=_TABLES["ctrl"])
            self.family = int(reply.attrs["CTRL_ATTR_FAMILY_ID"])
        except BaseException:
            sock.close()
            raise

    @property
    def window(self) -> int:
        """How many requests may wait for their acks at once (each ack takes about 1 KiB of the buffer)."""
        return max(1, min(self.max_window, self.rcvbuf // 2048))

    def close(self) -> None:
        self.sock.close()

    def next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def encode(self, cmd: int, attrs: Iterable[tuple[str, Any]], flags: int, seq: int,
               table: AttrTable | None = None) -> bytes:
        return encode_request(cmd, attrs, family=self.family, flags=flags, seq=seq, portid=self.portid, table=table)

    def recv(self, table: AttrTable | None = None) -> list[Reply]:
        """The messages of the next datagram."""
        size = self.sock.recv_into(self._buf, 0, socket.MSG_TRUNC)
        if size > len(self._buf):
            raise RequestError(errno_mod.EMSGSIZE)
        return decode_replies(bytes(self._buf[:size]), self.family, table)

    def request(self, cmd: int, attrs: Iterable[tuple[str, Any]], *, table: AttrTable | None = None) -> list[Reply]:
        """One request with an ack: its replies (a GET's answer), or RequestError."""
        seq = self.next_seq()
        self.sock.send(self.encode(cmd, attrs, NLM_F_REQUEST | NLM_F_ACK, seq, table))
        out = []
        while True:
            for reply in self.recv(table):
                if reply.seq != seq:
                    continue  # left over from an earlier request
                if reply.type == NLMSG_ERROR:
                    if reply.error:
                        raise RequestError(reply.error)
                    return out
                out.append(reply)

    def dump(self, cmd: int, attrs: Iterable[tuple[str, Any]]) -> list[Attrs]:
        """One dump: the attributes of every message up to NLMSG_DONE, or RequestError."""
        seq = self.next_seq()
        self.sock.send(self.encode(cmd, attrs, NLM_F_REQUEST | NLM_F_DUMP, seq))
        out = []
        while True:
            for reply in self.recv():
                if reply.seq != seq:
                    continue
                if reply.type in (NLMSG_DONE, NLMSG_ERROR):
                    if reply.error:
                        raise RequestError(reply.error)
                    return out
                out.append(reply.attrs)

    def transact(self, requests: Sequence[tuple[int, list[tuple[str, Any]]]]) -> list[int]:
        """Send ``requests`` (each with NLM_F_ACK), as many per ``send`` as fit; their errnos (0 = done), in order.

        Every request is sent and answered: the kernel goes on after a refusal within one send, so the
        caller decides what a batch holds (:meth:`IpvsHandle.apply` sends only independent requests together).
        """
        codes: list[int] = []
        pending = deque(requests)
        while pending:
            chunk: list[bytes] = []
            seqs: dict[int, int] = {}
            size = 0
            while pending and len(chunk) < self.window:
                seq = self.next_seq()
                data = self.encode(pending[0][0], pending[0][1], NLM_F_REQUEST | NLM_F_ACK, seq)
                if chunk and size + len(data) > self.MAX_SEND:
                    break
                pending.popleft()
                seqs[seq] = len(chunk)
                chunk.append(data)
                size += len(data)
            self.sock.send(b"".join(chunk))
            answers: list[int | None] = [None] * len(chunk)
            waiting = len(chunk)
            while waiting:
                for reply in self.recv():
                    where = seqs.get(reply.seq)
                    if where is None or reply.type != NLMSG_ERROR or answers[where] is not None:
                        continue
                    answers[where] = reply.error
                    waiting -= 1
            codes += [int(code or 0) for code in answers]
        return codes


RunCommand = Callable[[Sequence[str]], "tuple[int, str, str]"]


def _addr_bytes(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def _addr_text(raw: bytes, family: str) -> str:
    return _addr_string(bytes(raw[:4] if family == "ipv4" else raw[:16]))


@functools.lru_cache(maxsize=4096)  # a table of thousands of real servers repeats a few addresses
def _addr_string(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


def _read_stats(nl: Any, prefix: str) -> dict[str, int] | None:
    block = nl.get_attr(f"{prefix}STATS64") or nl.get_attr(f"{prefix}STATS")
    if block is None:
        return None
    return {name: int(block.get_attr(f"IPVS_STATS_ATTR_{name.upper()}") or 0) for name in STAT_NAMES}


def service_from_nla(nl: Any) -> Service:
    """A normalized :class:`Service` from a dumped IPVS_CMD_ATTR_SERVICE (values read from the raw message)."""
    family = FAMILY_NAMES.get(nl.get_attr("IPVS_SVC_ATTR_AF"), "ipv4")
    fwmark = nl.get_attr("IPVS_SVC_ATTR_FWMARK") or 0
    if fwmark:
        key = ServiceKey(family=family, fwmark=int(fwmark))
    else:
        proto = nl.get_attr("IPVS_SVC_ATTR_PROTOCOL")
        key = ServiceKey(
            family=family,
            protocol=PROTOCOL_NAMES.get(proto, str(proto)),
            address=_addr_text(nl.get_attr("IPVS_SVC_ATTR_ADDR"), family),
            port=int(nl.get_attr("IPVS_SVC_ATTR_PORT") or 0),
        )
    scheduler = nl.get_attr("IPVS_SVC_ATTR_SCHED_NAME") or ""
    flags_nla = nl.get_attr("IPVS_SVC_ATTR_FLAGS")
    flags = int(flags_nla["flags"]) if flags_nla is not None else 0  # HASHED (0x2) is ignored below
    names = sched_flag_names(scheduler)
    persistent = bool(flags & SVC_F_PERSISTENT)
    return Service(
        key=key,
        scheduler=scheduler,
        scheduler_flags=tuple(names[i] for i, bit in enumerate(SCHED_FLAG_BITS) if flags & bit),
        persistent=persistent,
        persistence_timeout=int(nl.get_attr("IPVS_SVC_ATTR_TIMEOUT") or 0),
        persistence_netmask=netmask_from_kernel(int(nl.get_attr("IPVS_SVC_ATTR_NETMASK") or 0), family),
        persistence_engine=nl.get_attr("IPVS_SVC_ATTR_PE_NAME") or None,
        one_packet=bool(flags & SVC_F_ONEPACKET),
        stats=_read_stats(nl, "IPVS_SVC_ATTR_"),
    )


def dest_from_nla(nl: Any, key: ServiceKey) -> Dest:
    family = FAMILY_NAMES.get(nl.get_attr("IPVS_DEST_ATTR_ADDR_FAMILY") or FAMILIES[key.family], key.family)
    fwd = FORWARDING_NAMES.get(int(nl.get_attr("IPVS_DEST_ATTR_FWD_METHOD") or 0) & 0x7, "dr")
    tun_type = tun_port = tun_csum = None
    if fwd == "tunnel":
        tun_type = TUNNEL_TYPE_NAMES.get(int(nl.get_attr("IPVS_DEST_ATTR_TUN_TYPE") or 0), "ipip")
        if tun_type == "gue":
            tun_port = int(nl.get_attr("IPVS_DEST_ATTR_TUN_PORT") or 0) or None
        if tun_type != "ipip":
            tun_csum = TUNNEL_CSUM_NAMES.get(int(nl.get_attr("IPVS_DEST_ATTR_TUN_FLAGS") or 0), "nocsum")
    return Dest(
        address=_addr_text(nl.get_attr("IPVS_DEST_ATTR_ADDR"), family),
        port=int(nl.get_attr("IPVS_DEST_ATTR_PORT") or 0),
        family=family,
        forwarding=fwd,
        weight=int(nl.get_attr("IPVS_DEST_ATTR_WEIGHT") or 0),
        upper_threshold=int(nl.get_attr("IPVS_DEST_ATTR_U_THRESH") or 0),
        lower_threshold=int(nl.get_attr("IPVS_DEST_ATTR_L_THRESH") or 0),
        tunnel_type=tun_type,
        tunnel_port=tun_port,
        tunnel_checksum=tun_csum,
        active_connections=int(nl.get_attr("IPVS_DEST_ATTR_ACTIVE_CONNS") or 0),
        inactive_connections=int(nl.get_attr("IPVS_DEST_ATTR_INACT_CONNS") or 0),
        persistent_connections=int(nl.get_attr("IPVS_DEST_ATTR_PERSIST_CONNS") or 0),
        stats=_read_stats(nl, "IPVS_DEST_ATTR_"),
    )


def service_key_attrs(key: ServiceKey) -> list[tuple[str, Any]]:
    attrs: list[tuple[str, Any]] = [("IPVS_SVC_ATTR_AF", FAMILIES[key.family])]
    if key.is_fwmark:
        attrs.append(("IPVS_SVC_ATTR_FWMARK", int(key.fwmark or 0)))
    else:
        attrs += [
            ("IPVS_SVC_ATTR_PROTOCOL", PROTOCOLS[str(key.protocol)]),
            ("IPVS_SVC_ATTR_ADDR", _addr_bytes(str(key.address))),
            ("IPVS_SVC_ATTR_PORT", int(key.port or 0)),
        ]
    return attrs


def service_attrs(svc: Service) -> list[tuple[str, Any]]:
    """Every attribute of a service (the kernel resets what an edit leaves out, e.g. the engine)."""
    flags = sched_flags_to_bits(svc.scheduler_flags, svc.scheduler)
    if svc.persistent:
        flags |= SVC_F_PERSISTENT
    if svc.one_packet:
        flags |= SVC_F_ONEPACKET
    attrs = service_key_attrs(svc.key)
    attrs += [
        ("IPVS_SVC_ATTR_SCHED_NAME", svc.scheduler),
        ("IPVS_SVC_ATTR_FLAGS", {"flags": flags, "mask": 0xFFFFFFFF}),
        ("IPVS_SVC_ATTR_TIMEOUT", int(svc.persistence_timeout) if svc.persistent else 0),
        ("IPVS_SVC_ATTR_NETMASK", netmask_to_kernel(svc.persistence_netmask, svc.key.family)),
    ]
    if svc.persistence_engine:
        attrs.append(("IPVS_SVC_ATTR_PE_NAME", svc.persistence_engine))
    return attrs


def dest_key_attrs(dest: Dest) -> list[tuple[str, Any]]:
    return [
        ("IPVS_DEST_ATTR_ADDR", _addr_bytes(dest.address)),
        ("IPVS_DEST_ATTR_PORT", int(dest.port)),
        ("IPVS_DEST_ATTR_ADDR_FAMILY", FAMILIES[dest.family]),
    ]


def dest_attrs(dest: Dest) -> list[tuple[str, Any]]:
    attrs = dest_key_attrs(dest)
    attrs += [
        ("IPVS_DEST_ATTR_FWD_METHOD", FORWARDING[dest.forwarding]),
        ("IPVS_DEST_ATTR_WEIGHT", int(dest.weight)),
        ("IPVS_DEST_ATTR_U_THRESH", int(dest.upper_threshold)),
        ("IPVS_DEST_ATTR_L_THRESH", int(dest.lower_threshold)),
    ]
    if dest.forwarding == "tunnel":
        attrs += [
            ("IPVS_DEST_ATTR_TUN_TYPE", TUNNEL_TYPES[dest.tunnel_type or "ipip"]),
            ("IPVS_DEST_ATTR_TUN_PORT", int(dest.tunnel_port or 0)),
            ("IPVS_DEST_ATTR_TUN_FLAGS", TUNNEL_CSUM[dest.tunnel_checksum or "nocsum"]),
        ]
    return attrs


def _service_reason(code: int, svc_label: str, scheduler: str | None = None, engine: str | None = None) -> str:
    if code == errno_mod.EEXIST:
        return "the service already exists"
    if code == errno_mod.ESRCH:
        return "no such service"
    if code == errno_mod.ENOENT:
        what = f"scheduler {scheduler}" if scheduler else "scheduler"
        if engine:
            what += f" or persistence engine {engine}"
        return f"{what} is not available in this kernel (no module ip_vs_{scheduler} could be loaded)"
    return _generic_reason(code)


def _dest_reason(code: int) -> str:
    if code == errno_mod.EEXIST:
        return "the real server already exists"
    if code == errno_mod.ESRCH:
        return "no such service"
    if code == errno_mod.ENOENT:
        return "no such real server"
    if code == errno_mod.ERANGE:
        return "weight or thresholds out of range (lower threshold above upper?)"
    if code == errno_mod.EINVAL:
        return ("the kernel rejected the settings (EINVAL): is the address unicast, the loopback interface up, "
                "the forwarding method possible for this address family?")
    return _generic_reason(code)


def _generic_reason(code: int) -> str:
    if code == errno_mod.EINVAL:
        return "the kernel rejected the settings as invalid (EINVAL)"
    if code == errno_mod.ERANGE:
        return "a value is out of range (ERANGE)"
    if code in (errno_mod.EPERM, errno_mod.EACCES):
        return "permission denied: managing IPVS needs root (CAP_NET_ADMIN)"
    try:
        return f"{errno_mod.errorcode[code]}: {os.strerror(code)}"
    except KeyError:
        return f"kernel error {code}"


def state_moved(op: str, code: int | None) -> bool:
    """Whether the kernel refused operation ``op`` because the table is no longer as it was read.

    Another task changed it between the read and the write: what an add adds is there (EEXIST),
    what an edit or a delete changes is gone (ESRCH: no such service; ENOENT: no such real
    server). Other refusals (ENOENT for an add or edit of a service: an unknown scheduler;
    EINVAL, ERANGE...) are about the request itself.
    """
    if code == errno_mod.EEXIST:
        return op in ("add_service", "add_dest")
    if code == errno_mod.ESRCH:
        return op in ("edit_service", "delete_service", "add_dest", "edit_dest", "delete_dest")
    if code == errno_mod.ENOENT:
        return op in ("edit_dest", "delete_dest")
    return False


_VERBS = {"add_service": "add", "edit_service": "change", "delete_service": "delete",
          "add_dest": "add", "edit_dest": "change", "delete_dest": "delete"}


def op_request(op: Operation) -> tuple[int, list[tuple[str, Any]]]:
    """The netlink request of one operation of a plan: (command, attributes)."""
    if op.op == "set_timeouts":
        return CMD_SET_CONFIG, [(f"IPVS_CMD_ATTR_TIMEOUT_{name.upper()}", int(value))
                                for name, value in op.timeouts if value is not None]
    svc, dest = op.service, op.dest
    if svc is None:
        raise ValueError(f"operation {op.op} without a service")
    if op.op in ("add_service", "edit_service"):
        cmd = CMD_NEW_SERVICE if op.op == "add_service" else CMD_SET_SERVICE
        return cmd, [("IPVS_CMD_ATTR_SERVICE", {"attrs": service_attrs(svc)})]
    key_attr = ("IPVS_CMD_ATTR_SERVICE", {"attrs": service_key_attrs(svc.key)})
    if op.op == "delete_service":
        return CMD_DEL_SERVICE, [key_attr]
    if dest is None:
        raise ValueError(f"operation {op.op} without a real server")
    if op.op == "add_dest":
        return CMD_NEW_DEST, [key_attr, ("IPVS_CMD_ATTR_DEST", {"attrs": dest_attrs(dest)})]
    if op.op == "edit_dest":
        return CMD_SET_DEST, [key_attr, ("IPVS_CMD_ATTR_DEST", {"attrs": dest_attrs(dest)})]
    if op.op == "delete_dest":
        return CMD_DEL_DEST, [key_attr, ("IPVS_CMD_ATTR_DEST", {"attrs": dest_key_attrs(dest)})]
    raise ValueError(f"unknown operation {op.op}")


def op_error(op: Operation, code: int, modprobe_failures: Sequence[str] = ()) -> str:
    """What a refusal of ``op`` means, naming the object: ``cannot add real server 10.0.0.5:80 to TCP ...: ...``."""
    if op.op == "set_timeouts":
        text = ", ".join(f"{name}={value}" for name, value in op.timeouts)
        return f"cannot set the IPVS timeouts ({text}): {_generic_reason(code)}"
    svc = op.service
    if svc is None:
        raise ValueError(f"operation {op.op} without a service")
    label, verb = svc.key.label(), _VERBS[op.op]
    if op.dest is None:
        if op.op == "delete_service":
            return f"cannot delete service {label}: {_service_reason(code, label)}"
        reason = _service_reason(code, label, svc.scheduler, svc.persistence_engine)
        if code == errno_mod.ENOENT and modprobe_failures:
            reason += " (" + "; ".join(modprobe_failures) + ")"
        return f"cannot {verb} service {label}: {reason}"
    prep = {"add": "to", "delete": "from"}.get(verb, "of")
    return f"cannot {verb} real server {op.dest.label()} {prep} {label}: {_dest_reason(code)}"


class BatchError(KernelError):
    """Operations were refused: ``done`` ran (in the plan's order), ``failed`` is the first refused one.

    A batch is sent in windows of independent operations of one kind (see :meth:`IpvsHandle.apply`);
    the kernel answers every request of a window, so ``refused`` lists each refused operation of the
    window and ``errors`` says why, naming each object. Nothing after that window was sent.
    """

    def __init__(self, errors: list[str], code: int | None, done: list[Operation], refused: list[Operation]) -> None:
        super().__init__("; ".join(errors), code)
        self.errors = errors
        self.done = done
        self.refused = refused
        self.failed = refused[0]


def _runs(ops: Sequence[Operation]) -> list[list[Operation]]:
    """Consecutive operations of one kind: a plan's steps (each step's operations touch different objects)."""
    out: list[list[Operation]] = []
    for op in ops:
        if out and out[-1][0].op == op.op and op.op != "set_timeouts":
            out[-1].append(op)
        else:
            out.append([op])
    return out


class IpvsHandle:
    """A connection to the kernel's IPVS in the current network namespace: one netlink socket, driven by hand.

    Reads are dumps (the services in one, the real servers of a service in one, :meth:`config` all of
    them one after the other on the same socket) and single GETs; writes are batched (:meth:`apply`).
    ``run_command(argv) -> (rc, stdout, stderr)`` is used to ``modprobe`` IPVS and its
    schedulers when they are not loaded (modules pass ``AnsibleModule.run_command``).
    """

    def __init__(self, run_command: RunCommand | None = None, load_modules: bool = True) -> None:
        if not HAS_PYROUTE2:
            raise BackendUnavailableError(pyroute2_problem())
        self._run = run_command
        self._load_modules = load_modules
        self._sock: GenlSocket | None = None
        self._modprobed: dict[str, str | None] = {}

    # -- connection ---------------------------------------------------------------------
    def _modprobe(self, name: str) -> str | None:
        """Load a kernel module; return None on success or the reason it failed."""
        if self._run is None or not self._load_modules:
            return "module loading is not available"
        try:
            rc, out, err = self._run(["modprobe", name])
        except Exception as exc:
            return str(exc)
        if rc != 0:
            return (err or out or f"modprobe exited {rc}").strip()
        return None

    def _open(self) -> GenlSocket:
        if self._sock is not None:
            return self._sock
        error: Exception | None = None
        for attempt in range(2):
            try:
                self._sock = GenlSocket("IPVS")
                return self._sock
            except RequestError as exc:
                error = exc
                if attempt == 0 and exc.code in (errno_mod.ENOENT, errno_mod.ENOTSUP):
                    why = self._modprobe("ip_vs")
                    if why is None:
                        continue
                    raise BackendUnavailableError(
                        f"IPVS is not available in kernel {os.uname().release}: the ip_vs module is "
                        f"not loaded and 'modprobe ip_vs' failed: {why}"
                    ) from exc
                break
        raise BackendUnavailableError(f"IPVS is not available: generic netlink family IPVS not found ({error})")

    def check_scheduler(self, svc: Service) -> None:
        """Without changing anything, fail as an add would when the scheduler cannot be had (for check mode)."""
        for name in (f"ip_vs_{svc.scheduler}", f"ip_vs_pe_{svc.persistence_engine}" if svc.persistence_engine else ""):
            if not name or os.path.isdir(f"/sys/module/{name}") or self._run is None:
                continue
            rc, out, err = self._run(["modprobe", "-n", name])
            if rc != 0:
                reason = _service_reason(errno_mod.ENOENT, svc.key.label(), svc.scheduler, svc.persistence_engine)
                why = (err or out).strip()
                raise KernelError(
                    f"cannot configure service {svc.key.label()}: {reason}" + (f" ({why})" if why else ""),
                    errno_mod.ENOENT,
                )

    def _load_schedulers(self, ops: Iterable[Operation]) -> list[str]:
        """Load the scheduler and persistence-engine modules that ``ops`` need and this kernel lacks (each once).

        The kernel loads them itself where it can; this covers hosts where it cannot. Returns the
        failures, for the message of a refusal.
        """
        failures = []
        for op in ops:
            svc = op.service
            if op.op not in ("add_service", "edit_service") or svc is None:
                continue
            for name in (f"ip_vs_{svc.scheduler}", f"ip_vs_pe_{svc.persistence_engine}" if svc.persistence_engine
                         else ""):
                if not name or os.path.isdir(f"/sys/module/{name}"):
                    continue
                if name not in self._modprobed:
                    self._modprobed[name] = self._modprobe(name)
                why = self._modprobed[name]
                if why and f"modprobe {name}: {why}" not in failures:
                    failures.append(f"modprobe {name}: {why}")
        return failures

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> IpvsHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ----------------------------------------------------------------------------
    def services(self) -> list[Service]:
        """Every service, in one dump."""
        try:
            msgs = self._open().dump(CMD_GET_SERVICE, [])
        except RequestError as exc:
            raise KernelError(f"cannot list IPVS services: {_generic_reason(exc.code)}", exc.code) from exc
        nls = (msg.get_attr("IPVS_CMD_ATTR_SERVICE") for msg in msgs)
        return [service_from_nla(nl) for nl in nls if nl is not None]

    def dests(self, key: ServiceKey) -> list[Dest]:
        """The real servers of one service, in one dump (the kernel cannot get a single one)."""
        try:
            msgs = self._open().dump(CMD_GET_DEST, [("IPVS_CMD_ATTR_SERVICE", {"attrs": service_key_attrs(key)})])
        except RequestError as exc:
            reason = "no such service" if exc.code in (errno_mod.ESRCH, errno_mod.ENOENT) else _generic_reason(
                exc.code
            )
            raise KernelError(f"cannot list the real servers of {key.label()}: {reason}", exc.code) from exc
        nls = (msg.get_attr("IPVS_CMD_ATTR_DEST") for msg in msgs)
        return [dest_from_nla(nl, key) for nl in nls if nl is not None]

    def config(self, keys: Iterable[ServiceKey] | None = None) -> list[tuple[Service, list[Dest]]]:
        """Services with their real servers: one service dump, then one real-server dump per service, on one socket."""
        services = self.services()
        if keys is not None:
            wanted = set(keys)
            services = [s for s in services if s.key in wanted]
        return [(svc, self.dests(svc.key)) for svc in services]

    def find_service(self, key: ServiceKey) -> Service | None:
        """One service, by one IPVS_CMD_GET_SERVICE (None when there is no such service)."""
        try:
            replies = self._open().request(
                CMD_GET_SERVICE, [("IPVS_CMD_ATTR_SERVICE", {"attrs": service_key_attrs(key)})]
            )
        except RequestError as exc:
            if exc.code in (errno_mod.ESRCH, errno_mod.ENOENT):
                return None
            raise KernelError(f"cannot read service {key.label()}: {_generic_reason(exc.code)}", exc.code) from exc
        for reply in replies:
            nl = reply.attrs.get_attr("IPVS_CMD_ATTR_SERVICE")
            if nl is not None:
                return service_from_nla(nl)
        return None

    def get_timeouts(self) -> Timeouts:
        try:
            replies = self._open().request(CMD_GET_CONFIG, [])
        except RequestError as exc:
            raise KernelError(f"cannot read the IPVS timeouts: {_generic_reason(exc.code)}", exc.code) from exc
        values: dict[str, int] = {}
        for reply in replies:
            for name, attr in (("tcp", "TCP"), ("tcp_fin", "TCP_FIN"), ("udp", "UDP")):
                value = reply.attrs.get_attr(f"IPVS_CMD_ATTR_TIMEOUT_{attr}")
                if value is not None:
                    values[name] = int(value)
        return Timeouts(**values)

    # -- writes ---------------------------------------------------------------------------------
    def apply(self, ops: Sequence[Operation]) -> None:
        """Run the operations of a plan, in its order, many requests per ``send``, every ack checked.

        The operations are sent in windows of at most :attr:`GenlSocket.window` consecutive operations
        of one kind (the kernel goes on after a refusal within one send, so a window holds only
        operations that do not depend on each other: the services are added before their real servers
        are sent, and so on). After a window with a refusal nothing more is sent, and
        :class:`BatchError` says what was done and names each refused object.
        """
        if not ops:
            return
        sock = self._open()
        done: list[Operation] = []
        for run in _runs(ops):
            failures = self._load_schedulers(run)
            for start in range(0, len(run), sock.window):
                window = run[start:start + sock.window]
                try:
                    codes = sock.transact([op_request(op) for op in window])
                except OSError as exc:  # ENOBUFS: answers were lost; what this window did is unknown
                    raise BatchError(
                        [f"lost the kernel's answers to {len(window)} requests from {window[0].words!r} on "
                         f"({exc}): some of them may have been done"], exc.errno, done, window) from exc
                refused = [(op, code) for op, code in zip(window, codes, strict=True) if code]
                done += [op for op, code in zip(window, codes, strict=True) if not code]
                if refused:
                    raise BatchError([op_error(op, code, failures) for op, code in refused], refused[0][1], done,
                                     [pair[0] for pair in refused])

    def add_service(self, svc: Service) -> None:
        self.apply([Operation("add_service", svc)])

    def edit_service(self, svc: Service) -> None:
        """Change a live service in place (IPVS_CMD_SET_SERVICE: connections and templates survive)."""
        self.apply([Operation("edit_service", svc)])

    def delete_service(self, key: ServiceKey) -> None:
        self.apply([Operation("delete_service", Service(key=key))])

    def add_dest(self, key: ServiceKey, dest: Dest) -> None:
        self.apply([Operation("add_dest", Service(key=key), dest)])

    def edit_dest(self, key: ServiceKey, dest: Dest) -> None:
        self.apply([Operation("edit_dest", Service(key=key), dest)])

    def delete_dest(self, key: ServiceKey, dest: Dest) -> None:
        self.apply([Operation("delete_dest", Service(key=key), dest)])

    def set_timeouts(self, wanted: Mapping[str, int]) -> None:
        """Set only the timeouts given (the kernel leaves an attribute that is absent, or 0, as it is)."""
        values = tuple((name, int(value)) for name, value in wanted.items() if value is not None)
        if values:
            self.apply([Operation("set_timeouts", timeouts=values)])

    # -- connection sync daemons ------------------------------------------------------------------
    def sync_daemons(self) -> list[SyncDaemon]:
        """The running sync daemons (master first), in one IPVS_CMD_GET_DAEMON dump."""
        try:
            msgs = self._open().dump(CMD_GET_DAEMON, [])
        except RequestError as exc:
            raise KernelError(f"cannot list the IPVS sync daemons: {_generic_reason(exc.code)}", exc.code) from exc
        nls = (msg.get_attr("IPVS_CMD_ATTR_DAEMON") for msg in msgs)
        daemons = [daemon_from_nla(nl) for nl in nls if nl is not None]
        return sorted(daemons, key=lambda d: SYNC_STATES[d.state])

    def start_sync_daemon(self, daemon: SyncDaemon) -> None:
        """IPVS_CMD_NEW_DAEMON: start ``daemon`` (a running one of its state must be stopped first)."""
        try:
            self._open().request(CMD_NEW_DAEMON, [("IPVS_CMD_ATTR_DAEMON", {"attrs": daemon_attrs(daemon)})])
        except RequestError as exc:
            raise KernelError(f"cannot start the {daemon.label()}: {_daemon_reason(exc.code, daemon)}",
                              exc.code) from exc

    def stop_sync_daemon(self, daemon: SyncDaemon) -> None:
        """IPVS_CMD_DEL_DAEMON: stop the daemon of ``daemon.state``."""
        try:
            self._open().request(CMD_DEL_DAEMON, [("IPVS_CMD_ATTR_DAEMON", {"attrs": [
                ("IPVS_DAEMON_ATTR_STATE", SYNC_STATES[daemon.state])]})])
        except RequestError as exc:
            raise KernelError(f"cannot stop the {daemon.label()}: {_daemon_reason(exc.code, daemon)}",
                              exc.code) from exc


PROC_CONN = "/proc/net/ip_vs_conn"
PROC_SYSCTL = "/proc/sys/net/ipv4/vs"


def read_conn_table(path: str = PROC_CONN) -> str:
    """The text of /proc/net/ip_vs_conn in the current network namespace ("" when absent)."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def read_sysctls(path: str = PROC_SYSCTL) -> dict[str, str]:
    """The net.ipv4.vs.* sysctls of the current network namespace, as ``{name: value}``."""
    out: dict[str, str] = {}
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return out
    for name in names:
        try:
            with open(os.path.join(path, name), encoding="ascii", errors="replace") as handle:
                out[name] = " ".join(handle.read().split())
        except OSError:
            continue
    return out


# --- connection sync daemons: the messages, and the interface they use ---------------------------------------


def daemon_from_nla(nl: Any) -> SyncDaemon:
    """A :class:`SyncDaemon` from a dumped IPVS_CMD_ATTR_DAEMON (kernels before 4.3 send only the first three)."""
    group6 = nl.get_attr("IPVS_DAEMON_ATTR_MCAST_GROUP6")
    group4 = nl.get_attr("IPVS_DAEMON_ATTR_MCAST_GROUP")
    if group6 is not None and len(group6) >= 16:
        group = _addr_string(bytes(group6[:16]))
    elif group4 is not None and len(group4) >= 4:
        group = _addr_string(bytes(group4[:4]))
    else:
        group = SyncDaemon.group
    return SyncDaemon(
        state=SYNC_STATE_NAMES.get(int(nl.get_attr("IPVS_DAEMON_ATTR_STATE") or 0), "master"),
        interface=nl.get_attr("IPVS_DAEMON_ATTR_MCAST_IFN") or "",
        syncid=int(nl.get_attr("IPVS_DAEMON_ATTR_SYNC_ID") or 0),
        maxlen=int(nl.get_attr("IPVS_DAEMON_ATTR_SYNC_MAXLEN") or 0) or None,
        group=group,
        port=int(nl.get_attr("IPVS_DAEMON_ATTR_MCAST_PORT") or 0) or SyncDaemon.port,
        ttl=int(nl.get_attr("IPVS_DAEMON_ATTR_MCAST_TTL") or 0) or SyncDaemon.ttl,
    )


def daemon_attrs(daemon: SyncDaemon) -> list[tuple[str, Any]]:
    """The attributes that start ``daemon``; no SYNC_MAXLEN when it has none (the kernel then chooses)."""
    attrs: list[tuple[str, Any]] = [
        ("IPVS_DAEMON_ATTR_STATE", SYNC_STATES[daemon.state]),
        ("IPVS_DAEMON_ATTR_MCAST_IFN", daemon.interface),
        ("IPVS_DAEMON_ATTR_SYNC_ID", int(daemon.syncid)),
    ]
    if daemon.maxlen:
        attrs.append(("IPVS_DAEMON_ATTR_SYNC_MAXLEN", int(daemon.maxlen)))
    group = "IPVS_DAEMON_ATTR_MCAST_GROUP6" if daemon.family == "ipv6" else "IPVS_DAEMON_ATTR_MCAST_GROUP"
    attrs += [
        (group, _addr_bytes(daemon.group)),
        ("IPVS_DAEMON_ATTR_MCAST_PORT", int(daemon.port)),
        ("IPVS_DAEMON_ATTR_MCAST_TTL", int(daemon.ttl)),
    ]
    return attrs


def _daemon_reason(code: int, daemon: SyncDaemon) -> str:
    if code == errno_mod.EEXIST:
        return (f"a {daemon.state} sync daemon is already running (the kernel cannot change a running daemon: "
                "it must be stopped and started)")
    if code == errno_mod.ESRCH:
        return f"no {daemon.state} sync daemon is running"
    if code == errno_mod.ENODEV:
        return f"there is no interface {daemon.interface} in this network namespace"
    if code == errno_mod.EAFNOSUPPORT:
        return f"this kernel has no IPv6 support in IPVS (CONFIG_IP_VS_IPV6), needed for group {daemon.group}"
    if code in (errno_mod.EADDRNOTAVAIL, errno_mod.ENETUNREACH):
        family = "IPv6" if daemon.family == "ipv6" else "IPv4"
        return (f"interface {daemon.interface} has no usable {family} address or route for group {daemon.group} "
                f"({_generic_reason(code)}; an IPv6 link-local address is not usable while duplicate address "
                "detection runs)")
    if code == errno_mod.EINVAL:
        return ("the kernel rejected the settings (EINVAL): is the group a multicast address, the interface name "
                "at most 15 characters? The sync protocol also refuses to start while a service has real servers "
                "of another address family")
    return _generic_reason(code)


class Interface(NamedTuple):
    """A network interface of the current network namespace: its name, MTU and flags (IFF_*)."""

    name: str
    mtu: int
    flags: int

    @property
    def multicast(self) -> bool:
        return bool(self.flags & 0x1000)  # IFF_MULTICAST

    @property
    def up(self) -> bool:
        return bool(self.flags & 0x1)  # IFF_UP


_SIOCGIFFLAGS = 0x8913
_SIOCGIFMTU = 0x8921
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: the name, then a union whose first field is read
_IFREQ_MTU = struct.Struct("16si20x")


def find_interface(name: str) -> Interface | None:
    """The interface ``name`` of the current network namespace, or None when there is none.

    Asked with ioctls on a socket, which belongs to the namespace the process is in (``/sys/class/net``
    shows the namespace sysfs was mounted in, which after a ``setns`` may be another).
    """
    import fcntl  # pylint: disable=import-outside-toplevel

    raw = name.encode("utf-8")
    if not raw or len(raw) > 15:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            flags = _IFREQ.unpack(fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, _IFREQ.pack(raw, 0)))[1]
            mtu = _IFREQ_MTU.unpack(fcntl.ioctl(sock.fileno(), _SIOCGIFMTU, _IFREQ_MTU.pack(raw, 0)))[1]
        except OSError as exc:
            if exc.errno in (errno_mod.ENODEV, errno_mod.ENXIO):
                return None
            raise
    return Interface(name, mtu, flags)
