# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keepalived_config and keepalived_table_check: every block type, the defaults, bad input by name."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lvs.ipvs.plugins.filter import keepalived as k

RS = [{"address": "192.168.1.2", "weight": 4}, {"address": "192.168.1.3", "weight": 2}]
VRRP = {"interface": "eth0", "virtual_router_id": 51}


def block(text: str, head: str) -> str:
    """The block that starts with ``head`` (``virtual_server fwmark 10``), up to its closing brace."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(head + " {"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next(i for i in range(start + 1, len(lines)) if lines[i] == " " * indent + "}")
    return "\n".join(lines[start:end + 1])


def conf(*services, **ha) -> str:
    return k.keepalived_config(list(services), ha or None)


def errors(*services, **ha) -> list[str]:
    return k.keepalived_plan(list(services), ha or None)["errors"]


def test_port_service_with_tcp_check_defaults():
    text = conf({"name": "web", "vip": "192.168.0.1", "ports": [80], "scheduler": "rr", "persistence_timeout": 300,
                 "real_servers": RS})
    assert block(text, "virtual_server 192.168.0.1 80") == """virtual_server 192.168.0.1 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  persistence_timeout 300
  real_server 192.168.1.2 80 {
    weight 4
    TCP_CHECK {
      connect_timeout 3
      retry 2
      delay_before_retry 2
      delay_loop 6
    }
  }
  real_server 192.168.1.3 80 {
    weight 2
    TCP_CHECK {
      connect_timeout 3
      retry 2
      delay_before_retry 2
      delay_loop 6
    }
  }
}"""
    assert "vrrp_instance" not in text
    assert text.startswith("# Made by lvs.ipvs")


def test_pcc_service_needs_a_check_port_and_renders_port_0():
    svc = {"name": "all", "vip": "192.168.0.2", "ports": [0], "persistence_timeout": 600,
           "persistence_netmask": "24", "real_servers": RS[:1]}
    assert errors(svc) == ["director_services[all]: real server 192.168.1.2: health_check: a service on port 0 "
                           "(persistent client, PCC) needs the port to check (health_check.port), or type none"]
    text = conf({**svc, "health_check": {"port": 22}})
    vs = block(text, "virtual_server 192.168.0.2 0")
    assert "persistence_timeout 600" in vs and "persistence_granularity 255.255.255.0" in vs
    assert "real_server 192.168.1.2 0 {" in vs and "connect_port 22" in vs
    assert "TCP_CHECK" not in conf({**svc, "health_check": {"type": "none"}})


def test_fwmark_service_checks_its_first_port():
    text = conf({"name": "shop", "vip": "192.168.0.3", "ports": [80, 443], "fwmark": 10, "scheduler": "rr",
                 "persistence_timeout": 3600, "real_servers": RS})
    vs = block(text, "virtual_server fwmark 10")
    assert "protocol" not in vs and "ip_family" not in vs
    assert "real_server 192.168.1.2 0 {" in vs and "connect_port 80" in vs
    assert vs.count("TCP_CHECK {") == 2


def test_ipv6_fwmark_and_granularity():
    text = conf({"name": "v6", "vip": "2001:db8::1", "ports": [80, 443], "fwmark": 11, "persistence_timeout": 60,
                 "persistence_netmask": "64", "real_servers": [{"address": "2001:db8::2"}]})
    vs = block(text, "virtual_server fwmark 11")
    assert "ip_family inet6" in vs and "persistence_granularity 64" in vs
    assert "real_server 2001:db8::2 0 {" in vs


def test_udp_nat_tunnel_thresholds_flags():
    text = conf({"name": "dns", "vip": "192.168.0.4", "ports": [53], "protocol": "udp", "scheduler": "rr",
                 "health_check": {"port": 53},
                 "real_servers": [{"address": "10.0.0.5", "forwarding": "nat", "weight": 3},
                                  {"address": "10.0.0.6", "forwarding": "nat"},
                                  {"address": "10.0.0.7", "forwarding": "tunnel"}]})
    vs = block(text, "virtual_server 192.168.0.4 53")
    assert "protocol UDP" in vs and "lb_kind NAT" in vs
    assert "real_server 10.0.0.7 53 {\n    weight 1\n    lvs_method TUN" in vs
    assert "lvs_method NAT" not in vs


def test_http_https_misc_checks_and_overrides():
    svc = {"name": "web", "vip": "192.168.0.1", "ports": [443], "persistence_timeout": 300,
           "health_check": {"type": "https", "path": "/health", "status_code": [200, "300-399"], "retry": 5},
           "real_servers": [{"address": "192.168.1.2"},
                            {"address": "192.168.1.3", "health_check": {"type": "http", "port": 8080}},
                            {"address": "192.168.1.4", "health_check": {"type": "misc", "script": "/bin/check x",
                                                                        "script_timeout": 4}}]}
    text = conf(svc, check={"delay_loop": 10})
    rs2 = block(text, "real_server 192.168.1.2 443")
    assert "SSL_GET {" in rs2 and "path /health" in rs2 and "status_code 200 300-399" in rs2
    assert "retry 5" in rs2 and "delay_loop 10" in rs2 and "connect_port" not in rs2
    rs3 = block(text, "real_server 192.168.1.3 443")
    # a different type starts from the defaults: the service's https path does not carry over
    assert "HTTP_GET {" in rs3 and "path /\n" in rs3 + "\n" and "connect_port 8080" in rs3 and "retry 2" in rs3
    assert "status_code 200\n" in rs3 + "\n"
    rs4 = block(text, "real_server 192.168.1.4 443")
    assert 'misc_path "/bin/check x"' in rs4 and "misc_timeout 4" in rs4 and "connect_timeout" not in rs4
    head = block(text, "global_defs")
    assert "enable_script_security" in head and "script_user root" in head


def test_vrrp_instance_with_unicast_auth_and_nopreempt():
    text = conf({"name": "web", "vip": "192.168.0.1", "ports": [80], "real_servers": RS},
                {"name": "v6", "vip": "2001:db8::1", "ports": [80], "real_servers": [{"address": "2001:db8::2"}]},
                router_id="lvs1",
                vrrp={**VRRP, "priority": 150, "auth_pass": "s3cret", "nopreempt": True,
                      "unicast_src_ip": "10.0.0.1", "unicast_peers": ["10.0.0.3", "10.0.0.2"]})
    assert block(text, "vrrp_instance VI_1") == """vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 1
  nopreempt
  authentication {
    auth_type PASS
    auth_pass s3cret
  }
  unicast_src_ip 10.0.0.1
  unicast_peer {
    10.0.0.2
    10.0.0.3
  }
  virtual_ipaddress {
    192.168.0.1/32 dev eth0
  }
  virtual_ipaddress_excluded {
    2001:db8::1/128 dev eth0
  }
}"""
    assert "router_id lvs1" in block(text, "global_defs")


def test_output_is_sorted_and_stable():
    one = {"name": "b", "vip": "192.168.0.9", "ports": [80], "real_servers": list(reversed(RS))}
    two = {"name": "a", "vip": "192.168.0.1", "ports": [80], "real_servers": RS}
    ha = {"vrrp": [{**VRRP, "name": "VI_B", "virtual_router_id": 2}, {**VRRP, "name": "VI_A"}]}
    text = k.keepalived_config([one, two], ha)
    assert text == k.keepalived_config([two, one], {"vrrp": list(reversed(ha["vrrp"]))})
    assert text.index("vrrp_instance VI_A") < text.index("vrrp_instance VI_B")
    assert text.index("virtual_server 192.168.0.1 80") < text.index("virtual_server 192.168.0.9 80")
    vs = block(text, "virtual_server 192.168.0.9 80")
    assert vs.index("192.168.1.2") < vs.index("192.168.1.3")


def test_absent_services_are_left_out():
    text = conf({"name": "web", "vip": "192.168.0.1", "ports": [80], "real_servers": RS},
                {"name": "old", "vip": "192.168.0.7", "ports": [80], "state": "absent", "real_servers": RS})
    assert "192.168.0.7" not in text


@pytest.mark.parametrize(("ha", "message"), [
    ({"vrrp": {"interface": "eth0"}}, "vrrp_instance VI_1: virtual_router_id is missing"),
    ({"vrrp": {**VRRP, "virtual_router_id": 256}}, "vrrp_instance VI_1: virtual_router_id 256 is not from 1 to 255"),
    ({"vrrp": {**VRRP, "priority": 0}}, "vrrp_instance VI_1: priority 0 is not from 1 to 255"),
    ({"vrrp": {**VRRP, "state": "LEADER"}}, "vrrp_instance VI_1: state 'LEADER' is not MASTER or BACKUP"),
    ({"vrrp": {**VRRP, "state": "master", "nopreempt": True}}, "vrrp_instance VI_1: nopreempt needs state BACKUP"),
    ({"vrrp": {**VRRP, "auth_pass": "longerthan8"}}, "vrrp_instance VI_1: auth_pass must be 1 to 8 characters"),
    ({"vrrp": {**VRRP, "unicast_peers": ["10.0.0.2", "nohost"]}}, "vrrp_instance VI_1: unicast peer 'nohost' is not"),
    ({"vrrp": {**VRRP, "unicast_src_ip": "10.0.0.1", "unicast_peers": ["2001:db8::9"]}},
     "vrrp_instance VI_1: unicast peer 2001:db8::9 is not of the family of unicast_src_ip 10.0.0.1"),
    ({"vrrp": {**VRRP, "priorty": 5}}, "vrrp_instance VI_1: unknown option 'priorty' (did you mean priority?)"),
    ({"vrrp": {"virtual_router_id": 5}}, "vrrp_instance VI_1: needs the interface VRRP runs on"),
    ({"vrrp": [{**VRRP, "name": "A"}, {**VRRP, "name": "B"}]},
     "vrrp_instance B: virtual_router_id 51 on eth0 is used by vrrp_instance A too"),
    ({"vrrp": [{**VRRP, "name": "A"}, {**VRRP, "name": "A", "virtual_router_id": 9}]},
     "vrrp_instance A: two VRRP instances have this name"),
    ({"router_id": "two words"}, "HA settings: router_id 'two words' must be one word"),
    ({"vrrps": {}}, "HA settings: unknown option 'vrrps' (did you mean vrrp?)"),
    ({"check": {"type": "ping"}}, "director_keepalived_check: health_check: type 'ping' is not one of"),
    ({"check": {"retry": -1}}, "director_keepalived_check: health_check: retry -1 is not a whole number from 0"),
])
def test_bad_ha_input_names_the_object(ha, message):
    found = errors({"name": "web", "vip": "192.168.0.1", "ports": [80], "real_servers": RS}, **ha)
    assert any(e.startswith(message) for e in found), found


@pytest.mark.parametrize(("check", "message"), [
    ({"type": "misc"}, "director_services[web]: real server 192.168.1.2: health_check: type misc needs a script"),
    ({"type": "http", "path": "health"}, "director_services[web]: health_check: path 'health' must start with /"),
    ({"type": "http", "status_code": 700}, "director_services[web]: health_check: status_code 700 is not"),
    ({"type": "http", "status_code": "300-200"}, "director_services[web]: health_check: status_code '300-200'"),
    ({"type": "tcp", "path": "/"}, "director_services[web]: real server 192.168.1.2: health_check: path is not an "
                                   "option of a tcp check"),
    ({"type": "misc", "script": 'say "hi"'}, "director_services[web]: health_check: script 'say \"hi\"' must be"),
    ({"port": 70000}, "director_services[web]: health_check: port 70000 is not a whole number from 1 to 65535"),
    ({"delay_loop": "soon"}, "director_services[web]: health_check: delay_loop 'soon' is not a whole number"),
    ({"timeout": 3}, "director_services[web]: health_check: unknown option 'timeout'"),
    ("tcp", "director_services[web]: health_check must be a mapping"),
])
def test_bad_health_check_names_the_service(check, message):
    found = errors({"name": "web", "vip": "192.168.0.1", "ports": [80], "health_check": check, "real_servers": RS})
    assert any(e.startswith(message) for e in found), found


def test_bad_real_server_check_names_the_real_server():
    found = errors({"name": "web", "vip": "192.168.0.1", "ports": [80],
                    "real_servers": [RS[0], {**RS[1], "health_check": {"retry": "x"}}]})
    assert found == ["director_services[web]: real server 192.168.1.3: health_check: retry 'x' is not a whole "
                     "number from 0 to 86400 (retries)"]


def test_service_errors_come_from_the_model_and_raise():
    svc = {"name": "web", "vip": "192.168.0.1", "ports": [80], "scheduler": "fastest", "real_servers": RS}
    assert any("director_services[web]" in e and "fastest" in e for e in errors(svc))
    with pytest.raises(AnsibleFilterError, match=r"director_services\[web\].*fastest"):
        conf(svc)


def test_health_check_is_not_an_ipvs_option():
    """director_plan takes the same services: a real server's health_check is the role's, not ipvs_config's."""
    from ansible_collections.lvs.ipvs.plugins.filter import director
    plan = director.director_plan([{"name": "web", "vip": "192.168.0.1", "ports": [80], "health_check": {},
                                    "real_servers": [{"address": "192.168.1.2", "health_check": {"type": "http"}}]}])
    assert plan["errors"] == []
    assert plan["config"][0]["real_servers"] == [{"address": "192.168.1.2", "forwarding": "dr", "weight": 1}]


