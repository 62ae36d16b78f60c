# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The main job: an LVS-DR lab cluster on this machine, configured by playbooks/site.yml over SSH.

    bin/demo [--mode fwmark|ppc|pcc|all]     (default: fwmark, the shop's 80+443)

Runs bin/setup, then (through bin/bed: directly on a kernel with IPVS as root, otherwise in the
User-Mode Linux bed) brings up the lab of bin/lab (client1, client2, director, rs1, rs2 as network
namespaces with sshd each), runs ``ansible-playbook playbooks/site.yml`` against it over SSH,
sends real requests from the clients to the virtual IPs and prints, per mode, which real
server answered which request, and a verdict line. Exit status 0 only if every verdict is PASS.
The lab is removed at the end, also after a failure or an interrupt.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lvslab import ROOT

MODES = ("fwmark", "ppc", "pcc", "none", "granularity", "all")


def say(msg: str) -> None:
    print(f"demo: {msg}", flush=True)


def outer(args: argparse.Namespace, argv: list[str]) -> int:
    """On the machine: set-up, then this command again on a kernel with IPVS (one bed start at most)."""
    start = time.monotonic()
    say("step 1/3: bin/setup (packages, virtual environment, test kernel; quick when already done)")
    if subprocess.run([str(ROOT / "bin" / "setup")], check=False).returncode != 0:
        say("bin/setup failed: see above")
        return 1
    say("step 2/3: on a kernel with IPVS: bin/bed runs directly on this host if its kernel has IPVS and we are"
        " root, otherwise in User-Mode Linux (a Linux kernel with IPVS run as a process; ansible-playbook"
        " runs here on the host and reaches the lab over SSH through the bed's link)")
    out = Path(args.out) if args.out else ROOT / ".cache" / "bed" / "demo"
    rc = subprocess.run([str(ROOT / "bin" / "bed"), "run", "--out", str(out), "--", "bin/demo", *argv],
                        check=False).returncode
    say(f"step 3/3: finished with exit status {rc}; wall time {time.monotonic() - start:.0f} s"
        " (set-up, bed start, lab, site.yml, requests, clean-up)")
    return rc


def inner(args: argparse.Namespace) -> int:
    """Inside the bed (root, IPVS): the lab, site.yml over SSH, requests, tables, verdicts, clean-up."""
    from lvslab import cluster

    t0 = time.monotonic()

    def stamp() -> str:
        return f"[{time.monotonic() - t0:5.0f} s]"

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    cases = cluster.mode_cases(args.mode)
    the_lab = cluster.SiteLab(cases, tag="lvsdemo", subnet=78)
    results: list[tuple[bool, str]] = []
    clean = False
    try:
        say(f"{stamp()} lab up: namespaces, bridge, sshd in every host (mode {args.mode}: {', '.join(cases)})")
        the_lab.up()
        say(f"{stamp()} ansible -m ansible.builtin.ping all, over SSH from the controller leg {the_lab.ctl_ip}")
        ping = the_lab.ansible("ansible", "all", "-m", "ansible.builtin.ping")
        pongs = ping.stdout.count('"pong"')
        say(f"{stamp()} {pongs}/{len(the_lab.hosts)} hosts answered pong over SSH")
        if ping.returncode != 0:
            print(ping.stdout + ping.stderr)
            raise RuntimeError("the lab's hosts are not reachable over SSH")
        say(f"{stamp()} ansible-playbook playbooks/site.yml over SSH (its output follows)")
        the_lab.configure(stream=True)
        say(f"{stamp()} configured; sending real requests from the clients")
        for case in cases:
            spec = the_lab.case(case)
            demo = spec["demo"]
            plan = [(c, p) for _ in range(demo["rounds"]) for c in demo["clients"] for p in demo["ports"]]
            vip = the_lab.vip_of(case)
            answers = the_lab.requests(plan, vip=vip)
            print(f"\n== {spec['title']}: VIP {vip}, {len(answers)} requests")
            print(cluster.table(answers))
            for t in the_lab.conn_templates():
                if t["vaddr"] == vip or (t["pro"] == "IP" and any("fwmark" in s for s in spec["services"])):
                    target = f"mark {t['vaddr'].split('.')[-1]}" if t["pro"] == "IP" else f"{t['vaddr']}:{t['vport']}"
                    print(f"  template: {t['pro']} client {t['caddr']} -> {target} -> "
                          f"{the_lab.server_of(t['daddr'])} (expires in {t['expires']} s)")
            ok, line = cluster.verdict(spec["kind"], spec["title"], answers)
            print(line)
            results.append((ok, line))
    except (Exception, KeyboardInterrupt) as exc:
        say(f"{stamp()} FAILED: {exc}")
        results.append((False, f"FAIL - {exc}"))
    finally:
        say(f"{stamp()} lab down")
        the_lab.down()
        left = the_lab.leftovers()
        clean = not left
        say("nothing of the lab is left" if clean else "LEFT BEHIND: " + "; ".join(left))
    print("\nverdicts:")
    for _ok, line in results:
        print(f"  {line}")
    passed = bool(results) and all(ok for ok, _ in results) and clean
    print(f"demo: {'PASS' if passed else 'FAIL'} ({sum(ok for ok, _ in results)}/{len(results)} verdicts passed,"
          f" {'clean' if clean else 'NOT clean'})")
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=MODES, default="fwmark", help="persistence mode(s) to show")
    parser.add_argument("--out", help="bin/bed --out directory (default .cache/bed/demo)")
    args = parser.parse_args()
    if os.environ.get("LVS_BED"):
        return inner(args)
    argv = ["--mode", args.mode]
    return outer(args, argv)


if __name__ == "__main__":
    sys.exit(main())
