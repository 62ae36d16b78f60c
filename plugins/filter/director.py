# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters behind the lvs.ipvs.director role: turn its one data structure into what the modules take.

``director_plan`` checks ``director_services`` before anything is changed - the role's own shape here,
every IPVS value through ``_model.check_config``, the code ``lvs.ipvs.ipvs_config`` runs - and returns
the services as an ``ipvs_config`` list, the VIPs and the kernel modules. ``director_fwmark_rules``
renders the mark rules in ``iptables-restore`` form for boot time (through ``_fwmark``, the code of
``lvs.ipvs.fwmark_rule``). The boot-time ``ipvsadm`` rules are rendered by ``_model.render_wanted``, what
``ipvs_config`` runs for ``state: rendered``, on the controller (one module run with the whole table less).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from typing import Any

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE
from ansible_collections.lvs.ipvs.plugins.module_utils import _fwmark, _model
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ValidationError

DEFAULT_SCHEDULER = "wlc"


def _ports(raw: dict) -> list:
    ports = raw.get("ports")
    if ports is None and raw.get("port") is not None:
        ports = [raw["port"]]
    if ports is None:
        return []
    return ports if isinstance(ports, list) else [ports]


def _real_servers(raw: dict, label: str, errors: list[str]) -> list[dict]:
    """The real servers as ``ipvs_config`` entries (a bare address is ``{address: ...}``); _model checks the values."""
    items = raw.get("real_servers") or []
    if not isinstance(items, list):
        errors.append(f"{label}: real_servers must be a list")
        return []
    out = []
    for item in items:
        rs = dict(item) if isinstance(item, dict) else {"address": item}
        # The health check is the role's own (keepalived engine, see the keepalived_config filter), not IPVS.
        rs.pop("health_check", None)
        rs.setdefault("forwarding", "dr")
        rs.setdefault("weight", 1)
        out.append({k: v for k, v in rs.items() if v is not None})
    return out


def _service(raw: Any, index: int, errors: list[str]) -> dict | None:
    """One entry of ``director_services``: its role-level shape, and its ``ipvs_config`` entry (``config``).

    Only what is the role's own is checked here (a name, a state, the VIP, how ports make a port, PCC or
    firewall-mark service); every IPVS value (scheduler, timeout, netmask, real-server port, weight,
    forwarding...) is checked by ``_model.check_config``, the code the modules use.
    """
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
    timeout = raw.get("persistence_timeout")
    svc: dict[str, Any] = {
        "name": str(name or index),
        "state": state,
        "vip": str(vip),
        "family": family,
        "protocol": protocol,
        "scheduler": str(raw.get("scheduler") or DEFAULT_SCHEDULER),
        "fwmark": None,
        "port": None,
        "ports": [],
        "kind": "port",
    }
    config: dict[str, Any] = {"scheduler": svc["scheduler"], "persistent": timeout is not None}
    if timeout is not None:
        config["persistence_timeout"] = timeout
    if raw.get("persistence_netmask") not in (None, ""):
        config["persistence_netmask"] = str(raw["persistence_netmask"])
    if raw.get("scheduler_flags") not in (None, "", []):
        flags = raw["scheduler_flags"]
        if isinstance(flags, str):  # "sh-fallback,sh-port", as ipvsadm -b takes them
            flags = flags.split(",")
        if isinstance(flags, list):
            flags = [f.strip() if isinstance(f, str) else f for f in flags]
        config["scheduler_flags"] = flags  # anything else: _model names the service and the problem
    ports_raw = _ports(raw)
    fwmark = raw.get("fwmark")
    if fwmark is not None:
        # A firewall-mark group: the mark ties the ports together under one persistence template.
        if not ports_raw:
            errors.append(f"{label}: fwmark group {fwmark} has no ports: list the ports it bundles in ports")
        ports: list[str] = []
        for port in ports_raw:
            if str(port).strip() == "0":
                errors.append(f"{label}: port 0 cannot be part of fwmark group {fwmark}")
                continue
            try:
                ports.append(_fwmark.normalize_port(port))
            except ValidationError as exc:
                errors.append(f"{label}: {exc}")
        svc.update(kind="fwmark", fwmark=fwmark, ports=ports, port=0)
        config.update(fwmark=fwmark, family=family)
        if str(fwmark).strip().isdigit():  # otherwise _model names the bad mark
            svc["fwmark"] = int(fwmark)
    elif not ports_raw:
        errors.append(f"{label}: no ports: give one port, [0] for a persistent-client (PCC) service, "
                      "or several ports with a fwmark")
        return None
    elif len(ports_raw) > 1:
        errors.append(f"{label}: several ports {ports_raw} need a fwmark to group them (set fwmark)")
        return None
    else:
        port = ports_raw[0]
        config.update(protocol=protocol, address=str(vip), port=port)
        if str(port).strip().isdigit():
            svc["port"] = int(port)
            svc["ports"] = [str(int(port))]
            svc["kind"] = "pcc" if int(port) == 0 else "port"
            if svc["kind"] == "pcc" and timeout is None:
                errors.append(f"{label}: port 0 (persistent client, PCC) is only valid with persistence: "
                              "set persistence_timeout")
    config["real_servers"] = _real_servers(raw, label, errors)
    svc["config"] = config
    svc["key"] = {k: config[k] for k in ("fwmark", "family", "protocol", "address", "port") if k in config}
    return svc


