# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ipvs_sync_daemon (and ipvs_info's sync_daemons) on a real kernel, judged by ``ipvsadm -L --daemon``.

Every namespace has a veth pair (sync0, sync1; multicast-capable, up) for the daemons. Each change
runs four ways (check, apply, again, check again); a change of a running daemon is a stop and a
start; bad input changes nothing; daemons started by ipvsadm in a twin namespace are the oracle.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import jinja2
import pytest
from _ipvs_helpers import four_way

MODULE = "ipvs_sync_daemon"


def _prepare(ns) -> None:
    # no duplicate address detection: an IPv6 master needs the link-local address at once (while it is
    # tentative the kernel refuses to start the daemon: EADDRNOTAVAIL, tested below)
    ns.run("sysctl -qw net.ipv6.conf.default.accept_dad=0 && ip link add sync0 type veth peer name sync1 "
           "&& ip link set sync0 up && ip link set sync1 up")


@pytest.fixture
def syncns(make_netns):
    ns = make_netns("sync")
    _prepare(ns)
    return ns


def daemons(ns) -> str:
    """The independent view: ``ipvsadm -L --daemon`` in the namespace."""
    return ns.run("ipvsadm -L --daemon")


def line(state: str, ifn: str = "sync0", *, syncid: int = 0, maxlen: int = 1472, group: str = "224.0.0.81",
         port: int = 8848, ttl: int = 1) -> str:
    return f"{state} sync daemon (mcast={ifn}, syncid={syncid}, maxlen={maxlen}, group={group}, port={port}, ttl={ttl})"


def run_ok(run_module, ns, args: dict, **kwargs) -> dict:
    res = run_module(ns, MODULE, args, **kwargs)
    assert not res.failed, res.msg
    return res.result


def test_master_four_ways(run_module, syncns):
    result = four_way(run_module, syncns, MODULE, {"state": "master", "interface": "sync0", "syncid": 3},
                      view=lambda: daemons(syncns))
    assert daemons(syncns) == line("master", syncid=3) + "\n"
    assert result["changes"] == ["--start-daemon master --mcast-interface sync0 --syncid 3 --mcast-group 224.0.0.81 "
                                 "--mcast-port 8848 --mcast-ttl 1"]
    assert result["sync_daemon"] == {"state": "master", "interface": "sync0", "syncid": 3, "maxlen": 1472,
                                     "group": "224.0.0.81", "port": 8848, "ttl": 1}
    assert result["diff"]["before"] == "" and result["diff"]["after"] == daemons(syncns)


def test_check_mode_predicts_what_the_kernel_reports(run_module, syncns):
    args = {"state": "backup", "interface": "sync0", "syncid": 7, "group": "ff02::1:81", "port": 9000, "ttl": 4}
    check = run_ok(run_module, syncns, args, check_mode=True, diff=True)
    applied = run_ok(run_module, syncns, args, diff=True)
    assert check["sync_daemons"] == applied["sync_daemons"]
    assert check["diff"] == applied["diff"]
    assert applied["diff"]["after"] == daemons(syncns) == line("backup", syncid=7, maxlen=1452, group="ff02::1:81",
                                                               port=9000, ttl=4) + "\n"


def test_master_and_backup_both_run_and_ipvs_info_reads_them(run_module, syncns):
    four_way(run_module, syncns, MODULE, {"state": "master", "interface": "sync0", "syncid": 10},
             view=lambda: daemons(syncns))
    four_way(run_module, syncns, MODULE, {"state": "backup", "interface": "sync1", "syncid": 10, "maxlen": 1200,
                                          "group": "239.1.2.3", "port": 8900, "ttl": 2},
             view=lambda: daemons(syncns))
    backup = line("backup", "sync1", syncid=10, maxlen=1200, group="239.1.2.3", port=8900, ttl=2)
    assert daemons(syncns) == line("master", syncid=10) + "\n" + backup + "\n"
    info = run_module(syncns, "ipvs_info", {"gather": ["sync_daemons"]})
    assert not info.failed and not info.changed
    assert info.result["sync_daemons"] == [
        {"state": "master", "interface": "sync0", "syncid": 10, "maxlen": 1472, "group": "224.0.0.81", "port": 8848,
         "ttl": 1},
        {"state": "backup", "interface": "sync1", "syncid": 10, "maxlen": 1200, "group": "239.1.2.3", "port": 8900,
         "ttl": 2}]
    # what ipvs_info returns is module input: fed back, nothing changes
    for daemon in info.result["sync_daemons"]:
        again = run_module(syncns, MODULE, daemon)
        assert not again.failed and not again.changed, again.result


