# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles through playbooks/site.yml and the example inventories, on a kernel with IPVS.

Three DR labs of namespaces (a director and two real servers each) stand for three clusters, one per
example inventory: PPC, PCC and firewall marks. ansible-playbook is slow under emulation, so ONE run
of site.yml sets up all three (their hosts side by side in one inventory, each with its example's
variables), a second run must change nothing, and a ``--check --diff`` run on a changed firewall-mark
inventory must report the change and alter nothing. The state is compared with what the hand-typed
seed commands leave (``ipvsadm -Sn``, ``iptables -t mangle -S``, ``sysctl``, ``ip addr``); the boot-time
restore path, the shared certificate, real packets and use of a role from another collection follow.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from _roles import INVENTORIES, VENV_BIN, PlaybookRun, RoleLab, seed_state, strip_comment, write_inventory

SCRATCH = Path(os.environ.get("BED_OUT") or "/tmp") / "roles"
REPO_PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
VENV_PYTHON = VENV_BIN / "python"
EXAMPLES = ("ppc", "pcc", "fwmark")


def _ok(run: PlaybookRun) -> None:
    assert run.rc == 0 and run.failed() == 0, run.out[-6000:]


def _ppc_timeouts(common: dict) -> None:
    # The PPC example plus connection timeouts, to cover director_timeouts (seed: ipvsadm --set 300 60 100).
    common["director_timeouts"] = {"tcp": 300, "tcp_fin": 60, "udp": 100}


class Cluster:
    """The three labs and the results of the site.yml runs."""

    def __init__(self, labs: dict[str, RoleLab]) -> None:
        self.labs = labs
        self.inventory = write_inventory(SCRATCH / "site.yml.inventory.yml", [
            labs["ppc"].hosts("ppc", edit=_ppc_timeouts),
            labs["pcc"].hosts("pcc"),
            labs["fwmark"].hosts("fwmark"),
        ])
        any_lab = labs["ppc"]
        self.playbook = any_lab.playbook
        self.first: PlaybookRun | None = None
        self.second: PlaybookRun | None = None


@pytest.fixture(scope="module")
def cluster(ipvs_kernel) -> Iterator[Cluster]:
    with ExitStack() as stack:
        labs = {ex: stack.enter_context(RoleLab(f"r{ex[:3]}", SCRATCH / ex, ports=(80, 443, 22))) for ex in EXAMPLES}
        c = Cluster(labs)
        c.first = c.playbook(c.inventory)
        c.second = c.playbook(c.inventory) if c.first.rc == 0 else None
        yield c


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
    # One model: the boot file is ipvs_config's rendered text of the role's services, and equals the kernel's table.
    boot = (rl.host_dir("director") / "lvs-ipvs" / "ipvs.rules").read_text().splitlines()
    assert sorted(line for line in boot if line.strip()) == state["ipvs"], (boot, state["ipvs"])
    assert state["sysctls"].split("\n") == [
        "net.ipv4.vs.expire_quiescent_template = 1",
        "net.ipv4.vs.expire_nodest_conn = 1",
        "net.ipv4.vs.conn_reuse_mode = 1",
    ], state
    assert f"{rl.lab.vip}/32" in state["addr"], state
    return state


def test_first_run_applies(cluster):
    _ok(cluster.first)
    recap = cluster.first.recap()
    assert len(recap) == 9, recap
    assert all(stats["changed"] > 0 for stats in recap.values()), recap


def test_ppc_matches_seeds(cluster, make_netns):
    rl = cluster.labs["ppc"]
    vip, (rs1, rs2) = rl.lab.vip, [h.ip for h in rl.lab.rs]
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


