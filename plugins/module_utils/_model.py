# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure model of IPVS state: normalized records, validation, comparison and rendering.

Nothing here talks to the kernel (that is ``_ipvs.py``) or to Ansible. Records are frozen
dataclasses holding normalized values, so that two records describing the same kernel state
compare equal whatever form the user typed them in (``TCP``/``tcp``/``6``, ``/24`` or
``255.255.255.0``, ``2001:DB8::1`` or ``2001:db8::1``...).

Rendering follows ``ipvsadm -S -n`` (ipvsadm 1.31) character for character, e.g.::

    -A -t 192.168.0.1:80 -s wlc -p 600
    -a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4
    -A -f 10 -6 -s sh -p 360 -b sh-fallback,sh-port
    -A -u 192.168.0.9:5060 -s sh -p 100 -M 255.255.0.0 --pe sip -o -b sh-port
    -a -f 10 -r 192.168.1.2:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum

``ipvsadm -S`` does not save real-server thresholds; :func:`render_dest` adds ``-x``/``-y``
only when asked (``thresholds=True``, as the modules' diffs do).
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ConfigError, ValidationError

# --- kernel constants (include/uapi/linux/ip_vs.h) ---------------------------------------

AF_INET = 2
AF_INET6 = 10
FAMILIES = {"ipv4": AF_INET, "ipv6": AF_INET6}
FAMILY_NAMES = {v: k for k, v in FAMILIES.items()}

PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}

SVC_F_PERSISTENT = 0x0001
SVC_F_HASHED = 0x0002
SVC_F_ONEPACKET = 0x0004
SVC_F_SCHED1 = 0x0008
SVC_F_SCHED2 = 0x0010
SVC_F_SCHED3 = 0x0020
SCHED_FLAG_BITS = (SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3)

# Scheduler flag names as ipvsadm spells them; "flag-N" works for every scheduler.
SCHED_FLAG_NAMES = {
    "sh": ("sh-fallback", "sh-port", "flag-3"),
    "mh": ("mh-fallback", "mh-port", "flag-3"),
}
GENERIC_SCHED_FLAGS = ("flag-1", "flag-2", "flag-3")

FWD_MASQ = 0
FWD_LOCAL = 1
FWD_TUNNEL = 2
FWD_DROUTE = 3
FORWARDING = {"nat": FWD_MASQ, "tunnel": FWD_TUNNEL, "dr": FWD_DROUTE}
FORWARDING_NAMES = {FWD_MASQ: "nat", FWD_TUNNEL: "tunnel", FWD_DROUTE: "dr", FWD_LOCAL: "dr"}
FORWARDING_SWITCH = {"nat": "-m", "tunnel": "-i", "dr": "-g"}

TUNNEL_TYPES = {"ipip": 0, "gue": 1, "gre": 2}
TUNNEL_TYPE_NAMES = {v: k for k, v in TUNNEL_TYPES.items()}
TUNNEL_CSUM = {"nocsum": 0, "csum": 1, "remcsum": 2}
TUNNEL_CSUM_NAMES = {v: k for k, v in TUNNEL_CSUM.items()}

DEFAULT_SCHEDULER = "wlc"
DEFAULT_PERSISTENCE_TIMEOUT = 300
DEFAULT_TIMEOUTS = {"tcp": 900, "tcp_fin": 120, "udp": 300}
MAX_WEIGHT = 65535
MAX_U32 = 0xFFFFFFFF
TIMEOUT_FIELDS = ("tcp", "tcp_fin", "udp")


# The options that identify a service, as AnsibleModule argument-spec entries: the top-level
# options of ipvs_service and the sub-options of ipvs_real_server's ``service``.
SERVICE_KEY_OPTIONS: dict[str, dict[str, Any]] = {
    "protocol": {"type": "str", "choices": ["tcp", "udp", "sctp"]},
    "address": {"type": "str"},
    "port": {"type": "int"},
    "fwmark": {"type": "int"},
    "family": {"type": "str", "choices": ["ipv4", "ipv6"]},
}


# --- small normalizers ------------------------------------------------------------------


def normalize_address(value: str, what: str = "address") -> tuple[str, str]:
    """Return ``(family, canonical address)``; brackets around IPv6 are accepted."""
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    found = _canonical_address(text)
    if found is None:
        raise ValidationError(f"{what} {value!r} is not an IPv4 or IPv6 address")
    return found


@functools.lru_cache(maxsize=4096)
def _canonical_address(text: str) -> tuple[str, str] | None:
    """``(family, canonical form)`` of an address, None when it is none. Cached: a table of 1,000 services
    names the same few VIPs and real servers thousands of times, and parsing them was half of check_config."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ("ipv4" if addr.version == 4 else "ipv6"), str(addr)


def normalize_protocol(value: str | int) -> str:
    text = str(value).strip().lower()
    if text.isdigit() and int(text) in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[int(text)]
    if text not in PROTOCOLS:
        raise ValidationError(f"protocol {value!r} is not one of tcp, udp, sctp")
    return text


def normalize_netmask(value: str | int | None, family: str) -> str | int:
    """IPv4: a dotted netmask (``255.255.255.0``; ``/24`` or ``24`` accepted). IPv6: a prefix length."""
    if family == "ipv4":
        if value is None:
            return "255.255.255.255"
        text = str(value).strip().lstrip("/")
        if text.isdigit():
            bits = int(text)
            if not 1 <= bits <= 32:
                raise ValidationError(f"IPv4 persistence netmask /{bits} is not a prefix length from 1 to 32")
            return str(ipaddress.IPv4Network(f"0.0.0.0/{bits}").netmask)
        try:
            net = ipaddress.IPv4Network(f"0.0.0.0/{text}")
        except ValueError:
            raise ValidationError(f"{value!r} is not an IPv4 netmask (such as 255.255.255.0)") from None
        return str(net.netmask)
    if value is None:
        return 128
    text = str(value).strip().lstrip("/")
    if not text.isdigit():
        raise ValidationError(f"IPv6 persistence granularity {value!r} is not a prefix length (1 to 128)")
    bits = int(text)
    if not 1 <= bits <= 128:
        raise ValidationError(f"IPv6 persistence granularity /{bits} is not a prefix length from 1 to 128")
    return bits


def netmask_to_kernel(netmask: str | int, family: str) -> int:
    """The u32 the kernel wants in IPVS_SVC_ATTR_NETMASK, as a host-order integer.

    IPv4: the mask bytes in network order (so the integer depends on host byte order).
    IPv6: the prefix length itself.
    """
    if family == "ipv4":
        return struct.unpack("=I", socket.inet_aton(str(netmask)))[0]
    return int(netmask)


def netmask_from_kernel(value: int, family: str) -> str | int:
    if family == "ipv4":
        return socket.inet_ntoa(struct.pack("=I", value & MAX_U32))
    return int(value)


def sched_flag_names(scheduler: str) -> tuple[str, str, str]:
    return SCHED_FLAG_NAMES.get(scheduler, GENERIC_SCHED_FLAGS)


def sched_flags_to_bits(names: Iterable[str], scheduler: str) -> int:
    bits = 0
    known = sched_flag_names(scheduler)
    for name in names:
        if name in known:
            bits |= SCHED_FLAG_BITS[known.index(name)]
        elif name in GENERIC_SCHED_FLAGS:
            bits |= SCHED_FLAG_BITS[GENERIC_SCHED_FLAGS.index(name)]
        else:
            valid = ", ".join(dict.fromkeys((*known, *GENERIC_SCHED_FLAGS)))
            raise ValidationError(f"scheduler flag {name!r} is not valid for scheduler {scheduler} ({valid})")
    return bits


def sched_flags_from_bits(bits: int, scheduler: str) -> tuple[str, ...]:
    names = sched_flag_names(scheduler)
    return tuple(names[i] for i, bit in enumerate(SCHED_FLAG_BITS) if bits & bit)


# A hash scheduler without its fallback flag sends a client whose hash lands on a real server at weight 0
# nowhere: the kernel answers ICMP port unreachable, which the client's connect() reports as "connection
# refused". With the flag it takes the next available real server. dh has no such flag.
HASH_FALLBACK = {"sh": "sh-fallback", "mh": "mh-fallback"}


def quiesce_fallback(scheduler: str, flags: Iterable[str]) -> tuple[str, ...] | None:
    """The scheduler flags a service needs while one of its real servers is at weight 0 (quiesced, drained):
    ``flags`` with the hash scheduler's fallback flag, or None when ``scheduler`` needs none or has it."""
    flag = HASH_FALLBACK.get(scheduler)
    if flag is None or flag in flags:
        return None
    return sched_flags_from_bits(sched_flags_to_bits((*flags, flag), scheduler), scheduler)


