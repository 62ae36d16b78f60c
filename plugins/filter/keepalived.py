# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters behind the director role's keepalived engine (``director_engine: keepalived``).

``keepalived_config`` renders keepalived.conf from ``director_services``: every IPVS value goes through
``director_plan`` (so ``_model.check_config``, the code of ``lvs.ipvs.ipvs_config``) and the virtual_server
and real_server blocks are written from the table ``_model`` builds of them, the very table that
``director_plan`` renders as ``ipvsadm -R`` text. Health checks and the VRRP instances are the role's own
and are checked here. ``keepalived_table_check`` compares the table keepalived built in the kernel with that
rendered table. The syntax is keepalived 2.2's (Debian 12), keywords that 2.x accepts
(``lb_algo``/``lb_kind`` for a virtual server, ``lvs_method`` for a real server).
"""

from __future__ import annotations

import difflib
import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lvs.ipvs.plugins.filter.director import director_plan
from ansible_collections.lvs.ipvs.plugins.module_utils import _model

# The health check every real server gets unless the inventory says otherwise. A dead real server (connection
# refused) leaves the table within delay_loop + retry * delay_before_retry seconds (10 s), one that does not
# answer at all within delay_loop + (retry + 1) * connect_timeout + retry * delay_before_retry (15 s).
CHECK_DEFAULTS: dict[str, Any] = {
    "type": "tcp",
    "connect_timeout": 3,
    "retry": 2,
    "delay_before_retry": 2,
    "delay_loop": 6,
}
CHECK_TYPES = {"tcp": "TCP_CHECK", "http": "HTTP_GET", "https": "SSL_GET", "misc": "MISC_CHECK", "none": None}
CHECK_FIELDS = ("type", "port", "path", "status_code", "virtualhost", "script", "script_timeout",
                "connect_timeout", "retry", "delay_before_retry", "delay_loop")
# name: (lowest value, meaning)
CHECK_NUMBERS = {
    "port": (1, "the port the check connects to"),
    "connect_timeout": (1, "seconds"),
    "retry": (0, "retries"),
    "delay_before_retry": (0, "seconds"),
    "delay_loop": (1, "seconds"),
    "script_timeout": (1, "seconds"),
}
VRRP_FIELDS = ("name", "state", "interface", "virtual_router_id", "priority", "advert_int", "auth_pass",
               "unicast_src_ip", "unicast_peers", "nopreempt", "vips")
VRRP_DEFAULTS: dict[str, Any] = {"state": "BACKUP", "priority": 100, "advert_int": 1, "nopreempt": False}
LB_KIND = {"dr": "DR", "nat": "NAT", "tunnel": "TUN"}
PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


def _close(name: str, known: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _check_layer(raw: Any, where: str, errors: list[str]) -> dict[str, Any]:
    """One layer of health check settings (role default, service, real server), read and checked."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(f"{where}: health_check must be a mapping of check settings, not {raw!r}")
        return {}
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in CHECK_FIELDS:
            errors.append(f"{where}: health_check: unknown option {name!r}{_close(name, CHECK_FIELDS)}")
            continue
        if value is None:
            continue
        if name == "type":
            kind = str(value).strip().lower()
            if kind not in CHECK_TYPES:
                errors.append(f"{where}: health_check: type {value!r} is not one of {', '.join(CHECK_TYPES)}")
                continue
            out[name] = kind
        elif name in CHECK_NUMBERS:
            low, meaning = CHECK_NUMBERS[name]
            number = _int(value)
            high = 65535 if name == "port" else 86400
            if number is None or not low <= number <= high:
                errors.append(f"{where}: health_check: {name} {value!r} is not a whole number from {low} to "
                              f"{high} ({meaning})")
                continue
            out[name] = number
        elif name == "status_code":
            codes = value if isinstance(value, list) else [value]
            good = []
            for code in codes:
                text = str(code).strip()
                parts = text.split("-")
                if (not 1 <= len(parts) <= 2 or not all(p.isdigit() and 100 <= int(p) <= 599 for p in parts)
                        or (len(parts) == 2 and int(parts[0]) > int(parts[1]))):
                    errors.append(f"{where}: health_check: status_code {code!r} is not an HTTP status (100 to 599) "
                                  "or a range of them such as 200-299")
                    continue
                good.append(text)
            out[name] = good
        elif name == "path":
            text = str(value)
            if not text.startswith("/") or any(c.isspace() for c in text):
                errors.append(f"{where}: health_check: path {value!r} must start with / and hold no spaces")
                continue
            out[name] = text
        elif name == "virtualhost":
            text = str(value).strip()
            if not text or any(c.isspace() or c in "\"{}" for c in text):
                errors.append(f"{where}: health_check: virtualhost {value!r} is not a host name")
                continue
            out[name] = text
        elif name == "script":
            text = str(value).strip()
            if not text or any(c in "\"\n\r{}" for c in text):
                errors.append(f"{where}: health_check: script {value!r} must be a command line without quotes, "
                              "braces or line breaks")
                continue
            out[name] = text
    return out


