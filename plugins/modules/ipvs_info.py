#!/usr/bin/python
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ipvs_info
short_description: Read the IPVS state - services, real servers, timeouts, sync daemons, sysctls, connections
version_added: 0.1.0
description:
  - Returns the IPVS virtual services with their real servers, flags, persistence settings and
    counters; the connection timeouts; the connection sync daemons; the C(net.ipv4.vs.*) sysctls; and
    the connection table of C(/proc/net/ip_vs_conn) with persistence templates marked as such.
  - With O(gather=prerequisites), what the host has of what the collection needs (the pyroute2
    library for the Python that runs the modules, the C(ipvsadm), C(iptables), C(modprobe), C(ip),
    C(sysctl) and C(keepalived) commands, whether IPVS is loaded) and its distribution; this works without
    pyroute2, and is what the roles' preflight reads before they change anything.
  - Read-only; runs in check mode.
author:
  - lvs.ipvs contributors (@lvs-ipvs)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
attributes:
  check_mode:
    support: full
    description: The module only reads, and does the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so it has no diff.
  idempotent:
    support: full
    description: The module never changes anything.
options:
  gather:
    description: What to read.
    type: list
    elements: str
    choices: [services, timeouts, sync_daemons, sysctls, connections, prerequisites]
    default: [services, timeouts, sync_daemons, sysctls, connections]
seealso:
  - module: lvs.ipvs.ipvs_service
  - module: lvs.ipvs.ipvs_real_server
  - module: lvs.ipvs.ipvs_timeouts
  - module: lvs.ipvs.ipvs_sync_daemon
"""

EXAMPLES = r"""
- name: Read the whole IPVS state
  lvs.ipvs.ipvs_info:
  register: ipvs

- name: Show the persistence templates (client port 0)
  ansible.builtin.debug:
    msg: "{{ ipvs.connections | selectattr('template') | list }}"

- name: Only the services, cheaply
  lvs.ipvs.ipvs_info:
    gather: [services]
  register: ipvs_services

- name: What this host lacks of what the collection needs
  lvs.ipvs.ipvs_info:
    gather: [prerequisites]
  register: ipvs_host

- name: Say it
  ansible.builtin.debug:
    msg: "missing: {{ ipvs_host.prerequisites.absent | join(', ') or 'nothing' }}"
"""

RETURN = r"""
services:
  description: The virtual services with their real servers and counters.
  returned: when O(gather) contains V(services)
  type: list
  elements: dict
  sample:
    - protocol: tcp
      address: 192.168.0.1
      port: 80
      family: ipv4
      scheduler: wlc
      scheduler_flags: []
      persistent: true
      persistence_timeout: 600
      persistence_netmask: 255.255.255.255
      persistence_engine: null
      one_packet: false
      rule: -A -t 192.168.0.1:80 -s wlc -p 600
      stats: {conns: 3, inpkts: 20, outpkts: 0, inbytes: 1200, outbytes: 0, cps: 0, inpps: 0, outpps: 0, inbps: 0,
              outbps: 0}
      real_servers:
        - address: 192.168.1.2
          port: 80
          family: ipv4
          forwarding: dr
          weight: 4
          upper_threshold: 0
          lower_threshold: 0
          tunnel_type: null
          tunnel_port: null
          tunnel_checksum: null
          active_connections: 1
          inactive_connections: 0
          persistent_connections: 1
          rule: -a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4
          stats: {conns: 3, inpkts: 20, outpkts: 0, inbytes: 1200, outbytes: 0, cps: 0, inpps: 0, outpps: 0,
                  inbps: 0, outbps: 0}
rules:
  description: The services and real servers in sorted C(ipvsadm -S -n) lines.
  returned: when O(gather) contains V(services)
  type: list
  elements: str
  sample: ["-A -t 192.168.0.1:80 -s wlc -p 600", "-a -t 192.168.0.1:80 -r 192.168.1.2:80 -g -w 4"]
