# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's ``main()`` in-process with the given options, as Ansible would, and return its result."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
from types import ModuleType

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


def run_module(module: str | ModuleType, args: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
    """``module``: the module object, or its name under lvs.ipvs's plugins/modules."""
    if isinstance(module, str):
        module = importlib.import_module(f"ansible_collections.lvs.ipvs.plugins.modules.{module}")
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff, _ansible_remote_tmp="/tmp",
                   _ansible_keep_remote_files=False)
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
    basic._ANSIBLE_PROFILE = "legacy"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        module.main()
    return json.loads(out.getvalue().strip().splitlines()[-1])