def _merged_check(layers: list[dict[str, Any]], where: str, connect_port: int | None,
                  errors: list[str]) -> dict[str, Any] | None:
    """The check of one real server: the layers merged (later ones win), checked as a whole; None: no check."""
    check = dict(CHECK_DEFAULTS)
    for layer in layers:
        if "type" in layer and layer["type"] != check["type"]:
            # A new type starts from the defaults: options of another type's check do not carry over.
            check = {k: v for k, v in check.items() if k in CHECK_DEFAULTS}
        check.update(layer)
    kind = check["type"]
    if CHECK_TYPES[kind] is None:
        return None
    if kind == "misc":
        if not check.get("script"):
            errors.append(f"{where}: health_check: type misc needs a script")
            return None
    elif check.get("port") is None:
        if connect_port is None:
            errors.append(f"{where}: health_check: a service on port 0 (persistent client, PCC) needs the port "
                          "to check (health_check.port), or type none")
            return None
        if connect_port:
            check["port"] = connect_port
    wrong = [name for name, kinds in (("path", ("http", "https")), ("status_code", ("http", "https")),
                                      ("virtualhost", ("http", "https")), ("script", ("misc",)),
                                      ("script_timeout", ("misc",))) if name in check and kind not in kinds]
    for name in wrong:
        errors.append(f"{where}: health_check: {name} is not an option of a {kind} check")
    return check


def _check_lines(check: dict[str, Any]) -> list[str]:
    kind = check["type"]
    lines = [f"{CHECK_TYPES[kind]} {{"]
    if kind in ("http", "https"):
        # fast_recovery: a real server that answers again comes back after one good check, not a delay_loop later.
        lines += ["  fast_recovery", "  url {", f"    path {check.get('path', '/')}",
                  f"    status_code {' '.join(check.get('status_code') or ['200'])}", "  }"]
        if check.get("virtualhost"):
            lines.append(f"  virtualhost {check['virtualhost']}")
    if kind == "misc":
        lines.append(f"  misc_path \"{check['script']}\"")
        if check.get("script_timeout"):
            lines.append(f"  misc_timeout {check['script_timeout']}")
    else:
        if check.get("port"):
            lines.append(f"  connect_port {check['port']}")
        lines.append(f"  connect_timeout {check['connect_timeout']}")
    lines += [f"  retry {check['retry']}", f"  delay_before_retry {check['delay_before_retry']}",
              f"  delay_loop {check['delay_loop']}", "}"]
    return lines


def _tunnel_method(dest: _model.Dest) -> str:
    words = ["TUN"]
    if dest.tunnel_type and dest.tunnel_type != "ipip":
        words += ["type", dest.tunnel_type]
        if dest.tunnel_type == "gue" and dest.tunnel_port:
            words += ["port", str(dest.tunnel_port)]
        if dest.tunnel_checksum:
            words.append(dest.tunnel_checksum)
    return " ".join(words)


def _service_lines(svc: _model.Service, dests: list[_model.Dest], checks: dict[tuple[str, int], Any]) -> list[str]:
    key = svc.key
    head = f"virtual_server fwmark {key.fwmark} {{" if key.is_fwmark else f"virtual_server {key.address} {key.port} {{"
    kinds = [d.forwarding for d in dests] or ["dr"]
    lb_kind = max(sorted(set(kinds)), key=kinds.count)  # the most common method; the others per real server
    body = [f"lb_algo {svc.scheduler}", f"lb_kind {LB_KIND[lb_kind]}"]
    if key.is_fwmark:
        if key.family == "ipv6":
            body.append("ip_family inet6")
    else:
        body.append(f"protocol {PROTOCOLS[str(key.protocol)]}")
    if svc.persistent:
        body.append(f"persistence_timeout {svc.persistence_timeout}")
        if svc.persistence_netmask != _model.normalize_netmask(None, key.family):
            body.append(f"persistence_granularity {svc.persistence_netmask}")
    if svc.persistence_engine:
        body.append(f"persistence_engine {svc.persistence_engine}")
    if svc.one_packet:
        body.append("ops")
    body += list(svc.scheduler_flags)
    for dest in dests:
        rs = [f"weight {dest.weight}"]
        if dest.forwarding != lb_kind or (dest.forwarding == "tunnel" and _tunnel_method(dest) != "TUN"):
            rs.append("lvs_method " + (_tunnel_method(dest) if dest.forwarding == "tunnel"
                                       else LB_KIND[dest.forwarding]))
        if dest.upper_threshold:
            rs.append(f"uthreshold {dest.upper_threshold}")
        if dest.lower_threshold:
            rs.append(f"lthreshold {dest.lower_threshold}")
        check = checks.get((dest.address, dest.port))
        if check is not None:
            rs += _check_lines(check)
        body += [f"real_server {dest.address} {dest.port} {{", *("  " + line for line in rs), "}"]
    return [head, *("  " + line for line in body), "}"]