def director_plan(services: Any, timeouts: Any = None) -> dict:
    """Check ``director_services`` and return ``{errors, services, config, absent_config, fwmark, rendered,
    kernel_modules, vips}``.

    ``config`` is the ``lvs.ipvs.ipvs_config`` list of the present services, ``absent_config`` the keys of
    the services marked absent, ``fwmark`` the firewall-mark services (present and absent), ``rendered`` the
    ``ipvsadm -R`` text of ``config`` (what ``ipvs_config`` ``state: rendered`` returns; empty when there are
    errors); ``timeouts`` (``director_timeouts``) are checked too. Every IPVS value is
    checked by ``_model.check_config`` (what ipvs_config runs), its messages naming the service by the
    role's name for it.
    """
    errors: list[str] = []
    if services is None:
        services = []
    if not isinstance(services, list):
        return {"errors": ["director_services must be a list of services"], "services": [], "config": [],
                "absent_config": [], "fwmark": [], "rendered": "", "kernel_modules": [], "vips": []}
    out: list[dict] = []
    for index, raw in enumerate(services):
        svc = _service(raw, index, errors)
        if svc is not None:
            out.append(svc)
    names: dict[str, int] = {}
    for svc in out:
        names[svc["name"]] = names.get(svc["name"], 0) + 1
    errors += [f"director_services: the name {name!r} is used by {count} services" for name, count in names.items()
               if count > 1]
    # One model: the IPVS values of every service (present or absent, so a key used twice is found too).
    checked, model_errors = _model.check_config([svc["config"] for svc in out])
    errors += [re.sub(r"config\[(\d+)\]", lambda m: f"director_services[{out[int(m.group(1))]['name']}]", problem)
               for problem in model_errors]
    if timeouts:
        _wanted, timeout_errors = _model.check_timeouts(timeouts)
        errors += [f"director_{problem}" for problem in timeout_errors]
    present = [s for s in out if s["state"] == "present"]
    rendered = ""
    if not errors:
        try:  # the text ipvs_config state=rendered returns for the same config
            rendered = _model.render_text(_model.render_wanted(
                [wanted for wanted in checked if out[wanted.index]["state"] == "present"]))
        except _model.ConfigError as exc:
            errors += exc.errors
    schedulers = sorted({s["scheduler"] for s in present if s["scheduler"] in _model.KERNEL_SCHEDULERS})
    vips: list[str] = []
    for svc in present:
        if svc["vip"] not in vips:
            vips.append(svc["vip"])
    return {
        "errors": errors,
        "services": out,
        "config": [s["config"] for s in present],
        "absent_config": [s["key"] for s in out if s["state"] == "absent"],
        "fwmark": [s for s in out if s["kind"] == "fwmark"],
        "rendered": rendered,
        "kernel_modules": ["ip_vs", *(f"ip_vs_{name}" for name in schedulers)],
        "vips": vips,
    }


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


def sync_daemon_errors(settings: Any) -> list[str]:
    """The problems of the role's sync daemon settings, by ``_model``'s checks (the code of ipvs_sync_daemon).

    ``settings``: ``{daemons: [master, backup], interface, syncid, group, port, ttl, maxlen}`` (maxlen 0: the
    kernel's choice). One message per problem, naming the daemon.
    """
    if not isinstance(settings, dict):
        return [f"the sync daemon settings must be a dict, got {settings!r}"]
    daemons = settings.get("daemons")
    if not isinstance(daemons, list) or any(d not in _model.SYNC_STATES for d in daemons):
        return [f"director_sync_daemons must be a list of master and backup, got {daemons!r}"]
    errors: list[str] = []
    for state in dict.fromkeys(daemons):
        params = {name: settings.get(name) for name in _model.SYNC_FIELDS}
        if not params["maxlen"]:
            params["maxlen"] = None
        try:
            spec = _model.sync_daemon_spec_from_params({"state": state, **params})
            _model.merge_sync_daemon(None, spec)
        except (ValidationError, TypeError, ValueError) as exc:
            message = f"director_sync ({state} sync daemon): {exc}"
            if message not in errors:
                errors.append(message)
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


