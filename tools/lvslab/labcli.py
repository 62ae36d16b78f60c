# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH lab: an LVS-DR cluster of network namespaces, configured by playbooks/site.yml over SSH.

    bin/lab up [--mode fwmark|ppc|pcc|all|e2e|...] [--no-configure]
    bin/lab status
    bin/lab down

``up`` builds the namespaces (client1, client2, director, rs1, rs2 on a bridge, each with sshd
on its own address), gives this namespace a leg on the bridge, writes an inventory and runs
``ansible-playbook playbooks/site.yml`` for the mode's cases, then starts the web services.
``down`` removes namespaces, processes, the leg and the lab directory, and says if anything is
left. Needs root and a kernel with IPVS (for ``up`` without ``--no-configure``): on a kernel
without it, run inside the test bed, e.g. ``bin/bed run -- sh -c 'bin/lab up && ... ; bin/lab down'``,
or use ``bin/demo``, which does all of that. Modes and cases: playbooks/lab/cases.yml.
"""

from __future__ import annotations

import argparse
import os
import sys

from lvslab import cluster


def main() -> int:
    parser = argparse.ArgumentParser(prog="lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default="lvslab",
                        help="name prefix of the lab's namespaces (default %(default)s)")
    sub = parser.add_subparsers(dest="verb", required=True)
    p_up = sub.add_parser("up", help="build the lab and configure it with site.yml")
    p_up.add_argument("--mode", default="fwmark", help="which cases to configure (default %(default)s)")
    p_up.add_argument("--no-configure", action="store_true", help="network, sshd and inventory only")
    sub.add_parser("status", help="what of the lab exists")
    sub.add_parser("down", help="remove the lab")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bin/lab: needs root (network namespaces)", file=sys.stderr)
        return 2

    if args.verb == "up":
        the_lab = cluster.SiteLab(cluster.mode_cases(args.mode), tag=args.tag)
        the_lab.up()
        try:
            if not args.no_configure:
                the_lab.configure()
        except BaseException:
            the_lab.down()
            raise
        print(f"lab {args.tag} is up (mode {args.mode}: {', '.join(the_lab.case_names)})")
        for name, host in the_lab.hosts.items():
            print(f"  {name:<9} {host.ip:<14} ip netns exec {host.ns} ...   ssh -F {the_lab.ssh_config} {host.ip}")
        for case in the_lab.case_names:
            print(f"  VIP {the_lab.vip_of(case):<14} {the_lab.case(case)['title']}")
        print(f"  inventory: {the_lab.inventory}")
        return 0
    the_lab = cluster.SiteLab([], tag=args.tag)
    if args.verb == "down":
        the_lab.down()
        return 0 if not the_lab.leftovers() else 1
    left = the_lab.leftovers()
    if not left:
        print(f"lab {args.tag}: nothing exists")
        return 0
    print(f"lab {args.tag}:")
    for item in left:
        print(f"  {item}")
    if any(item == f"namespace {the_lab.director.ns}" for item in left):
        print(the_lab.director.run("ipvsadm -Ln 2>&1; iptables -t mangle -S PREROUTING 2>&1", check=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