def _vrrp_instances(raw: Any, vips: list[str], errors: list[str]) -> list[dict[str, Any]]:
    """The VRRP instances, checked (``vrrp``: one mapping, a list of them, or nothing)."""
    if raw in (None, {}, []):
        return []
    items = raw if isinstance(raw, list) else [raw]
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        label = f"vrrp_instance[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{label}: a VRRP instance is a mapping, not {item!r}")
            continue
        inst = dict(VRRP_DEFAULTS)
        inst.update({k: v for k, v in item.items() if v is not None})
        name = str(inst.get("name") or f"VI_{index + 1}")
        label = f"vrrp_instance {name}"
        inst["name"] = name
        if not name.replace("_", "").replace("-", "").isalnum():
            errors.append(f"{label}: the name may hold letters, digits, - and _ only")
        if name in names:
            errors.append(f"{label}: two VRRP instances have this name")
        names.add(name)
        for key in item:
            if key not in VRRP_FIELDS:
                errors.append(f"{label}: unknown option {key!r}{_close(key, VRRP_FIELDS)}")
        state = str(inst["state"]).strip().upper()
        if state not in ("MASTER", "BACKUP"):
            errors.append(f"{label}: state {inst['state']!r} is not MASTER or BACKUP")
        inst["state"] = state
        if not inst.get("interface") or any(c.isspace() for c in str(inst["interface"])):
            errors.append(f"{label}: needs the interface VRRP runs on (interface)")
        for field, low, high in (("virtual_router_id", 1, 255), ("priority", 1, 255), ("advert_int", 1, 255)):
            number = _int(inst.get(field))
            if number is None or not low <= number <= high:
                what = "is missing" if inst.get(field) is None else f"{inst.get(field)!r} is not from {low} to {high}"
                errors.append(f"{label}: {field} {what}")
            inst[field] = number
        nopreempt = inst.get("nopreempt")
        if not isinstance(nopreempt, bool):
            text = str(nopreempt).strip().lower()
            if text not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
                errors.append(f"{label}: nopreempt {nopreempt!r} is not a boolean")
            nopreempt = text in ("true", "yes", "1", "on")
        inst["nopreempt"] = nopreempt
        if nopreempt and state != "BACKUP":
            errors.append(f"{label}: nopreempt needs state BACKUP (keepalived ignores it on a MASTER)")
        auth = inst.get("auth_pass")
        if auth not in (None, ""):
            auth = str(auth)
            if len(auth) > 8 or any(c.isspace() or c in "\"{}" for c in auth):
                errors.append(f"{label}: auth_pass must be 1 to 8 characters without spaces, quotes or braces "
                              "(VRRP's simple password has 8)")
            inst["auth_pass"] = auth
        family = None
        src = inst.get("unicast_src_ip")
        if src not in (None, ""):
            try:
                family, inst["unicast_src_ip"] = _model.normalize_address(str(src), "unicast_src_ip")
            except Exception:  # pylint: disable=broad-exception-caught
                errors.append(f"{label}: unicast_src_ip {src!r} is not an IPv4 or IPv6 address")
        peers = inst.get("unicast_peers") or []
        if not isinstance(peers, list):
            errors.append(f"{label}: unicast_peers must be a list of addresses")
            peers = []
        good_peers = []
        for peer in peers:
            try:
                peer_family, addr = _model.normalize_address(str(peer), "unicast peer")
            except Exception:  # pylint: disable=broad-exception-caught
                errors.append(f"{label}: unicast peer {peer!r} is not an IPv4 or IPv6 address")
                continue
            if family and peer_family != family:
                errors.append(f"{label}: unicast peer {addr} is not of the family of unicast_src_ip "
                              f"{inst['unicast_src_ip']}")
            family = family or peer_family
            good_peers.append(addr)
        inst["unicast_peers"] = sorted(set(good_peers))
        own = inst.get("vips")
        if own is None:
            own = vips
        elif not isinstance(own, list):
            errors.append(f"{label}: vips must be a list of addresses")
            own = []
        addrs = []
        for vip in own:
            try:
                addrs.append(ipaddress.ip_address(str(vip).strip()))
            except ValueError:
                errors.append(f"{label}: VIP {vip!r} is not an IPv4 or IPv6 address")
        if family is None:
            family = "ipv4" if any(a.version == 4 for a in addrs) or not addrs else "ipv6"
        version = 4 if family == "ipv4" else 6
        inst["vips_main"] = sorted({f"{a}/{a.max_prefixlen}" for a in addrs if a.version == version})
        inst["vips_excluded"] = sorted({f"{a}/{a.max_prefixlen}" for a in addrs if a.version != version})
        out.append(inst)
    return sorted(out, key=lambda i: i["name"])


