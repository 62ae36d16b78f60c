# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The director role fails early, before any change, with messages that name the bad services.

The role's input checks run before it touches the host, so this runs the role through
ansible-playbook against localhost on any kernel (no IPVS needed): nothing may be changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[4]
BAD = [
    {"name": "a", "vip": "not-an-address", "ports": [80]},
    {"name": "b", "vip": "192.0.2.1", "ports": [0]},
    {"name": "c", "vip": "192.0.2.1", "ports": [], "fwmark": 5},
    {"name": "d", "vip": "192.0.2.1", "ports": [80, 443], "fwmark": 7},
    {"name": "e", "vip": "192.0.2.2", "ports": [81, 444], "fwmark": 7},
    # what the modules refused half-way through a play before the role checked through _model (issue 12)
    {"name": "f", "vip": "192.0.2.3", "ports": [80], "real_servers": [{"address": "192.0.2.20", "port": 8080}]},
    {"name": "g", "vip": "192.0.2.3", "ports": [81], "scheduler": "w l c"},
    {"name": "h", "vip": "192.0.2.3", "ports": [82], "persistence_timeout": 2**33},
    {"name": "i", "vip": "192.0.2.3", "ports": [0], "persistence_timeout": 60, "persistence_netmask": "0"},
    {"name": "j", "vip": "192.0.2.3", "ports": [83], "scheduler": "nosuch"},
    {"name": "k", "vip": "192.0.2.3", "real_servers": []},
]


def test_bad_services_fail_before_any_change(tmp_path):
    playbook = tmp_path / "bad.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Bad director",
        "hosts": "localhost",
        "gather_facts": False,
        "roles": [{"role": "lvs.ipvs.director", "vars": {
            "director_services": BAD, "director_state_dir": str(tmp_path / "state"),
            "director_systemd_unit_dir": str(tmp_path / "units")}}],
    }]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
               ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "lt"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    for text in ("lvs.ipvs.director: nothing was changed.",
                 "director_services[a]: vip 'not-an-address' is not an IPv4 or IPv6 address",
                 "director_services[b]: port 0 (persistent client, PCC) is only valid with persistence",
                 "director_services[c]: fwmark group 5 has no ports",
                 "director_services[e] FWM 7: listed twice (director_services[d] is the same service)",
                 "director_services[f] TCP 192.0.2.3:80: real server 192.0.2.20:8080: dr forwarding sends packets "
                 "to the service port 80",
                 "director_services[g] TCP 192.0.2.3:81: scheduler 'w l c'",
                 "director_services[h] TCP 192.0.2.3:82: persistence timeout 8589934592",
                 "director_services[i] TCP 192.0.2.3:0: IPv4 persistence netmask /0",
                 "director_services[j] TCP 192.0.2.3:83: scheduler 'nosuch' is not one that Linux ships",
                 "director_services[k]: no ports"):
        assert text in out, out[-4000:]
    assert "changed=0" in out, out[-2000:]
    assert not (tmp_path / "state").exists()
