# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The director role's filters: validation messages and the boot-time renderings."""

from __future__ import annotations

import json

import pytest
from ansible_collections.lvs.ipvs.plugins.filter import director as f
from ansible_collections.lvs.ipvs.plugins.module_utils import _model

RS = [{"address": "192.168.1.2", "weight": 4}, {"address": "192.168.1.3", "weight": 2, "forwarding": "dr"}]


def plan(*services):
    return f.director_plan(list(services))


def rendered(p):
    """What ipvs_config state=rendered makes of the role's config: the role's boot file (ipvs.rules)."""
    return _model.render_wanted(_model.validate_config(p["config"]))


def test_three_modes_render_like_ipvsadm_save():
    p = plan(
        {"name": "web", "vip": "192.168.0.1", "ports": [80], "scheduler": "rr", "persistence_timeout": 300,
         "real_servers": RS},
        {"name": "all", "vip": "192.168.0.2", "ports": [0], "persistence_timeout": 600,
         "persistence_netmask": "24", "real_servers": RS[:1]},
        {"name": "shop", "vip": "192.168.0.3", "ports": [80, 443], "fwmark": 10, "scheduler": "rr",
         "persistence_timeout": 3600, "real_servers": RS},
    )
    assert p["errors"] == []
    assert sorted(rendered(p)) == sorted([
        "-A -t 192.168.0.1:80 -s rr -p 300",
        "-a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4",
        "-a -t 192.168.0.1:80 -r 192.168.1.3:80 -g -w 2",
        "-A -t 192.168.0.2:0 -s wlc -p 600 -M 255.255.255.0",
        "-a -t 192.168.0.2:0 -r 192.168.1.2:0 -g -w 4",
        "-A -f 10 -s rr -p 3600",
        "-a -f 10 -r 192.168.1.2:0 -g -w 4",
        "-a -f 10 -r 192.168.1.3:0 -g -w 2",
    ])
    assert p["kernel_modules"] == ["ip_vs", "ip_vs_rr", "ip_vs_wlc"]
    assert p["vips"] == ["192.168.0.1", "192.168.0.2", "192.168.0.3"]
    assert f.director_fwmark_rules(p["services"]).splitlines() == [
        "*mangle",
        '-A PREROUTING -d 192.168.0.3/32 -p tcp -m tcp --dport 80 -m comment --comment "lvs.ipvs fwmark=10" '
        "-j MARK --set-xmark 0xa/0xffffffff",
        '-A PREROUTING -d 192.168.0.3/32 -p tcp -m tcp --dport 443 -m comment --comment "lvs.ipvs fwmark=10" '
        "-j MARK --set-xmark 0xa/0xffffffff",
        "COMMIT",
    ]
    assert f.director_fwmark_rules(p["services"], "ipv6") == "*mangle\nCOMMIT\n"


def test_ipv6_service():
    p = plan({"name": "v6", "vip": "2001:DB8::1", "ports": [443], "persistence_timeout": 60,
              "persistence_netmask": 64, "real_servers": [{"address": "2001:db8::2"}]})
    assert p["errors"] == []
    assert sorted(rendered(p)) == [
        "-A -t [2001:db8::1]:443 -s wlc -p 60 -M 64",
        "-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -g -w 1",
    ]


