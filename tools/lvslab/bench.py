# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark (bin/bench): the collection against ipvsadm on tables of S services of 10 DR real servers.

    bin/bench [--sizes 10,100,1000] [--no-role] [--out DIR]
    bin/bench --profile [--sizes 1000]

Runs itself in the kernel test bed (bin/bed); prints one table (also left in DIR/bench/bench.md).
--profile runs ipvs_config from empty and again instead, with the time of each of its phases.

For each S, side by side in one run, each in network namespaces of the benchmark's own (nothing
leaves them):

* ``ipvsadm-restore`` of the table into an empty namespace, and ``ipvsadm -Sn`` of it;
* ``lvs.ipvs.ipvs_config`` (state ``overridden``) applying the same table to another empty namespace,
  running again with nothing to do, and with one weight changed; ``ipvs_config`` ``gathered`` and
  ``ipvs_info`` reading it; each one task of ``ansible-playbook -c local``, timed from the
  controller starting the task to its result (module start included), with the peak memory
  (ru_maxrss, by ``/usr/bin/time``) of the module's process;
* the ``lvs.ipvs.director`` role run twice on a third namespace with the same services: the second run
  (nothing to do) is timed whole (``ansible-playbook`` from start to end), and the tasks it executed
  are counted.

The controller runs where bin/bed puts Ansible controllers (lvslab.bedctl): on the host in the
User-Mode Linux bed, the modules in the bed over its link; in place elsewhere. Every result is checked
(the tables against ``ipvsadm -Sn``, ``changed`` as expected); a failed check stops the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lvslab import ROOT as REPO
from lvslab import bedctl

VENV_BIN = Path(sys.executable).parent
CALLBACKS = Path(__file__).resolve().parent / "bench_callback"
MODULES = "ansible_collections.lvs.ipvs.plugins.modules"
UTILS = "ansible_collections.lvs.ipvs.plugins.module_utils"
SIZES = (10, 100, 1000)
REAL_SERVERS = 10
VIPS = 10  # the services share 10 virtual IPs, one port each: the role puts 10 addresses on eth0
COLUMNS = ("S", "objects", "ipvsadm-restore", "ipvs_config apply from empty", "no-op re-run", "one weight changed",
           "ipvsadm -Sn", "ipvs_config gathered", "ipvs_info", "director role no-op")


# --- the table ---------------------------------------------------------------------------------------


def vip(i: int) -> str:
    return f"10.200.0.{i % VIPS + 1}"


def port(i: int) -> int:
    return 1000 + i


def real_server(j: int) -> str:
    return f"10.201.0.{j + 1}"


def weight(i: int, j: int, changed: int | None = None) -> int:
    return 2 if (i, j) == (changed, 0) else 1


def rules(size: int) -> list[str]:
    """The table as ``ipvsadm -S -n`` lines (sorted, as ``ipvsadm -Sn`` output is compared)."""
    out = []
    for i in range(size):
        out.append(f"-A -t {vip(i)}:{port(i)} -s rr -p 300")
        out += [f"-a -t {vip(i)}:{port(i)} -r {real_server(j)}:{port(i)} -g -w 1" for j in range(REAL_SERVERS)]
    return sorted(out)


def config(size: int, changed: int | None = None) -> list[dict]:
    """The table as ipvs_config's ``config``; ``changed``: the service whose first real server has weight 2."""
    return [{"address": vip(i), "port": port(i), "scheduler": "rr", "persistence_timeout": 300,
             "real_servers": [{"address": real_server(j), "weight": weight(i, j, changed)}
                              for j in range(REAL_SERVERS)]}
            for i in range(size)]


def director_services(size: int) -> list[dict]:
    """The table as the director role's ``director_services``."""
    return [{"name": f"svc{i}", "vip": vip(i), "ports": [port(i)], "scheduler": "rr", "persistence_timeout": 300,
             "real_servers": [{"address": real_server(j)} for j in range(REAL_SERVERS)]}
            for i in range(size)]


# --- namespaces and commands --------------------------------------------------------------------------


def sh(args: Sequence[str], *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), capture_output=True, text=True, input=input, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"failed ({proc.returncode}): {shlex.join(args)}\n{proc.stdout}{proc.stderr}")
    return proc