# --- the kernel check ------------------------------------------------------------------------------------

RENDERED = """-A -f 10 -s rr -p 3600
-A -t 192.168.0.1:80 -s rr -p 300
-a -f 10 -r 192.168.1.2:0 -g -w 1
-a -f 10 -r 192.168.1.3:0 -g -w 1
-a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4
"""
GATHERED = [
    {"fwmark": 10, "family": "ipv4", "scheduler": "rr", "persistent": True, "persistence_timeout": 3600,
     "real_servers": [{"address": "192.168.1.2", "port": 0, "forwarding": "dr", "weight": 1},
                      {"address": "192.168.1.3", "port": 0, "forwarding": "dr", "weight": 1}]},
    {"protocol": "tcp", "address": "192.168.0.1", "port": 80, "scheduler": "rr", "persistent": True,
     "persistence_timeout": 300,
     "real_servers": [{"address": "192.168.1.2", "port": 80, "forwarding": "dr", "weight": 4}]},
]


def test_table_check_equal():
    result = k.keepalived_table_check(GATHERED, RENDERED)
    assert result == {"equal": True, "differences": [], "down": [], "live": RENDERED.splitlines()}


def test_table_check_real_server_down_is_not_a_difference():
    live = [GATHERED[0], {**GATHERED[1], "real_servers": []}]
    result = k.keepalived_table_check(live, RENDERED)
    assert result["equal"] and result["down"] == ["-a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4"]


