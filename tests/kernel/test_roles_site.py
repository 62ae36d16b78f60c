# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles through playbooks/site.yml and the example inventories, on a kernel with IPVS.

For each persistence mode (PPC, PCC, firewall marks) the site playbook runs against a DR lab of
namespaces (a director, two real servers); the state it leaves is compared with what the hand-typed
seed commands leave (``ipvsadm -Sn``, ``iptables -t mangle -S``, ``sysctl``, ``ip addr``); a second
run must change nothing. The firewall-mark case also checks ``--check --diff`` on a changed
inventory, the boot-time restore path, the shared certificate and real packets.
ansible-playbook is slow under emulation, so each test batches several checks.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import textwrap
from pathlib import Path

from _roles import RoleLab, seed_state, strip_comment

SCRATCH = Path(os.environ.get("BED_OUT") or "/tmp") / "roles"


def _ok(run) -> None:
    assert run.rc == 0 and run.failed() == 0, run.out[-6000:]


def _apply_twice(rl: RoleLab, inventory: Path) -> None:
    first = rl.playbook(inventory)
    _ok(first)
    assert first.changed() > 0, first.out[-3000:]
    second = rl.playbook(inventory)
    _ok(second)
    assert second.changed() == 0, "second run changed something:\n" + "\n".join(
        line for line in second.out.splitlines() if line.startswith("changed")) + second.out[-3000:]


def _check_real_servers(rl: RoleLab) -> None:
    for name in ("rs1", "rs2"):
        state = rl.rs_state(name)
        assert state["sysctls"].split("\n") == [
            "net.ipv4.conf.all.arp_ignore = 1",
            "net.ipv4.conf.all.arp_announce = 2",
            "net.ipv4.conf.eth0.arp_ignore = 1",
            "net.ipv4.conf.eth0.arp_announce = 2",
        ], state
        assert f"{rl.lab.vip}/32" in state["lo"], state


def _check_director_common(rl: RoleLab) -> dict:
    state = rl.director_state()
    assert state["sysctls"].split("\n") == [
        "net.ipv4.vs.expire_quiescent_template = 1",
        "net.ipv4.vs.expire_nodest_conn = 1",
        "net.ipv4.vs.conn_reuse_mode = 1",
    ], state
    assert f"{rl.lab.vip}/32" in state["addr"], state
    return state


def _reboot_path(rl: RoleLab) -> None:
    """Wipe what a reboot wipes, run the restore scripts the units run, and compare."""
    director, before = rl.lab.director, rl.director_state()
    rs_before = {name: rl.rs_state(name) for name in ("rs1", "rs2")}
    director.run("ipvsadm -C && iptables -w -t mangle -F && ipvsadm --set 900 120 300")
    director.run("sysctl -qw net.ipv4.vs.expire_quiescent_template=0 net.ipv4.vs.expire_nodest_conn=0")
    director.run(f"ip addr del {rl.lab.vip}/32 dev eth0")
    assert rl.director_state()["ipvs"] == []
    state_dir = rl.host_dir("director") / "lvs-ipvs"
    unit = (rl.host_dir("director") / "systemd" / "lvs-ipvs.service").read_text()
    assert f"ExecStart=/bin/sh {state_dir}/restore.sh" in unit
    assert (rl.host_dir("director") / "systemd" / "multi-user.target.wants" / "lvs-ipvs.service").resolve() == (
        rl.host_dir("director") / "systemd" / "lvs-ipvs.service")
    director.run(f"sh {shlex.quote(str(state_dir / 'restore.sh'))}")
    assert rl.director_state() == before
    director.run(f"sh {shlex.quote(str(state_dir / 'restore.sh'))}")  # again: nothing doubles
    assert rl.director_state() == before
    for name in ("rs1", "rs2"):
        host = rl.lab[name]
        host.run(f"ip addr del {rl.lab.vip}/32 dev lo")
        host.run("sysctl -qw net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.eth0.arp_announce=0")
        host.run(f"sh {rl.host_dir(name) / 'lvs-ipvs-real-server' / 'restore.sh'}")
        assert rl.rs_state(name) == rs_before[name]