def sysctl_path(key: str) -> str:
    """The file of the sysctl ``key`` under /proc/sys (``net.ipv4.vs.x`` is ``/proc/sys/net/ipv4/vs/x``)."""
    return "/proc/sys/" + str(key).replace(".", "/")


def file_current(found: Any, path: str, content: str, mode: str, *, owner: str = "root", group: str = "root") -> bool:
    """Whether ``ansible.builtin.find`` (``get_checksum: true``, its default SHA-1) found ``path`` as a regular file
    with ``content``, ``mode``, ``owner`` and ``group``: the file ``ansible.builtin.copy`` with these leaves as it is.

    ``found``: find's result (or its ``files``). The roles skip a copy (two module runs) when this is true.
    """
    files = found.get("files") if isinstance(found, dict) else found
    want = os.path.normpath(str(path))
    for entry in files or []:
        if os.path.normpath(str(entry.get("path", ""))) != want:
            continue
        checksum = hashlib.sha1(str(content).encode("utf-8", errors="surrogateescape")).hexdigest()
        return (bool(entry.get("isreg")) and entry.get("checksum") == checksum
                and int(str(entry.get("mode", "-1")), 8) == int(str(mode), 8)
                and (entry.get("pw_name"), entry.get("gr_name")) == (owner, group))
    return False


def _grep_lines(read: Any, path: str) -> list[str]:
    """The lines of ``path`` in the output of ``grep -H '' FILE...`` (each line prefixed with ``FILE:``)."""
    prefix = f"{path}:"
    return [line[len(prefix):] for line in str(read or "").splitlines() if line.startswith(prefix)]


def grep_text(read: Any, path: str) -> str:
    """The text of the file ``path`` as ``grep -H '' FILE...`` printed it (``read``): its lines, each with a newline;
    empty when grep printed none (no such file, or an empty one)."""
    return "".join(f"{line}\n" for line in _grep_lines(read, path))


def sysctl_pending(wanted: Any, read: Any, sysctl_file: str) -> list[str]:
    """The keys of ``wanted`` for which ``ansible.posix.sysctl`` (state present, sysctl_set, reload) would change
    something, in ``wanted``'s order; the roles run the module for these only.

    ``wanted``: ``{key: value}``; ``read``: the output of ``grep -H '' FILE...`` over each key's file
    (:func:`sysctl_path`) and ``sysctl_file``, each line prefixed with its file's name (a file that cannot be
    read gives no line). The tests are the module's: the file's last ``key = value`` line, stripped, against the
    value as the module writes it, and the live value against it word by word. A key with no live value or no
    line in the file is pending: the module then reports or fixes it as before.
    """
    in_file: dict[str, str] = {}
    for line in _grep_lines(read, sysctl_file):
        text = line.strip()
        if text and not text.startswith(("#", ";")) and "=" in text:
            key, value = text.split("=", 1)
            in_file[key.strip()] = value.strip()
    pending = []
    for key, raw in wanted.items():
        text = str(raw)
        value = "1" if text.lower() in BOOLEANS_TRUE else "0" if text.lower() in BOOLEANS_FALSE else text.strip()
        live = _grep_lines(read, sysctl_path(key))
        if in_file.get(key) != value or len(live) != 1 or live[0].split() != value.split():
            pending.append(key)
    return pending