@dataclass
class Namespace:
    name: str

    def argv(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, input: str | None = None) -> str:
        return sh(self.argv(*args), input=input).stdout

    def timed(self, *args: str, input: str | None = None) -> tuple[float, str]:
        start = time.monotonic()
        out = self.run(*args, input=input)
        return time.monotonic() - start, out

    def ipvsadm_save(self) -> list[str]:
        return sorted(line for line in self.run("ipvsadm", "-Sn").splitlines() if line.strip())


@dataclass
class Playbook:
    """What one ansible-playbook run did: its time, each task's record (bench_timer) and the host's stats."""

    rc: int
    seconds: float
    tasks: list[dict]
    stats: dict[str, dict[str, int]]
    output: str
    maxrss_kib: list[int] = field(default_factory=list)  # of each module process, as /usr/bin/time saw it

    def task(self, name: str) -> dict:
        found = [t for t in self.tasks if t["task"] == name]
        if len(found) != 1:
            raise RuntimeError(f"task {name!r} ran {len(found)} times\n{self.output[-3000:]}")
        return found[0]


@dataclass
class Bench:
    """The namespaces, files and Ansible runs of one benchmark run (``scratch``: a directory the controller sees)."""

    scratch: Path
    tag: str = field(default_factory=lambda: f"lvsbench{os.getpid()}")
    namespaces: list[Namespace] = field(default_factory=list)
    log: Callable[[str], None] = print

    def namespace(self, name: str, *, eth0: bool = False) -> Namespace:
        ns = Namespace(f"{self.tag}-{name}")
        sh(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        ns.run("ip", "link", "set", "lo", "up")
        if eth0:  # the director role puts the VIPs on eth0: a dummy interface, nothing leaves the namespace
            ns.run("ip", "link", "add", "eth0", "type", "dummy")
            ns.run("ip", "link", "set", "eth0", "up")
        return ns

    def remove(self, ns: Namespace) -> None:
        sh(["ip", "netns", "del", ns.name], check=False)
        self.namespaces.remove(ns)

    def close(self) -> None:
        for ns in list(self.namespaces):
            self.remove(ns)

    # -- Ansible ----------------------------------------------------------------------------------
    def interpreter(self, ns: Namespace, memory_log: Path) -> str:
        """A Python for the modules: the venv's, in ``ns``, its peak memory appended to ``memory_log`` (KiB)."""
        path = self.scratch / f"python-{ns.name}"
        inner = shlex.join(["/usr/bin/time", "-a", "-o", str(memory_log), "-f", "%M",
                            *ns.argv(str(VENV_BIN / "python"))])
        if bedctl.remote():  # the controller runs on the host: the module comes over SSH into the bed
            inner = f"{shlex.join(bedctl.ssh_prefix())} {inner}"
        path.write_text(f'#!/bin/sh\nexec {inner} "$@"\n')
        path.chmod(0o755)
        return str(path)

    def env(self, record: Path) -> dict[str, str]:
        env = dict(os.environ)
        tmp = self.scratch / "ansible"
        env.update(
            ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
            ANSIBLE_HOME=str(tmp / "home"),
            ANSIBLE_LOCAL_TEMP=str(tmp / "local"),
            ANSIBLE_REMOTE_TMP=str(tmp / "remote"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_PIPELINING="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_DEPRECATION_WARNINGS="0",
            ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
            ANSIBLE_CALLBACKS_ENABLED="bench_timer",
            LVS_BENCH_RECORD=str(record),
            PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        )
        return env

    def playbook(self, name: str, ns: Namespace, play: dict, host_vars: dict | None = None) -> Playbook:
        """Run one play against one host (``ns``, connection local) and return what it did."""
        base = self.scratch / name
        memory = Path(f"/tmp/{self.tag}-{name}.maxrss")  # written by /usr/bin/time where the modules run
        memory.unlink(missing_ok=True)
        hostvars = {"ansible_connection": "local", "ansible_become": False,
                    "ansible_python_interpreter": self.interpreter(ns, memory),
                    "ansible_module_compression": "ZIP_STORED", **(host_vars or {})}
        inventory = base.with_suffix(".inventory.yml")
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {"director": hostvars}}}, sort_keys=False))
        playbook = base.with_suffix(".playbook.yml")
        playbook.write_text(yaml.safe_dump([{"hosts": "director", "gather_facts": False, **play}], sort_keys=False))
        record = base.with_suffix(".record.json")
        record.unlink(missing_ok=True)
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
        start = time.monotonic()
        proc = bedctl.run(argv, env=self.env(record), cwd=self.scratch)
        seconds = time.monotonic() - start
        data = json.loads(record.read_text()) if record.exists() else {"tasks": [], "stats": {}}
        rss = [int(word) for word in memory.read_text().split() if word.isdigit()] if memory.exists() else []
        run = Playbook(proc.returncode, seconds, data["tasks"], data["stats"], proc.stdout, rss)
        if proc.returncode != 0:
            raise RuntimeError(f"ansible-playbook {name} failed ({proc.returncode}):\n{proc.stdout[-5000:]}")
        return run

    def module(self, name: str, ns: Namespace, module: str, args: dict, *, changed: bool | None,
               changes: int | None = None) -> tuple[float, int, dict]:
        """One task of ``module`` with ``args`` (config in a variable, as a playbook would pass it).

        Returns (seconds of the task, peak KiB of the module's process, the task's record); checks
        ``changed`` and the number of ``changes`` when given.
        """
        task_args = {k: (f"{{{{ bench_{k} }}}}" if k == "config" else v) for k, v in args.items()}
        play = {"vars": {"bench_config": args["config"]} if "config" in args else {},
                "tasks": [{"name": name, f"lvs.ipvs.{module}": task_args}]}
        run = self.playbook(name, ns, play)
        rec = run.task(name)
        if rec["status"] != "ok":
            raise RuntimeError(f"{name}: {rec['status']}: {rec['msg']}")
        if changed is not None and rec["changed"] != changed:
            raise RuntimeError(f"{name}: changed is {rec['changed']}, expected {changed}")
        if changes is not None and rec["changes"] != changes:
            raise RuntimeError(f"{name}: {rec['changes']} changes, expected {changes}")
        rss = max(run.maxrss_kib, default=0)
        return rec["seconds"], rss, rec

    def role(self, name: str, ns: Namespace, size: int) -> Playbook:
        state = self.scratch / f"{ns.name}-state"  # the same for every run on this director
        host_vars = {"director_services": director_services(size), "director_interface": "eth0",
                     "director_purge": True, "director_install_packages": False,
                     "director_state_dir": str(state / "lvs-ipvs"), "director_systemd_unit_dir": str(state / "systemd")}
        return self.playbook(name, ns, {"roles": ["lvs.ipvs.director"]}, host_vars)


