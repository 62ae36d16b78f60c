# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host prerequisites behind ipvs_info's gather=prerequisites (the roles' preflight)."""

from __future__ import annotations

import sys

from ansible_collections.lvs.ipvs.plugins.module_utils import _host


def test_os_release_families():
    assert _host.os_release('ID=debian\nVERSION_ID="12"\n') == {
        "id": "debian", "id_like": [], "version_id": "12", "family": "debian"}
    assert _host.os_release('ID=ubuntu\nID_LIKE=debian\n')["family"] == "debian"
    assert _host.os_release('ID="rocky"\nID_LIKE="rhel centos fedora"\n')["family"] == "redhat"
    assert _host.os_release('ID=opensuse-leap\nID_LIKE="suse opensuse"\n')["family"] == "suse"
    assert _host.os_release("ID=alpine\n")["family"] == "alpine"
    assert _host.os_release("")["family"] == "unknown"


def test_pyroute2_problem_names_found_and_needed_versions():
    missing = _host.pyroute2_state(False, "Traceback...\nModuleNotFoundError: No module named 'pyroute2'",
                                   "pyroute2>=0.7.2", None)
    assert missing["problem"] == f"pyroute2 is not installed for {sys.executable}; the modules need pyroute2>=0.7.2"
    old = _host.pyroute2_state(False, "Traceback...\nImportError: pyroute2 0.5.14 is too old",
                               "pyroute2>=0.7.2", "0.5.14")
    assert old["found"] == "0.5.14" and not old["usable"]
    assert "pyroute2 0.5.14 is installed" in old["problem"] and "pyroute2>=0.7.2" in old["problem"]
    assert "ImportError: pyroute2 0.5.14 is too old" in old["problem"]
    assert _host.pyroute2_state(True, None, "pyroute2>=0.7.2", "0.9.7")["problem"] is None


def test_prerequisites_lists_each_absent_piece():
    have = {"ip": "/usr/bin/ip", "sysctl": "/usr/sbin/sysctl", "iptables": "/usr/sbin/iptables"}
    files = {"/etc/os-release": "ID=debian\nVERSION_ID=13\n", "/proc/net/ip_vs": "IP Virtual Server\n"}
    out = _host.prerequisites(pyroute2=_host.pyroute2_state(False, "x", "pyroute2>=0.7.2", None),
                              which=have.get, read=files.get, isdir={"/run/systemd/system"}.__contains__)
    assert out["absent"] == ["pyroute2", "ipvsadm", "ip6tables", "iptables-restore", "ip6tables-restore", "modprobe",
                             "keepalived"]
    assert out["commands"]["ip"] == "/usr/bin/ip" and out["commands"]["ipvsadm"] is None
    assert out["ipvs_loaded"] is True and out["os"]["version_id"] == "13"
    assert out["systemd"] is True
    assert out["ipvs_modules"] == []  # no kernel release given: no modules.builtin read; no /proc/modules here
    bare = _host.prerequisites(pyroute2=_host.pyroute2_state(True, None, "r", "1"), which=have.get,
                               read={}.get, isdir=set().__contains__)
    assert bare["ipvs_loaded"] is False and bare["systemd"] is False and bare["ipvs_modules"] == []
    files = {"/proc/modules": "ip_vs_rr 12288 1 - Live 0x0\nip_vs 196608 3 ip_vs_rr, Live 0x0\n",
             "/lib/modules/6.12.0/modules.builtin": "kernel/net/netfilter/ipvs/ip_vs_sh.ko\n"}
    read = _host.prerequisites(pyroute2=_host.pyroute2_state(True, None, "r", "1"), which=have.get,
                               read=files.get, isdir=set().__contains__, kernel_release="6.12.0")
    assert read["ipvs_modules"] == ["ip_vs", "ip_vs_rr", "ip_vs_sh"]


def test_ipvs_modules_loaded_or_built_in_and_nothing_else():
    proc = ("nf_conntrack 200704 2 ip_vs, Live 0x0\nip_vs_wlc 12288 0 - Live 0x0\n"
            "ip_vs 196608 3 ip_vs_wlc, Live 0x0\nip_vsx 1 0 - Live 0x0\n")
    builtin = ("kernel/net/netfilter/ipvs/ip_vs_rr.ko\nkernel/net/netfilter/ipvs/ip-vs-ovf.ko.xz\n"
               "kernel/fs/ext4/ext4.ko\n")
    assert _host.ipvs_modules(proc, builtin) == ["ip_vs", "ip_vs_ovf", "ip_vs_rr", "ip_vs_wlc"]
    assert _host.ipvs_modules("", None) == []
    assert _host.ipvs_modules("ext4 1 0 - Live 0x0\n", "") == []


def test_which_looks_in_sbin_too(tmp_path):
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "plain").write_text("")  # not executable
    which = _host.which_in(str(tmp_path))
    assert which("tool") == str(tool)
    assert which("plain") is None
    assert which("no-such-command-here") is None
    assert "/usr/sbin" in _host.SBIN_DIRS