@pytest.mark.parametrize(
    ("service", "message"),
    [
        # the role's own shape
        ({"name": "a", "vip": "192.168.0.300", "ports": [80]}, "vip '192.168.0.300' is not an IPv4 or IPv6 address"),
        ({"name": "a", "vip": "192.168.0.0/24", "ports": [80]}, "is not an IPv4 or IPv6 address"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [], "fwmark": 5}, "fwmark group 5 has no ports"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [80, 443]}, "need a fwmark to group them"),
        ({"name": "a", "vip": "192.168.0.1"}, "no ports: give one port"),
        # IPVS values, checked by _model (what ipvs_config runs), named by the role's service name
        ({"name": "a", "vip": "192.168.0.1", "ports": [0]}, "port 0 (persistent client, PCC) is only valid with"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [80], "real_servers": [{"address": "2001:db8::2"}]},
         "2001:db8::2"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [80], "real_servers": [{"address": "10.0.0.1", "weight": -1}]},
         "weight"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [80], "persistence_netmask": "255.255.255.0"}, "netmask"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [80], "real_servers": [{"address": "10.0.0.1", "port": 8080}]},
         "port 8080 is only possible with forwarding: nat"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [80], "scheduler": "w l c"}, "scheduler 'w l c'"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [80], "scheduler": "nosuch"}, "scheduler 'nosuch'"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [80], "persistence_timeout": 2**33}, "8589934592"),
        ({"name": "a", "vip": "192.168.0.1", "ports": [0], "persistence_timeout": 60, "persistence_netmask": "0"},
         "netmask"),
    ],
)
def test_bad_service(service, message):
    errors = plan(service)["errors"]
    assert any(message in e and e.startswith("director_services[a]") for e in errors), errors


def test_two_services_one_mark_and_duplicates():
    errors = plan(
        {"name": "d", "vip": "192.168.0.1", "ports": [80, 443], "fwmark": 7},
        {"name": "e", "vip": "192.168.0.2", "ports": [81], "fwmark": 7},
        {"name": "x", "vip": "192.168.0.1", "ports": [22]},
        {"name": "x", "vip": "192.168.0.1", "ports": [22]},
    )["errors"]
    assert any(e.startswith("director_services[e]") and "listed twice" in e for e in errors), errors
    assert any(e.startswith("director_services[x]") and "listed twice" in e for e in errors), errors
    assert "director_services: the name 'x' is used by 2 services" in errors


def test_timeouts_checked_with_the_services():
    errors = f.director_plan([], {"tcp": 0, "fin": 3})["errors"]
    assert any(e.startswith("director_timeouts:") and "'fin'" in e for e in errors), errors
    assert any(e.startswith("director_timeouts:") and "tcp" in e for e in errors), errors


def test_config_and_absent_keys_for_ipvs_config():
    p = plan({"name": "shop", "vip": "192.168.0.3", "ports": [80, 443], "fwmark": 10, "persistence_timeout": 60,
              "real_servers": RS[:1]},
             {"name": "old", "vip": "192.168.0.4", "ports": [25], "state": "absent"})
    assert p["errors"] == []
    assert p["config"] == [{"scheduler": "wlc", "persistent": True, "persistence_timeout": 60, "fwmark": 10,
                            "family": "ipv4", "real_servers": [{"address": "192.168.1.2", "weight": 4,
                                                                "forwarding": "dr"}]}]
    assert p["absent_config"] == [{"protocol": "tcp", "address": "192.168.0.4", "port": 25}]
    assert p["vips"] == ["192.168.0.3"]
    assert [s["name"] for s in p["fwmark"]] == ["shop"]


def test_rendered_is_ipvs_config_rendered_of_the_present_services():
    """The role's boot file (``rendered``) is the text ipvs_config state=rendered returns for ``config``."""
    p = plan({"name": "web", "vip": "192.168.0.1", "ports": [80], "persistence_timeout": 300, "real_servers": RS},
             {"name": "shop", "vip": "192.168.0.3", "ports": [80, 443], "fwmark": 10, "real_servers": RS[:1]},
             {"name": "old", "vip": "192.168.0.4", "ports": [25], "state": "absent", "real_servers": RS})
    assert p["errors"] == []
    assert p["rendered"] == _model.render_text(rendered(p))
    assert "192.168.0.4" not in p["rendered"] and "-A -f 10 -s wlc" in p["rendered"]
    assert plan({"name": "bad", "vip": "192.168.0.1", "ports": [80], "scheduler": "w l c"})["rendered"] == ""


def test_address_helpers():
    assert f.address_errors(["192.0.2.1", "2001:db8::1", "x"], "vips") == [
        "vips: 'x' is not an IPv4 or IPv6 address (give the address without a prefix)"]
    assert f.host_prefix("2001:DB8::10") == "2001:db8::10/128"
    assert f.host_prefix("192.0.2.1") == "192.0.2.1/32"
    links = [{"addr_info": [{"local": "127.0.0.1", "prefixlen": 8}, {"local": "2001:DB8::10", "prefixlen": 128}]}]
    assert f.ip_addresses(json.dumps(links)) == ["127.0.0.1/8", "2001:db8::10/128"]