def test_a_change_is_a_stop_and_a_start(run_module, syncns):
    run_ok(run_module, syncns, {"state": "backup", "interface": "sync1"})  # untouched by the master's changes
    run_ok(run_module, syncns, {"state": "master", "interface": "sync0", "syncid": 1, "maxlen": 1000})
    result = four_way(run_module, syncns, MODULE, {"state": "master", "port": 9100, "ttl": 3},
                      view=lambda: daemons(syncns))
    assert result["changes"] == [
        "--stop-daemon master",
        "--start-daemon master --mcast-interface sync0 --syncid 1 --mcast-group 224.0.0.81 --mcast-port 9100 "
        "--mcast-ttl 3"]
    assert "master sync daemon is stopped and started again" in result["diff"]["after_header"]
    # the settings not given were kept; maxlen not given: the kernel chose it again
    assert daemons(syncns) == line("master", syncid=1, port=9100, ttl=3) + "\n" + line("backup", "sync1") + "\n"
    # a task naming only some settings changes nothing else
    result = run_ok(run_module, syncns, {"state": "master", "interface": "sync0"})
    assert not result["changed"]
    # group family change: IPv6 group, maxlen then 1500 - 48
    four_way(run_module, syncns, MODULE, {"state": "master", "group": "ff02::1:81"}, view=lambda: daemons(syncns))
    assert daemons(syncns).splitlines()[0] == line("master", syncid=1, maxlen=1452, group="ff02::1:81", port=9100,
                                                   ttl=3)


def test_stop_one_then_both(run_module, syncns):
    run_ok(run_module, syncns, {"state": "master", "interface": "sync0"})
    run_ok(run_module, syncns, {"state": "backup", "interface": "sync0"})
    result = four_way(run_module, syncns, MODULE, {"state": "absent", "daemon": "backup"},
                      view=lambda: daemons(syncns))
    assert result["changes"] == ["--stop-daemon backup"] and result["sync_daemon"] is None
    assert daemons(syncns) == line("master") + "\n"
    run_ok(run_module, syncns, {"state": "backup", "interface": "sync0"})
    result = four_way(run_module, syncns, MODULE, {"state": "absent"}, view=lambda: daemons(syncns))
    assert result["changes"] == ["--stop-daemon master", "--stop-daemon backup"]
    assert daemons(syncns) == "" and result["sync_daemons"] == []


@pytest.mark.parametrize("args", [
    {"state": "master", "interface": "sync0", "syncid": 255, "group": "239.255.0.1", "port": 1, "ttl": 255,
     "maxlen": 65507},
    {"state": "backup", "interface": "sync1", "syncid": 0, "group": "ff05::1234", "port": 65535, "ttl": 1,
     "maxlen": 1024},
    {"state": "backup", "interface": "lo"},  # a backup's default maxlen comes from the MTU (65536 -> 65535 - 28)
], ids=["master-limits", "backup-ipv6-limits", "backup-on-lo"])
def test_the_same_daemon_as_ipvsadm_starts(run_module, make_netns, args):
    ours, twin = make_netns("sync"), make_netns("twin")
    for ns in (ours, twin):
        _prepare(ns)
    options = {"interface": "--mcast-interface", "syncid": "--syncid", "group": "--mcast-group",
               "port": "--mcast-port", "ttl": "--mcast-ttl", "maxlen": "--sync-maxlen"}
    twin.run(f"ipvsadm --start-daemon {args['state']} "
             + " ".join(f"{options[k]} {v}" for k, v in args.items() if k in options))
    four_way(run_module, ours, MODULE, args, view=lambda: daemons(ours))
    assert daemons(ours) == daemons(twin)
    # a daemon ipvsadm started is the one the task asks for: nothing to do
    res = run_module(twin, MODULE, args)
    assert not res.failed and not res.changed, res.result


def test_an_interface_without_multicast_is_warned_about(run_module, syncns):
    result = run_ok(run_module, syncns, {"state": "backup", "interface": "lo"})
    assert "interface lo of the backup sync daemon has no MULTICAST flag" in str(result.get("warnings"))


