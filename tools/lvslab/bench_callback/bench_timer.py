# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Callback of bin/bench (tools/lvslab/bench.py): each task's time and outcome, and the play's stats, as JSON.

Enabled by the benchmark only (ANSIBLE_CALLBACK_PLUGINS, ANSIBLE_CALLBACKS_ENABLED=bench_timer);
writes ``$LVS_BENCH_RECORD`` when the playbook ends. A task's time runs from the controller
starting it on the host to its result: templating, module transfer, interpreter start, the
module's own work and the result's way back.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timer
type: aggregate
short_description: bin/bench's record of task times
description: Writes each task's time and outcome and the play's stats to the file named by LVS_BENCH_RECORD.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, float] = {}
        self.tasks: list[dict] = []

    def v2_runner_on_start(self, host, task) -> None:
        self.started[f"{host.get_name()} {task._uuid}"] = time.monotonic()

    def _record(self, result, status: str) -> None:
        end = time.monotonic()
        key = f"{result._host.get_name()} {result._task._uuid}"
        res = result._result
        changes = res.get("changes")
        self.tasks.append({
            "task": result._task.get_name(),
            "host": result._host.get_name(),
            "status": status,
            "seconds": round(end - self.started.get(key, end), 3),
            "changed": bool(res.get("changed")),
            "changes": len(changes) if isinstance(changes, list) else None,
            "msg": str(res.get("msg", ""))[:2000],
        })

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats) -> None:
        path = os.environ.get("LVS_BENCH_RECORD")
        if not path:
            return
        hosts = {h: stats.summarize(h) for h in sorted(stats.processed)}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"tasks": self.tasks, "stats": hosts}, handle)