def test_vip_plan_removes_only_what_the_role_added():
    present = ["127.0.0.1/8", "192.0.2.10/32", "192.0.2.11/32", "192.0.2.12/32", "2001:db8::1/128"]
    # .11 was added by the role and is no longer wanted; .12 is no longer wanted but someone else added it.
    p = f.vip_plan(["192.0.2.10", "2001:DB8::1", "192.0.2.13"], present, "192.0.2.10/32\n192.0.2.11/32\n# note\n")
    assert p == {
        "add": ["192.0.2.13/32"],
        "remove": ["192.0.2.11/32"],
        "owned": ["192.0.2.10/32", "192.0.2.13/32"],
    }


def test_vip_plan_no_state_file_and_gone_addresses():
    # First run: nothing owned, nothing removed; an owned address already gone is not removed again.
    assert f.vip_plan(["192.0.2.10"], [], "") == {"add": ["192.0.2.10/32"], "remove": [], "owned": ["192.0.2.10/32"]}
    assert f.vip_plan([], ["192.0.2.10/32"], ["192.0.2.11/32"]) == {"add": [], "remove": [], "owned": []}


def test_removed_real_servers_lists_what_the_write_removes_from_services_it_keeps():
    removed_real_servers = f.removed_real_servers
    web = {"protocol": "tcp", "address": "192.0.2.1", "port": 80, "scheduler": "rr", "persistent": False}
    shop = {"fwmark": 10, "family": "ipv4", "scheduler": "rr", "persistent": True, "persistence_timeout": 600}
    gone = {"protocol": "tcp", "address": "192.0.2.1", "port": 22, "scheduler": "rr", "persistent": False}

    def rs(*addresses, port=80):
        return [{"address": a, "port": port, "forwarding": "dr", "weight": 1} for a in addresses]

    preview = {
        "changed": True,
        "before": [{**web, "real_servers": rs("10.0.0.1", "10.0.0.2")},
                   {**shop, "real_servers": rs("10.0.0.1", "10.0.0.3", port=0)},
                   {**gone, "real_servers": rs("10.0.0.1", port=22)}],
        # the write keeps both services, reweights 10.0.0.1, drops 10.0.0.2 and 10.0.0.3 and the ssh service
        "after": [{**web, "real_servers": [{"address": "10.0.0.1", "port": 80, "weight": 5}]},
                  {**shop, "real_servers": rs("10.0.0.1", port=0)}],
    }
    assert removed_real_servers(preview) == [
        {"service": {"protocol": "tcp", "address": "192.0.2.1", "port": 80}, "address": "10.0.0.2", "port": 80,
         "label": "10.0.0.2:80 of TCP 192.0.2.1:80"},
        {"service": {"fwmark": 10, "family": "ipv4"}, "address": "10.0.0.3", "port": 0,
         "label": "10.0.0.3:0 of FWM 10"},
    ]
    # skipped, unchanged (no before/after) or nothing removed: nothing to drain
    assert removed_real_servers({"skipped": True}) == []
    assert removed_real_servers({"changed": False}) == []
    assert removed_real_servers(None) == []
    assert removed_real_servers({"before": preview["after"], "after": preview["after"]}) == []