def format_addrport(address: str | None, port: int, family: str) -> str:
    if family == "ipv6":
        return f"[{address}]:{port}"
    return f"{address}:{port}"


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ServiceKey:
    """What identifies a virtual service: protocol + address + port, or firewall mark + family."""

    family: str
    protocol: str | None = None
    address: str | None = None
    port: int | None = None
    fwmark: int | None = None

    @property
    def is_fwmark(self) -> bool:
        return self.fwmark is not None

    def label(self) -> str:
        """Human form, as ``ipvsadm -L`` shows it: ``TCP 192.0.2.1:80``, ``FWM 10``, ``FWM 10 IPv6``."""
        if self.is_fwmark:
            return f"FWM {self.fwmark}" + (" IPv6" if self.family == "ipv6" else "")
        return f"{str(self.protocol).upper()} {format_addrport(self.address, int(self.port or 0), self.family)}"

    def rule(self) -> str:
        """The ``ipvsadm -S`` service selector: ``-t 192.0.2.1:80``, ``--sctp-service ...``, ``-f 10 -6``."""
        if self.is_fwmark:
            return f"-f {self.fwmark}" + (" -6" if self.family == "ipv6" else "")
        switch = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}[str(self.protocol)]
        return f"{switch} {format_addrport(self.address, int(self.port or 0), self.family)}"

    def as_dict(self) -> dict[str, Any]:
        if self.is_fwmark:
            return {"fwmark": self.fwmark, "family": self.family}
        return {"protocol": self.protocol, "address": self.address, "port": self.port, "family": self.family}


@dataclass(frozen=True)
class Service:
    """A virtual service as the kernel holds it (normalized; HASHED masked off)."""

    key: ServiceKey
    scheduler: str = DEFAULT_SCHEDULER
    scheduler_flags: tuple[str, ...] = ()
    persistent: bool = False
    persistence_timeout: int = 0
    persistence_netmask: str | int = "255.255.255.255"
    persistence_engine: str | None = None
    one_packet: bool = False
    stats: Mapping[str, int] | None = field(default=None, compare=False, repr=False)

    @property
    def flags(self) -> int:
        bits = sched_flags_to_bits(self.scheduler_flags, self.scheduler)
        if self.persistent:
            bits |= SVC_F_PERSISTENT
        if self.one_packet:
            bits |= SVC_F_ONEPACKET
        return bits

    def as_dict(self) -> dict[str, Any]:
        out = self.key.as_dict()
        out.update(
            scheduler=self.scheduler,
            scheduler_flags=list(self.scheduler_flags),
            persistent=self.persistent,
            persistence_timeout=self.persistence_timeout if self.persistent else None,
            persistence_netmask=self.persistence_netmask if self.persistent else None,
            persistence_engine=self.persistence_engine,
            one_packet=self.one_packet,
        )
        if self.stats is not None:
            out["stats"] = dict(self.stats)
        return out


@dataclass(frozen=True)
class Dest:
    """A real server of one service (normalized)."""

    address: str
    port: int
    family: str = "ipv4"
    forwarding: str = "dr"
    weight: int = 1
    upper_threshold: int = 0
    lower_threshold: int = 0
    tunnel_type: str | None = None
    tunnel_port: int | None = None
    tunnel_checksum: str | None = None
    active_connections: int = field(default=0, compare=False)
    inactive_connections: int = field(default=0, compare=False)
    persistent_connections: int = field(default=0, compare=False)
    stats: Mapping[str, int] | None = field(default=None, compare=False, repr=False)

    def label(self) -> str:
        return format_addrport(self.address, self.port, self.family)

    @property
    def connections(self) -> int:
        return self.active_connections + self.inactive_connections + self.persistent_connections

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "address": self.address,
            "port": self.port,
            "family": self.family,
            "forwarding": self.forwarding,
            "weight": self.weight,
            "upper_threshold": self.upper_threshold,
            "lower_threshold": self.lower_threshold,
            "tunnel_type": self.tunnel_type,
            "tunnel_port": self.tunnel_port,
            "tunnel_checksum": self.tunnel_checksum,
            "active_connections": self.active_connections,
            "inactive_connections": self.inactive_connections,
            "persistent_connections": self.persistent_connections,
        }
        if self.stats is not None:
            out["stats"] = dict(self.stats)
        return out


@dataclass(frozen=True)
class Timeouts:
    tcp: int = DEFAULT_TIMEOUTS["tcp"]
    tcp_fin: int = DEFAULT_TIMEOUTS["tcp_fin"]
    udp: int = DEFAULT_TIMEOUTS["udp"]

    def as_dict(self) -> dict[str, int]:
        return {"tcp": self.tcp, "tcp_fin": self.tcp_fin, "udp": self.udp}

    def render(self) -> str:
        """As ``ipvsadm -L --timeout`` prints it."""
        return f"Timeout (tcp tcpfin udp): {self.tcp} {self.tcp_fin} {self.udp}"


# --- building records from user input --------------------------------------------------------


def service_key_from_params(params: Mapping[str, Any]) -> ServiceKey:
    """Normalize and validate the identification options shared by the modules."""
    fwmark = params.get("fwmark")
    address = params.get("address")
    if fwmark is not None:
        if address is not None:
            raise ValidationError(
                f"a firewall-mark service is identified by fwmark and family; address {address} cannot be given with "
                f"fwmark {fwmark}"
            )
        if params.get("port") is not None:
            raise ValidationError(f"a firewall-mark service has no port; port cannot be given with fwmark {fwmark}")
        if params.get("protocol") is not None:
            raise ValidationError(
                f"a firewall-mark service takes the marked packets of every protocol; protocol {params['protocol']} "
                f"cannot be given with fwmark {fwmark}"
            )
        if not 1 <= int(fwmark) <= MAX_U32:
            raise ValidationError(f"firewall mark {fwmark} is not from 1 to 4294967295 (0 means no mark)")
        family = params.get("family") or "ipv4"
        if family not in FAMILIES:
            raise ValidationError(f"family {family!r} is not ipv4 or ipv6")
        return ServiceKey(family=family, fwmark=int(fwmark))
    if address is None:
        raise ValidationError("a service needs either address (with protocol and port) or fwmark")
    family, addr = normalize_address(address, "service address")
    if params.get("family") and params["family"] != family:
        raise ValidationError(f"service address {addr} is {family}, not {params['family']}")
    port = params.get("port")
    if port is None:
        raise ValidationError(f"service {addr} needs a port (0 for all ports, with persistence)")
    port = int(port)
    if not 0 <= port <= 65535:
        raise ValidationError(f"service port {port} is not from 0 to 65535")
    protocol = normalize_protocol(params.get("protocol") or "tcp")
    return ServiceKey(family=family, protocol=protocol, address=addr, port=port)


@dataclass(frozen=True)
class ServiceSpec:
    """What a task asks for: None means "not given" (keep the current value, or the default when new)."""

    key: ServiceKey
    scheduler: str | None = None
    scheduler_flags: tuple[str, ...] | None = None
    persistent: bool | None = None
    persistence_timeout: int | None = None
    persistence_netmask: str | int | None = None
    persistence_engine: str | None = None
    one_packet: bool | None = None


def service_spec_from_params(params: Mapping[str, Any]) -> ServiceSpec:
    key = service_key_from_params(params)
    label = key.label()
    netmask = params.get("persistence_netmask")
    if netmask is not None:
        try:
            netmask = normalize_netmask(netmask, key.family)
        except ValidationError as exc:
            raise ValidationError(f"service {label}: {exc}") from None
    timeout = params.get("persistence_timeout")
    if timeout is not None and not 1 <= int(timeout) <= MAX_U32:
        raise ValidationError(f"service {label}: persistence timeout {timeout} is not from 1 to 4294967295 seconds")
    flags = params.get("scheduler_flags")
    engine = params.get("persistence_engine")
    persistent = params.get("persistent")
    if persistent is False and (timeout is not None or netmask is not None or engine):
        raise ValidationError(
            f"service {label}: persistence_timeout, persistence_netmask and persistence_engine need persistent: true"
        )
    if persistent is None and timeout is not None:
        persistent = True
    scheduler = params.get("scheduler")
    if scheduler is not None:
        scheduler = str(scheduler).strip().lower()
        if not scheduler or not scheduler.replace("_", "").isalnum():
            raise ValidationError(f"service {label}: scheduler {params.get('scheduler')!r} is not a scheduler name")
    return ServiceSpec(
        key=key,
        scheduler=scheduler,
        scheduler_flags=tuple(dict.fromkeys(flags)) if flags is not None else None,
        persistent=persistent,
        persistence_timeout=int(timeout) if timeout is not None else None,
        persistence_netmask=netmask,
        persistence_engine=engine,
        one_packet=params.get("one_packet"),
    )


def merge_service(current: Service | None, spec: ServiceSpec) -> Service:
    """The service wanted: ``current`` with the settings ``spec`` names changed (defaults when new)."""
    base = current or Service(key=spec.key, persistence_netmask=normalize_netmask(None, spec.key.family))
    scheduler = spec.scheduler or base.scheduler
    if spec.scheduler_flags is not None:
        sched_flags = spec.scheduler_flags
    elif scheduler != base.scheduler:
        # The flags are bits: keep them, under the names the new scheduler gives them.
        sched_flags = sched_flags_from_bits(sched_flags_to_bits(base.scheduler_flags, base.scheduler), scheduler)
    else:
        sched_flags = base.scheduler_flags
    # Validate (and canonicalize the names of) the flags for this scheduler.
    sched_flags = sched_flags_from_bits(sched_flags_to_bits(sched_flags, scheduler), scheduler)
    persistent = base.persistent if spec.persistent is None else spec.persistent
    if spec.persistence_timeout is not None:
        timeout = spec.persistence_timeout
    elif persistent and not base.persistent:
        timeout = DEFAULT_PERSISTENCE_TIMEOUT
    else:
        timeout = base.persistence_timeout
    netmask = base.persistence_netmask if spec.persistence_netmask is None else spec.persistence_netmask
    engine = base.persistence_engine if spec.persistence_engine is None else (spec.persistence_engine or None)
    one_packet = base.one_packet if spec.one_packet is None else spec.one_packet
    target = replace(
        base,
        scheduler=scheduler,
        scheduler_flags=sched_flags,
        persistent=persistent,
        persistence_timeout=timeout,
        persistence_netmask=netmask,
        persistence_engine=engine,
        one_packet=one_packet,
    )
    validate_service(target)
    return target