def test_site_ppc(make_netns):
    """Persistent port: 80 and 22 as two persistent services, plus timeouts; reboot path."""
    with RoleLab("rppc", SCRATCH / "ppc") as rl:
        vip, (rs1, rs2) = rl.lab.vip, [h.ip for h in rl.lab.rs]

        def timeouts(data):
            data["all"]["vars"]["director_timeouts"] = {"tcp": 300, "tcp_fin": 60, "udp": 100}

        inv = rl.inventory("ppc", edit=timeouts)
        _apply_twice(rl, inv)
        seed = seed_state(make_netns, [
            f"ipvsadm -A -t {vip}:80 -s rr -p 300",
            f"ipvsadm -a -t {vip}:80 -r {rs1}:80 -g -w 1",
            f"ipvsadm -a -t {vip}:80 -r {rs2}:80 -g -w 1",
            f"ipvsadm -A -t {vip}:22 -s rr -p 300",
            f"ipvsadm -a -t {vip}:22 -r {rs1}:22 -g -w 1",
            f"ipvsadm -a -t {vip}:22 -r {rs2}:22 -g -w 1",
            "ipvsadm --set 300 60 100",
        ])
        state = _check_director_common(rl)
        assert state["ipvs"] == seed["ipvs"]
        assert state["timeouts"] == seed["timeouts"]
        assert state["mangle"] == []
        _check_real_servers(rl)
        _reboot_path(rl)


def test_site_pcc(make_netns):
    """Persistent client: one port-0 service."""
    with RoleLab("rpcc", SCRATCH / "pcc") as rl:
        vip, (rs1, rs2) = rl.lab.vip, [h.ip for h in rl.lab.rs]
        _apply_twice(rl, rl.inventory("pcc"))
        seed = seed_state(make_netns, [
            f"ipvsadm -A -t {vip}:0 -s rr -p 600",
            f"ipvsadm -a -t {vip}:0 -r {rs1}:0 -g -w 1",
            f"ipvsadm -a -t {vip}:0 -r {rs2}:0 -g -w 1",
        ])
        state = _check_director_common(rl)
        assert state["ipvs"] == seed["ipvs"]
        _check_real_servers(rl)


def _fingerprint(path: Path) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(path)],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_site_fwmark(make_netns):
    """Firewall marks for the shop (80+443, shared certificate): seeds, idempotence, check/diff, reboot, packets."""
    with RoleLab("rfwm", SCRATCH / "fwmark", ports=(80, 443)) as rl:
        vip, (rs1, rs2) = rl.lab.vip, [h.ip for h in rl.lab.rs]
        inv = rl.inventory("fwmark")
        _apply_twice(rl, inv)
        seed = seed_state(make_netns, [
            f"iptables -w -t mangle -A PREROUTING -d {vip} -p tcp --dport 80 -j MARK --set-mark 10",
            f"iptables -w -t mangle -A PREROUTING -d {vip} -p tcp --dport 443 -j MARK --set-mark 10",
            "ipvsadm -A -f 10 -s rr -p 3600",
            f"ipvsadm -a -f 10 -r {rs1}:0 -g -w 1",
            f"ipvsadm -a -f 10 -r {rs2}:0 -g -w 1",
        ])
        state = _check_director_common(rl)
        assert state["ipvs"] == seed["ipvs"]
        assert sorted(map(strip_comment, state["mangle"])) == seed["mangle"]
        _check_real_servers(rl)

        # The shared certificate: one fingerprint everywhere, the key 0600 and owned by root.
        prints = set()
        for name in ("rs1", "rs2"):
            ssl = rl.host_dir(name) / "ssl"
            prints.add(_fingerprint(ssl / "certs" / "shop.crt"))
            key = (ssl / "private" / "shop.key").stat()
            assert stat.S_IMODE(key.st_mode) == 0o600 and key.st_uid == 0
        assert len(prints) == 1 and prints == {_fingerprint(rl.tls_gen / "shop.example.com.crt")}, prints

        # Real packets: the client keeps one real server across 80 and 443.
        rl.lab.start_servers()
        answers = {rl.lab.request("client1", port) for port in (80, 443, 80, 443)}
        assert len(answers) == 1 and answers <= {"rs1", "rs2"}, answers

        # --check --diff on a changed inventory: the change is reported, nothing is altered.
        def grow(data):
            shop = data["all"]["vars"]["director_services"][0]
            shop["ports"].append(8443)
            shop["real_servers"][1]["weight"] = 3

        changed_inv = rl.inventory("fwmark", edit=grow, name="fwmark-changed")
        files = {p: p.read_text() for p in (rl.host_dir("director") / "lvs-ipvs").iterdir() if p.is_file()}
        before = rl.director_state()
        check = rl.playbook(changed_inv, "--check", "--diff")
        _ok(check)
        assert check.changed() > 0, check.out[-3000:]
        assert "--dport 8443" in check.out and "-w 3" in check.out, check.out[-6000:]
        assert rl.director_state() == before
        assert {p: p.read_text() for p in files} == files

        _reboot_path(rl)


