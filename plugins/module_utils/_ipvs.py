# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's only door to the kernel's IPVS: generic netlink through pyroute2.

:class:`IpvsHandle` takes and returns the normalized records of ``_model.py`` and raises the
collection's exceptions (``KernelError`` naming the object, ``BackendUnavailableError`` when
IPVS cannot be loaded). It reads the kernel with one dump of the services and one dump of
real servers per service.

pyroute2's high-level ``IPVSService``/``IPVSDest`` are not used: their message types get the
netmask (IPv6 prefix), the GUE tunnel port and the global timeouts wrong, and objects built
from messages keep defaults instead of the kernel's values. The message class below carries
the kernel's own attribute types (include/uapi/linux/ip_vs.h).

Only pyroute2's low-level netlink pieces are used (``GenericNetlinkSocket``, ``genlmsg``, ``nla``),
so pyroute2 0.7.2 (Debian 12's python3-pyroute2) works as well as the newest; pyroute2 0.7.x has no
IPVS module at all, so the statistics types are defined here too. An older pyroute2 is refused
with a message naming the version found and where (:func:`pyroute2_problem`).
"""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import os
import platform
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

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
    TUNNEL_CSUM,
    TUNNEL_CSUM_NAMES,
    TUNNEL_TYPE_NAMES,
    TUNNEL_TYPES,
    Dest,
    Service,
    ServiceKey,
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
    from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, genlmsg, nla
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.generic import GenericNetlinkSocket
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
CMD_SET_CONFIG = 12
CMD_GET_CONFIG = 13
GENL_VERSION = 1

STAT_NAMES = ("conns", "inpkts", "outpkts", "inbytes", "outbytes", "cps", "inpps", "outpps", "inbps", "outbps")

if HAS_PYROUTE2:

    class IpvsStats:  # pylint: disable=too-few-public-methods
        """The statistics nested in a service or real server (pyroute2 0.7.x has no ``ipvsstats``: defined here)."""

        class stats(nla):  # noqa: N801 - pyroute2 resolves nla types by class name
            nla_map = (
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

        class stats64(nla):  # noqa: N801
            nla_map = (
                ("IPVS_STATS_ATTR_UNSPEC", "none"),
                ("IPVS_STATS_ATTR_CONNS", "uint64"),
                ("IPVS_STATS_ATTR_INPKTS", "uint64"),
                ("IPVS_STATS_ATTR_OUTPKTS", "uint64"),
                ("IPVS_STATS_ATTR_INBYTES", "uint64"),
                ("IPVS_STATS_ATTR_OUTBYTES", "uint64"),
                ("IPVS_STATS_ATTR_CPS", "uint64"),
                ("IPVS_STATS_ATTR_INPPS", "uint64"),
                ("IPVS_STATS_ATTR_OUTPPS", "uint64"),
                ("IPVS_STATS_ATTR_INBPS", "uint64"),
                ("IPVS_STATS_ATTR_OUTBPS", "uint64"),
            )

    class IpvsMessage(genlmsg):  # pylint: disable=too-few-public-methods
        """An IPVS generic netlink message with the kernel's attribute types."""

        prefix = "IPVS_CMD_ATTR_"
        nla_map = (
            ("IPVS_CMD_ATTR_UNSPEC", "none"),
            ("IPVS_CMD_ATTR_SERVICE", "service"),
            ("IPVS_CMD_ATTR_DEST", "dest"),
            ("IPVS_CMD_ATTR_DAEMON", "hex"),
            ("IPVS_CMD_ATTR_TIMEOUT_TCP", "uint32"),
            ("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", "uint32"),
            ("IPVS_CMD_ATTR_TIMEOUT_UDP", "uint32"),
        )

        class service(nla, IpvsStats):  # noqa: N801
            prefix = "IPVS_SVC_ATTR_"
            nla_map = (
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

            class flags(nla):  # noqa: N801
                fields = (("flags", "I"), ("mask", "I"))

        class dest(nla, IpvsStats):  # noqa: N801
            prefix = "IPVS_DEST_ATTR_"
            nla_map = (
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


RunCommand = Callable[[Sequence[str]], "tuple[int, str, str]"]


def _addr_bytes(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def _addr_text(raw: bytes, family: str) -> str:
    if family == "ipv4":
        return str(ipaddress.IPv4Address(bytes(raw[:4])))
    return str(ipaddress.IPv6Address(bytes(raw[:16])))


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


class IpvsHandle:
    """A connection to the kernel's IPVS in the current network namespace.

    ``run_command(argv) -> (rc, stdout, stderr)`` is used to ``modprobe`` IPVS and its
    schedulers when they are not loaded (modules pass ``AnsibleModule.run_command``).
    """

    def __init__(self, run_command: RunCommand | None = None, load_modules: bool = True) -> None:
        if not HAS_PYROUTE2:
            raise BackendUnavailableError(pyroute2_problem())
        self._run = run_command
        self._load_modules = load_modules
        self._sock: Any = None

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

    def _open(self) -> Any:
        if self._sock is not None:
            return self._sock
        error: Exception | None = None
        for attempt in range(2):
            sock = GenericNetlinkSocket()
            try:
                sock.bind("IPVS", IpvsMessage)
            except NetlinkError as exc:
                sock.close()
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
            except Exception:
                sock.close()
                raise
            self._sock = sock
            return sock
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

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> IpvsHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, cmd: int, attrs: list[tuple[str, Any]], *, dump: bool = False) -> list[Any]:
        sock = self._open()
        msg = IpvsMessage()
        msg["cmd"] = cmd
        msg["version"] = GENL_VERSION
        msg["attrs"] = attrs
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        return list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=flags))

    # -- services -------------------------------------------------------------------------
    def services(self) -> list[Service]:
        """Every service, in one dump."""
        try:
            msgs = self._request(CMD_GET_SERVICE, [], dump=True)
        except NetlinkError as exc:
            raise KernelError(f"cannot list IPVS services: {_generic_reason(exc.code)}", exc.code) from exc
        out = []
        for msg in msgs:
            nl = msg.get_attr("IPVS_CMD_ATTR_SERVICE")
            if nl is not None:
                out.append(service_from_nla(nl))
        return out

    def dests(self, key: ServiceKey) -> list[Dest]:
        """The real servers of one service, in one dump (the kernel cannot get a single one)."""
        try:
            msgs = self._request(
                CMD_GET_DEST, [("IPVS_CMD_ATTR_SERVICE", {"attrs": service_key_attrs(key)})], dump=True
            )
        except NetlinkError as exc:
            reason = "no such service" if exc.code in (errno_mod.ESRCH, errno_mod.ENOENT) else _generic_reason(
                exc.code
            )
            raise KernelError(f"cannot list the real servers of {key.label()}: {reason}", exc.code) from exc
        out = []
        for msg in msgs:
            nl = msg.get_attr("IPVS_CMD_ATTR_DEST")
            if nl is not None:
                out.append(dest_from_nla(nl, key))
        return out

    def _service_cmd(self, cmd: int, svc: Service, verb: str) -> None:
        attrs = [("IPVS_CMD_ATTR_SERVICE", {"attrs": service_attrs(svc)})]
        try:
            self._request(cmd, attrs)
            return
        except NetlinkError as exc:
            if exc.code != errno_mod.ENOENT:
                raise KernelError(
                    f"cannot {verb} service {svc.key.label()}: {_service_reason(exc.code, svc.key.label())}", exc.code
                ) from exc
        # ENOENT: the scheduler (or persistence engine) module is not loaded yet.
        failures = []
        for name in (f"ip_vs_{svc.scheduler}", f"ip_vs_pe_{svc.persistence_engine}" if svc.persistence_engine else ""):
            if name:
                why = self._modprobe(name)
                if why:
                    failures.append(f"modprobe {name}: {why}")
        try:
            self._request(cmd, attrs)
        except NetlinkError as exc:
            reason = _service_reason(exc.code, svc.key.label(), svc.scheduler, svc.persistence_engine)
            if failures and exc.code == errno_mod.ENOENT:
                reason += " (" + "; ".join(failures) + ")"
            raise KernelError(f"cannot {verb} service {svc.key.label()}: {reason}", exc.code) from exc

    def add_service(self, svc: Service) -> None:
        self._service_cmd(CMD_NEW_SERVICE, svc, "add")

    def edit_service(self, svc: Service) -> None:
        """Change a live service in place (IPVS_CMD_SET_SERVICE: connections and templates survive)."""
        self._service_cmd(CMD_SET_SERVICE, svc, "change")

    def delete_service(self, key: ServiceKey) -> None:
        try:
            self._request(CMD_DEL_SERVICE, [("IPVS_CMD_ATTR_SERVICE", {"attrs": service_key_attrs(key)})])
        except NetlinkError as exc:
            raise KernelError(
                f"cannot delete service {key.label()}: {_service_reason(exc.code, key.label())}", exc.code
            ) from exc

    # -- real servers ---------------------------------------------------------------------------
    def _dest_cmd(self, cmd: int, key: ServiceKey, attrs: list[tuple[str, Any]], label: str, verb: str) -> None:
        try:
            self._request(
                cmd,
                [
                    ("IPVS_CMD_ATTR_SERVICE", {"attrs": service_key_attrs(key)}),
                    ("IPVS_CMD_ATTR_DEST", {"attrs": attrs}),
                ],
            )
        except NetlinkError as exc:
            prep = "to" if verb == "add" else ("from" if verb == "delete" else "of")
            raise KernelError(
                f"cannot {verb} real server {label} {prep} {key.label()}: {_dest_reason(exc.code)}", exc.code
            ) from exc

    def add_dest(self, key: ServiceKey, dest: Dest) -> None:
        self._dest_cmd(CMD_NEW_DEST, key, dest_attrs(dest), dest.label(), "add")

    def edit_dest(self, key: ServiceKey, dest: Dest) -> None:
        self._dest_cmd(CMD_SET_DEST, key, dest_attrs(dest), dest.label(), "change")

    def delete_dest(self, key: ServiceKey, dest: Dest) -> None:
        self._dest_cmd(CMD_DEL_DEST, key, dest_key_attrs(dest), dest.label(), "delete")

    # -- timeouts --------------------------------------------------------------------------------
    def get_timeouts(self) -> Timeouts:
        try:
            msgs = self._request(CMD_GET_CONFIG, [])
        except NetlinkError as exc:
            raise KernelError(f"cannot read the IPVS timeouts: {_generic_reason(exc.code)}", exc.code) from exc
        values: dict[str, int] = {}
        for msg in msgs:
            for name, attr in (("tcp", "TCP"), ("tcp_fin", "TCP_FIN"), ("udp", "UDP")):
                value = msg.get_attr(f"IPVS_CMD_ATTR_TIMEOUT_{attr}")
                if value is not None:
                    values[name] = int(value)
        return Timeouts(**values)

    def set_timeouts(self, wanted: Mapping[str, int]) -> None:
        """Set only the timeouts given (the kernel leaves an attribute that is absent, or 0, as it is)."""
        attrs = [
            (f"IPVS_CMD_ATTR_TIMEOUT_{name.upper()}", int(value)) for name, value in wanted.items() if value is not None
        ]
        if not attrs:
            return
        try:
            self._request(CMD_SET_CONFIG, attrs)
        except NetlinkError as exc:
            text = ", ".join(f"{k}={v}" for k, v in wanted.items())
            raise KernelError(f"cannot set the IPVS timeouts ({text}): {_generic_reason(exc.code)}", exc.code) from exc

    # -- bulk reads ------------------------------------------------------------------------------
    def config(self, keys: Iterable[ServiceKey] | None = None) -> list[tuple[Service, list[Dest]]]:
        """Services with their real servers: one service dump, one real-server dump per service."""
        services = self.services()
        if keys is not None:
            wanted = set(keys)
            services = [s for s in services if s.key in wanted]
        return [(svc, self.dests(svc.key)) for svc in services]

    def find_service(self, key: ServiceKey) -> Service | None:
        for svc in self.services():
            if svc.key == key:
                return svc
        return None


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
