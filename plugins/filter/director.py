# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters behind the lvs.ipvs.director role: validate its one data structure and render boot-time rules.

``director_plan`` checks ``director_services`` before anything is changed and returns the normalized
services (kind, service port, real-server ports, kernel modules); ``director_ipvsadm_rules`` and
``director_fwmark_rules`` render the DESIRED state in ``ipvsadm -S -n`` and ``iptables-restore`` form,
so that the files the role keeps for boot time show up in ``--check --diff`` before anything is applied.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from ansible_collections.lvs.ipvs.plugins.module_utils import _fwmark
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ValidationError

PROTOCOLS = ("tcp", "udp", "sctp")
FORWARDING = {"dr": "-g", "nat": "-m", "tunnel": "-i"}
PROTO_FLAG = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}
DEFAULT_SCHEDULER = "wlc"
MARK_MAX = 0xFFFFFFFF


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().isdigit()


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _netmask(family: str, value: Any, label: str, errors: list[str]) -> str | None:
    """Canonical persistence granularity: dotted mask for IPv4, prefix length for IPv6."""
    if value is None or value == "":
        return None
    text = str(value).strip().lstrip("/")
    if family == "ipv4":
        try:
            net = ipaddress.IPv4Network(f"0.0.0.0/{text}")
        except ValueError:
            errors.append(f"{label}: persistence_netmask {value!r} is not an IPv4 netmask (e.g. 255.255.255.0 or 24)")
            return None
        return str(net.netmask)
    if not text.isdigit() or not 1 <= int(text) <= 128:
        errors.append(f"{label}: persistence_netmask {value!r} is not an IPv6 prefix length 1..128")
        return None
    return text