def test_added_real_servers_lists_the_new_real_servers_of_the_services_that_drain():
    web = {"protocol": "tcp", "address": "192.0.2.1", "port": 80, "scheduler": "wrr", "persistent": False}
    ssh = {"protocol": "tcp", "address": "192.0.2.1", "port": 22, "scheduler": "rr", "persistent": False}
    new = {"protocol": "tcp", "address": "192.0.2.2", "port": 80, "scheduler": "rr", "persistent": False}
    preview = {
        "changed": True,
        "before": [{**web, "real_servers": [{"address": "10.0.0.1", "port": 80, "forwarding": "dr", "weight": 5}]},
                   {**ssh, "real_servers": [{"address": "10.0.0.1", "port": 22, "forwarding": "dr", "weight": 1}]}],
        # web: its only real server replaced by two; ssh: one added, none removed (no drain, not listed);
        # a new service (no drain, not listed)
        "after": [{**web, "real_servers": [{"address": "10.0.0.3", "port": 80, "forwarding": "dr", "weight": 2,
                                            "upper_threshold": 100},
                                           {"address": "10.0.0.4", "port": 8080, "forwarding": "nat", "weight": 1}]},
                  {**ssh, "real_servers": [{"address": "10.0.0.1", "port": 22, "forwarding": "dr", "weight": 1},
                                           {"address": "10.0.0.2", "port": 22, "forwarding": "dr", "weight": 1}]},
                  {**new, "real_servers": [{"address": "10.0.0.5", "port": 80, "forwarding": "dr", "weight": 1}]}],
    }
    service = {"protocol": "tcp", "address": "192.0.2.1", "port": 80}
    assert f.added_real_servers(preview) == [
        {"service": service, "address": "10.0.0.3", "port": 80, "forwarding": "dr", "weight": 2,
         "upper_threshold": 100, "label": "10.0.0.3:80 of TCP 192.0.2.1:80"},
        {"service": service, "address": "10.0.0.4", "port": 8080, "forwarding": "nat", "weight": 1,
         "label": "10.0.0.4:8080 of TCP 192.0.2.1:80"},
    ]
    assert f.removed_real_servers(preview) == [
        {"service": service, "address": "10.0.0.1", "port": 80, "label": "10.0.0.1:80 of TCP 192.0.2.1:80"}]
    # skipped, unchanged or nothing removed: nothing to add first
    assert f.added_real_servers({"skipped": True}) == []
    assert f.added_real_servers(None) == []
    assert f.added_real_servers({"before": preview["after"], "after": preview["after"]}) == []


def test_drain_fallbacks_for_hash_schedulers_that_lose_a_real_server():
    def svc(port, scheduler, flags=(), servers=("10.0.0.1", "10.0.0.2")):
        return {"protocol": "tcp", "address": "192.0.2.1", "port": port, "scheduler": scheduler,
                "scheduler_flags": list(flags), "persistent": False,
                "real_servers": [{"address": a, "port": port, "forwarding": "dr", "weight": 1} for a in servers]}

    before = [svc(80, "sh", ["sh-port"]), svc(81, "mh"), svc(82, "sh", ["sh-fallback"]), svc(83, "wlc"),
              svc(84, "sh"), svc(85, "sh")]
    # 80-83 lose 10.0.0.2; 84 keeps both; 85 goes with its real servers (no drain)
    after = [svc(s["port"], s["scheduler"], s["scheduler_flags"], ["10.0.0.1"]) for s in before[:4]]
    after.append(before[4])
    assert f.drain_fallbacks({"changed": True, "before": before, "after": after}) == [
        {"protocol": "tcp", "address": "192.0.2.1", "port": 80, "scheduler_flags": ["sh-fallback", "sh-port"],
         "label": "TCP 192.0.2.1:80 (sh-fallback, sh-port)"},
        {"protocol": "tcp", "address": "192.0.2.1", "port": 81, "scheduler_flags": ["mh-fallback"],
         "label": "TCP 192.0.2.1:81 (mh-fallback)"},
    ]
    assert f.drain_fallbacks({"skipped": True}) == []
    assert f.drain_fallbacks(None) == []


def test_director_plan_passes_scheduler_flags_and_names_a_bad_one():
    plan = f.director_plan([
        {"name": "a", "vip": "192.0.2.1", "ports": [80], "scheduler": "sh", "scheduler_flags": "sh-fallback, sh-port",
         "real_servers": ["10.0.0.1"]},
        {"name": "b", "vip": "192.0.2.1", "ports": [81], "scheduler": "rr", "scheduler_flags": ["sh-port"],
         "real_servers": ["10.0.0.1"]},
        {"name": "c", "vip": "192.0.2.1", "ports": [82], "scheduler": "mh", "scheduler_flags": [" mh-port "],
         "real_servers": ["10.0.0.1"]},
    ])
    assert plan["config"][0]["scheduler_flags"] == ["sh-fallback", "sh-port"]
    assert plan["config"][2]["scheduler_flags"] == ["mh-port"]
    assert any("scheduler flag 'sh-port' is not valid for scheduler rr" in e and "192.0.2.1:81" in e
               for e in plan["errors"]), plan["errors"]