def test_pcc_matches_seeds(cluster, make_netns):
    rl = cluster.labs["pcc"]
    vip, (rs1, rs2) = rl.lab.vip, [h.ip for h in rl.lab.rs]
    seed = seed_state(make_netns, [
        f"ipvsadm -A -t {vip}:0 -s rr -p 600",
        f"ipvsadm -a -t {vip}:0 -r {rs1}:0 -g -w 1",
        f"ipvsadm -a -t {vip}:0 -r {rs2}:0 -g -w 1",
    ])
    state = _check_director_common(rl)
    assert state["ipvs"] == seed["ipvs"]
    assert state["mangle"] == []
    _check_real_servers(rl)


def test_fwmark_matches_seeds(cluster, make_netns):
    rl = cluster.labs["fwmark"]
    vip, (rs1, rs2) = rl.lab.vip, [h.ip for h in rl.lab.rs]
    seed = seed_state(make_netns, [
        f"iptables -w -t mangle -A PREROUTING -d {vip} -p tcp --dport 80 -j MARK --set-mark 10",
        f"iptables -w -t mangle -A PREROUTING -d {vip} -p tcp --dport 443 -j MARK --set-mark 10",
        "ipvsadm -A -f 10 -s rr -p 3600",
        f"ipvsadm -a -f 10 -r {rs1}:0 -g -w 1",
        f"ipvsadm -a -f 10 -r {rs2}:0 -g -w 1",
    ])
    state = _check_director_common(rl)
    assert state["ipvs"] == seed["ipvs"]
    # The role's rules carry the comment that marks them as lvs.ipvs's; otherwise they are the seeds.
    assert sorted(map(strip_comment, state["mangle"])) == seed["mangle"]
    _check_real_servers(rl)


def _fingerprint(path: Path) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(path)],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_shared_certificate(cluster):
    rl = cluster.labs["fwmark"]
    prints = set()
    for name in ("rs1", "rs2"):
        ssl = rl.host_dir(name) / "ssl"
        prints.add(_fingerprint(ssl / "certs" / "shop.crt"))
        key = (ssl / "private" / "shop.key").stat()
        assert stat.S_IMODE(key.st_mode) == 0o600 and key.st_uid == 0
    assert prints == {_fingerprint(rl.tls_gen / "shop.example.com.crt")}, prints
    assert "BEGIN" not in cluster.first.out  # the key never shows up in the output


def _task_output(run: PlaybookRun, task: str = "lvs.ipvs.director : Load the IPVS kernel modules") -> str:
    """The output of the task ``task`` (role : name, or the start of a name) in ``run``: every host's lines (of each
    batch of a serial play)."""
    parts = run.out.split(f"TASK [{task}")[1:]
    assert parts, f"no task {task!r} in the run"
    return "".join(part.split("TASK [", 1)[0] for part in parts)


def test_second_run_changes_nothing(cluster):
    assert cluster.second is not None, "the first run failed"
    _ok(cluster.second)
    assert cluster.second.changed() == 0, "\n".join(
        line for line in cluster.second.out.splitlines() if line.startswith(("changed", "TASK"))
    ) + cluster.second.out[-3000:]
    # every module the services need is loaded now (the preflight read it): modprobe runs for none of them
    modprobe = _task_output(cluster.second)
    assert "item=" not in modprobe and all(f"skipping: [{ex}-director]" in modprobe for ex in EXAMPLES), modprobe
    # the VIP state files already say what they would be written with: no copy on any host
    # nor any boot file (one find read them all)
    for task, hosts in (("lvs.ipvs.director : Remember the virtual IPs this role added", ("director",)),
                        ("lvs.ipvs.real_server : Remember the VIPs this role added", ("rs1", "rs2")),
                        ("lvs.ipvs.director : Write the IPVS services and real servers for boot time", ("director",)),
                        ("lvs.ipvs.director : Write the boot-time restore script", ("director",)),
                        ("lvs.ipvs.director : Write the systemd unit", ("director",)),
                        ("lvs.ipvs.real_server : Write the boot-time restore script", ("rs1", "rs2")),
                        ("lvs.ipvs.real_server : Write the systemd unit", ("rs1", "rs2"))):
        out = _task_output(cluster.second, task)
        assert sorted(re.findall(r"^skipping: \[(\S+)\]$", out, re.M)) == sorted(
            f"{ex}-{h}" for ex in EXAMPLES for h in hosts), out
    out = _task_output(cluster.second, "lvs.ipvs.director : Write the firewall-mark rules for boot time")
    assert sorted(re.findall(r"^skipping: \[(\S+)\] => \(item=(\S+)\)", out, re.M)) == sorted(
        (f"{ex}-director", f"fwmark{v}.rules") for ex in EXAMPLES for v in (4, 6)), out
    # the sysctls are right live and in their files (one read each): ansible.posix.sysctl runs for none of them
    for task in ("lvs.ipvs.director : Set the IPVS sysctls and keep them in the state directory",
                 "lvs.ipvs.real_server : Set the DR ARP sysctls and keep them in"):
        out = _task_output(cluster.second, task)
        assert "item=" not in out and "skipping: [" in out, out


