# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The director role's sync daemon settings, checked by the code of ipvs_sync_daemon before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.lvs.ipvs.plugins.filter import director as f

ROLE = Path(__file__).resolve().parents[4] / "roles" / "director"
DEFAULTS = {"daemons": ["master", "backup"], "interface": "eth0", "syncid": 0, "group": "224.0.0.81", "port": 8848,
            "ttl": 1, "maxlen": 0}


def test_the_roles_defaults_pass():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    settings = {"daemons": defaults["director_sync_daemons"], "interface": "eth0",
                **{name: defaults[f"director_sync_{'id' if name == 'syncid' else name}"]
                   for name in ("syncid", "group", "port", "ttl", "maxlen")}}
    assert settings == DEFAULTS
    assert f.sync_daemon_errors(settings) == []
    assert defaults["director_sync_enabled"] is False  # off by default


@pytest.mark.parametrize(("change", "messages"), [
    ({"syncid": 256}, ["director_sync (master sync daemon): syncid 256 is out of range: a sync ID (one byte in the "
                       "sync messages) is 0 to 255"]),
    ({"syncid": "12", "port": "9000"}, []),  # -e and INI inventories give strings
    ({"group": "192.0.2.1"}, ["director_sync (master sync daemon): group 192.0.2.1 is not a multicast address "
                              "(IPv4 224.0.0.0/4, IPv6 ff00::/8)"]),
    ({"maxlen": 1000}, ["director_sync (backup sync daemon): cannot start the backup sync daemon (syncid 0 on eth0): "
                        "maxlen 1000 is out of range: a backup with an IPv4 group takes 1024 to 65507 (the kernel "
                        "would store another value)"]),
    ({"daemons": ["master"], "maxlen": 1000}, []),
    ({"interface": "eth0.with.a.long.name"}, ["director_sync (master sync daemon): interface 'eth0.with.a.long.name' "
                                              "is not a valid interface name (1 to 15 characters, no '/', ':' or "
                                              "white space)"]),
    ({"daemons": ["primary"]}, ["director_sync_daemons must be a list of master and backup, got ['primary']"]),
])
def test_bad_settings_are_named(change, messages):
    errors = f.sync_daemon_errors({**DEFAULTS, **change})
    assert errors[:len(messages)] == messages and len(errors) >= len(messages)
    if not messages:
        assert errors == []
