# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the get-pip bootstrap script that ansible-test downloads from a host this machine cannot reach.

bin/ansible-test copies it to ansible-test's cache, with the wheel of the pip that ansible-test asks
for beside it. ansible-test runs it in each new virtual environment with pip's arguments (for example
``pip==24.2 --no-setuptools``): pip runs from that wheel and installs itself from it, the way get-pip
does. Without the wheel, pip comes from the interpreter's own ensurepip and then installs the version
asked for from the package index (a few seconds more per environment).
"""

from __future__ import annotations

import glob
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
WHEELS = glob.glob(os.path.join(HERE, "pip-*.whl"))
if WHEELS:
    sys.path.insert(0, WHEELS[0])
    sys.argv = ["pip", "install", "--disable-pip-version-check", "--no-index", "--find-links", HERE, *ARGS]
else:
    import ensurepip

    ensurepip.bootstrap(upgrade=True)
    CA = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
    CERT = ["--cert", CA] if os.path.exists(CA) else []
    sys.argv = ["pip", "install", "--disable-pip-version-check", *CERT, *ARGS]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