def test_fwmark_packets_stick_across_80_and_443(cluster):
    rl = cluster.labs["fwmark"]
    rl.lab.start_servers()
    answers = [rl.lab.request("client1", port) for port in (80, 443, 80, 443)]
    assert len(set(answers)) == 1 and answers[0] in {"rs1", "rs2"}, answers


def test_check_diff_on_changed_inventory(cluster):
    """--check --diff with port 8443 added to the shop and rs2's weight 3: reported, nothing altered."""
    rl = cluster.labs["fwmark"]

    def grow(common):
        shop = common["director_services"][0]
        shop["ports"].append(8443)
        shop["real_servers"][1]["weight"] = 3

    inv = write_inventory(SCRATCH / "fwmark-changed.yml", [rl.hosts("fwmark", edit=grow)])
    state_dir = rl.host_dir("director") / "lvs-ipvs"
    files = {p: p.read_text() for p in state_dir.iterdir() if p.is_file()}
    before = rl.director_state()
    rs_before = {name: rl.rs_state(name) for name in ("rs1", "rs2")}
    restore = state_dir / "restore.sh"
    restore.chmod(0o700)  # the right text, the wrong mode: the boot files' find must not let it pass
    check = rl.playbook(inv, "--check", "--diff")
    _ok(check)
    assert check.recap()["fwmark-director"]["changed"] > 0, check.out[-3000:]
    assert "--dport 8443" in check.out and "-w 3" in check.out, check.out[-6000:]
    out = _task_output(check, "lvs.ipvs.director : Write the boot-time restore script")
    assert "changed: [fwmark-director]" in out, out
    assert stat.S_IMODE(restore.stat().st_mode) == 0o700  # check mode: reported, not done
    restore.chmod(0o755)
    assert rl.director_state() == before
    assert {p: p.read_text() for p in files} == files
    assert {name: rl.rs_state(name) for name in ("rs1", "rs2")} == rs_before


@pytest.mark.parametrize("example", ["ppc", "fwmark"])
def test_reboot_path(cluster, example):
    """Wipe what a reboot wipes, run the restore scripts the units run, and the state is back."""
    rl = cluster.labs[example]
    director, before = rl.lab.director, rl.director_state()
    rs_before = {name: rl.rs_state(name) for name in ("rs1", "rs2")}
    unit_dir = rl.host_dir("director") / "systemd"
    state_dir = rl.host_dir("director") / "lvs-ipvs"
    assert f"ExecStart=/bin/sh {state_dir}/restore.sh" in (unit_dir / "lvs-ipvs.service").read_text()
    assert (unit_dir / "multi-user.target.wants" / "lvs-ipvs.service").resolve() == unit_dir / "lvs-ipvs.service"

    director.run("ipvsadm -C && iptables -w -t mangle -F && ipvsadm --set 900 120 300")
    director.run("sysctl -qw net.ipv4.vs.expire_quiescent_template=0 net.ipv4.vs.expire_nodest_conn=0")
    director.run(f"ip addr del {rl.lab.vip}/32 dev eth0")
    wiped = rl.director_state()
    assert wiped["ipvs"] == [] and wiped["mangle"] == []
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