def validate_service(svc: Service) -> None:
    label = svc.key.label()
    verb = "cannot configure service"
    if not svc.key.is_fwmark and svc.key.port == 0 and not svc.persistent:
        raise ValidationError(f"{verb} {label}: port 0 (all ports) is only valid for a persistent service")
    if svc.persistent and not 1 <= svc.persistence_timeout <= MAX_U32:
        raise ValidationError(f"{verb} {label}: persistence timeout {svc.persistence_timeout} is out of range")
    if svc.persistence_engine and not svc.persistent:
        raise ValidationError(f"{verb} {label}: a persistence engine needs persistent: true")
    if svc.one_packet and not svc.key.is_fwmark and svc.key.protocol != "udp":
        raise ValidationError(f"{verb} {label}: one-packet scheduling is only for UDP services")
    if svc.persistence_engine and not svc.key.is_fwmark and svc.key.protocol != "udp":
        raise ValidationError(
            f"{verb} {label}: persistence engine {svc.persistence_engine} works with UDP services only"
        )


def service_changes(current: Service, target: Service) -> list[str]:
    """Names of the settings that differ (only the ones that matter for the kernel state)."""
    names = ["scheduler", "scheduler_flags", "persistent", "persistence_engine", "one_packet"]
    if target.persistent or current.persistent:
        names += ["persistence_timeout", "persistence_netmask"]
    return [n for n in names if getattr(current, n) != getattr(target, n)]


@dataclass(frozen=True)
class DestSpec:
    address: str
    port: int | None = None
    family: str = "ipv4"
    forwarding: str | None = None
    weight: int | None = None
    upper_threshold: int | None = None
    lower_threshold: int | None = None
    tunnel_type: str | None = None
    tunnel_port: int | None = None
    tunnel_checksum: str | None = None


def dest_spec_from_params(params: Mapping[str, Any], key: ServiceKey) -> DestSpec:
    family, addr = normalize_address(params["address"], "real server address")
    port = params.get("port")
    weight = params.get("weight")
    upper = params.get("upper_threshold")
    lower = params.get("lower_threshold")
    label = format_addrport(addr, port if port is not None else 0, family)
    where = f"real server {label} of {key.label()}"
    if port is not None and not 0 <= int(port) <= 65535:
        raise ValidationError(f"{where}: port {port} is not from 0 to 65535")
    if weight is not None and not 0 <= int(weight) <= MAX_WEIGHT:
        raise ValidationError(f"{where}: weight {weight} is not from 0 to {MAX_WEIGHT}")
    for name, value in (("upper threshold", upper), ("lower threshold", lower)):
        if value is not None and not 0 <= int(value) <= MAX_U32:
            raise ValidationError(f"{where}: {name} {value} is not from 0 to 4294967295")
    forwarding = params.get("forwarding")
    if forwarding is not None and forwarding not in FORWARDING:
        raise ValidationError(f"{where}: forwarding {forwarding!r} is not dr, nat or tunnel")
    tunnel_type = params.get("tunnel_type")
    if tunnel_type is not None and tunnel_type not in TUNNEL_TYPES:
        raise ValidationError(f"{where}: tunnel_type {tunnel_type!r} is not ipip, gue or gre")
    tunnel_checksum = params.get("tunnel_checksum")
    if tunnel_checksum is not None and tunnel_checksum not in TUNNEL_CSUM:
        raise ValidationError(f"{where}: tunnel_checksum {tunnel_checksum!r} is not nocsum, csum or remcsum")
    tunnel_port = params.get("tunnel_port")
    if tunnel_port is not None and not 1 <= int(tunnel_port) <= 65535:
        raise ValidationError(f"{where}: tunnel port {tunnel_port} is not from 1 to 65535")
    if forwarding in ("dr", "nat") and (tunnel_type or tunnel_port is not None or tunnel_checksum):
        raise ValidationError(f"{where}: tunnel options need forwarding: tunnel")
    if family != key.family and forwarding != "tunnel":
        raise ValidationError(f"{where}: an {family} real server of an {key.family} service needs forwarding: tunnel")
    return DestSpec(
        address=addr,
        port=int(port) if port is not None else None,
        family=family,
        forwarding=forwarding,
        weight=int(weight) if weight is not None else None,
        upper_threshold=int(upper) if upper is not None else None,
        lower_threshold=int(lower) if lower is not None else None,
        tunnel_type=tunnel_type,
        tunnel_port=int(tunnel_port) if tunnel_port is not None else None,
        tunnel_checksum=tunnel_checksum,
    )


def dest_port(spec: DestSpec, key: ServiceKey) -> int:
    """The port the kernel keys the real server by.

    Direct routing and tunnelling cannot change the destination port: the packet reaches the
    real server on the port the client used. As ipvsadm does, such a real server of a
    protocol service gets the service port; of a firewall-mark service, port 0 unless given.
    NAT real servers default to the service port (0 for firewall marks: keep the client's).
    """
    forwarding = spec.forwarding or "dr"
    where = f"real server {spec.address} of {key.label()}"
    if key.is_fwmark:
        return spec.port if spec.port is not None else 0
    if forwarding in ("dr", "tunnel"):
        if spec.port is not None and spec.port != key.port:
            raise ValidationError(
                f"{where}: {forwarding} forwarding sends packets to the service port {key.port}; "
                f"port {spec.port} is only possible with forwarding: nat"
            )
        return int(key.port or 0)
    return spec.port if spec.port is not None else int(key.port or 0)


def merge_dest(current: Dest | None, spec: DestSpec, key: ServiceKey) -> Dest:
    port = current.port if current is not None else dest_port(spec, key)
    base = current or Dest(address=spec.address, port=port, family=spec.family)
    forwarding = spec.forwarding or base.forwarding
    if current is not None and forwarding in ("dr", "tunnel") and not key.is_fwmark and base.port != key.port:
        raise ValidationError(
            f"cannot change real server {base.label()} of {key.label()} to {forwarding} forwarding: it would have "
            f"to use the service port {key.port}; remove it and add it again"
        )
    if forwarding == "tunnel":
        tunnel_type = spec.tunnel_type or base.tunnel_type or "ipip"
        tunnel_checksum = spec.tunnel_checksum or base.tunnel_checksum or "nocsum"
        tunnel_port = spec.tunnel_port if spec.tunnel_port is not None else base.tunnel_port
        if tunnel_type != "gue":
            tunnel_port = None
        if tunnel_type == "ipip":
            tunnel_checksum = None
    else:
        tunnel_type = tunnel_port = tunnel_checksum = None
    target = replace(
        base,
        forwarding=forwarding,
        weight=base.weight if spec.weight is None else spec.weight,
        upper_threshold=base.upper_threshold if spec.upper_threshold is None else spec.upper_threshold,
        lower_threshold=base.lower_threshold if spec.lower_threshold is None else spec.lower_threshold,
        tunnel_type=tunnel_type,
        tunnel_port=tunnel_port,
        tunnel_checksum=tunnel_checksum,
    )
    validate_dest(target, key, "change" if current else "add")
    return target


def validate_dest(dest: Dest, key: ServiceKey, verb: str = "add") -> None:
    where = f"cannot {verb} real server {dest.label()} {'to' if verb == 'add' else 'of'} {key.label()}"
    if dest.upper_threshold and dest.lower_threshold > dest.upper_threshold:
        raise ValidationError(
            f"{where}: lower threshold above upper ({dest.lower_threshold} > {dest.upper_threshold})"
        )
    if dest.lower_threshold and not dest.upper_threshold:
        raise ValidationError(f"{where}: lower threshold {dest.lower_threshold} needs an upper threshold")
    if dest.forwarding == "tunnel" and dest.tunnel_type == "gue" and not dest.tunnel_port:
        raise ValidationError(f"{where}: a GUE tunnel needs tunnel_port")
    if not 0 <= dest.weight <= MAX_WEIGHT:
        raise ValidationError(f"{where}: weight {dest.weight} is not from 0 to {MAX_WEIGHT}")


def dest_changes(current: Dest, target: Dest) -> list[str]:
    names = ["forwarding", "weight", "upper_threshold", "lower_threshold", "tunnel_type", "tunnel_port",
             "tunnel_checksum"]
    return [n for n in names if getattr(current, n) != getattr(target, n)]


def find_dest(dests: Iterable[Dest], address: str, port: int | None) -> Dest | None:
    for dest in dests:
        if dest.address == address and (port is None or dest.port == port):
            return dest
    return None


# --- rendering ----------------------------------------------------------------------------


