# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation shared by the IPVS modules of lvs.ipvs."""

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    # Requirements and notes of every module that talks to the kernel's IPVS.
    DOCUMENTATION = r"""
options: {}
requirements:
  - pyroute2 >= 0.7.2 for the Python that runs the module on the managed host, such as Debian 12's and
    Debian 13's C(python3-pyroute2) (0.7.2, 0.7.7) or a newer one from PyPI (tested up to 0.9.7). Only its
    generic netlink layer is used; an older pyroute2 fails with a message naming the version found.
  - A Linux kernel with IPVS (C(CONFIG_IP_VS)); the module loads C(ip_vs) and the scheduler's
    C(ip_vs_<scheduler>) module with C(modprobe) when they are not loaded.
  - Root (C(CAP_NET_ADMIN)) on the managed host.
notes:
  - IPVS state is per network namespace; the module manages the namespace it runs in.
  - The module talks to the kernel over generic netlink and never parses C(ipvsadm) output.
    It reads the kernel with one dump of the services and one dump of real servers per service.
"""