def test_role_from_another_collection(cluster):
    """A playbook of another collection (acme.web, made here) uses lvs.ipvs.real_server by FQCN."""
    rl = cluster.labs["pcc"]
    root = SCRATCH / "collections"
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
    (col / "playbooks" / "web.yml").write_text(textwrap.dedent("""\
        - name: Web servers behind LVS
          hosts: real_servers
          gather_facts: false
          tasks:
            - name: Be a DR real server
              ansible.builtin.import_role:
                name: lvs.ipvs.real_server
    """))
    # Undo the role's work on the PCC real servers, so the foreign playbook has something to do.
    for name in ("rs1", "rs2"):
        rl.lab[name].run(f"ip addr del {rl.lab.vip}/32 dev lo")
    inv = write_inventory(SCRATCH / "fqcn.yml", [{"real_servers": rl.hosts("pcc")["real_servers"]}])
    run = rl.playbook(inv, playbook="acme.web.web", collections=(root,))
    _ok(run)
    assert set(run.recap()) == {"pcc-rs1", "pcc-rs2"}, run.recap()
    assert run.changed() > 0
    _check_real_servers(rl)


# -- plain-inventory input: booleans as strings, a run by FQCN, VIPs that go away, the preflight --------

BOOLEANS_OFF = {  # each false the way an INI inventory gives it: a string
    "director_boot_persistence": "false",
    "director_install_packages": "False",
    "real_server_boot_persistence": "no",
    "real_server_install_packages": "false",
}


def _ini_inventory(rl: RoleLab, path: Path, common: dict, ini_vars: dict[str, str], *,
                   interpreter: str | None = None) -> Path:
    """An INI inventory (hosts and the ``ini_vars`` as INI text: strings) with YAML group_vars/host_vars."""
    hosts = rl.hosts("pcc")
    path.mkdir(parents=True, exist_ok=True)
    lines = []
    for group, members in hosts.items():
        lines.append(f"[{group}]")
        for host, hvars in members.items():
            lines.append(host)
            host_only = {k: v for k, v in hvars.items() if k not in common and k != "real_server_tls_generate_dir"}
            if interpreter:
                host_only["ansible_python_interpreter"] = interpreter
            (path / "host_vars").mkdir(exist_ok=True)
            (path / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(host_only))
        lines.append("")
    lines.append("[all:vars]")
    lines += [f"{k}={v}" for k, v in ini_vars.items()]
    (path / "group_vars").mkdir(exist_ok=True)
    (path / "group_vars" / "all.yml").write_text(yaml.safe_dump(common))
    (path / "hosts.ini").write_text("\n".join(lines) + "\n")
    return path / "hosts.ini"


def _pcc_common(rl: RoleLab, *, second_vip: str | None = None, second_state: str = "present") -> dict:
    common = yaml.safe_load(rl.localize((INVENTORIES / "pcc.yml").read_text()))["all"]["vars"]
    if second_vip:
        common["director_services"].append({
            "name": "second", "vip": second_vip, "ports": [80], "scheduler": "rr", "state": second_state,
            "real_servers": [{"address": h.ip} for h in rl.lab.rs],
        })
        common["real_server_vips"] = [rl.lab.vip] + ([second_vip] if second_state == "present" else [])
    return common


