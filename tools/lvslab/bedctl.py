# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run an Ansible controller (ansible, ansible-playbook, molecule) on the host, from inside the bed.

In the User-Mode Linux bed a fork of a big Python process costs seconds, and ansible-playbook forks
a worker per host and task. So the controller runs where an operator's would, outside: ``bin/bed``
starts a controller service on its side of the bed's network link and exports
``LVS_BED_CONTROLLER=host:port``. The managed nodes (namespaces with sshd, containers) stay in the
bed, reached over the link as over any network. On a host with IPVS the
command simply runs here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def remote() -> str | None:
    """``host:port`` of the controller service, or None when commands run here."""
    return os.environ.get("LVS_BED_CONTROLLER") or None


def controller_network() -> str | None:
    """The network of the controller's side of the bed's link (hosts in the bed route it back), if any."""
    where = remote()
    if not where:
        return None
    return where.rsplit(":", 1)[0].rsplit(".", 1)[0] + ".0/24"


def ssh_prefix() -> list[str]:
    """``ssh ...`` that runs a command in the bed's root namespace, from the controller's side."""
    control = f"/tmp/{os.environ.get('LVS_BED_NAME', 'lvs-bed')}-%C"  # one per bed: beds share 10.213.0.2
    return ["ssh", "-i", os.environ["LVS_BED_SSH_KEY"], "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ControlMaster=auto",
            "-o", f"ControlPath={control}", "-o", "ControlPersist=600", os.environ["LVS_BED_SSH"]]


def follow(argv: list[str], *, env: dict[str, str], cwd: str | Path | None,
           on_output: Callable[[str], None]) -> int:
    """Run ``argv`` here, hand its output (stdout and stderr) to ``on_output`` as it comes; its exit status.

    Also the body of bin/bed's controller service. The output goes to a file, not a pipe: ssh
    masters (ControlPersist) inherit the command's stdout and would hold a pipe open long after
    the command has finished.
    """
    with tempfile.TemporaryFile() as tmp:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=tmp, stderr=subprocess.STDOUT)
        pos = 0
        while True:
            done = proc.poll() is not None
            tmp.seek(pos)
            chunk = tmp.read()
            if chunk:
                pos += len(chunk)
                on_output(chunk.decode(errors="replace"))
            if done:
                return proc.returncode
            time.sleep(0.2)


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
        stream: bool = False, log: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` on the controller side; output returned (and printed as it comes when ``stream``).

    ``log``, when given, receives the output as it comes too (the caller may follow it).
    """
    env = dict(os.environ if env is None else env)
    where = remote()
    out_parts: list[str] = []
    logf = log.open("w") if log else None
    try:
        if where is None:
            rc = follow(argv, env=env, cwd=cwd, on_output=lambda text: _emit(text, out_parts, logf, stream))
            return subprocess.CompletedProcess(argv, rc, "".join(out_parts), "")
        host, port = where.rsplit(":", 1)
        rc = 255
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.settimeout(None)
            sock.sendall((json.dumps({"argv": argv, "env": env, "cwd": str(cwd or os.getcwd())}) + "\n").encode())
            for raw in sock.makefile("rb"):
                msg = json.loads(raw)
                if "out" in msg:
                    _emit(msg["out"], out_parts, logf, stream)
                elif "rc" in msg:
                    rc = msg["rc"]
        return subprocess.CompletedProcess(argv, rc, "".join(out_parts), "")
    finally:
        if logf:
            logf.close()


def _emit(text: str, parts: list[str], logf, stream: bool) -> None:
    parts.append(text)
    if logf:
        logf.write(text)
        logf.flush()
    if stream:
        sys.stdout.write(text)
        sys.stdout.flush()


def main(argv: list[str]) -> int:
    """``python -m lvslab.bedctl [--cwd DIR] -- COMMAND...``: run COMMAND on the controller side."""
    cwd = None
    if argv[:1] == ["--cwd"]:
        cwd, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: bedctl.py [--cwd DIR] -- COMMAND...", file=sys.stderr)
        return 2
    return run(argv, cwd=cwd, stream=True).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