def _service(raw: Any, index: int, errors: list[str]) -> dict | None:
    if not isinstance(raw, dict):
        errors.append(f"director_services[{index}]: each service is a mapping, got {raw!r}")
        return None
    name = raw.get("name")
    label = f"director_services[{name if name else index}]"
    if not name:
        errors.append(f"{label}: every service needs a name (a unique label)")
    state = raw.get("state", "present")
    if state not in ("present", "absent"):
        errors.append(f"{label}: state {state!r} is not one of present, absent")
    vip_raw = raw.get("vip")
    try:
        vip = ipaddress.ip_address(str(vip_raw).strip()) if vip_raw not in (None, "") else None
    except ValueError:
        vip = None
    if vip is None:
        errors.append(f"{label}: vip {vip_raw!r} is not an IPv4 or IPv6 address")
        return None
    family = "ipv6" if vip.version == 6 else "ipv4"
    protocol = str(raw.get("protocol", "tcp")).lower()
    if protocol not in PROTOCOLS:
        errors.append(f"{label}: protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    scheduler = str(raw.get("scheduler") or DEFAULT_SCHEDULER)
    timeout = raw.get("persistence_timeout")
    if timeout is not None and (not _is_int(timeout) or int(timeout) < 1):
        errors.append(f"{label}: persistence_timeout {timeout!r} is not a number of seconds >= 1")
        timeout = None
    persistent = timeout is not None
    netmask = _netmask(family, raw.get("persistence_netmask"), label, errors)
    if netmask is not None and not persistent:
        errors.append(f"{label}: persistence_netmask needs persistence_timeout "
                      "(granularity only applies to persistence)")
    fwmark = raw.get("fwmark")
    ports_raw = raw.get("ports")
    if ports_raw is None and raw.get("port") is not None:
        ports_raw = [raw["port"]]
    if ports_raw is None:
        ports_raw = []
    if not isinstance(ports_raw, list):
        ports_raw = [ports_raw]
    if fwmark is not None:
        if not _is_int(fwmark) or not 1 <= int(fwmark) <= MARK_MAX:
            errors.append(f"{label}: fwmark {fwmark!r} is not a firewall mark 1..{MARK_MAX}")
            fwmark = None
        else:
            fwmark = int(fwmark)
    svc: dict[str, Any] = {
        "name": str(name or index),
        "state": state,
        "vip": str(vip),
        "family": family,
        "protocol": protocol,
        "scheduler": scheduler,
        "persistent": persistent,
        "persistence_timeout": int(timeout) if persistent else None,
        "persistence_netmask": netmask,
        "fwmark": None,
        "port": None,
        "ports": [],
        "kind": "port",
    }
    if raw.get("fwmark") is not None:
        # A firewall-mark group: the mark ties the ports together under one persistence template.
        if not ports_raw:
            errors.append(f"{label}: fwmark group {raw.get('fwmark')} has no ports: list the ports it bundles in ports")
        ports: list[str] = []
        for port in ports_raw:
            if str(port).strip() == "0":
                errors.append(f"{label}: port 0 cannot be part of fwmark group {raw.get('fwmark')}")
                continue
            try:
                ports.append(_fwmark.normalize_port(port))
            except ValidationError as exc:
                errors.append(f"{label}: {exc}")
        svc.update(kind="fwmark", fwmark=fwmark, ports=ports, port=0)
    elif not ports_raw:
        errors.append(f"{label}: no ports: give one port, [0] for a persistent-client (PCC) service, "
                      "or several ports with a fwmark")
    elif len(ports_raw) > 1:
        errors.append(f"{label}: several ports {ports_raw} need a fwmark to group them (set fwmark)")
    else:
        port = ports_raw[0]
        if not _is_int(port) or not 0 <= int(port) <= 65535:
            errors.append(f"{label}: port {port!r} is not a port number 0..65535")
        else:
            svc["port"] = int(port)
            svc["ports"] = [str(int(port))]
            if int(port) == 0:
                svc["kind"] = "pcc"
                if not persistent:
                    errors.append(f"{label}: port 0 (persistent client, PCC) is only valid with persistence: "
                                  "set persistence_timeout")
    rs_list = raw.get("real_servers") or []
    if not isinstance(rs_list, list):
        errors.append(f"{label}: real_servers must be a list")
        rs_list = []
    real_servers = []
    seen_rs: set[tuple[str, int]] = set()
    for j, item in enumerate(rs_list):
        rs = item if isinstance(item, dict) else {"address": item}
        rlabel = f"{label}.real_servers[{j}]"
        try:
            addr = ipaddress.ip_address(str(rs.get("address", "")).strip())
        except ValueError:
            errors.append(f"{rlabel}: address {rs.get('address')!r} is not an IPv4 or IPv6 address")
            continue
        if (addr.version == 6) != (family == "ipv6"):
            errors.append(f"{rlabel}: address {addr} is not of the same family as vip {vip}")
            continue
        default_port = svc["port"] if svc["kind"] == "port" else 0
        rport = rs.get("port", default_port)
        if rport is None:
            rport = default_port
        if not _is_int(rport) or not 0 <= int(rport) <= 65535:
            errors.append(f"{rlabel}: port {rport!r} is not a port number 0..65535")
            continue
        weight = rs.get("weight", 1)
        if not _is_int(weight) or not 0 <= int(weight) <= 65535:
            errors.append(f"{rlabel}: weight {weight!r} is not 0..65535 (0 = quiescent)")
            continue
        forwarding = str(rs.get("forwarding", "dr")).lower()
        if forwarding not in FORWARDING:
            errors.append(f"{rlabel}: forwarding {forwarding!r} is not one of {', '.join(FORWARDING)}")
            continue
        key = (str(addr), int(rport or 0))
        if key in seen_rs:
            errors.append(f"{rlabel}: real server {_endpoint(str(addr), int(rport or 0))} is listed twice")
            continue
        seen_rs.add(key)
        real_servers.append({"address": str(addr), "port": int(rport or 0), "weight": int(weight),
                             "forwarding": forwarding})
    svc["real_servers"] = real_servers
    if svc["kind"] == "fwmark":
        svc["key"] = {"fwmark": svc["fwmark"], "family": family}
    else:
        svc["key"] = {"protocol": protocol, "address": str(vip), "port": svc["port"]}
    return svc


def director_plan(services: Any) -> dict:
    """Validate ``director_services`` and return ``{errors, services, kernel_modules, vips}``."""
    errors: list[str] = []
    if services is None:
        services = []
    if not isinstance(services, list):
        return {"errors": ["director_services must be a list of services"], "services": [],
                "kernel_modules": [], "vips": []}
    out: list[dict] = []
    for index, raw in enumerate(services):
        svc = _service(raw, index, errors)
        if svc is not None:
            out.append(svc)
    names: dict[str, int] = {}
    marks: dict[tuple[int, str], str] = {}
    keys: dict[tuple, str] = {}
    for svc in out:
        names[svc["name"]] = names.get(svc["name"], 0) + 1
        if svc["kind"] == "fwmark" and svc["fwmark"] is not None:
            mark_key = (svc["fwmark"], svc["family"])
            if mark_key in marks:
                errors.append(f"director_services: two services claim fwmark {svc['fwmark']}: "
                              f"{marks[mark_key]} and {svc['name']}")
            else:
                marks[mark_key] = svc["name"]
            key: tuple = ("fwmark", svc["fwmark"], svc["family"])
        else:
            key = (svc["protocol"], svc["vip"], svc["port"])
        if key in keys:
            errors.append(f"director_services: {keys[key]} and {svc['name']} describe the same virtual service")
        else:
            keys[key] = svc["name"]
    errors += [f"director_services: the name {name!r} is used by {count} services" for name, count in names.items()
               if count > 1]
    present = [s for s in out if s["state"] == "present"]
    modules = ["ip_vs", *sorted({f"ip_vs_{s['scheduler']}" for s in present})]
    vips: list[str] = []
    for svc in present:
        if svc["vip"] not in vips:
            vips.append(svc["vip"])
    return {"errors": errors, "services": out, "kernel_modules": modules, "vips": vips}


def _service_id(svc: dict) -> str:
    if svc["kind"] == "fwmark":
        return f"-f {svc['fwmark']}" + (" -6" if svc["family"] == "ipv6" else "")
    return f"{PROTO_FLAG[svc['protocol']]} {_endpoint(svc['vip'], svc['port'])}"


def director_ipvsadm_rules(services: list[dict]) -> str:
    """The desired virtual services and real servers, in ``ipvsadm -S -n`` (ipvsadm-restore) form."""
    lines: list[str] = []
    for svc in services or []:
        if svc.get("state", "present") != "present":
            continue
        head = f"-A {_service_id(svc)} -s {svc['scheduler']}"
        if svc["persistent"]:
            head += f" -p {svc['persistence_timeout']}"
            mask = svc.get("persistence_netmask")
            if mask and mask not in ("255.255.255.255", "128"):
                head += f" -M {mask}"
        lines.append(head)
        for rs in svc["real_servers"]:
            lines.append(f"-a {_service_id(svc)} -r {_endpoint(rs['address'], rs['port'])} "
                         f"{FORWARDING[rs['forwarding']]} -w {rs['weight']}")
    return "\n".join(lines) + ("\n" if lines else "")


def director_fwmark_rules(services: list[dict], family: str = "ipv4", chains: list[str] | None = None) -> str:
    """The mark rules of the firewall-mark groups, as an ``iptables-restore`` batch (what fwmark_rule sets)."""
    rules: list[str] = []
    for svc in services or []:
        if svc.get("state", "present") != "present" or svc["kind"] != "fwmark" or svc["family"] != family:
            continue
        prefix = 32 if family == "ipv4" else 128
        for chain in chains or ["PREROUTING"]:
            for port in svc["ports"]:
                rule = _fwmark.MarkRule(chain=chain, address=f"{svc['vip']}/{prefix}", protocol=svc["protocol"],
                                        port=port, mark=svc["fwmark"])
                rules.append(rule.render("-A"))
    return "\n".join(["*mangle", *rules, "COMMIT"]) + "\n"


def _info_key(entry: dict) -> tuple:
    if entry.get("fwmark"):
        return ("fwmark", int(entry["fwmark"]), entry.get("family", "ipv4"))
    return (entry.get("protocol"), str(ipaddress.ip_address(entry["address"])), int(entry.get("port") or 0))


def _plan_key(svc: dict) -> tuple:
    if svc["kind"] == "fwmark":
        return ("fwmark", svc["fwmark"], svc["family"])
    return (svc["protocol"], svc["vip"], svc["port"])


def director_compare(services: list[dict], info_services: list[dict]) -> dict:
    """Compare the plan with ``lvs.ipvs.ipvs_info``'s services.

    Returns ``existing`` (names of planned services the kernel has), ``extra_services`` (keys of kernel
    services the plan does not describe, for ``director_purge``) and ``extra_real_servers`` (real servers of
    described, present services that their ``real_servers`` list does not name).
    """
    planned = {_plan_key(s): s for s in services or []}
    existing: list[str] = []
    extra_services: list[dict] = []
    extra_rs: list[dict] = []
    for entry in info_services or []:
        key = _info_key(entry)
        svc = planned.get(key)
        if svc is None:
            ident = ({"fwmark": key[1], "family": key[2]} if key[0] == "fwmark"
                     else {"protocol": key[0], "address": key[1], "port": key[2]})
            extra_services.append(ident)
            continue
        existing.append(svc["name"])
        if svc["state"] != "present":
            continue
        wanted = {(rs["address"], rs["port"]) for rs in svc["real_servers"]}
        for rs in entry.get("real_servers") or []:
            rkey = (str(ipaddress.ip_address(rs["address"])), int(rs.get("port") or 0))
            if rkey not in wanted:
                extra_rs.append({"service": svc["key"], "name": svc["name"], "address": rkey[0], "port": rkey[1]})
    return {"existing": existing, "extra_services": extra_services, "extra_real_servers": extra_rs}


def address_errors(addresses: Any, label: str = "addresses") -> list[str]:
    """One message per entry of ``addresses`` that is not a plain IPv4 or IPv6 address."""
    if not isinstance(addresses, list):
        return [f"{label} must be a list of addresses, got {addresses!r}"]
    errors = []
    for item in addresses:
        try:
            ipaddress.ip_address(str(item).strip())
        except ValueError:
            errors.append(f"{label}: {item!r} is not an IPv4 or IPv6 address (give the address without a prefix)")
    return errors


def host_prefix(address: str) -> str:
    """``192.0.2.1`` -> ``192.0.2.1/32``, ``2001:db8::1`` -> ``2001:db8::1/128`` (canonical form)."""
    addr = ipaddress.ip_address(str(address).strip())
    return f"{addr}/{addr.max_prefixlen}"


def ip_addresses(ip_json: Any) -> list[str]:
    """The ``address/prefix`` entries (canonical form) of ``ip -j addr show`` output."""
    links = json.loads(ip_json) if isinstance(ip_json, str) else (ip_json or [])
    out = []
    for link in links:
        for info in link.get("addr_info", []):
            if "local" in info and "prefixlen" in info:
                iface = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
                out.append(f"{iface.ip}/{iface.network.prefixlen}")
    return out


def vip_plan(wanted: Any, present: Any, owned: Any) -> dict:
    """Which VIPs to add and remove on an interface, and which the role owns afterwards.

    ``wanted``: the addresses the role describes; ``present``: the ``address/prefix`` entries on the
    interface (:func:`ip_addresses`); ``owned``: the entries the role added on earlier runs (its state
    file, one per line). Only owned addresses are ever removed: an address someone else put there
    stays, even when it equals a VIP the role no longer describes. Returns
    ``{add, remove, owned}`` as sorted ``address/prefix`` lists.
    """
    def canon(items: Any) -> set[str]:
        out = set()
        for item in items or []:
            text = str(item).strip()
            if not text or text.startswith("#"):
                continue
            iface = ipaddress.ip_interface(text if "/" in text else host_prefix(text))
            out.add(f"{iface.ip}/{iface.network.prefixlen}")
        return out

    want = canon(wanted)
    have = canon(present)
    mine = canon(owned.splitlines() if isinstance(owned, str) else owned)
    add = want - have
    remove = (mine - want) & have
    return {"add": sorted(add), "remove": sorted(remove), "owned": sorted((mine & want) | add)}


class FilterModule:
    """lvs.ipvs director filters."""

    def filters(self) -> dict:
        return {
            "director_plan": director_plan,
            "director_ipvsadm_rules": director_ipvsadm_rules,
            "director_fwmark_rules": director_fwmark_rules,
            "director_compare": director_compare,
            "address_errors": address_errors,
            "host_prefix": host_prefix,
            "ip_addresses": ip_addresses,
            "vip_plan": vip_plan,
        }