def test_string_booleans_fqcn_run_and_vips_that_go(cluster):
    """``ansible-playbook lvs.ipvs.site -e director_purge=false`` with an INI inventory whose booleans are strings.

    Run 1 (by FQCN): booleans off as INI strings and ``-e director_purge=false`` are honoured (a hand-made
    service stays, no unit comes back, no package manager is asked), a second service brings a second VIP, and
    the shared certificate is generated next to the inventory, not inside the installed collection; modprobe runs
    for the one module of ``director_extra_kernel_modules`` the kernel lacks and for no loaded one. Run 2 marks
    that service absent: its VIP leaves the director's eth0 and the real servers' lo, an address put there by
    hand stays; with ``director_load_kernel_modules=false`` (a string) that module stays unloaded.
    """
    rl = cluster.labs["pcc"]
    director, rs1 = rl.lab.director, rl.lab["rs1"]
    net = rl.lab.vip.rsplit(".", 1)[0]
    vip2, by_hand = f"{net}.251", f"{net}.252"
    units = [rl.host_dir("director") / "systemd" / "lvs-ipvs.service",
             *(rl.host_dir(n) / "systemd" / "lvs-ipvs-real-server.service" for n in ("rs1", "rs2"))]
    for unit in units:
        unit.unlink()
    director.run(f"ipvsadm -A -t {rl.lab.vip}:8080 -s rr")  # not described: director_purge=false keeps it
    extra = "ip_vs_ovf"  # a module no service uses: nothing but modprobe loads it
    _unload(director, extra)
    for host in (director, rs1):
        host.run(f"ip addr add {by_hand}/32 dev {'eth0' if host is director else 'lo'}")

    # sysctls changed by hand since the last run: the role sets exactly these again
    director.run("sysctl -qw net.ipv4.vs.expire_nodest_conn=0")
    rs1.run("sysctl -qw net.ipv4.conf.eth0.arp_announce=0")

    inv_dir = SCRATCH / "ini"
    common = {**_pcc_common(rl, second_vip=vip2), "real_server_tls_common_name": "pcc.example.com",
              "director_extra_kernel_modules": [extra]}
    inv = _ini_inventory(rl, inv_dir, common, {**BOOLEANS_OFF, "real_server_tls": "yes"})
    run = rl.playbook(inv, "-e", "director_purge=false", playbook="lvs.ipvs.site")
    _ok(run)
    assert f"-A -t {rl.lab.vip}:8080 -s rr" in rl.director_state()["ipvs"], "director_purge=false purged"
    assert not any(unit.exists() for unit in units), "a *_boot_persistence=false unit was installed"
    assert f"{vip2}/32" in rl.director_state()["addr"]
    assert all(f"{vip2}/32" in rl.rs_state(n)["lo"] for n in ("rs1", "rs2"))
    generated = inv_dir / "lvs-ipvs-tls" / "pcc.example.com.crt"
    assert generated.is_file(), sorted(p.name for p in inv_dir.iterdir())
    installed = rl.host_dir("rs1") / "ssl" / "certs" / "shop.crt"
    assert _fingerprint(installed) == _fingerprint(generated)
    assert not (REPO_PLAYBOOKS / "lvs-ipvs-tls").exists()
    modprobe = _task_output(run)
    assert f"changed: [pcc-director] => (item={extra})" in modprobe and "(item=ip_vs)" not in modprobe, modprobe
    assert extra in _loaded_modules(director)
    _unload(director, extra)
    out = _task_output(run, "lvs.ipvs.director : Set the IPVS sysctls and keep them in the state directory")
    assert re.findall(r"^\w+: \[pcc-director\] => \(item=(\S+)\)", out, re.M) == [
        "net.ipv4.vs.expire_nodest_conn=1"], out
    out = _task_output(run, "lvs.ipvs.real_server : Set the DR ARP sysctls and keep them in")
    assert re.findall(r"^\w+: \[(pcc-rs\d)\] => \(item=(\S+)\)", out, re.M) == [
        ("pcc-rs1", "net.ipv4.conf.eth0.arp_announce=2")], out
    assert "net.ipv4.vs.expire_nodest_conn = 1" in rl.director_state()["sysctls"]
    assert "net.ipv4.conf.eth0.arp_announce = 2" in rl.rs_state("rs1")["sysctls"]

    inv = _ini_inventory(rl, inv_dir, {**common, **_pcc_common(rl, second_vip=vip2, second_state="absent")},
                         {**BOOLEANS_OFF, "real_server_tls": "yes", "director_load_kernel_modules": "false"})
    run = rl.playbook(inv, "-e", "director_purge=false", playbook="lvs.ipvs.site")
    _ok(run)
    modprobe = _task_output(run)
    assert "skipping: [pcc-director]" in modprobe, modprobe
    assert not re.search(r"^(ok|changed|failed): \[pcc-director\]", modprobe, re.M), modprobe
    assert extra not in _loaded_modules(director)
    state = rl.director_state()
    assert f"{vip2}/32" not in state["addr"] and f"{rl.lab.vip}/32" in state["addr"], state
    assert f"{by_hand}/32" in state["addr"], "an address the role did not add was removed"
    assert not any(vip2 in line for line in state["ipvs"]), state["ipvs"]
    for name in ("rs1", "rs2"):
        lo = rl.rs_state(name)["lo"]
        assert f"{vip2}/32" not in lo and f"{rl.lab.vip}/32" in lo, (name, lo)
    assert f"{by_hand}/32" in rl.rs_state("rs1")["lo"]
    director.run(f"ipvsadm -D -t {rl.lab.vip}:8080")
    for host in (director, rs1):
        host.run(f"ip addr del {by_hand}/32 dev {'eth0' if host is director else 'lo'}")