def test_bad_input_fails_early(make_netns):
    """Input checks fail before anything changes, with a message that names the problem."""
    with RoleLab("rbad", SCRATCH / "bad") as rl:

        def spoil(data):
            data["all"]["vars"]["director_services"] = [
                {"name": "a", "vip": "not-an-address", "ports": [80]},
                {"name": "b", "vip": rl.lab.vip, "ports": [0]},
                {"name": "c", "vip": rl.lab.vip, "ports": [], "fwmark": 5},
                {"name": "d", "vip": rl.lab.vip, "ports": [80, 443], "fwmark": 7},
                {"name": "e", "vip": rl.lab.vip, "ports": [81, 444], "fwmark": 7},
            ]

        run = rl.playbook(rl.inventory("ppc", edit=spoil, name="bad"))
        assert run.rc != 0
        for text in ("'not-an-address' is not an IPv4 or IPv6 address",
                     "port 0 (persistent client, PCC) is only valid with persistence",
                     "fwmark group 5 has no ports",
                     "two services claim fwmark 7: d and e"):
            assert text in run.out, run.out[-4000:]
        assert rl.director_state()["ipvs"] == []
        assert rl.director_state()["mangle"] == []


def test_role_from_another_collection():
    """A playbook of another collection (acme.web, made here) uses lvs.ipvs.real_server by FQCN."""
    with RoleLab("rfqcn", SCRATCH / "fqcn") as rl:
        root = rl.scratch / "collections"
        col = root / "ansible_collections" / "acme" / "web"
        (col / "playbooks").mkdir(parents=True, exist_ok=True)
        (col / "meta").mkdir(exist_ok=True)
        (col / "galaxy.yml").write_text(textwrap.dedent("""\
            namespace: acme
            name: web
            version: 1.0.0
            readme: README.md
            authors: [acme]
            dependencies: {lvs.ipvs: "*"}
        """))
        (col / "meta" / "runtime.yml").write_text("requires_ansible: '>=2.16.0'\n")
        (col / "playbooks" / "web.yml").write_text(textwrap.dedent(f"""\
            - name: Web servers behind LVS
              hosts: real_servers
              gather_facts: false
              tasks:
                - name: Be a DR real server
                  ansible.builtin.import_role:
                    name: lvs.ipvs.real_server
                  vars:
                    real_server_vips: ["{rl.lab.vip}"]
        """))
        run = rl.playbook(rl.inventory("ppc", name="fqcn"), playbook="acme.web.web", collections=(root,))
        _ok(run)
        assert run.changed() > 0
        assert set(run.recap()) == {"rs1", "rs2"}, run.recap()
        _check_real_servers(rl)
