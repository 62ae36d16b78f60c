# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPVS modules as Ansible runs them: ``ansible`` ad hoc, AnsiballZ, the managed host's Python.

The other IPVS kernel tests run the modules in-process (fast; the same code from ``main()`` on).
This one goes the whole way: the controller (on the host when the bed is User-Mode Linux, through
lvslab.bedctl), the module shipped to a managed host that is a network namespace here, run
by that host's Python (the venv's) with ``LVS_TEST_PYROUTE2_PATH`` first on its import path when
the kernel stage runs the tests with Debian's pyroute2. A ``sitecustomize`` on that path writes
down which pyroute2 the module's own process imported (and the version the collection read of it),
so the test knows instead of assuming.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

from _ipvs_helpers import VIP
from conftest import check_pyroute2
from lvslab import bedctl

REPO = Path(__file__).resolve().parents[2]

VENV_BIN = Path(sys.executable).parent
# Written from the bed and read by the controller: BED_OUT is the same path on both sides.
SCRATCH = Path(os.environ.get("BED_OUT") or "/tmp") / "ipvs-ansible"
# The ad hoc result: "HOST | CHANGED => {" ... "}" (the JSON indented, its closing brace alone on a line).
_RESULT = re.compile(r"^(\S+) \| (\w+) => (\{.*?^\})", re.M | re.S)

PROBE = '''\
import atexit
import sys


def _record_pyroute2():
    mod = sys.modules.get("pyroute2")
    ipvs = sys.modules.get("ansible_collections.lvs.ipvs.plugins.module_utils._ipvs")
    if mod is not None:
        version = getattr(ipvs, "PYROUTE2_VERSION", None) or getattr(mod, "__version__", None)
        with open({record!r}, "a") as out:
            out.write("%s %s\\n" % (version, getattr(mod, "__file__", None)))


atexit.register(_record_pyroute2)
'''


def _interpreter(ns: str, scratch: Path, record: Path) -> Path:
    """``ansible_python_interpreter`` for the namespace: the venv's Python, the pyroute2 under test first."""
    probe = scratch / "probe"
    probe.mkdir(parents=True, exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE.format(record=str(record)))
    path = [p for p in (os.environ.get("LVS_TEST_PYROUTE2_PATH"), str(probe)) if p]
    inner = shlex.join(["env", f"PYTHONPATH={os.pathsep.join(path)}", "ip", "netns", "exec", ns,
                        str(VENV_BIN / "python")])
    if bedctl.remote():  # the controller runs on the host: the module goes over SSH into the bed
        inner = f"{shlex.join(bedctl.ssh_prefix())} {shlex.quote(inner)}"
    wrapper = scratch / f"python-{ns}"
    wrapper.write_text(f'#!/bin/sh\nexec {inner} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def _adhoc(scratch: Path, host: str, interpreter: Path, module: str, args: dict) -> tuple[str, dict]:
    """Run one module with ``ansible`` against ``host`` (local connection); its status word and result."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the controller's own Python as it is
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
        ANSIBLE_HOME=str(scratch / "home"),
        ANSIBLE_LOCAL_TEMP=str(scratch / "local"),
        ANSIBLE_REMOTE_TMP=str(scratch / "remote"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PIPELINING="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_HOST_KEY_CHECKING="0",
        PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    )
    cmd = [str(VENV_BIN / "ansible"), "all", "-i", f"{host},", "-c", "local",
           "-e", f"ansible_python_interpreter={interpreter}", "-m", f"lvs.ipvs.{module}", "-a", json.dumps(args)]
    proc = bedctl.run(cmd, env=env, cwd=scratch)
    found = _RESULT.search(proc.stdout)
    assert found and found.group(1) == host, f"no result line from {shlex.join(cmd)}:\n{proc.stdout[-4000:]}"
    return found.group(2), json.loads(found.group(3))


def test_service_through_ansible_uses_the_pyroute2_under_test(netns, pyroute2_used):
    scratch = SCRATCH / netns.name
    scratch.mkdir(parents=True, exist_ok=True)
    record = scratch / "pyroute2-imported"
    interpreter = _interpreter(netns.name, scratch, record)
    args = {"address": VIP, "port": 80, "scheduler": "wlc", "persistence_timeout": 600}

    # Two module runs (each costs ~10 s in User-Mode Linux): a change, and a read back over netlink.
    # Idempotence and the rest are the in-process tests' job, with the same pyroute2.
    status, result = _adhoc(scratch, netns.name, interpreter, "ipvs_service", args)
    assert status == "CHANGED" and result.get("changed"), result
    assert netns.ipvsadm_save() == [f"-A -t {VIP}:80 -s wlc -p 600"]
    status, result = _adhoc(scratch, netns.name, interpreter, "ipvs_info", {"gather": ["services", "sync_daemons"]})
    assert status == "SUCCESS" and [s["address"] for s in result["services"]] == [VIP], result
    assert result["sync_daemons"] == [], result  # the daemon messages (IPVS_CMD_GET_DAEMON) too
    assert result["services"][0]["stats"]["conns"] == 0, result  # the statistics types defined in _ipvs.py

    lines = record.read_text().splitlines() if record.exists() else []
    assert len(lines) == 2, f"the probe saw {len(lines)} module runs import pyroute2, not 2: {lines}"
    assert len(set(lines)) == 1, lines
    version, location = lines[0].split(" ", 1)
    check_pyroute2(version, location)
    pyroute2_used["through ansible (managed host's Python)"] = f"{version} from {Path(location).parent}"