def _vrrp_lines(inst: dict[str, Any]) -> list[str]:
    body = [f"state {inst['state']}", f"interface {inst['interface']}",
            f"virtual_router_id {inst['virtual_router_id']}", f"priority {inst['priority']}",
            f"advert_int {inst['advert_int']}"]
    if inst["nopreempt"]:
        body.append("nopreempt")
    if inst.get("auth_pass"):
        body += ["authentication {", "  auth_type PASS", f"  auth_pass {inst['auth_pass']}", "}"]
    if inst.get("unicast_src_ip"):
        body.append(f"unicast_src_ip {inst['unicast_src_ip']}")
    if inst["unicast_peers"]:
        body += ["unicast_peer {", *(f"  {peer}" for peer in inst["unicast_peers"]), "}"]
    for block, vips in (("virtual_ipaddress", inst["vips_main"]),
                        ("virtual_ipaddress_excluded", inst["vips_excluded"])):
        if vips:
            body += [f"{block} {{", *(f"  {vip} dev {inst['interface']}" for vip in vips), "}"]
    return [f"vrrp_instance {inst['name']} {{", *("  " + line for line in body), "}"]


def keepalived_plan(services: Any, ha: Any = None) -> dict[str, Any]:
    """``{errors, text, rendered}``: keepalived.conf for ``director_services`` and the HA settings ``ha``.

    ``ha``: ``{router_id, vrrp (one instance or a list), check (the health check defaults)}``. ``rendered`` is
    the ``ipvsadm -R`` text of the same services (``director_plan``'s), what keepalived must build.
    """
    if ha is None:
        ha = {}
    errors: list[str] = []
    if not isinstance(ha, dict):
        return {"errors": [f"the HA settings must be a mapping, not {ha!r}"], "text": "", "rendered": ""}
    for key in ha:
        if key not in ("router_id", "vrrp", "check"):
            errors.append(f"HA settings: unknown option {key!r}{_close(key, ('router_id', 'vrrp', 'check'))}")
    plan = director_plan(services)
    errors += plan["errors"]
    if plan["errors"]:
        return {"errors": errors, "text": "", "rendered": ""}
    default_check = _check_layer(ha.get("check"), "director_keepalived_check", errors)
    present = [(raw, svc) for raw, svc in zip(services or [], plan["services"], strict=True)
               if svc["state"] == "present"]
    checked = _model.validate_config([svc["config"] for raw, svc in present])
    table = _model.apply_to_table([], _model.plan([], checked, "overridden"))
    by_key = {entry.key: present[entry.index] for entry in checked}
    blocks: list[list[str]] = []
    for service, dests in table:
        raw, svc = by_key[service.key]
        label = f"director_services[{svc['name']}]"
        service_check = _check_layer(raw.get("health_check"), label, errors)
        if svc["kind"] == "fwmark":
            numeric = [int(p) for p in svc["ports"] if str(p).isdigit()]
            connect_port: int | None = numeric[0] if numeric else None
        elif svc["kind"] == "pcc":
            connect_port = None
        else:
            connect_port = 0  # the real server's own port
        rs_checks: dict[str, Any] = {}
        for item in raw.get("real_servers") or []:
            if isinstance(item, dict):
                rs_checks[_model.normalize_address(str(item.get("address")), "address")[1]] = item.get("health_check")
        checks: dict[tuple[str, int], Any] = {}
        for dest in dests:
            where = f"{label}: real server {dest.address}"
            rs_check = _check_layer(rs_checks.get(dest.address), where, errors)
            checks[(dest.address, dest.port)] = _merged_check([default_check, service_check, rs_check],
                                                              where, connect_port, errors)
        blocks.append(_service_lines(service, dests, checks))
    instances = _vrrp_instances(ha.get("vrrp"), plan["vips"], errors)
    ids: dict[tuple[str, int], str] = {}
    for inst in instances:
        slot = (str(inst.get("interface")), inst["virtual_router_id"])
        if slot in ids and inst["virtual_router_id"] is not None:
            errors.append(f"vrrp_instance {inst['name']}: virtual_router_id {slot[1]} on {slot[0]} is used by "
                          f"vrrp_instance {ids[slot]} too")
        ids.setdefault(slot, inst["name"])
    router_id = ha.get("router_id")
    if router_id is not None and (not str(router_id).strip() or any(c.isspace() for c in str(router_id))):
        errors.append(f"HA settings: router_id {router_id!r} must be one word")
    if errors:
        return {"errors": errors, "text": "", "rendered": ""}
    scripts = any("MISC_CHECK {" in line for block in blocks for line in block)
    head = ["# Made by lvs.ipvs (the director role's keepalived engine) from director_services: edits are lost.",
            "global_defs {"]
    if router_id is not None:
        head.append(f"  router_id {str(router_id).strip()}")
    if scripts:
        head += ["  script_user root", "  enable_script_security"]
    head.append("}")
    lines = head + [line for inst in instances for line in _vrrp_lines(inst)]
    lines += [line for block in blocks for line in block]
    return {"errors": [], "text": "\n".join(lines) + "\n", "rendered": plan["rendered"]}