timeouts:
  description: The connection timeouts in seconds.
  returned: when O(gather) contains V(timeouts)
  type: dict
  sample: {tcp: 900, tcp_fin: 120, udp: 300}
sync_daemons:
  description:
    - The running connection sync daemons (as C(ipvsadm -L --daemon) lists them), the master first, with
      the option names of M(lvs.ipvs.ipvs_sync_daemon); an empty list when none runs.
  returned: when O(gather) contains V(sync_daemons)
  type: list
  elements: dict
  sample:
    - {state: master, interface: eth1, syncid: 10, maxlen: 1472, group: 224.0.0.81, port: 8848, ttl: 1}
    - {state: backup, interface: eth1, syncid: 10, maxlen: 1472, group: 224.0.0.81, port: 8848, ttl: 1}
sysctls:
  description: The C(net.ipv4.vs.*) sysctls of the network namespace, by name (values as text).
  returned: when O(gather) contains V(sysctls)
  type: dict
  sample: {expire_quiescent_template: "0", expire_nodest_conn: "0", conn_reuse_mode: "1", conntrack: "0"}
connections:
  description:
    - The rows of C(/proc/net/ip_vs_conn). A persistence template has client port 0 and
      C(template=true); a firewall-mark template has protocol C(IP), virtual address
      C(0.0.0.<mark>) and C(fwmark) set.
  returned: when O(gather) contains V(connections)
  type: list
  elements: dict
  sample:
    - protocol: TCP
      family: ipv4
      client_address: 10.77.1.101
      client_port: 0
      virtual_address: 10.77.1.250
      virtual_port: 80
      dest_address: 10.77.1.11
      dest_port: 80
      state: NONE
      expires: 296
      pe_name: null
      pe_data: null
      template: true
      fwmark: null
prerequisites:
  description:
    - What the host has of what the collection needs. RV(prerequisites.absent) names each missing
      piece (V(pyroute2) or a command).
  returned: when O(gather) contains V(prerequisites)
  type: dict
  contains:
    python:
      description: The Python that runs the modules.
      type: dict
      returned: always
      sample: {executable: /usr/bin/python3, version: 3.11.2}
    pyroute2:
      description: The pyroute2 library of the Python that runs the modules.
      type: dict
      returned: always
      contains:
        found:
          description: The installed version, or V(null) when none is installed.
          type: str
          returned: always
          sample: 0.7.2
        usable:
          description: Whether the modules can use it.
          type: bool
          returned: always
          sample: true
        required:
          description: What the modules need.
          type: str
          returned: always
          sample: pyroute2>=0.7.2
        problem:
          description: A sentence saying what is wrong, or V(null).
          type: str
          returned: always
          sample: pyroute2 is not installed for /usr/bin/python3; the modules need pyroute2>=0.7.2
    commands:
      description: The full path of each command the collection runs, or V(null) when it is missing.
      type: dict
      returned: always
      sample: {ipvsadm: /usr/sbin/ipvsadm, iptables: /usr/sbin/iptables, ip6tables: /usr/sbin/ip6tables,
               iptables-restore: /usr/sbin/iptables-restore, ip6tables-restore: /usr/sbin/ip6tables-restore,
               modprobe: /usr/sbin/modprobe, ip: /usr/bin/ip, sysctl: /usr/sbin/sysctl, keepalived: null}
    ipvs_loaded:
      description: Whether the running kernel has IPVS loaded (C(/proc/net/ip_vs) exists).
      type: bool
      returned: always
      sample: true
    systemd:
      description:
        - Whether systemd runs the host (C(/run/systemd/system) is a directory, the test of C(sd_booted(3))).
        - The roles install their boot-time units with systemd only then.
      type: bool
      returned: always
      sample: true
    ipvs_modules:
      description:
        - The IPVS kernel modules (C(ip_vs) and C(ip_vs_*)) the running kernel has, loaded (C(/proc/modules)) or
          built in (C(modules.builtin)), the test of M(community.general.modprobe).
        - The director role runs C(modprobe) only for the modules its services need that are not in this list.
      type: list
      elements: str
      returned: always
      sample: [ip_vs, ip_vs_rr, ip_vs_sh]
    os:
      description: The distribution, from C(/etc/os-release).
      type: dict
      returned: always
      contains:
        id:
          description: C(ID).
          type: str
          returned: always
          sample: debian
        id_like:
          description: C(ID_LIKE), split.
          type: list
          elements: str
          returned: always
          sample: []
        version_id:
          description: C(VERSION_ID).
          type: str
          returned: always
          sample: "12"
        family:
          description: V(debian), V(redhat), V(suse), or the id for other distributions.
          type: str
          returned: always
          sample: debian
    absent:
      description: The missing pieces by name, V(pyroute2) and command names.
      type: list
      elements: str
      returned: always
      sample: [pyroute2, ipvsadm]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import run_and_exit
