# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the get-pip bootstrap script that ansible-test downloads from a host this machine cannot reach.

bin/ansible-test copies it to ansible-test's cache. ansible-test runs it in a new virtual environment
with pip's arguments (for example ``pip==24.2 --no-setuptools``): pip comes from the
interpreter's own ensurepip, then installs the requested version from the package index.
"""

from __future__ import annotations

import ensurepip
import os
import runpy
import sys

ensurepip.bootstrap(upgrade=True)
ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
CA = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
CERT = ["--cert", CA] if os.path.exists(CA) else []
sys.argv = ["pip", "install", "--disable-pip-version-check", *CERT, *ARGS]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
