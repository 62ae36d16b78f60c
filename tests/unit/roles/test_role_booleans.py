# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every boolean role variable is read with ``| bool`` wherever the roles use it.

``-e x=false`` and ``x=false`` in an INI inventory give the string "false", which is true as a bare
condition on ansible-core 2.16 and an error on 2.19. The role tests pass such strings for the
booleans whose effect a run shows; this test holds the rest of the rule for every use of every
variable that meta/argument_specs.yml declares ``bool``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


def _bool_options() -> list[tuple[str, str]]:
    out = []
    for spec in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            out += [(spec.parents[1].name, name) for name, opt in entry.get("options", {}).items()
                    if opt.get("type") == "bool"]
    return out


def _uses(role: str, name: str) -> list[tuple[str, int, str]]:
    """(file, line number, line) of each use of ``name`` in the role's tasks, handlers and templates."""
    found = []
    for sub in ("tasks", "handlers", "templates"):
        for path in sorted((ROLES / role / sub).glob("*")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = re.sub(r"\s#.*$|^\s*#.*$", "", line) if path.suffix == ".yml" else line
                code = re.sub(r"'[^']*'", "''", code)  # text in messages, not a use
                if re.search(rf"\b{re.escape(name)}\b", code) and not re.match(r"\s*-?\s*name:", code):
                    found.append((f"{role}/{sub}/{path.name}", number, line.strip()))
    return found


BOOLS = _bool_options()


def test_the_roles_have_boolean_variables():
    names = {option[1] for option in BOOLS}
    assert {"director_purge", "director_manage_vip", "director_load_kernel_modules", "director_boot_persistence",
            "director_install_packages", "real_server_boot_persistence", "real_server_tls",
            "real_server_install_packages", "preflight_install"} <= names, names


@pytest.mark.parametrize(("role", "name"), BOOLS, ids=[option[1] for option in BOOLS])
def test_boolean_is_read_with_bool_filter(role, name):
    uses = _uses(role, name)
    bare = [u for u in uses if not re.search(rf"\b{re.escape(name)}\s*\|\s*bool\b", u[2])]
    assert not bare, f"{name} used without '| bool': {bare}"