def test_table_check_names_each_difference():
    live = [{**GATHERED[0], "scheduler": "wlc"},
            {**GATHERED[1], "real_servers": [{"address": "192.168.1.2", "port": 80, "forwarding": "dr", "weight": 1},
                                             {"address": "192.168.1.9", "port": 80, "forwarding": "dr"}]},
            {"protocol": "udp", "address": "192.168.0.5", "port": 53, "scheduler": "rr"}]
    result = k.keepalived_table_check(live, RENDERED)
    assert not result["equal"]
    assert result["differences"] == [
        "service missing from the kernel: -A -f 10 -s rr -p 3600",
        "service in the kernel that keepalived.conf does not describe: -A -f 10 -s wlc -p 3600",
        "service in the kernel that keepalived.conf does not describe: -A -u 192.168.0.5:53 -s rr",
        "real server in the kernel differs: -a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 1 "
        "(rendered: -a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4)",
        "real server in the kernel that keepalived.conf does not describe: "
        "-a -t 192.168.0.1:80 -r 192.168.1.9:80 -g -w 1",
    ]
    assert result["down"] == []


def test_keepalived_accepts_every_block(tmp_path):
    """keepalived 2.2's own parser (--config-test) on a config with every block type the filter writes.

    bin/setup installs keepalived on the host, as it does ipvsadm. --config-test also wants the VRRP interface
    to exist (and not be a loopback): one of this host's.
    """
    if shutil.which("keepalived") is None:
        pytest.fail("keepalived is not installed: run bin/setup", pytrace=False)
    interfaces = sorted(name for name in os.listdir("/sys/class/net") if name != "lo")
    if not interfaces:
        pytest.fail("this host has no network interface but lo for the VRRP instance", pytrace=False)
    text = conf({"name": "web", "vip": "192.168.0.1", "ports": [80], "scheduler": "sh", "persistence_timeout": 300,
                 "health_check": {"type": "http", "path": "/", "status_code": ["200-299"]}, "real_servers": RS},
                {"name": "all", "vip": "192.168.0.2", "ports": [0], "persistence_timeout": 600,
                 "persistence_netmask": "24", "health_check": {"port": 443, "type": "https"}, "real_servers": RS},
                {"name": "shop", "vip": "192.168.0.3", "ports": [80, 443], "fwmark": 10, "persistence_timeout": 3600,
                 "health_check": {"type": "misc", "script": "/bin/true"}, "real_servers": RS},
                {"name": "v6", "vip": "2001:db8::1", "ports": [80, 443], "fwmark": 11, "persistence_timeout": 60,
                 "persistence_netmask": "64", "real_servers": [{"address": "2001:db8::2"}]},
                {"name": "dns", "vip": "192.168.0.4", "ports": [53], "protocol": "udp",
                 "real_servers": [{"address": "10.0.0.5", "forwarding": "nat", "upper_threshold": 10},
                                  {"address": "10.0.0.7", "forwarding": "tunnel"}]},
                router_id="lvs1", vrrp={**VRRP, "interface": interfaces[0], "auth_pass": "pw",
                                        "unicast_src_ip": "10.0.0.1", "unicast_peers": ["10.0.0.2"],
                                        "nopreempt": True})
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    done = subprocess.run(["keepalived", "--config-test", "-f", str(path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    path.write_text(text.replace("lb_algo sh", "lb_algo fastest"))
    done = subprocess.run(["keepalived", "--config-test", "-f", str(path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode != 0, "keepalived --config-test accepted an unknown scheduler"
