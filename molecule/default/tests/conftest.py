# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the tests know of the cluster, read from Molecule's inventory.

The same tests verify every scenario that converges ``converge.yml`` (``default`` on Debian 12,
``debian13`` with fewer real servers): the VIP is the group variable ``lvs_vip``, the hosts come
from the groups, and each real server's address is its host variable ``lvs_address``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Lab:
    vip: str
    director: str
    real_servers: dict[str, str]  # container name -> address
    client: str  # address


@pytest.fixture
def lab(host) -> Lab:
    runner = host.backend.ansible_runner
    (director,) = runner.get_hosts("directors")
    (client,) = runner.get_hosts("clients")
    return Lab(
        vip=runner.get_variables(director)["lvs_vip"],
        director=director,
        real_servers={rs: runner.get_variables(rs)["lvs_address"] for rs in runner.get_hosts("real_servers")},
        client=runner.get_variables(client)["lvs_address"],
    )