# --- one size --------------------------------------------------------------------------------------


@dataclass
class Row:
    size: int
    objects: int
    restore: float
    apply: float
    noop: float
    weight: float
    save: float
    gathered: float
    info: float
    role_noop: float | None = None
    role_tasks: dict[str, int] | None = None
    role_first: float | None = None
    rss: dict[str, int] = field(default_factory=dict)


def measure(bench: Bench, size: int, *, role: bool) -> Row:
    """Measure one S (the namespaces are removed afterwards)."""
    say = bench.log
    lines = rules(size)
    by_hand = bench.namespace(f"restore{size}")
    by_module = bench.namespace(f"module{size}")
    say(f"S={size}: ipvsadm-restore of {len(lines)} lines")
    restore, _out = by_hand.timed("ipvsadm-restore", input="\n".join(lines) + "\n")
    save, text = by_hand.timed("ipvsadm", "-Sn")
    if sorted(line for line in text.splitlines() if line.strip()) != lines:
        raise RuntimeError(f"S={size}: ipvsadm-restore did not give the table")
    rss: dict[str, int] = {}
    say(f"S={size}: ipvs_config apply from empty")
    apply, rss["apply"], _out = bench.module(f"apply{size}", by_module, "ipvs_config",
                                             {"config": config(size), "state": "overridden"},
                                             changed=True, changes=len(lines))
    if by_module.ipvsadm_save() != lines:
        raise RuntimeError(f"S={size}: ipvs_config did not give the table ipvsadm-restore gave")
    say(f"S={size}: ipvs_config again, nothing to do")
    noop, rss["no-op"], _out = bench.module(f"noop{size}", by_module, "ipvs_config",
                                            {"config": config(size), "state": "overridden"}, changed=False, changes=0)
    say(f"S={size}: ipvs_config with one weight changed")
    weight_run, rss["weight"], _out = bench.module(f"weight{size}", by_module, "ipvs_config",
                                                   {"config": config(size, changed=size // 2), "state": "overridden"},
                                                   changed=True, changes=1)
    say(f"S={size}: ipvs_config gathered, ipvs_info")
    gathered, rss["gathered"], _out = bench.module(f"gathered{size}", by_module, "ipvs_config", {"state": "gathered"},
                                                   changed=False)
    info, rss["ipvs_info"], _out = bench.module(f"info{size}", by_module, "ipvs_info", {}, changed=False)
    row = Row(size, len(lines), restore, apply, noop, weight_run, save, gathered, info, rss=rss)
    bench.remove(by_hand)
    bench.remove(by_module)
    if role:
        director = bench.namespace(f"director{size}", eth0=True)
        say(f"S={size}: director role, first run")
        first = bench.role(f"role{size}-first", director, size)
        if director.ipvsadm_save() != lines:
            raise RuntimeError(f"S={size}: the director role did not give the table ipvsadm-restore gave")
        say(f"S={size}: director role again, nothing to do")
        again = bench.role(f"role{size}-again", director, size)
        changed = sum(s.get("changed", 0) for s in again.stats.values())
        if changed:
            raise RuntimeError(f"S={size}: the director role's second run changed {changed} tasks")
        row.role_first, row.role_noop = first.seconds, again.seconds
        row.role_tasks = {k: sum(s.get(k, 0) for s in again.stats.values()) for k in ("ok", "changed", "skipped")}
        bench.remove(director)
    return row


# --- the report ------------------------------------------------------------------------------------


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def _x(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base > 0 else "-"


def role_on_ipvs_config() -> bool:
    """Whether the director role sets the table with one ipvs_config task (what the role column measures)."""
    tasks = REPO / "roles" / "director" / "tasks"
    return any("lvs.ipvs.ipvs_config:" in p.read_text() for p in tasks.glob("*.yml"))


def report(rows: Sequence[Row], header: str) -> str:
    out = [header, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        role = (f"{_s(r.role_noop)}" if r.role_noop is not None else "n/a (role not yet on ipvs_config)")
        cells = [f"{r.size:,}", f"{r.objects:,}", _s(r.restore),
                 f"{_s(r.apply)} ({_x(r.apply, r.restore)})", f"{_s(r.noop)} ({_x(r.noop, r.restore)})",
                 f"{_s(r.weight)} ({_x(r.weight, r.restore)})", _s(r.save),
                 f"{_s(r.gathered)} ({_x(r.gathered, r.save)})", f"{_s(r.info)} ({_x(r.info, r.save)})", role]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "Ratios in brackets: apply, no-op and weight to ipvsadm-restore; gathered and ipvs_info to "
            "ipvsadm -Sn.", "",
            "| S | no-op re-run / ipvsadm -Sn | peak memory of the module process (ru_maxrss): apply, no-op, "
            "weight, gathered, ipvs_info | director role: first run | director role no-op: tasks executed |",
            "|---|---|---|---|---|"]
    for r in rows:
        mem = ", ".join(f"{r.rss[k] / 1024:.0f}" for k in ("apply", "no-op", "weight", "gathered", "ipvs_info"))
        tasks = (f"{r.role_tasks['ok']} ok ({r.role_tasks['changed']} changed), {r.role_tasks['skipped']} skipped"
                 if r.role_tasks else "n/a")
        first = _s(r.role_first) if r.role_first is not None else "n/a"
        out.append(f"| {r.size:,} | {_x(r.noop, r.save)} | {mem} MiB | {first} | {tasks} |")
    out += ["", "Targets at S = 1,000:"]
    big = {r.size: r for r in rows}
    if 1000 in big:
        r = big[1000]
        out.append(f"- apply from empty within 1.5x of ipvsadm-restore: {_x(r.apply, r.restore)} - "
                   f"{'met' if r.apply <= 1.5 * r.restore else 'MISSED'}")
        out.append(f"- a no-op run within 3x of one ipvsadm -Sn: {_x(r.noop, r.save)} - "
                   f"{'met' if r.noop <= 3 * r.save else 'MISSED'}")
        if r.role_noop is not None and 10 in big and big[10].role_noop:
            ratio = r.role_noop / big[10].role_noop
            out.append(f"- the director role's no-op run at S = 1,000 within 2x of its run at S = 10: {ratio:.1f}x - "
                       f"{'met' if ratio <= 2 else 'MISSED'}")
        else:
            out.append("- the director role's no-op run at S = 1,000 within 2x of its run at S = 10: n/a")
    else:
        out.append("- not measured (S = 1,000 was not in this run)")
    return "\n".join(out)


def commit() -> str:
    head = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=False).stdout.strip() or "unknown"
    dirty = sh(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "plugins", "roles",
                "tools"], check=False).stdout.strip()
    return head + (" (with uncommitted changes in plugins, roles or tools)" if dirty else "")


def header() -> str:
    from ansible_collections.lvs.ipvs.plugins.module_utils import _ipvs  # the bed's sys.path (main)

    where = ("on the host (bin/bed's controller service), the modules in the bed over its link"
             if bedctl.remote() else "in place, beside the modules")
    return (f"bin/bench at commit {commit()}, {time.strftime('%Y-%m-%d %H:%M %Z')}; bed "
            f"{os.environ.get('LVS_BED', 'none')}, kernel {os.uname().release}, pyroute2 {_ipvs.PYROUTE2_VERSION}; "
            f"Ansible controller {where}. Each row measured side by side in this run; S services x "
            f"{REAL_SERVERS} DR real servers; module columns: one ansible-playbook task, from its start to its result.")


# The phases of a module run that profile() times: (what, object path, attribute). A handful of clock reads,
# not cProfile: in User-Mode Linux every clock read is a system call (no vDSO), and cProfile reads the
# clock at every call and return - it made a 12 s run last 400 s and inflated the functions called most.
PHASES = (
    ("Ansible: argument spec (AnsibleModule())", "ansible.module_utils.basic", "AnsibleModule.__init__"),
    ("_model.check_config", MODULES + ".ipvs_config", "check_config"),
    ("read the table (IpvsHandle.config)", UTILS + "._ipvs", "IpvsHandle.config"),
    ("_model.plan", MODULES + ".ipvs_config", "plan"),
    ("scheduler check (modprobe -n)", MODULES + ".ipvs_config", "scheduler_errors"),
    ("write the plan (IpvsHandle.apply)", UTILS + "._ipvs", "IpvsHandle.apply"),
    ("result: before/after (table_config)", MODULES + ".ipvs_config", "table_config"),
    ("Ansible: result out (exit_json)", "ansible.module_utils.basic", "AnsibleModule.exit_json"),
)


def phases(module: str, args_file: str) -> None:
    """Run ``module`` with the arguments in ``args_file`` as Ansible runs it (``main()``), timing :data:`PHASES`.

    Prints the module's JSON result, then one line of JSON with the seconds of each phase (the last line).
    """
    import importlib

    started = time.monotonic()
    times: dict[str, float] = {}

    def timed(what: str, func: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            start = time.monotonic()
            try:
                return func(*args, **kwargs)
            finally:
                times[what] = times.get(what, 0.0) + time.monotonic() - start
        return wrapper

    sys.argv = [module, args_file]
    mod = importlib.import_module(f"{MODULES}.{module}")
    for what, path, attr in PHASES:
        owner = importlib.import_module(path)
        *parents, name = attr.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        if hasattr(owner, name):
            setattr(owner, name, timed(what, getattr(owner, name)))
    times["imports"] = time.monotonic() - started
    try:
        mod.main()
    except SystemExit:
        pass
    finally:
        times["all"] = time.monotonic() - started
        sys.stdout.write("\n" + json.dumps({"phases": times}) + "\n")


def profile(sizes: Sequence[int], scratch: Path) -> int:
    """ipvs_config (overridden) from empty, then again with nothing to do, each in a process of its own in a
    namespace of the benchmark's (the module as Ansible runs it, without the AnsiballZ wrapper), with the time
    of each phase (:data:`PHASES`)."""
    scratch.mkdir(parents=True, exist_ok=True)
    bench = Bench(scratch, log=lambda text: print(f"bench: {text}", file=sys.stderr, flush=True))
    sh(["modprobe", "ip_vs"], check=False)
    sh(["modprobe", "ip_vs_rr"], check=False)
    env = dict(os.environ, PYTHONPATH=f"{REPO / '.cache' / 'collections'}:{REPO / 'tools'}")
    try:
        for size in sizes:
            ns = bench.namespace(f"profile{size}")
            args = scratch / f"profile{size}.args.json"
            args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"config": config(size), "state": "overridden"}}))
            for run in ("apply from empty", "no-op re-run"):
                start = time.monotonic()
                argv = ns.argv(str(VENV_BIN / "python"), "-m", "lvslab.bench", "phases", "ipvs_config", str(args))
                proc = subprocess.run(argv,
                                      capture_output=True, text=True, env=env, check=False)
                seconds = time.monotonic() - start
                lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                if len(lines) < 2:
                    raise RuntimeError(f"ipvs_config {run} printed no result:\n{proc.stdout}{proc.stderr}")
                result, times = json.loads(lines[-2]), json.loads(lines[-1])["phases"]
                print(f"\nipvs_config {run}, S={size}: {seconds:.1f} s for the process, changed={result.get('changed')}"
                      f", {len(result.get('changes') or [])} changes {result.get('msg', '')[:300]}")
                print("| phase | seconds |\n|---|---|")
                rest = times["all"] - times["imports"] - sum(v for k, v in times.items() if k not in ("all", "imports"))
                for what, _path, _attr in PHASES:
                    if what in times:
                        print(f"| {what} | {times[what]:.2f} |")
                print(f"| the rest of main() | {rest:.2f} |\n| imports | {times['imports']:.2f} |\n"
                      f"| Python start and exit | {seconds - times['all']:.2f} |")
            bench.remove(ns)
    finally:
        bench.close()
    return 0