def _loaded_modules(host) -> set[str]:
    return {line.split()[0] for line in host.run("cat /proc/modules").splitlines() if line.strip()}


def _unload(host, module: str) -> None:
    """``modprobe -r`` a module no service uses (an earlier test may have loaded it); it must be gone."""
    host.run(f"modprobe -r {module} || true")
    assert module not in _loaded_modules(host), f"{module} is still loaded: something uses it"


def test_preflight_names_what_is_missing_and_changes_nothing(cluster):
    """A director whose Python has no pyroute2, with package installs off (an INI string): one message, no change."""
    rl = cluster.labs["pcc"]
    wrapper = rl.scratch / "python-director-system"
    wrapper.write_text(Path(rl.interpreter("director")).read_text().replace(str(VENV_PYTHON), "/usr/bin/python3"))
    wrapper.chmod(0o755)
    before = rl.director_state()
    common = _pcc_common(rl, second_vip=f"{rl.lab.vip.rsplit('.', 1)[0]}.253")
    inv = _ini_inventory(rl, SCRATCH / "ini-preflight", common, {"director_install_packages": "false"},
                         interpreter=str(wrapper))
    run = rl.playbook(inv, "--limit", "directors")
    assert run.rc != 0 and run.failed() == 1, run.out[-4000:]
    assert "lvs.ipvs.director: nothing was changed" in run.out, run.out[-4000:]
    assert "pyroute2 is not installed for /usr/bin/python3" in run.out, run.out[-4000:]
    assert "install the package python3-pyroute2" in run.out and "Package installation is off" in run.out
    assert rl.director_state() == before


class _Held:
    """A TCP connection from a lab client to VIP:port, held open until :meth:`close` (an active connection)."""

    SCRIPT = ("import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10); "
              "print('open', flush=True); sys.stdin.read(); s.close()")

    def __init__(self, lab, client: str, port: int) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", lab.hosts[client].ns, "python3", "-c", self.SCRIPT, lab.vip, str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "open"

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def _active(director, vip: str, port: int) -> dict[str, tuple[int, int, int]]:
    """``ipvsadm -Ln`` of VIP:port: {real server address: (weight, active, inactive)}."""
    out: dict[str, tuple[int, int, int]] = {}
    for line in director.run(f"ipvsadm -Ln -t {vip}:{port}").splitlines():
        cols = line.split()
        if cols[:1] == ["->"] and cols[1][0].isdigit():
            out[cols[1].rsplit(":", 1)[0]] = (int(cols[3]), int(cols[4]), int(cols[5]))
    return out