from ansible_collections.lvs.ipvs.plugins.module_utils._host import (
    distribution_version,
    prerequisites,
    pyroute2_state,
    read_text,
    which_in,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import (
    HAS_PYROUTE2,
    PYROUTE2_IMPORT_ERROR,
    PYROUTE2_LOCATION,
    PYROUTE2_REQUIREMENT,
    PYROUTE2_VERSION,
    IpvsHandle,
    pyroute2_problem,
    pyroute2_too_old,
    read_conn_table,
    read_sysctls,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._model import (
    parse_ip_vs_conn,
    render_config,
    render_dest,
    render_service,
)

NETLINK_GATHER = {"services", "timeouts", "sync_daemons"}  # what needs pyroute2 and IPVS


def run(module: AnsibleModule) -> dict:
    gather = set(module.params["gather"])
    result: dict = {"changed": False}
    if gather & NETLINK_GATHER:
        with IpvsHandle(module.run_command) as ipvs:
            if "services" in gather:
                config = ipvs.config()
                services = []
                for svc, dests in config:
                    item = svc.as_dict()
                    item["rule"] = render_service(svc)
                    item["real_servers"] = []
                    for dest in dests:
                        d = dest.as_dict()
                        d["rule"] = render_dest(svc.key, dest)
                        item["real_servers"].append(d)
                    services.append(item)
                result["services"] = services
                result["rules"] = render_config(config)
            if "timeouts" in gather:
                result["timeouts"] = ipvs.get_timeouts().as_dict()
            if "sync_daemons" in gather:
                result["sync_daemons"] = [daemon.as_dict() for daemon in ipvs.sync_daemons()]
    if "sysctls" in gather:
        result["sysctls"] = read_sysctls()
    if "connections" in gather:
        result["connections"] = parse_ip_vs_conn(read_conn_table())
    if "prerequisites" in gather:
        found = PYROUTE2_VERSION or distribution_version("pyroute2")
        pyroute2 = pyroute2_state(HAS_PYROUTE2, PYROUTE2_IMPORT_ERROR, PYROUTE2_REQUIREMENT, found)
        if not HAS_PYROUTE2 and pyroute2_too_old(found):
            pyroute2["problem"] = pyroute2_problem(found, PYROUTE2_LOCATION)
        result["prerequisites"] = prerequisites(pyroute2=pyroute2, which=which_in(os.environ.get("PATH")),
                                                read=read_text, kernel_release=os.uname().release)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            gather=dict(
                type="list",
                elements="str",
                choices=["services", "timeouts", "sync_daemons", "sysctls", "connections", "prerequisites"],
                default=["services", "timeouts", "sync_daemons", "sysctls", "connections"],
            ),
        ),
        supports_check_mode=True,
    )
    if not HAS_PYROUTE2 and set(module.params["gather"]) & NETLINK_GATHER:
        module.fail_json(msg=pyroute2_problem(), exception=PYROUTE2_IMPORT_ERROR)
    run_and_exit(module, run)


if __name__ == "__main__":
    main()