BAD = [
    ({"state": "backup", "interface": "nope0"}, "cannot start the backup sync daemon (syncid 0 on nope0): there is "
                                                "no interface nope0 in this network namespace"),
    ({"state": "backup", "interface": "sync0", "group": "10.0.0.1"}, "group 10.0.0.1 is not a multicast address"),
    ({"state": "backup", "interface": "sync0", "group": "2001:db8::1"}, "group 2001:db8::1 is not a multicast"),
    ({"state": "backup", "interface": "sync0", "group": "ff02::zz"}, "group 'ff02::zz' is not an IPv4 or IPv6"),
    ({"state": "backup", "interface": "sync0", "syncid": 256}, "syncid 256 is out of range"),
    ({"state": "backup", "interface": "sync0", "syncid": -1}, "syncid -1 is out of range"),
    ({"state": "backup", "interface": "sync0", "port": 0}, "port 0 is out of range"),
    ({"state": "backup", "interface": "sync0", "ttl": 256}, "ttl 256 is out of range"),
    ({"state": "backup", "interface": "sync0", "maxlen": 1000},
     "cannot start the backup sync daemon (syncid 0 on sync0): maxlen 1000 is out of range: a backup with an IPv4 "
     "group takes 1024 to 65507"),
    ({"state": "backup", "interface": "sync0", "maxlen": 65500, "group": "ff02::1"}, "takes 1024 to 65487"),
    ({"state": "backup", "interface": "averyveryverylongname"}, "is not a valid interface name"),
    ({"state": "backup"}, "cannot start the backup sync daemon: interface is required to start it"),
    ({"state": "master", "daemon": "backup"}, "daemon backup contradicts state master"),
    # a change of the running master that cannot be made: the master keeps running as it is
    ({"state": "master", "interface": "nope0", "port": 9000}, "there is no interface nope0"),
    ({"state": "master", "maxlen": 70000}, "maxlen 70000 is out of range"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[str(i) for i in range(len(BAD))])
@pytest.mark.parametrize("check_mode", [True, False], ids=["check", "apply"])
def test_bad_input_changes_nothing(run_module, syncns, args, needle, check_mode):
    run_ok(run_module, syncns, {"state": "master", "interface": "sync0", "syncid": 5})
    before = daemons(syncns)
    res = run_module(syncns, MODULE, args, check_mode=check_mode)
    assert res.failed, res.result
    assert needle in res.msg, res.msg
    assert daemons(syncns) == before == line("master", syncid=5) + "\n"


def test_a_service_with_real_servers_of_another_family_is_refused_before_anything(run_module, syncns):
    syncns.run("ipvsadm -A -t 192.0.2.1:80 -s rr && ipvsadm -a -t 192.0.2.1:80 -r 2001:db8::2 -i")
    res = run_module(syncns, MODULE, {"state": "master", "interface": "sync0"}, check_mode=True)
    assert res.failed and "real servers of another address family" in res.msg and "TCP 192.0.2.1:80" in res.msg
    res = run_module(syncns, MODULE, {"state": "master", "interface": "sync0"})
    assert res.failed and "TCP 192.0.2.1:80" in res.msg, res.msg
    assert daemons(syncns) == ""


def test_a_restart_the_kernel_refuses_starts_the_old_daemon_again(run_module, syncns):
    # no IPv6 on this interface: the kernel refuses an IPv6 master there only when it starts it (EADDRNOTAVAIL)
    syncns.run("ip link add v4only0 type veth peer name v4only1 && sysctl -qw net.ipv6.conf.v4only0.disable_ipv6=1 "
               "&& ip link set v4only0 up && ip link set v4only1 up")
    run_ok(run_module, syncns, {"state": "master", "interface": "v4only0", "syncid": 9, "port": 9200})
    before = daemons(syncns)
    res = run_module(syncns, MODULE, {"state": "master", "group": "ff02::1:81"})
    assert res.failed
    assert res.msg.startswith("cannot start the master sync daemon (syncid 9 on v4only0): interface v4only0 has no "
                              "usable IPv6 address or route for group ff02::1:81 ("), res.msg
    assert res.msg.endswith("; it had been stopped to change it and was started again with its old settings")
    assert daemons(syncns) == before == line("master", "v4only0", syncid=9, port=9200) + "\n"


# --- the director role's boot path: restore.sh starts the daemons the role runs -----------------------------

ROLE = Path(__file__).resolve().parents[2] / "roles" / "director"


def _restore_script(state_dir: Path, **variables) -> str:
    """The director role's restore.sh.j2 rendered as Ansible renders templates (trim_blocks), without its
    other sections (no modules, VIPs or timeouts)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")), trim_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    env.filters["bool"] = lambda value: str(value).lower() in ("1", "true", "yes", "on")
    env.filters["lvs.ipvs.host_prefix"] = str  # (no VIPs here)
    context = {"ansible_managed": "test", "director_state_dir": str(state_dir), "director_systemd_unit_name": "x",
               "director_load_kernel_modules": False, "director_manage_vip": False, "_director_manage_vip": False,
               "director_timeouts": {},
               "director_interface": "sync0", "director_sync_enabled": True,
               "director_sync_daemons": ["master", "backup"], "director_sync_interface": "sync0",
               "director_sync_id": 0, "director_sync_group": "224.0.0.81", "director_sync_port": 8848,
               "director_sync_ttl": 1, "director_sync_maxlen": 0}
    context.update(variables)
    return env.get_template("restore.sh.j2").render(context)


@pytest.mark.parametrize("variables", [
    {},
    {"director_sync_daemons": ["backup"], "director_sync_id": 12, "director_sync_group": "ff02::1:81",
     "director_sync_port": 9300, "director_sync_ttl": 2, "director_sync_maxlen": 1400},
], ids=["defaults", "backup-ipv6"])
def test_the_boot_script_starts_what_the_role_runs(run_module, make_netns, tmp_path, variables):
    boot, role = make_netns("boot"), make_netns("role")
    for ns in (boot, role):
        _prepare(ns)
    for name in ("ipvs.rules", "fwmark4.rules", "fwmark6.rules"):
        (tmp_path / name).write_text("")
    script = tmp_path / "restore.sh"
    script.write_text(_restore_script(tmp_path, **variables))
    boot.run(f"sh {shlex.quote(str(script))}")
    settings = {"director_sync_daemons": ["master", "backup"], "director_sync_id": 0,
                "director_sync_group": "224.0.0.81", "director_sync_port": 8848, "director_sync_ttl": 1,
                "director_sync_maxlen": 0, **variables}
    for state in settings["director_sync_daemons"]:  # what roles/director/tasks/sync.yml asks for
        args = {"state": state, "interface": "sync0", "syncid": settings["director_sync_id"],
                "group": settings["director_sync_group"], "port": settings["director_sync_port"],
                "ttl": settings["director_sync_ttl"]}
        if settings["director_sync_maxlen"]:
            args["maxlen"] = settings["director_sync_maxlen"]
        run_ok(run_module, role, args)
        assert not run_ok(run_module, boot, args)["changed"]  # after a boot, the role has nothing to do
    assert daemons(boot) == daemons(role) != ""
    boot.run(f"sh {shlex.quote(str(script))}")  # again: the running daemons are left as they are
    assert daemons(boot) == daemons(role)


# --- the daemons at work: a master's persistence template reaches a backup ----------------------------------

SEND = ("import socket, time\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.bind(('10.99.0.2', 40000))\n"
        "for _ in range(6):\n"
        "    s.sendto(b'x', ('10.99.0.100', 5000)); time.sleep(0.05)\n")


def _templates(ns) -> list[str]:
    """Persistence templates in ``ipvsadm -Lnc`` (client port 0)."""
    return [row for row in ns.run("ipvsadm -Lnc").splitlines() if " 10.99.0.2:0 " in row]


@pytest.mark.parametrize(("backup_syncid", "synced"), [(7, True), (0, True), (8, False)],
                         ids=["same-syncid", "backup-syncid-0-takes-all", "other-syncid"])
def test_a_backup_receives_the_masters_templates(run_module, make_netns, backup_syncid, synced):
    d1, d2, client = make_netns("d1"), make_netns("d2"), make_netns("client")
    d1.run(f"ip link add c0 type veth peer name c1 netns {client.name} "
           f"&& ip link add s1 type veth peer name s2 netns {d2.name}")
    d1.run("ip addr add 10.99.0.1/24 dev c0 && ip addr add 10.99.0.100/32 dev c0 && ip link set c0 up "
           "&& ip addr add 10.98.0.1/24 dev s1 && ip link set s1 up")
    d2.run("ip addr add 10.98.0.2/24 dev s2 && ip link set s2 up")
    client.run("ip addr add 10.99.0.2/24 dev c1 && ip link set c1 up")
    for director in (d1, d2):  # the same persistent UDP service on both directors
        director.run("ipvsadm -A -u 10.99.0.100:5000 -s rr -p 300 && ipvsadm -a -u 10.99.0.100:5000 -r 10.99.0.50 -g")
    run_ok(run_module, d2, {"state": "backup", "interface": "s2", "syncid": backup_syncid})
    run_ok(run_module, d1, {"state": "master", "interface": "s1", "syncid": 7})
    client.run(f"python3 -c {shlex.quote(SEND)}")
    assert len(_templates(d1)) == 1, d1.run("ipvsadm -Lnc")
    found: list[str] = []
    deadline = time.monotonic() + (10 if synced else 6)  # the master sends its buffer every 2 s at the latest
    while not found and time.monotonic() < deadline:
        time.sleep(0.25)
        found = _templates(d2)
    assert bool(found) is synced, d2.run("ipvsadm -Lnc")
    if synced:
        assert "10.99.0.100:5000" in found[0] and "10.99.0.50:5000" in found[0], found
        assert found[0].split()[0] == "UDP"