def _drain_web_only(common, *, keep=None, scheduler="sh", **role_vars):
    """The PPC example (already on the lab's addresses) with only its web service, drained when a real server goes
    (``director_drain_removed``, a 60 s deadline, 5 s persistence); ``keep``: its real servers.

    The boot files are off: nothing in the drain tests reads them (the cluster's tests do), and they are a third
    of each run's module calls."""
    web = common["director_services"][0]
    web.update(scheduler=scheduler, persistence_timeout=5)
    if keep is not None:
        web["real_servers"] = [rs for rs in web["real_servers"] if rs["address"] in keep]
    common["director_services"] = [web]
    common.update({"director_timeouts": {"tcp_fin": 3}, "director_drain_removed": True,
                   "director_drain_timeout": 60, "director_boot_persistence": False,
                   "real_server_boot_persistence": False, **role_vars})


def test_director_drains_real_servers_the_inventory_no_longer_lists(ipvs_kernel):
    """director_drain_removed: a real server left out of the inventory goes to weight 0 and is removed only after
    its connection and persistence template are gone; at the deadline, fail (it stays at weight 0 and the table
    is not written) or remove it anyway, as director_drain_on_timeout says (issue 14, part 3). The service uses sh
    without sh-fallback: while a real server drains the role sets the flag (or the kernel would refuse the clients
    that hash to it), and the table's write takes it away."""
    from ansible_collections.lvs.ipvs.plugins.module_utils._model import parse_ip_vs_conn

    with RoleLab("rdrn", SCRATCH / "drain", ports=(80,)) as rl:
        lab, director, vip = rl.lab, rl.lab.director, rl.lab.vip
        inv = write_inventory(SCRATCH / "drain" / "all.yml", [rl.hosts("ppc", edit=_drain_web_only)])
        _ok(rl.playbook(inv))
        lab.start_servers()
        busy_name = lab.request("client1", 80)
        assert busy_name in ("rs1", "rs2"), busy_name
        busy, idle = lab[busy_name].ip, next(h.ip for h in lab.rs if h.ip != lab[busy_name].ip)
        held = _Held(lab, "client1", 80)  # to busy, through the client's persistence template
        try:
            assert _active(director, vip, 80)[busy][1] == 1, _active(director, vip, 80)

            # 1. busy leaves the inventory: quiesced at once, removed only after the connection and template went.
            seen: dict[str, float] = {}

            def watch() -> None:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    now = _active(director, vip, 80)
                    if busy in now and now[busy][0] == 0 and "quiesced" not in seen:
                        seen["quiesced"] = time.monotonic()
                        # client1 comes back: its template to busy expires, sh hashes it to busy, the flag moves it on
                        seen["service"] = director.run("ipvsadm -Sn").split("\n")[0]
                        seen["answer"] = lab.request("client1", 80)
                        time.sleep(3)  # the drain waits while the connection lives
                        seen["still_there"] = float(busy in _active(director, vip, 80))
                        held.close()
                        seen["closed"] = time.monotonic()
                    if busy not in now and "quiesced" in seen:
                        seen["gone"] = time.monotonic()
                        return
                    time.sleep(0.2)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            inv = write_inventory(SCRATCH / "drain" / "without-busy.yml", [rl.hosts(
                "ppc", edit=lambda c: _drain_web_only(c, keep=(idle,)))])
            run = rl.playbook(inv, "--limit", "directors")
            watcher.join(timeout=60)
            _ok(run)
            assert "Drain them, then remove them" in run.out
            assert {"quiesced", "still_there", "closed", "gone"} <= set(seen), (seen, run.out[-4000:])
            assert seen["still_there"] == 1.0, "removed at once, without a drain"
            assert seen["gone"] > seen["closed"], seen
            assert seen["service"] == f"-A -t {vip}:80 -s sh -p 5 -b sh-fallback", seen
            assert seen["answer"] == lab.server_of(idle), seen  # not refused: passed on to the other real server
            assert director.run("ipvsadm -Sn").split("\n")[0] == f"-A -t {vip}:80 -s sh -p 5", "the flag stayed"
            assert not any(busy in line for line in director.run("ipvsadm -Sn").splitlines())
            templates = [c for c in parse_ip_vs_conn(director.run("cat /proc/net/ip_vs_conn"))
                         if c["template"] and c["dest_address"] == busy]
            assert templates == [], "a persistence template of the drained server outlived its removal"

            # 2. idle leaves too, with a connection held and a 3 s deadline; the scheduler changes in the same run.
            held = _Held(lab, "client1", 80)
            assert _active(director, vip, 80)[idle][1] == 1
            common = {"keep": (), "scheduler": "wlc", "director_drain_timeout": 3}
            inv = write_inventory(SCRATCH / "drain" / "empty-fail.yml", [rl.hosts(
                "ppc", edit=lambda c: _drain_web_only(c, **common))])
            run = rl.playbook(inv, "--limit", "directors")
            assert run.rc != 0 and run.failed() == 1, run.out[-4000:]
            assert "still has 1 active" in run.out, run.out[-4000:]
            # the failed drain leaves idle at weight 0, so the service keeps sh-fallback
            assert director.run("ipvsadm -Sn").split("\n")[0] == f"-A -t {vip}:80 -s sh -p 5 -b sh-fallback"
            assert _active(director, vip, 80)[idle][0] == 0, "left at weight 0"

            # 3. the same with director_drain_on_timeout=remove: removed anyway, and the table is written
            inv = write_inventory(SCRATCH / "drain" / "empty-remove.yml", [rl.hosts(
                "ppc", edit=lambda c: _drain_web_only(c, director_drain_on_timeout="remove", **common))])
            run = rl.playbook(inv, "--limit", "directors")
            _ok(run)
            assert rl.director_state()["ipvs"] == [f"-A -t {vip}:80 -s wlc -p 5"]
        finally:
            held.close()


