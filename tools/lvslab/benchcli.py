# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark: ipvs_config, ipvs_info and the director role against ipvsadm, on a real IPVS kernel.

    bin/bench [--sizes 10,100,1000] [--no-role] [--out DIR]
    bin/bench --profile [--sizes 1000]

For S services of 10 DR real servers each, side by side in one run: ipvsadm-restore, ipvs_config
applying the table from empty, again with nothing to do, with one weight changed, ipvsadm -Sn,
ipvs_config gathered, ipvs_info, and the director role's run with nothing to do (with the tasks it
executed); ratios to ipvsadm-restore and ipvsadm -Sn, the module process's peak memory, and the
issue 12 targets at S = 1,000. Prints one table (also left in DIR/bench/bench.md). Runs itself in the
kernel test bed (bin/bed: User-Mode Linux, or directly on a host with IPVS as root); the
namespaces, addresses and services are the benchmark's own. --profile runs ipvs_config from empty and
again instead, with the time of each of its phases. The code is tools/lvslab/bench.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from lvslab import ROOT


def main() -> int:
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
        from lvslab import bench

        scratch = Path(os.environ.get("BED_OUT") or "/tmp") / "bench"
        if args.profile:
            return bench.profile(sizes, scratch)
        return bench.main(sizes, scratch, role=False if args.no_role else None)
    out = Path(args.out) if args.out else ROOT / ".cache" / "bed" / "bench"
    argv = ["bin/bench", "--sizes", ",".join(map(str, sizes)), *(["--no-role"] if args.no_role else []),
            *(["--profile"] if args.profile else [])]
    return subprocess.run([str(ROOT / "bin" / "bed"), "run", "--out", str(out), "--", *argv], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
