# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters behind playbooks/rolling_maintenance.yml: where a real server is on each director, and what is left of it.

``rolling_entries`` reads each director's ``director_services`` through ``director_plan`` (the role's own checks,
every IPVS value by ``_model``) and lists, per director and service, the real server's identity for
``lvs.ipvs.ipvs_real_server`` and its weight there. ``rolling_connections`` sums a real server's active and
inactive connections and the persistence templates that still bind a client, from ``lvs.ipvs.ipvs_info``.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lvs.ipvs.plugins.filter.director import director_plan
from ansible_collections.lvs.ipvs.plugins.module_utils import _model
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ValidationError


def _address(value: Any, what: str) -> str:
    try:
        return _model.normalize_address(value, what)[1]
    except ValidationError as exc:
        raise AnsibleFilterError(f"lvs.ipvs.rolling_entries: {exc}") from None


def rolling_entries(directors: list[str], services: list[Any], address: str) -> list[dict]:
    """For each director (``directors``, with its ``director_services`` at the same place in ``services``),
    each present service that has the real server ``address``: ``{director, service, address, port, weight,
    label, health_ports, scheduler_flags}``, and ``fallback_flags`` when the service's hash scheduler lacks its
    fallback flag (``_model.quiesce_fallback``: the flags it needs while the server is at weight 0). A director
    whose services do not check out is an error naming it."""
    if len(directors) != len(services):
        raise AnsibleFilterError("lvs.ipvs.rolling_entries: one director_services list per director is needed")
    wanted = _address(address, "real server address")
    out: list[dict] = []
    for index, director in enumerate(directors):
        plan = director_plan(services[index] or [])
        if plan["errors"]:
            raise AnsibleFilterError(f"lvs.ipvs.rolling_entries: the director_services of {director} do not check "
                                     f"out: {'; '.join(plan['errors'])}")
        for svc in plan["services"]:
            if svc["state"] != "present":
                continue
            for rs in svc["config"]["real_servers"]:
                if _address(rs["address"], "real server address") != wanted:
                    continue
                flags = list(svc["config"].get("scheduler_flags") or [])
                entry = {"director": director, "service": svc["key"], "address": wanted,
                         "weight": int(rs.get("weight", 1)), "label": f"{svc['name']} ({svc['kind']})",
                         "health_ports": [int(p) for p in svc["ports"] if int(p) != 0], "scheduler_flags": flags}
                fallback = _model.quiesce_fallback(svc["scheduler"], flags)
                if fallback is not None:
                    entry["fallback_flags"] = list(fallback)
                if rs.get("port") is not None:
                    entry["port"] = int(rs["port"])
                out.append(entry)
    return out


def rolling_connections(services: list[dict], address: str, connections: list[dict] | None = None) -> dict:
    """The real server ``address``'s connections in ipvs_info's ``services`` (and ``connections``):
    ``{active, inactive, persistent, total, left}``, summed over every service it is in.

    With ``connections`` (ipvs_info's connection table), ``persistent`` counts only the templates that still bind
    a client: a template of a quiescent real server that the kernel invalidated (``expire_quiescent_template``:
    virtual and real-server port 0xffff) binds nobody any more, but the kernel's own count keeps it until its
    timer runs out, up to the persistence timeout. ``left`` describes up to 10 of the rows still there."""
    wanted = _address(address, "real server address")
    left = {"active": 0, "inactive": 0, "persistent": 0}
    for svc in services or []:
        for rs in svc.get("real_servers") or []:
            if _address(rs["address"], "real server address") == wanted:
                left["active"] += int(rs.get("active_connections") or 0)
                left["inactive"] += int(rs.get("inactive_connections") or 0)
                left["persistent"] += int(rs.get("persistent_connections") or 0)
    rows: list[str] = []
    if connections is not None:
        live = 0
        for row in connections:
            if row.get("dest_address") != wanted:
                continue
            invalidated = row.get("template") and not _model.binds_client(row)
            if _model.binds_client(row):
                live += 1
            if not invalidated and len(rows) < 10:
                what = "template" if row.get("template") else row.get("state")
                rows.append(f"{what} {row.get('client_address')}:{row.get('client_port')} -> "
                            f"{row.get('virtual_address')}:{row.get('virtual_port')} expires in {row.get('expires')} s")
        left["persistent"] = live
    return {**left, "total": sum(left.values()), "left": rows}


class FilterModule:
    """lvs.ipvs rolling maintenance filters."""

    def filters(self) -> dict:
        return {"rolling_entries": rolling_entries, "rolling_connections": rolling_connections}