def render_service(svc: Service) -> str:
    """One ``-A`` line exactly as ``ipvsadm -S -n`` prints it."""
    parts = [f"-A {svc.key.rule()} -s {svc.scheduler}"]
    if svc.persistent:
        parts.append(f"-p {svc.persistence_timeout}")
        if svc.key.family == "ipv4" and svc.persistence_netmask != "255.255.255.255":
            parts.append(f"-M {svc.persistence_netmask}")
        if svc.key.family == "ipv6" and svc.persistence_netmask != 128:
            parts.append(f"-M {svc.persistence_netmask}")
    if svc.persistence_engine:
        parts.append(f"--pe {svc.persistence_engine}")
    if svc.one_packet:
        parts.append("-o")
    if svc.scheduler_flags:  # ipvsadm 1.31 prints them last
        parts.append("-b " + ",".join(svc.scheduler_flags))
    return " ".join(parts)


def render_dest(key: ServiceKey, dest: Dest, *, thresholds: bool = False) -> str:
    """One ``-a`` line as ``ipvsadm -S -n`` prints it (``thresholds``: add ``-x``/``-y``, which it omits)."""
    parts = [f"-a {key.rule()} -r {dest.label()} {FORWARDING_SWITCH[dest.forwarding]} -w {dest.weight}"]
    if dest.forwarding == "tunnel" and dest.tunnel_type:
        parts.append(f"--tun-type {dest.tunnel_type}")
        if dest.tunnel_type == "gue" and dest.tunnel_port:
            parts.append(f"--tun-port {dest.tunnel_port}")
        if dest.tunnel_type != "ipip" and dest.tunnel_checksum:
            parts.append(f"--tun-{dest.tunnel_checksum}")
    if thresholds:
        if dest.upper_threshold:
            parts.append(f"-x {dest.upper_threshold}")
        if dest.lower_threshold:
            parts.append(f"-y {dest.lower_threshold}")
    return " ".join(parts)


def render_config(services: Iterable[tuple[Service, Iterable[Dest]]], *, thresholds: bool = False) -> list[str]:
    """Sorted ``ipvsadm -S -n`` lines for a set of services and their real servers."""
    lines: list[str] = []
    for svc, dests in services:
        lines.append(render_service(svc))
        lines.extend(render_dest(svc.key, d, thresholds=thresholds) for d in dests)
    return sorted(lines)


def render_text(lines: Iterable[str]) -> str:
    text = "\n".join(lines)
    return text + "\n" if text else ""


# --- /proc/net/ip_vs_conn -------------------------------------------------------------------


def _proc_addr(text: str) -> tuple[str, str]:
    if ":" in text:  # IPv6 rows print the address in its colon form
        return "ipv6", str(ipaddress.IPv6Address(text))
    return "ipv4", str(ipaddress.IPv4Address(int(text, 16)))


def parse_ip_vs_conn(text: str) -> list[dict[str, Any]]:
    """Parse ``/proc/net/ip_vs_conn`` into rows; persistence templates carry ``template: true``.

    A template has client port 0. A firewall-mark template shows protocol ``IP`` and the
    virtual address ``0.0.0.<mark>`` (its ``fwmark`` is filled in).
    """
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 9 or cols[0] == "Pro":
            continue
        proto, caddr, cport, vaddr, vport, daddr, dport, state, expires = cols[:9]
        family, client = _proc_addr(caddr)
        virtual = _proc_addr(vaddr)[1]
        dest = _proc_addr(daddr)[1]
        row: dict[str, Any] = {
            "protocol": proto,
            "family": family,
            "client_address": client,
            "client_port": int(cport, 16),
            "virtual_address": virtual,
            "virtual_port": int(vport, 16),
            "dest_address": dest,
            "dest_port": int(dport, 16),
            "state": state,
            "expires": int(expires),
            "pe_name": cols[9] if len(cols) > 9 else None,
            "pe_data": cols[10] if len(cols) > 10 else None,
        }
        row["template"] = row["client_port"] == 0
        row["fwmark"] = None
        if proto == "IP" and family == "ipv4":
            row["fwmark"] = int(vaddr, 16)
        rows.append(row)
    return rows


INVALIDATED_PORT = 0xFFFF  # the virtual and real-server port of a template the kernel invalidated


def binds_client(row: Mapping[str, Any]) -> bool:
    """Whether a :func:`parse_ip_vs_conn` row is a persistence template that still binds its client: not one the
    kernel invalidated (``expire_quiescent_template``: its ports become 0xffff when the client comes back)."""
    return bool(row.get("template")) and row.get("virtual_port") != INVALIDATED_PORT


def live_templates(rows: Iterable[Mapping[str, Any]], key: ServiceKey, address: str, port: int) -> int | None:
    """The persistence templates among :func:`parse_ip_vs_conn` ``rows`` that still bind a client of the service
    ``key`` to the real server ``address``:``port``; None when the rows cannot tell (an IPv6 firewall mark).

    A template of a quiescent real server that the kernel invalidated (``expire_quiescent_template``: its ports
    become 0xffff when its client comes back) binds nobody, yet stays in the real server's persistent count until
    its timer runs out - up to the persistence timeout: a drain must not wait for it.
    """
    if key.is_fwmark and key.family == "ipv6":
        return None
    count = 0
    for row in rows:
        if not binds_client(row) or row["dest_address"] != address or row["dest_port"] != port:
            continue
        if key.is_fwmark:
            if row["fwmark"] != key.fwmark:
                continue
        elif (row["virtual_address"], row["virtual_port"], str(row["protocol"]).lower()) != \
                (key.address, key.port, key.protocol):
            continue
        count += 1
    return count


