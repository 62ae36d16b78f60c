# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Modules run on the managed host, not in the controller.

Importing controller code (``ansible.errors``, as a filter plugin's test does) sets ansible-core's
``is_controller`` for the whole process, and a module's ``warn()`` then goes to the controller's display
instead of the module result: each module test runs with it unset, as on a managed host.
"""

from __future__ import annotations

import pytest
from ansible.module_utils import _internal


@pytest.fixture(autouse=True)
def _as_on_a_managed_host(monkeypatch):
    monkeypatch.setattr(_internal, "is_controller", False)