def keepalived_config(services: Any, ha: Any = None) -> str:
    """keepalived.conf text for ``director_services``; raises an error naming every bad object."""
    result = keepalived_plan(services, ha)
    if result["errors"]:
        raise AnsibleFilterError("lvs.ipvs.keepalived_config: " + "; ".join(result["errors"]))
    return result["text"]


def _dest_id(line: str) -> str:
    """``-a -t 192.0.2.1:80 -r 10.0.0.2:80 -g -w 1`` -> ``-a -t 192.0.2.1:80 -r 10.0.0.2:80`` (which real server)."""
    words = line.split()
    return " ".join(words[:words.index("-r") + 2]) if "-r" in words else line


def keepalived_table_check(gathered: Any, rendered: Any) -> dict[str, Any]:
    """Compare the live table (``ipvs_config`` ``gathered``) with the rendered one (``ipvsadm -R`` text).

    Services must be equal line for line. Every real server in the kernel must be in the rendered table with
    the same settings; a rendered real server missing from the kernel is reported in ``down`` (keepalived takes
    out a real server its health check finds dead), not as a difference. Returns ``{equal, differences, down,
    live}``: ``equal`` is true when there is no difference (``down`` may still list real servers).
    """
    live = _model.render_wanted(_model.validate_config(gathered or []))
    wanted = [line for line in str(rendered or "").splitlines() if line.strip()]
    live_set, wanted_set = set(live), set(wanted)
    differences = [f"service missing from the kernel: {line}" for line in wanted if line.startswith("-A ")
                   and line not in live_set]
    differences += [f"service in the kernel that keepalived.conf does not describe: {line}" for line in live
                    if line.startswith("-A ") and line not in wanted_set]
    wanted_dests = {_dest_id(line): line for line in wanted if line.startswith("-a ")}
    differences += [f"real server in the kernel that keepalived.conf does not describe: {line}" if
                    _dest_id(line) not in wanted_dests else
                    f"real server in the kernel differs: {line} (rendered: {wanted_dests[_dest_id(line)]})"
                    for line in live if line.startswith("-a ") and line not in wanted_set]
    live_dests = {_dest_id(line) for line in live if line.startswith("-a ")}
    down = [line for line in wanted if line.startswith("-a ") and line not in live_set
            and _dest_id(line) not in live_dests]
    return {"equal": not differences, "differences": differences, "down": down, "live": live}


class FilterModule:
    """lvs.ipvs keepalived filters."""

    def filters(self) -> dict:
        return {
            "keepalived_config": keepalived_config,
            "keepalived_table_check": keepalived_table_check,
        }