def test_a_drain_that_replaces_every_real_server_refuses_no_client(ipvs_kernel):
    """director_drain_removed with a service's only real server replaced by another in one edit: the new one goes
    in before the old one drains, so a client that comes while the drain lasts is answered by it. Were it added by
    the write after the drain, the service would have no real server above weight 0 and the kernel would refuse
    the client (ICMP port unreachable: curl's "Connection refused")."""
    def only(keep: str):
        return lambda common: _drain_web_only(common, keep=(keep,), scheduler="rr")

    with RoleLab("rrpl", SCRATCH / "replace", ports=(80,)) as rl:
        lab, director, vip = rl.lab, rl.lab.director, rl.lab.vip
        old, new = (h.ip for h in lab.rs)
        _ok(rl.playbook(write_inventory(SCRATCH / "replace" / "old.yml", [rl.hosts("ppc", edit=only(old))])))
        lab.start_servers()
        held = _Held(lab, "client1", 80)  # its connection keeps old draining
        seen: dict[str, object] = {}

        def watch() -> None:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                now = _active(director, vip, 80)
                if old in now and now[old][0] == 0:
                    seen["during the drain"] = sorted(now)
                    seen["answer"] = lab.request("client1", 80)  # its template to old expired (weight 0)
                    held.close()
                    return
                time.sleep(0.2)

        try:
            assert lab.request("client1", 80) == lab.server_of(old)
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            run = rl.playbook(write_inventory(SCRATCH / "replace" / "new.yml", [rl.hosts("ppc", edit=only(new))]),
                              "--limit", "directors")
            watcher.join(timeout=60)
            _ok(run)
            assert "Add the real servers the inventory adds to the services that drain" in run.out, run.out[-4000:]
            assert seen.get("during the drain") == sorted([old, new]), (seen, run.out[-4000:])
            assert seen.get("answer") == lab.server_of(new), seen
            assert rl.director_state()["ipvs"] == [f"-A -t {vip}:80 -s rr -p 5", f"-a -t {vip}:80 -r {new}:80 -g -w 1"]
        finally:
            held.close()