def timeouts_from_params(params: Mapping[str, Any]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for name in TIMEOUT_FIELDS:
        value = params.get(name)
        if value is None:
            continue
        if not 1 <= int(value) <= 2147483:  # the kernel stores them in jiffies (int, HZ up to 1000)
            raise ValidationError(f"cannot set the {name} timeout to {value}: it must be from 1 to 2147483 seconds")
        wanted[name] = int(value)
    return wanted


def merge_timeouts(current: Timeouts, wanted: Mapping[str, int]) -> Timeouts:
    return replace(current, **dict(wanted))


def record_fields(record: Any) -> list[str]:
    return [f.name for f in fields(record)]


# --- the whole table as data (ipvs_config): validation, plan, rendering, ipvsadm -S parsing ---------------
#
# A *table* is what IpvsHandle.config() returns: ``[(Service, [Dest, ...]), ...]``. A *config* is the data
# users write: a list of services with ipvs_service's option names, each with ``real_servers`` under
# ipvs_real_server's option names. check_config() validates a config statically (everything that does not
# depend on the kernel), plan() turns (table, config, state) into an ordered list of Operations, and
# apply_to_table() computes the table those operations leave (for ``after``, the diff and ``rendered``).

# The schedulers and persistence engines Linux ships (net/netfilter/ipvs/ip_vs_<name>.c, 6.x kernels).
KERNEL_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos")
KERNEL_PERSISTENCE_ENGINES = ("sip",)

CONFIG_STATES = ("merged", "replaced", "overridden", "deleted")

# The options of one service of a config and of one of its real servers, with the type each value is read
# as: ipvs_service's and ipvs_real_server's names (and types), so one task's options are one entry's.
CONFIG_SERVICE_FIELDS: dict[str, str] = {
    "protocol": "str",
    "address": "str",
    "port": "int",
    "fwmark": "int",
    "family": "str",
    "scheduler": "str",
    "scheduler_flags": "list",
    "persistent": "bool",
    "persistence_timeout": "int",
    "persistence_netmask": "str",
    "persistence_engine": "str",
    "one_packet": "bool",
    "real_servers": "list",
}
CONFIG_DEST_FIELDS: dict[str, str] = {
    "address": "str",
    "port": "int",
    "forwarding": "str",
    "weight": "int",
    "upper_threshold": "int",
    "lower_threshold": "int",
    "tunnel_type": "str",
    "tunnel_port": "int",
    "tunnel_checksum": "str",
}
_KEY_FIELDS = ("protocol", "address", "port", "fwmark", "family")
_TRUE = ("true", "yes", "on", "1", "y", "t")
_FALSE = ("false", "no", "off", "0", "n", "f")


def _typed(value: Any, kind: str, name: str) -> Any:
    """``value`` read as ``kind`` (int, bool, str, list), as Ansible's argument spec would; None stays None."""
    if value is None:
        return None
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
        raise ValidationError(f"{name} {value!r} is not a whole number")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValidationError(f"{name} {value!r} is not a boolean (true or false)")
    if kind == "list":
        if isinstance(value, (list, tuple)):
            return list(value)
        raise ValidationError(f"{name} must be a list, not {value!r}")
    if isinstance(value, (bool, Mapping, list, tuple)):
        raise ValidationError(f"{name} {value!r} is not a string")
    return str(value)


def _read_params(raw: Mapping[str, Any], known: Mapping[str, str]) -> tuple[dict[str, Any], list[str], set[str]]:
    """Typed options of one entry: ``(params, problems, names whose value was unreadable)``."""
    params: dict[str, Any] = dict.fromkeys(known)
    problems: list[str] = []
    bad: set[str] = set()
    for name, value in raw.items():
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=1)
            problems.append(f"unknown option {name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
            continue
        try:
            params[name] = _typed(value, known[name], name)
        except ValidationError as exc:
            problems.append(str(exc))
            bad.add(name)
    return params, problems, bad


def message_reason(exc: Exception | str, *subjects: str) -> str:
    """The reason of a model message, without its leading ``...<subject>: `` (the caller names the object)."""
    text = str(exc)
    for subject in subjects:
        at = text.find(subject + ": ")
        if at >= 0:
            return text[at + len(subject) + 2:]
    return text


def _static_service_problems(spec: ServiceSpec) -> list[str]:
    """What is wrong with a service whatever the kernel holds: schedulers, flags and engines Linux lacks."""
    problems: list[str] = []
    if spec.scheduler is not None and spec.scheduler not in KERNEL_SCHEDULERS:
        problems.append(
            f"scheduler {spec.scheduler!r} is not one that Linux ships ({', '.join(KERNEL_SCHEDULERS)})"
        )
    elif spec.scheduler_flags:
        if spec.scheduler is not None:
            try:
                sched_flags_to_bits(spec.scheduler_flags, spec.scheduler)
            except ValidationError as exc:
                problems.append(str(exc))
        else:
            known = {name for names in SCHED_FLAG_NAMES.values() for name in names} | set(GENERIC_SCHED_FLAGS)
            problems += [f"scheduler flag {name!r} is not one of {', '.join(sorted(known))}"
                         for name in spec.scheduler_flags if name not in known]
    if spec.persistence_engine and spec.persistence_engine not in KERNEL_PERSISTENCE_ENGINES:
        problems.append(
            f"persistence engine {spec.persistence_engine!r} is not one that Linux ships "
            f"({', '.join(KERNEL_PERSISTENCE_ENGINES)})"
        )
    return problems


@dataclass(frozen=True)
class ServiceConfig:
    """One checked entry of a config: what it asks of one service, and of its real servers (ports resolved)."""

    index: int
    spec: ServiceSpec
    dests: tuple[DestSpec, ...] = ()

    @property
    def key(self) -> ServiceKey:
        return self.spec.key

    @property
    def label(self) -> str:
        """``config[2] TCP 192.0.2.1:80``: how messages name this entry."""
        return f"config[{self.index}] {self.key.label()}"


def _dest_subject(address: str, port: int | None, family: str) -> str:
    return "real server " + (format_addrport(address, port, family) if port is not None else address)


def _check_dests(raw_list: Any, key: ServiceKey) -> tuple[list[DestSpec], list[str]]:
    """The real servers of one service: specs with their kernel port, and every problem (``real server X: ...``)."""
    if raw_list is None:
        return [], []
    out: list[DestSpec] = []
    errors: list[str] = []
    seen: dict[tuple[str, int], int] = {}
    for j, raw in enumerate(raw_list):
        where = f"real_servers[{j}]"
        if not isinstance(raw, Mapping):
            errors.append(f"{where}: a real server is a mapping of options, not {raw!r}")
            continue
        params, problems, bad = _read_params(raw, CONFIG_DEST_FIELDS)
        if params["address"] is None:
            if "address" not in bad:
                problems.insert(0, "a real server needs an address")
            errors += [f"{where}: {p}" for p in problems]
            continue
        try:
            family, addr = normalize_address(params["address"], "real server address")
        except ValidationError as exc:
            errors += [f"{where}: {p}" for p in (str(exc), *problems)]
            continue
        subject = _dest_subject(addr, params["port"], family)
        if problems:
            errors += [f"{subject}: {p}" for p in problems]
            continue
        try:
            spec = dest_spec_from_params(params, key)
            spec = replace(spec, port=dest_port(spec, key))
        except ValidationError as exc:
            errors.append(f"{subject}: {message_reason(exc, key.label())}")
            continue
        dkey = (spec.address, int(spec.port or 0))
        if dkey in seen:
            twice = f"listed twice (real_servers[{seen[dkey]}] and [{j}])"
            errors.append(f"{_dest_subject(addr, dkey[1], family)}: {twice}")
            continue
        seen[dkey] = j
        out.append(spec)
    return out, errors


def check_config(entries: Any) -> tuple[list[ServiceConfig], list[str]]:
    """Check a config without the kernel: the entries to plan with, and EVERY problem found.

    With any problem, nothing may be changed: the entries returned (every service that could be
    read, with the real servers found valid) then only serve to find what :func:`plan` finds too.

    What depends on the kernel's table (a threshold against the current upper one, port 0 of a
    service that is persistent already...) is checked by :func:`plan`. Problems name the entry
    and its service (``config[2] TCP 192.0.2.1:80: ...``), and the real server when it is one
    (``config[2] TCP 192.0.2.1:80: real server 10.0.0.5:8080: ...``).
    """
    if entries is None:
        return [], []
    if not isinstance(entries, (list, tuple)):
        return [], [f"config must be a list of services, not {entries!r}"]
    out: list[ServiceConfig] = []
    errors: list[str] = []
    seen: dict[ServiceKey, int] = {}
    for index, raw in enumerate(entries):
        where = f"config[{index}]"
        if not isinstance(raw, Mapping):
            errors.append(f"{where}: a service is a mapping of options, not {raw!r}")
            continue
        params, problems, bad = _read_params(raw, CONFIG_SERVICE_FIELDS)
        if bad & set(_KEY_FIELDS):
            errors += [f"{where}: {p}" for p in problems]
            continue
        try:
            key = service_key_from_params(params)
        except ValidationError as exc:
            errors += [f"{where}: {p}" for p in (str(exc), *problems)]
            continue
        label = f"{where} {key.label()}"
        errors += [f"{label}: {p}" for p in problems]
        twice = key in seen
        if twice:
            errors.append(f"{label}: listed twice (config[{seen[key]}] is the same service)")
        seen.setdefault(key, index)
        spec: ServiceSpec | None = None
        try:
            spec = service_spec_from_params(params)
        except ValidationError as exc:
            errors.append(f"{label}: {message_reason(exc, key.label())}")
        static = _static_service_problems(spec) if spec is not None else []
        errors += [f"{label}: {p}" for p in static]
        dests, dest_errors = _check_dests(params["real_servers"], key)
        errors += [f"{label}: {e}" for e in dest_errors]
        if spec is not None and not twice:
            # An entry with problems still goes on to plan() (with the real servers found valid), to find
            # the problems that only a plan can see as well: whoever gets errors back changes nothing.
            out.append(ServiceConfig(index=index, spec=spec, dests=tuple(dests)))
    return out, errors


def check_timeouts(params: Mapping[str, Any] | None) -> tuple[dict[str, int], list[str]]:
    """The timeouts given (``{tcp, tcp_fin, udp}``, None = leave as is) and every problem (``timeouts: ...``)."""
    wanted: dict[str, int] = {}
    errors: list[str] = []
    if params is None:
        return wanted, errors
    if not isinstance(params, Mapping):
        return wanted, [f"timeouts must be a mapping of tcp, tcp_fin and udp, not {params!r}"]
    values, problems, _bad = _read_params(params, dict.fromkeys(TIMEOUT_FIELDS, "int"))
    errors += [f"timeouts: {p}" for p in problems]
    for name in TIMEOUT_FIELDS:
        try:
            wanted.update(timeouts_from_params({name: values[name]}))
        except ValidationError as exc:
            errors.append(f"timeouts: {exc}")
    return wanted, errors


def validate_config(entries: Any) -> list[ServiceConfig]:
    """:func:`check_config`, raising one :class:`ConfigError` with every problem when there is any."""
    services, errors = check_config(entries)
    if errors:
        raise ConfigError(errors)
    return services


# The operations of a plan, in the order a plan runs them, with the ipvsadm command each one is.
OPERATIONS = ("add_service", "edit_service", "add_dest", "edit_dest", "delete_dest", "delete_service",
              "set_timeouts")


@dataclass(frozen=True)
class Operation:
    """One step of a plan: ``op`` (one of :data:`OPERATIONS`) on ``service`` (and ``dest``).

    ``service`` is the service as it will be for add/edit, as it is for delete, and the service of
    the real server for the real-server operations; ``timeouts`` holds the (name, seconds) pairs to
    send for ``set_timeouts``. :attr:`words` is the operation as an ``ipvsadm`` command line.
    """

    op: str
    service: Service | None = None
    dest: Dest | None = None
    timeouts: tuple[tuple[str, int], ...] = ()

    @property
    def key(self) -> ServiceKey | None:
        return self.service.key if self.service is not None else None

    @property
    def words(self) -> str:
        """``-A -t 192.0.2.1:80 -s rr -p 300``, ``-e ... -r 10.0.0.5:80 -g -w 0``, ``--set 300 0 0`` ..."""
        if self.op == "set_timeouts":
            values = dict(self.timeouts)
            return "--set " + " ".join(str(values.get(name, 0)) for name in TIMEOUT_FIELDS)
        svc = self.service
        if svc is None:
            raise ValueError(f"operation {self.op} without a service")
        if self.op == "add_service":
            return render_service(svc)
        if self.op == "edit_service":
            return "-E" + render_service(svc)[2:]
        if self.op == "delete_service":
            return f"-D {svc.key.rule()}"
        dest = self.dest
        if dest is None:
            raise ValueError(f"operation {self.op} without a real server")
        if self.op == "add_dest":
            return render_dest(svc.key, dest, thresholds=True)
        if self.op == "edit_dest":
            return "-e" + render_dest(svc.key, dest, thresholds=True)[2:]
        return f"-d {svc.key.rule()} -r {dest.label()}"


def _index(table: Iterable[tuple[Service, Iterable[Dest]]]) -> dict[ServiceKey, tuple[Service, dict]]:
    return {svc.key: (svc, {(d.address, d.port): d for d in dests}) for svc, dests in table}


def plan(
    current: Iterable[tuple[Service, Iterable[Dest]]],
    wanted: Iterable[ServiceConfig],
    state: str,
    *,
    timeouts: Mapping[str, int] | None = None,
    current_timeouts: Timeouts | None = None,
) -> list[Operation]:
    """The operations that turn the table ``current`` into what ``wanted`` asks for under ``state``.

    - ``merged``: add the services and real servers listed, change the settings named; everything
      else stays (a listed service keeps the settings it does not name, and its unlisted real servers).
    - ``replaced``: each listed service becomes exactly as given (settings not named take their
      defaults, as for a new service) and loses the real servers not listed; other services stay.
    - ``overridden``: ``replaced`` for every listed service, and the services not listed go.
    - ``deleted``: the listed services go, with their real servers; an empty ``wanted`` means every
      service (the resource-module convention; callers make sure it was asked for explicitly).

    Order, safe for live traffic: new services, service edits, new real servers, real-server edits,
    real-server removals, service removals (a removed service's real servers go with it: only the
    ``-D``), then the timeouts. Edits are in place (SET), never a delete and re-add. ``timeouts``
    (only the values given) are compared with ``current_timeouts``. Every problem that depends on
    the current table is collected and raised as one :class:`ConfigError`.
    """
    if state not in CONFIG_STATES:
        raise ValidationError(f"state {state!r} is not one of {', '.join(CONFIG_STATES)}")
    table = _index(current)
    wanted = list(wanted)
    errors: list[str] = []
    steps: dict[str, list[Operation]] = {name: [] for name in OPERATIONS}
    if state == "deleted":
        keys = [w.key for w in wanted] if wanted else sorted(table, key=ServiceKey.rule)
        steps["delete_service"] = [Operation("delete_service", table[k][0]) for k in keys if k in table]
    else:
        merged = state == "merged"
        for w in wanted:
            cur_svc, cur_dests = table.get(w.key, (None, {}))
            target: Service | None = None
            try:
                target = merge_service(cur_svc if merged else None, w.spec)
            except ValidationError as exc:
                errors.append(f"{w.label}: {message_reason(exc, w.key.label())}")
            if target is not None and cur_svc is None:
                steps["add_service"].append(Operation("add_service", target))
            elif target is not None and cur_svc is not None and service_changes(cur_svc, target):
                steps["edit_service"].append(Operation("edit_service", target))
            owner = target or cur_svc or Service(key=w.key)
            listed = set()
            for spec in w.dests:
                dkey = (spec.address, int(spec.port or 0))
                listed.add(dkey)
                cur_dest = cur_dests.get(dkey)
                try:
                    dest = merge_dest(cur_dest if merged else None, spec, w.key)
                except ValidationError as exc:
                    subject = _dest_subject(spec.address, spec.port, spec.family)
                    errors.append(f"{w.label}: {subject}: {message_reason(exc, w.key.label())}")
                    continue
                if cur_dest is None:
                    steps["add_dest"].append(Operation("add_dest", owner, dest))
                elif dest_changes(cur_dest, dest):
                    steps["edit_dest"].append(Operation("edit_dest", owner, dest))
            if not merged:
                steps["delete_dest"] += [Operation("delete_dest", owner, d) for k, d in sorted(cur_dests.items())
                                         if k not in listed]
        if state == "overridden":
            keep = {w.key for w in wanted}
            steps["delete_service"] = [Operation("delete_service", table[k][0])
                                       for k in sorted(table, key=ServiceKey.rule) if k not in keep]
    if timeouts:
        if current_timeouts is None:
            raise ValueError("plan() needs current_timeouts to compare timeouts with")
        changed = tuple((name, int(timeouts[name])) for name in TIMEOUT_FIELDS
                        if timeouts.get(name) is not None and getattr(current_timeouts, name) != timeouts[name])
        if changed:
            steps["set_timeouts"].append(Operation("set_timeouts", timeouts=changed))
    if errors:
        raise ConfigError(errors)
    return [op for name in OPERATIONS for op in steps[name]]


def apply_to_table(
    current: Iterable[tuple[Service, Iterable[Dest]]], ops: Iterable[Operation]
) -> list[tuple[Service, list[Dest]]]:
    """The table ``ops`` leave, sorted as ``ipvsadm -S -n`` sorts (timeouts are not part of a table)."""
    table = _index(current)
    for op in ops:
        key = op.key
        if key is None:
            continue
        if op.op in ("add_service", "edit_service"):
            table[key] = (op.service, table[key][1] if key in table else {})
        elif op.op == "delete_service":
            table.pop(key, None)
        elif op.dest is not None and key in table:
            dests = table[key][1]
            if op.op == "delete_dest":
                dests.pop((op.dest.address, op.dest.port), None)
            else:
                dests[(op.dest.address, op.dest.port)] = op.dest
    return sort_table((svc, list(dests.values())) for svc, dests in table.values())


def sort_table(table: Iterable[tuple[Service, Iterable[Dest]]]) -> list[tuple[Service, list[Dest]]]:
    """Services by their ``-A`` line, real servers by their ``-a`` line (the order of sorted ``ipvsadm -S -n``)."""
    rows = [(svc, sorted(dests, key=lambda d, k=svc.key: render_dest(k, d))) for svc, dests in table]
    return sorted(rows, key=lambda row: render_service(row[0]))


def render_table(table: Iterable[tuple[Service, Iterable[Dest]]]) -> list[str]:
    """A table as sorted ``ipvsadm -S -n`` lines, thresholds added as ``-x``/``-y`` (``ipvsadm -R`` reads them)."""
    return render_config(table, thresholds=True)


def render_wanted(wanted: Iterable[ServiceConfig]) -> list[str]:
    """The ``ipvsadm -R`` lines of a checked config: every service as given, defaults for the rest."""
    return render_table(apply_to_table([], plan([], wanted, "overridden")))


def dest_config(dest: Dest) -> dict[str, Any]:
    """A real server in the config shape (ipvs_real_server's option names; thresholds and tunnel only when set)."""
    out: dict[str, Any] = {"address": dest.address, "port": dest.port, "forwarding": dest.forwarding,
                           "weight": dest.weight}
    if dest.upper_threshold:
        out["upper_threshold"] = dest.upper_threshold
    if dest.lower_threshold:
        out["lower_threshold"] = dest.lower_threshold
    if dest.forwarding == "tunnel":
        out["tunnel_type"] = dest.tunnel_type or "ipip"
        for name in ("tunnel_port", "tunnel_checksum"):
            if getattr(dest, name) is not None:
                out[name] = getattr(dest, name)
    return out


def service_config(svc: Service, dests: Iterable[Dest]) -> dict[str, Any]:
    """A service and its real servers in the config shape: valid ``config`` input that gives this service back.

    Settings at their default are left out, except ``scheduler`` and ``persistent``.
    """
    if svc.key.is_fwmark:
        out: dict[str, Any] = {"fwmark": svc.key.fwmark, "family": svc.key.family}
    else:
        out = {"protocol": svc.key.protocol, "address": svc.key.address, "port": svc.key.port}
    out["scheduler"] = svc.scheduler
    if svc.scheduler_flags:
        out["scheduler_flags"] = list(svc.scheduler_flags)
    out["persistent"] = svc.persistent
    if svc.persistent:
        out["persistence_timeout"] = svc.persistence_timeout
        if svc.persistence_netmask != normalize_netmask(None, svc.key.family):
            out["persistence_netmask"] = str(svc.persistence_netmask)
    if svc.persistence_engine:
        out["persistence_engine"] = svc.persistence_engine
    if svc.one_packet:
        out["one_packet"] = True
    out["real_servers"] = [dest_config(d) for d in dests]
    return out


def table_config(table: Iterable[tuple[Service, Iterable[Dest]]]) -> list[dict[str, Any]]:
    """A table in the config shape, in the order given (:func:`sort_table` first for a stable order)."""
    return [service_config(svc, dests) for svc, dests in table]


# --- ipvsadm -S text ------------------------------------------------------------------------------------

_SELECTORS = {"-t": "tcp", "--tcp-service": "tcp", "-u": "udp", "--udp-service": "udp", "--sctp-service": "sctp",
              "-f": None, "--fwmark-service": None}
_SERVICE_VALUES = {"-s": "scheduler", "--scheduler": "scheduler", "-M": "persistence_netmask",
                   "--netmask": "persistence_netmask", "--pe": "persistence_engine"}
_DEST_VALUES = {"-w": "weight", "--weight": "weight", "-x": "upper_threshold", "--u-threshold": "upper_threshold",
                "-y": "lower_threshold", "--l-threshold": "lower_threshold", "--tun-type": "tunnel_type",
                "--tun-port": "tunnel_port"}
_FORWARDING_SWITCHES = {"-g": "dr", "--gatewaying": "dr", "-m": "nat", "--masquerading": "nat", "-i": "tunnel",
                        "--ipip": "tunnel"}


def _split_addrport(text: str) -> tuple[str, int | None]:
    """``[2001:db8::1]:80``, ``192.0.2.1:80``, ``192.0.2.1``, ``[2001:db8::1]`` -> (address, port or None)."""
    if text.startswith("["):
        addr, _bracket, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else (rest or None)
    elif text.count(":") == 1:
        addr, port_text = text.split(":")
    else:
        addr, port_text = text, None
    if port_text is None:
        return addr, None
    if not port_text.isdigit():
        raise ValidationError(f"{text!r} is not address:port (port {port_text!r} is not a number)")
    return addr, int(port_text)


def _parse_line(tokens: list[str]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """One ``-A``/``-a`` line as ``(kind, service options, real-server options)`` (values still text)."""
    head = tokens[0]
    if head in ("-A", "--add-service"):
        kind = "service"
    elif head in ("-a", "--add-server"):
        kind = "dest"
    else:
        raise ValidationError(f"{head} is not -A or -a (only the lines ipvsadm -S writes are read)")
    svc: dict[str, Any] = {}
    dest: dict[str, Any] = {}
    i = 1

    def value() -> str:
        nonlocal i
        if i + 1 >= len(tokens) or (tokens[i + 1].startswith("-") and not tokens[i + 1][1:].isdigit()):
            raise ValidationError(f"{tokens[i]} needs a value")
        i += 1
        return tokens[i]

    while i < len(tokens):
        word = tokens[i]
        if word in _SELECTORS:
            if "address" in svc or "fwmark" in svc:
                raise ValidationError("a line names one service")
            text = value()
            if _SELECTORS[word] is None:
                svc["fwmark"] = text
            else:
                svc["protocol"] = _SELECTORS[word]
                svc["address"], port = _split_addrport(text)
                svc["port"] = 0 if port is None else port  # as ipvsadm: no port is port 0
        elif word in ("-6", "--ipv6"):
            svc["family"] = "ipv6"
        elif word in _SERVICE_VALUES:
            svc[_SERVICE_VALUES[word]] = value()
        elif word in ("-b", "--sched-flags"):
            svc["scheduler_flags"] = [f for f in value().split(",") if f]
        elif word in ("-p", "--persistent"):
            svc["persistent"] = True
            if i + 1 < len(tokens) and tokens[i + 1].isdigit():
                i += 1
                svc["persistence_timeout"] = tokens[i]
        elif word in ("-o", "--ops"):
            svc["one_packet"] = True
        elif word in ("-r", "--real-server"):
            dest["address"], dest["port"] = _split_addrport(value())
        elif word in _FORWARDING_SWITCHES:
            dest["forwarding"] = _FORWARDING_SWITCHES[word]
        elif word in _DEST_VALUES:
            dest[_DEST_VALUES[word]] = value()
        elif word in ("--tun-nocsum", "--tun-csum", "--tun-remcsum"):
            dest["tunnel_checksum"] = word[len("--tun-"):]
        else:
            raise ValidationError(f"unknown option {word}")
        i += 1
    if "address" not in svc and "fwmark" not in svc:
        raise ValidationError("no service (-t, -u, --sctp-service or -f)")
    if kind == "service" and dest:
        raise ValidationError(f"real-server options ({', '.join(sorted(dest))}) on an -A line")
    if kind == "dest":
        extra = sorted(set(svc) - set(_KEY_FIELDS))
        if extra:
            raise ValidationError(f"service options ({', '.join(extra)}) on an -a line")
        if "address" not in dest:
            raise ValidationError("an -a line needs -r (the real server)")
    return kind, svc, dest


def parse_ipvsadm_save(text: str) -> list[dict[str, Any]]:
    """``ipvsadm -S -n`` (``ipvsadm -R``) text as a config: the shape of ipvs_config's ``config`` option.

    Reads ``-A`` and ``-a`` lines in any order, with short or long options (a leading ``ipvsadm``
    is allowed; blank lines and ``#`` comments are skipped). Values are checked by the same model
    as ``config``; every problem is reported at once as a :class:`ConfigError` naming the line
    number and its text. Services keep the order of their ``-A`` lines, real servers of ``-a``.
    ``-p`` without a value is the collection's default, 300 s (ipvsadm 1.31 itself stores 360).
    """
    errors: list[str] = []
    services: dict[ServiceKey, tuple[Service, dict[tuple[str, int], Dest]]] = {}
    dest_lines: list[tuple[int, str, ServiceKey, dict[str, Any]]] = []
    seen_at: dict[Any, int] = {}
    failed: set[ServiceKey] = set()
    for number, line in enumerate(str(text or "").splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        tokens = body.split()
        if tokens[:1] == ["ipvsadm"]:
            tokens = tokens[1:]
        if not tokens:
            continue
        where = f"line {number} '{body}'"
        try:
            kind, svc_raw, dest_raw = _parse_line(tokens)
            svc_params, problems, _bad = _read_params(svc_raw, CONFIG_SERVICE_FIELDS)
            if problems:
                raise ValidationError("; ".join(problems))
            key = service_key_from_params(svc_params)
        except ValidationError as exc:
            errors.append(f"{where}: {exc}")
            continue
        if kind == "dest":
            dest_lines.append((number, where, key, dest_raw))
            continue
        if key in services or key in failed:
            if key in services:
                errors.append(f"{where}: {key.label()} again (line {seen_at[key]})")
            continue
        failed.add(key)
        try:
            spec = service_spec_from_params(svc_params)
            static = _static_service_problems(spec)
            if static:
                raise ValidationError("; ".join(static))
            services[key] = (merge_service(None, spec), {})
            seen_at[key] = number
            failed.discard(key)
        except ValidationError as exc:
            errors.append(f"{where}: {message_reason(exc, key.label())}")
    for number, where, key, dest_raw in dest_lines:
        if key not in services and key not in failed:  # (a wrong -A line has its message; its -a lines are read)
            errors.append(f"{where}: no -A line for {key.label()}")
            continue
        try:
            params, problems, _bad = _read_params(dest_raw, CONFIG_DEST_FIELDS)
            if problems:
                raise ValidationError("; ".join(problems))
            spec = dest_spec_from_params(params, key)
            dest = merge_dest(None, spec, key)
        except ValidationError as exc:
            errors.append(f"{where}: {message_reason(exc, key.label())}")
            continue
        if key not in services:
            continue
        dests = services[key][1]
        dkey = (dest.address, dest.port)
        if dkey in dests:
            errors.append(f"{where}: real server {dest.label()} of {key.label()} again (line {seen_at[(key, dkey)]})")
            continue
        dests[dkey] = dest
        seen_at[(key, dkey)] = number
    if errors:
        raise ConfigError(errors, "running_config")
    return table_config((svc, list(dests.values())) for svc, dests in services.values())


# --- connection sync daemons (ipvs_sync_daemon) ----------------------------------------------------------
#
# The kernel runs at most one master and one backup sync daemon per network namespace
# (net/netfilter/ipvs/ip_vs_sync.c, start_sync_thread). Their settings cannot be changed while they run:
# a change is a stop and a start (IPVS_CMD_DEL_DAEMON, IPVS_CMD_NEW_DAEMON). What the 6.1 kernel does with
# what it is sent: no group -> 224.0.0.81, port 0 -> 8848, ttl 0 -> 1; maxlen 0 -> 1500 (master) or the
# interface's MTU clamped to 1500..65535 (backup), minus the IP and UDP headers; a maxlen given is clamped
# to 1..65535-headers (master) or 1024..65535-headers (backup). The records here hold what the kernel
# reports back (IPVS_CMD_GET_DAEMON), so a second run compares like with like.

SYNC_STATES = {"master": 1, "backup": 2}  # IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP
SYNC_STATE_NAMES = {v: k for k, v in SYNC_STATES.items()}
SYNC_DEFAULT_GROUP = "224.0.0.81"  # IP_VS_SYNC_GROUP
SYNC_DEFAULT_PORT = 8848  # IP_VS_SYNC_PORT
SYNC_DEFAULT_TTL = 1
SYNC_FIELDS = ("interface", "syncid", "maxlen", "group", "port", "ttl")
IFNAME_MAX = 15  # IFNAMSIZ - 1: the kernel's policy refuses a longer IPVS_DAEMON_ATTR_MCAST_IFN
_SYNC_HEADERS = {"ipv4": 20 + 8, "ipv6": 40 + 8}  # IP + UDP header: what maxlen leaves of a packet


@dataclass(frozen=True)
class SyncDaemon:
    """A connection sync daemon as the kernel reports it: ``state`` is ``master`` or ``backup``.

    ``maxlen`` None means "the kernel's choice" (a wanted daemon that does not name it); the kernel
    always reports a value.
    """

    state: str
    interface: str
    syncid: int = 0
    maxlen: int | None = None
    group: str = SYNC_DEFAULT_GROUP
    port: int = SYNC_DEFAULT_PORT
    ttl: int = SYNC_DEFAULT_TTL

    @property
    def family(self) -> str:
        return "ipv6" if ":" in self.group else "ipv4"

    def label(self) -> str:
        """``master sync daemon (syncid 1 on eth0)``: how messages name it."""
        return f"{self.state} sync daemon (syncid {self.syncid} on {self.interface})"

    def as_dict(self) -> dict[str, Any]:
        """The record with the option names of ipvs_sync_daemon (so ipvs_info's list can be fed back to it)."""
        return {"state": self.state, "interface": self.interface, "syncid": self.syncid, "maxlen": self.maxlen,
                "group": self.group, "port": self.port, "ttl": self.ttl}

    def render(self) -> str:
        """As ``ipvsadm -L --daemon`` prints it (ipvsadm 1.31)."""
        text = f"{self.state} sync daemon (mcast={self.interface}, syncid={self.syncid}"
        if self.maxlen:
            text += f", maxlen={self.maxlen}"
        return text + f", group={self.group}, port={self.port}, ttl={self.ttl})"

    def words(self) -> str:
        """The ``ipvsadm --start-daemon`` command line that starts this daemon."""
        text = f"--start-daemon {self.state} --mcast-interface {self.interface} --syncid {self.syncid}"
        if self.maxlen:
            text += f" --sync-maxlen {self.maxlen}"
        return text + f" --mcast-group {self.group} --mcast-port {self.port} --mcast-ttl {self.ttl}"


def render_sync_daemons(daemons: Iterable[SyncDaemon]) -> str:
    """``ipvsadm -L --daemon``'s text: the master's line, then the backup's ("" when none runs)."""
    ordered = sorted(daemons, key=lambda d: SYNC_STATES[d.state])
    return "".join(d.render() + "\n" for d in ordered)


@dataclass(frozen=True)
class SyncDaemonSpec:
    """What an ipvs_sync_daemon task asks for: ``state`` master, backup or absent; ``stop`` the daemons that
    ``absent`` stops; the settings given (None: not given)."""

    state: str
    stop: tuple[str, ...] = ()
    interface: str | None = None
    syncid: int | None = None
    maxlen: int | None = None
    group: str | None = None
    port: int | None = None
    ttl: int | None = None


def normalize_interface_name(value: Any, what: str = "interface") -> str:
    """An interface name the kernel can hold (1 to 15 bytes, no '/', ':' or white space, not '.' or '..')."""
    name = str(value)
    if (not name or len(name.encode("utf-8")) > IFNAME_MAX or name in (".", "..")
            or any(ch in name for ch in "/:") or any(ch.isspace() for ch in name)):
        raise ValidationError(f"{what} {value!r} is not a valid interface name (1 to {IFNAME_MAX} characters, "
                              "no '/', ':' or white space)")
    return name


def normalize_sync_group(value: Any) -> str:
    """A multicast group, IPv4 (224.0.0.0/4) or IPv6 (ff00::/8), in its canonical form."""
    try:
        addr = ipaddress.ip_address(str(value).strip().strip("[]"))
    except ValueError:
        raise ValidationError(f"group {value!r} is not an IPv4 or IPv6 address") from None
    if not addr.is_multicast:
        raise ValidationError(f"group {addr} is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)")
    return str(addr)


def _ranged(params: Mapping[str, Any], name: str, low: int, high: int, meaning: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not low <= int(value) <= high:
        raise ValidationError(f"{name} {value} is out of range: {meaning} is {low} to {high}")
    return int(value)


def sync_daemon_spec_from_params(params: Mapping[str, Any]) -> SyncDaemonSpec:
    """Normalize and check an ipvs_sync_daemon task's options (everything that does not need the host)."""
    state = str(params.get("state") or "")
    if state not in (*SYNC_STATES, "absent"):
        raise ValidationError(f"state {state!r} is not one of master, backup, absent")
    daemon = params.get("daemon")
    if daemon is not None and daemon not in SYNC_STATES:
        raise ValidationError(f"daemon {daemon!r} is not one of master, backup")
    if state != "absent":
        if daemon is not None and daemon != state:
            raise ValidationError(f"daemon {daemon} contradicts state {state}: state names the daemon to run")
        stop: tuple[str, ...] = ()
    else:
        stop = (daemon,) if daemon else tuple(SYNC_STATES)
    interface = params.get("interface")
    group = params.get("group")
    return SyncDaemonSpec(
        state=state,
        stop=stop,
        interface=normalize_interface_name(interface) if interface is not None else None,
        syncid=_ranged(params, "syncid", 0, 255, "a sync ID (one byte in the sync messages)"),
        maxlen=_ranged(params, "maxlen", 1, 65535 - _SYNC_HEADERS["ipv4"], "the payload of a sync packet"),
        group=normalize_sync_group(group) if group is not None else None,
        port=_ranged(params, "port", 1, 65535, "a UDP port"),
        ttl=_ranged(params, "ttl", 1, 255, "a multicast TTL"),
    )


def sync_maxlen_range(state: str, family: str) -> tuple[int, int]:
    """The sync_maxlen values the kernel keeps as given (it clamps others into this range)."""
    return (1024 if state == "backup" else 1), 65535 - _SYNC_HEADERS[family]


def default_sync_maxlen(state: str, family: str, mtu: int | None) -> int:
    """The maxlen the kernel chooses when none is sent: 1500 for a master, the MTU (1500 to 65535) for a
    backup, minus the IP and UDP headers."""
    size = min(max(int(mtu or 1500), 1500), 65535) if state == "backup" else 1500
    return size - _SYNC_HEADERS[family]


def merge_sync_daemon(current: SyncDaemon | None, spec: SyncDaemonSpec) -> SyncDaemon:
    """The daemon a task wants: the settings given, the running daemon's for those not given (a daemon
    started new gets the kernel's defaults). ``maxlen`` not given stays None: the kernel chooses it."""
    state = spec.state
    if state not in SYNC_STATES:
        raise ValueError(f"no daemon to merge for state {state}")
    if current is None and spec.interface is None:
        raise ValidationError(f"cannot start the {state} sync daemon: interface is required to start it")
    base = current if current is not None else SyncDaemon(state=state, interface=str(spec.interface))
    target = SyncDaemon(
        state=state,
        interface=spec.interface if spec.interface is not None else base.interface,
        syncid=spec.syncid if spec.syncid is not None else base.syncid,
        maxlen=spec.maxlen,
        group=spec.group if spec.group is not None else base.group,
        port=spec.port if spec.port is not None else base.port,
        ttl=spec.ttl if spec.ttl is not None else base.ttl,
    )
    validate_sync_daemon(target)
    return target


def validate_sync_daemon(daemon: SyncDaemon) -> None:
    """What the kernel would change or refuse: a maxlen it would clamp (e.g. below 1024 for a backup)."""
    if daemon.maxlen is not None:
        low, high = sync_maxlen_range(daemon.state, daemon.family)
        if not low <= daemon.maxlen <= high:
            group = "an IPv6" if daemon.family == "ipv6" else "an IPv4"
            raise ValidationError(
                f"cannot start the {daemon.label()}: maxlen {daemon.maxlen} is out of range: a {daemon.state} "
                f"with {group} group takes {low} to {high} (the kernel would store another value)")


def sync_daemon_changes(current: SyncDaemon, target: SyncDaemon) -> list[str]:
    """The settings that differ (``maxlen`` only when the target names one)."""
    return [name for name in SYNC_FIELDS if getattr(current, name) != getattr(target, name)
            and (name != "maxlen" or target.maxlen is not None)]


@dataclass(frozen=True)
class SyncOperation:
    """``start`` or ``stop`` one daemon; :attr:`words` is the ipvsadm command line."""

    op: str
    daemon: SyncDaemon

    @property
    def words(self) -> str:
        return self.daemon.words() if self.op == "start" else f"--stop-daemon {self.daemon.state}"


def plan_sync_daemons(current: Iterable[SyncDaemon], spec: SyncDaemonSpec) -> list[SyncOperation]:
    """The stops and starts that make the running daemons what ``spec`` asks for (a change: stop, then start)."""
    running = {d.state: d for d in current}
    if spec.state == "absent":
        return [SyncOperation("stop", running[state]) for state in SYNC_STATES
                if state in spec.stop and state in running]
    cur = running.get(spec.state)
    target = merge_sync_daemon(cur, spec)
    if cur is None:
        return [SyncOperation("start", target)]
    if sync_daemon_changes(cur, target):
        return [SyncOperation("stop", cur), SyncOperation("start", target)]
    return []


def apply_sync_plan(current: Iterable[SyncDaemon], ops: Iterable[SyncOperation],
                    mtu: Mapping[str, int] | None = None) -> list[SyncDaemon]:
    """The daemons a plan leaves, as the kernel would report them (a maxlen left to the kernel is predicted
    from the interface's MTU in ``mtu``)."""
    running = {d.state: d for d in current}
    for op in ops:
        if op.op == "stop":
            running.pop(op.daemon.state, None)
        else:
            daemon = op.daemon
            if daemon.maxlen is None:
                daemon = replace(daemon, maxlen=default_sync_maxlen(daemon.state, daemon.family,
                                                                    (mtu or {}).get(daemon.interface)))
            running[daemon.state] = daemon
    return sorted(running.values(), key=lambda d: SYNC_STATES[d.state])
