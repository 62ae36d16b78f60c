# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure layer of the connection sync daemons (ipvs_sync_daemon): options, merging, plans, rendering."""

from __future__ import annotations

import pytest
from ansible_collections.lvs.ipvs.plugins.module_utils import _model as m
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import ValidationError

MASTER = m.SyncDaemon("master", "eth1", syncid=10, maxlen=1472)
BACKUP = m.SyncDaemon("backup", "eth1", syncid=10, maxlen=8972, group="ff02::1:81", port=9000, ttl=2)


def spec(**params):
    return m.sync_daemon_spec_from_params(params)


def test_rendered_as_ipvsadm_lists_and_starts_them():
    assert MASTER.render() == ("master sync daemon (mcast=eth1, syncid=10, maxlen=1472, group=224.0.0.81, port=8848, "
                               "ttl=1)")
    assert BACKUP.words() == ("--start-daemon backup --mcast-interface eth1 --syncid 10 --sync-maxlen 8972 "
                              "--mcast-group ff02::1:81 --mcast-port 9000 --mcast-ttl 2")
    assert m.SyncDaemon("master", "eth1").words() == ("--start-daemon master --mcast-interface eth1 --syncid 0 "
                                                      "--mcast-group 224.0.0.81 --mcast-port 8848 --mcast-ttl 1")
    assert m.render_sync_daemons([BACKUP, MASTER]) == MASTER.render() + "\n" + BACKUP.render() + "\n"
    assert m.render_sync_daemons([]) == ""
    assert MASTER.label() == "master sync daemon (syncid 10 on eth1)"
    assert set(MASTER.as_dict()) == {"state", *m.SYNC_FIELDS}


@pytest.mark.parametrize(("group", "expected"), [
    ("224.0.0.81", "224.0.0.81"), (" 239.1.2.3 ", "239.1.2.3"), ("FF02::0001:0081", "ff02::1:81"),
    ("[ff05::1]", "ff05::1")])
def test_groups_are_normalized(group, expected):
    assert spec(state="master", interface="eth1", group=group).group == expected


@pytest.mark.parametrize(("params", "needle"), [
    ({"state": "slave"}, "state 'slave' is not one of master, backup, absent"),
    ({"state": "absent", "daemon": "both"}, "daemon 'both' is not one of master, backup"),
    ({"state": "master", "daemon": "backup"}, "daemon backup contradicts state master"),
    ({"state": "master", "group": "10.0.0.1"}, "group 10.0.0.1 is not a multicast address"),
    ({"state": "master", "group": "2001:db8::1"}, "group 2001:db8::1 is not a multicast address"),
    ({"state": "master", "group": "example.org"}, "group 'example.org' is not an IPv4 or IPv6 address"),
    ({"state": "master", "syncid": 256}, "syncid 256 is out of range: a sync ID (one byte in the sync messages) is "
                                         "0 to 255"),
    ({"state": "master", "syncid": -1}, "syncid -1 is out of range"),
    ({"state": "master", "port": 0}, "port 0 is out of range: a UDP port is 1 to 65535"),
    ({"state": "master", "port": 65536}, "port 65536 is out of range"),
    ({"state": "master", "ttl": 0}, "ttl 0 is out of range: a multicast TTL is 1 to 255"),
    ({"state": "master", "maxlen": 0}, "maxlen 0 is out of range"),
    ({"state": "master", "maxlen": 65508}, "maxlen 65508 is out of range"),
    ({"state": "master", "interface": "a-name-of-16-chr"}, "interface 'a-name-of-16-chr' is not a valid interface"),
    ({"state": "master", "interface": "eth0:1"}, "is not a valid interface name"),
    ({"state": "master", "interface": "a b"}, "is not a valid interface name"),
    ({"state": "master", "interface": ""}, "is not a valid interface name"),
])
def test_bad_options_are_refused(params, needle):
    with pytest.raises(ValidationError) as caught:
        spec(**params)
    assert needle in str(caught.value)


def test_absent_stops_the_daemon_named_or_both():
    assert spec(state="absent").stop == ("master", "backup")
    assert spec(state="absent", daemon="backup").stop == ("backup",)
    assert spec(state="master", daemon="master").stop == ()


def test_a_new_daemon_gets_the_kernels_defaults_and_needs_an_interface():
    assert m.merge_sync_daemon(None, spec(state="backup", interface="eth1")) == m.SyncDaemon("backup", "eth1")
    with pytest.raises(ValidationError, match="cannot start the backup sync daemon: interface is required"):
        m.merge_sync_daemon(None, spec(state="backup", syncid=3))