def _removals(preview: Any) -> list[tuple[_model.ServiceConfig, list[tuple[Any, int]]]]:
    """What a planned ``ipvs_config`` write removes from the services it keeps: ``[(service, [(real server,
    port)])]`` in the order of ``before``, for the services that lose at least one real server.

    ``preview`` is the result of ``ipvs_config`` run in check mode with the role's config: its ``before``
    and ``after`` tables (present when the write changes something). Both are read by ``_model.check_config``
    (the code ipvs_config runs), so services and real servers are compared by their normalized keys. A
    service the write removes takes its real servers with it: it is not in the list.
    """
    if not isinstance(preview, dict):
        return []
    before, _errors = _model.check_config(preview.get("before") or [])
    after, _errors = _model.check_config(preview.get("after") or [])
    kept = {w.key: {(d.address, int(d.port or 0)) for d in w.dests} for w in after}
    out = []
    for was in before:
        if was.key not in kept:
            continue
        gone = [(d, int(d.port or 0)) for d in was.dests if (d.address, int(d.port or 0)) not in kept[was.key]]
        if gone:
            out.append((was, gone))
    return out


def _service_options(key: _model.ServiceKey) -> dict:
    """A service's identity as the ``ipvs_service``/``ipvs_real_server`` options give it."""
    if key.is_fwmark:
        return {"fwmark": key.fwmark, "family": key.family}
    return {"protocol": key.protocol, "address": key.address, "port": key.port}


def removed_real_servers(preview: Any) -> list[dict]:
    """The real servers a planned ``ipvs_config`` write removes from services it keeps, as ``ipvs_real_server`` options
    (``preview``: see :func:`_removals`). Returns ``[{service, address, port, label}]`` in the order of ``before``
    (``label`` for loop output).
    """
    out: list[dict] = []
    for was, gone in _removals(preview):
        service = _service_options(was.key)
        for dest, port in gone:
            label = f"{_model.format_addrport(dest.address, port, dest.family)} of {was.key.label()}"
            out.append({"service": service, "address": dest.address, "port": port, "label": label})
    return out


def added_real_servers(preview: Any) -> list[dict]:
    """The real servers a planned ``ipvs_config`` write adds to the services that ``removed_real_servers`` drains, as
    ``ipvs_real_server`` options with their settings from the plan's ``after`` (``preview``: see :func:`_removals`):
    ``[{service, address, port, forwarding, weight, ..., label}]``. The role adds them before the drains, so that
    a service whose real servers are all replaced in one edit still has one for new clients while the drain lasts
    (the kernel refuses them when every real server is at weight 0)."""
    if not isinstance(preview, dict):
        return []
    after, _errors = _model.check_config(preview.get("after") or [])
    now = {w.key: w for w in after}
    out: list[dict] = []
    for was, _gone in _removals(preview):
        had = {(d.address, int(d.port or 0)) for d in was.dests}
        for dest in now[was.key].dests:
            port = int(dest.port or 0)
            if (dest.address, port) in had:
                continue
            settings = {k: getattr(dest, k) for k in ("forwarding", "weight", "upper_threshold", "lower_threshold",
                                                      "tunnel_type", "tunnel_port", "tunnel_checksum")
                        if getattr(dest, k) is not None}
            out.append({"service": _service_options(was.key), "address": dest.address, "port": port, **settings,
                        "label": f"{_model.format_addrport(dest.address, port, dest.family)} of {was.key.label()}"})
    return out


def drain_fallbacks(preview: Any) -> list[dict]:
    """The services whose real servers ``removed_real_servers`` drains and whose hash scheduler (sh, mh) lacks its
    fallback flag, as ``ipvs_service`` options with the flag added: ``[{protocol, address, port} or {fwmark,
    family}, scheduler_flags, label}]``. Without the flag the kernel refuses the clients that hash to a real server
    at weight 0; the role's write after the drain sets the inventory's flags again."""
    out: list[dict] = []
    for was, _gone in _removals(preview):
        svc = was.spec
        flags = _model.quiesce_fallback(svc.scheduler or _model.DEFAULT_SCHEDULER, svc.scheduler_flags or ())
        if flags is not None:
            out.append({**_service_options(was.key), "scheduler_flags": list(flags),
                        "label": f"{was.key.label()} ({', '.join(flags)})"})
    return out


class FilterModule:
    """lvs.ipvs director filters."""

    def filters(self) -> dict:
        return {
            "director_plan": director_plan,
            "added_real_servers": added_real_servers,
            "director_fwmark_rules": director_fwmark_rules,
            "address_errors": address_errors,
            "sync_daemon_errors": sync_daemon_errors,
            "host_prefix": host_prefix,
            "ip_addresses": ip_addresses,
            "vip_plan": vip_plan,
            "removed_real_servers": removed_real_servers,
            "drain_fallbacks": drain_fallbacks,
            "file_current": file_current,
            "grep_text": grep_text,
            "sysctl_path": sysctl_path,
            "sysctl_pending": sysctl_pending,
        }