def test_sysctl_path():
    assert f.sysctl_path("net.ipv4.vs.conn_reuse_mode") == "/proc/sys/net/ipv4/vs/conn_reuse_mode"
    assert f.sysctl_path("net.ipv4.conf.eth0.arp_ignore") == "/proc/sys/net/ipv4/conf/eth0/arp_ignore"


SYSCTL_FILE = "/etc/sysctl.d/90-lvs.conf"
IGNORE, ANNOUNCE = "net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce"


def _grep(live: dict, file_lines: list | None) -> str:
    """What ``grep -H '' PROC_FILE... SYSCTL_FILE`` prints (a missing file prints nothing)."""
    out = [f"{f.sysctl_path(k)}:{v}" for k, v in live.items()]
    out += [f"{SYSCTL_FILE}:{line}" for line in file_lines or []]
    return "\n".join(out)


# (live values, file lines or None for no file) -> what is pending for {IGNORE: "1", ANNOUNCE: "2"}
SYSCTL_CASES = [
    ({IGNORE: "1", ANNOUNCE: "2"}, [f"{IGNORE}=1", f"{ANNOUNCE}=2"], []),
    ({IGNORE: "1", ANNOUNCE: "2"}, ["# lvs", "", f"  {IGNORE} = 1 ", f"{ANNOUNCE}= 2"], []),
    ({IGNORE: "1", ANNOUNCE: "2"}, None, [IGNORE, ANNOUNCE]),  # first run: no file yet
    ({IGNORE: "0", ANNOUNCE: "2"}, [f"{IGNORE}=1", f"{ANNOUNCE}=2"], [IGNORE]),  # live value differs
    ({ANNOUNCE: "2"}, [f"{IGNORE}=1", f"{ANNOUNCE}=2"], [IGNORE]),  # no live value
    ({IGNORE: "1", ANNOUNCE: "2"}, [f"{IGNORE}=1"], [ANNOUNCE]),  # not in the file
    ({IGNORE: "1", ANNOUNCE: "2"}, [f"{IGNORE}=1", f"{ANNOUNCE}=2", f"{IGNORE}=0"], [IGNORE]),  # the last line counts
    ({IGNORE: "1", ANNOUNCE: "2"}, [f"{IGNORE}=0", f"{IGNORE}=1", f"{ANNOUNCE}=2"], []),
    ({IGNORE: "1", ANNOUNCE: "2"}, [f"# {IGNORE}=1", f"; {ANNOUNCE}=2", f"{IGNORE}=1"], [ANNOUNCE]),  # comments
    ({IGNORE: "1", ANNOUNCE: "2"}, [f"{IGNORE}=01", f"{ANNOUNCE}=2"], [IGNORE]),  # the file's text, not its number
    ({IGNORE: "1", ANNOUNCE: "2"}, [f"{IGNORE}=1 2", f"{ANNOUNCE}=2"], [IGNORE]),
]


@pytest.mark.parametrize(("live", "file_lines", "pending"), SYSCTL_CASES)
def test_sysctl_pending(live, file_lines, pending):
    assert f.sysctl_pending({IGNORE: "1", ANNOUNCE: "2"}, _grep(live, file_lines), SYSCTL_FILE) == pending