def main(sizes: Sequence[int], scratch: Path, *, role: bool | None = None) -> int:
    if str(REPO / ".cache" / "collections") not in sys.path:
        sys.path.insert(0, str(REPO / ".cache" / "collections"))
    role = role_on_ipvs_config() if role is None else role
    scratch.mkdir(parents=True, exist_ok=True)
    bench = Bench(scratch, log=lambda text: print(f"bench: {text}", file=sys.stderr, flush=True))
    sh(["modprobe", "ip_vs"], check=False)
    sh(["modprobe", "ip_vs_rr"], check=False)
    rows = []
    try:
        for size in sizes:
            rows.append(measure(bench, size, role=role))
            bench.log(f"S={size} measured: {rows[-1]}")  # kept in the log if a later size fails
    finally:
        bench.close()
    text = report(rows, header())
    print(text)
    (scratch / "bench.md").write_text(text + "\n")
    return 0


def cli() -> int:
    """bin/bench: on the host, this command again in the bed; in the bed, the measurements."""
    parser = argparse.ArgumentParser(prog="bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="numbers of services, comma-separated (%(default)s)")
    parser.add_argument("--no-role", action="store_true", help="leave out the director role's column")
    parser.add_argument("--profile", action="store_true",
                        help="instead: ipvs_config from empty and again, with the time of each phase, for each size")
    parser.add_argument("--out", help="bin/bed --out directory (default .cache/bed/bench)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if os.environ.get("LVS_BED"):  # inside the bed: measure
        scratch = Path(os.environ.get("BED_OUT") or "/tmp") / "bench"
        if args.profile:
            return profile(sizes, scratch)
        return main(sizes, scratch, role=False if args.no_role else None)
    out = Path(args.out) if args.out else REPO / ".cache" / "bed" / "bench"
    argv = ["bin/bench", "--sizes", ",".join(map(str, sizes)), *(["--no-role"] if args.no_role else []),
            *(["--profile"] if args.profile else [])]
    return subprocess.run([str(REPO / "bin" / "bed"), "run", "--out", str(out), "--", *argv], check=False).returncode


if __name__ == "__main__":  # python -m lvslab.bench phases MODULE ARGS_FILE: one timed module run (profile())
    if sys.argv[1:2] == ["phases"] and len(sys.argv) == 4:
        phases(sys.argv[2], sys.argv[3])
    else:
        sys.exit(cli())