def test_settings_not_given_keep_the_running_daemons():
    target = m.merge_sync_daemon(BACKUP, spec(state="backup", ttl=5))
    assert target == m.SyncDaemon("backup", "eth1", syncid=10, maxlen=None, group="ff02::1:81", port=9000, ttl=5)
    assert m.sync_daemon_changes(BACKUP, target) == ["ttl"]


def test_maxlen_is_compared_only_when_given():
    assert m.sync_daemon_changes(MASTER, m.merge_sync_daemon(MASTER, spec(state="master"))) == []
    assert m.sync_daemon_changes(MASTER, m.merge_sync_daemon(MASTER, spec(state="master", maxlen=1472))) == []
    assert m.sync_daemon_changes(MASTER, m.merge_sync_daemon(MASTER, spec(state="master", maxlen=1000, port=1))) == [
        "maxlen", "port"]


@pytest.mark.parametrize(("state", "group", "maxlen", "ok"), [
    ("master", "224.0.0.81", 1, True), ("master", "224.0.0.81", 65507, True), ("master", "ff02::1", 65487, True),
    ("master", "ff02::1", 65488, False), ("backup", "224.0.0.81", 1023, False), ("backup", "224.0.0.81", 1024, True),
    ("backup", "ff02::1", 65487, True), ("backup", "ff02::1", 65500, False)])
def test_maxlen_the_kernel_would_clamp_is_refused(state, group, maxlen, ok):
    params = spec(state=state, interface="eth1", group=group, maxlen=maxlen)
    if ok:
        assert m.merge_sync_daemon(None, params).maxlen == maxlen
    else:
        with pytest.raises(ValidationError, match=rf"cannot start the {state} sync daemon \(syncid 0 on eth1\): "
                                                  rf"maxlen {maxlen} is out of range: a {state} with an IPv[46] group"):
            m.merge_sync_daemon(None, params)


@pytest.mark.parametrize(("state", "family", "mtu", "maxlen"), [
    ("master", "ipv4", 9000, 1472), ("master", "ipv6", 1500, 1452), ("backup", "ipv4", 9000, 8972),
    ("backup", "ipv4", 1280, 1472), ("backup", "ipv4", 65536, 65507), ("backup", "ipv6", None, 1452)])
def test_the_maxlen_the_kernel_chooses(state, family, mtu, maxlen):
    assert m.default_sync_maxlen(state, family, mtu) == maxlen


def _words(current, params):
    return [op.words for op in m.plan_sync_daemons(current, spec(**params))]


def test_plans():
    assert _words([], {"state": "master", "interface": "eth1", "syncid": 10}) == [
        "--start-daemon master --mcast-interface eth1 --syncid 10 --mcast-group 224.0.0.81 --mcast-port 8848 "
        "--mcast-ttl 1"]
    assert _words([MASTER, BACKUP], {"state": "master", "interface": "eth1", "syncid": 10}) == []
    assert _words([MASTER, BACKUP], {"state": "master", "port": 9000}) == [
        "--stop-daemon master",
        "--start-daemon master --mcast-interface eth1 --syncid 10 --mcast-group 224.0.0.81 --mcast-port 9000 "
        "--mcast-ttl 1"]
    assert _words([MASTER], {"state": "backup", "interface": "eth2"})[0].startswith("--start-daemon backup ")
    assert _words([MASTER, BACKUP], {"state": "absent"}) == ["--stop-daemon master", "--stop-daemon backup"]
    assert _words([BACKUP], {"state": "absent"}) == ["--stop-daemon backup"]
    assert _words([MASTER], {"state": "absent", "daemon": "backup"}) == []
    assert _words([], {"state": "absent"}) == []


def test_what_a_plan_leaves_is_what_the_kernel_reports():
    ops = m.plan_sync_daemons([MASTER, BACKUP], spec(state="master", group="ff02::1:81"))
    after = m.apply_sync_plan([MASTER, BACKUP], ops, {"eth1": 9000})
    assert after == [m.SyncDaemon("master", "eth1", syncid=10, maxlen=1452, group="ff02::1:81"), BACKUP]
    ops = m.plan_sync_daemons([], spec(state="backup", interface="eth1", maxlen=4000))
    assert m.apply_sync_plan([], ops, {"eth1": 9000}) == [m.SyncDaemon("backup", "eth1", maxlen=4000)]
    ops = m.plan_sync_daemons([], spec(state="backup", interface="lo"))
    assert m.apply_sync_plan([MASTER], ops, {"lo": 65536}) == [MASTER, m.SyncDaemon("backup", "lo", maxlen=65507)]
    assert m.apply_sync_plan([MASTER, BACKUP], m.plan_sync_daemons([MASTER, BACKUP], spec(state="absent"))) == []