def test_sysctl_pending_reads_words_and_booleans_as_the_module_does():
    key = "net.ipv4.ip_local_port_range"
    assert f.sysctl_pending({key: "1024  65000"}, _grep({key: "1024\t65000"}, [f"{key}=1024  65000"]),
                            SYSCTL_FILE) == []
    # a boolean-like value is written as 1 or 0 by the module, and compared so
    assert f.sysctl_pending({IGNORE: "yes", ANNOUNCE: "False"}, _grep({IGNORE: "1", ANNOUNCE: "0"},
                            [f"{IGNORE}=1", f"{ANNOUNCE}=0"]), SYSCTL_FILE) == []
    assert f.sysctl_pending({IGNORE: "yes"}, _grep({IGNORE: "1"}, [f"{IGNORE}=yes"]), SYSCTL_FILE) == [IGNORE]
    # lines of another file (a name that only starts like the sysctl file) are not the file's
    assert f.sysctl_pending({IGNORE: "1"}, _grep({IGNORE: "1"}, None) + f"\n{SYSCTL_FILE}.bak:{IGNORE}=1",
                            SYSCTL_FILE) == [IGNORE]


@pytest.mark.parametrize(("live", "file_lines", "pending"), SYSCTL_CASES)
def test_sysctl_pending_agrees_with_ansible_posix_sysctl(tmp_path, live, file_lines, pending):
    """The module itself, in check mode, on the same live values and file: changed exactly for the pending keys."""
    from ansible_collections.ansible.posix.plugins.modules.sysctl import SysctlModule

    path = tmp_path / "90-lvs.conf"
    if file_lines is not None:
        path.write_text("\n".join(file_lines) + "\n")

    class Module:
        check_mode = True

        def __init__(self, name, value):
            self.params = {"name": name, "value": value, "state": "present", "reload": True, "sysctl_set": True,
                           "ignoreerrors": False, "sysctl_file": str(path)}

        def get_bin_path(self, *_args, **_kwargs):
            return "sysctl"

        def run_command(self, cmd, **_kwargs):
            name = cmd.split()[-1]
            return (0, live[name] + "\n", "") if name in live else (255, "", f"sysctl: cannot stat {name}")

    changed = [k for k, v in {IGNORE: "1", ANNOUNCE: "2"}.items() if SysctlModule(Module(k, v)).changed]
    assert changed == pending


def test_grep_text_is_one_files_text():
    vips = "/var/lib/lvs-ipvs/vips"
    read = f"{vips}:# lvs.ipvs.director: the addresses it put on eth0\n{vips}:192.0.2.10/32\n{vips}.old:192.0.2.9/32"
    assert f.grep_text(read, vips) == "# lvs.ipvs.director: the addresses it put on eth0\n192.0.2.10/32\n"
    assert f.grep_text(read, "/var/lib/lvs-ipvs/sysctl.conf") == ""  # grep printed nothing of it: no such file
    assert f.grep_text("", vips) == ""


def test_file_current_is_copys_own_test():
    import hashlib

    text = "#!/bin/sh\necho restore\n"
    entry = {"path": "/var/lib/lvs-ipvs/restore.sh", "isreg": True, "mode": "0755", "pw_name": "root",
             "gr_name": "root", "checksum": hashlib.sha1(text.encode()).hexdigest()}
    found = {"files": [{"path": "/var/lib/lvs-ipvs/ipvs.rules", "isreg": True}, entry]}
    assert f.file_current(found, "/var/lib/lvs-ipvs/restore.sh", text, "0755")
    assert f.file_current(found["files"], "/var/lib/lvs-ipvs//restore.sh", text, "755")  # the same path and mode
    assert not f.file_current(found, "/var/lib/lvs-ipvs/restore.sh", text + "\n", "0755")  # other text
    assert not f.file_current(found, "/var/lib/lvs-ipvs/restore.sh", text, "0644")  # other mode
    assert not f.file_current(found, "/var/lib/lvs-ipvs/restore.sh", text, "0755", owner="lvs")  # other owner
    assert not f.file_current(found, "/var/lib/lvs-ipvs/restore.sh", text, "0755", group="adm")
    assert not f.file_current(found, "/var/lib/lvs-ipvs/ipvs.rules", "", "0644")  # no checksum read
    assert not f.file_current(found, "/etc/systemd/system/lvs-ipvs.service", text, "0644")  # not found
    assert not f.file_current({"files": [{**entry, "isreg": False}]}, entry["path"], text, "0755")  # a link
    assert not f.file_current({}, entry["path"], text, "0755")
