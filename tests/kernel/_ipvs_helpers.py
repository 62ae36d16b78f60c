# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the IPVS module kernel tests (imported by tests/kernel/test_ipvs_*.py)."""

from __future__ import annotations

from collections.abc import Callable

VIP = "192.168.0.1"
RS = (("192.168.1.2", 4), ("192.168.1.3", 2))


def four_way(run_module, ns, module: str, args: dict, *, view: Callable[[], object] | None = None) -> dict:
    """Run a state change four ways: check (changed, kernel untouched), apply (changed), again, check again.

    ``view`` is the independent view of the kernel (``ipvsadm -Sn`` by default). Returns the
    result of the applying run.
    """
    view = view or ns.ipvsadm_save
    before = view()
    check = run_module(ns, module, args, check_mode=True, diff=True)
    assert not check.failed, check.msg
    assert check.changed, f"check mode of {module} {args} reported no change"
    assert view() == before, f"check mode of {module} {args} changed the kernel"
    applied = run_module(ns, module, args, diff=True)
    assert not applied.failed, applied.msg
    assert applied.changed, f"{module} {args} reported no change"
    after = view()
    assert after != before, f"{module} {args} reported a change the kernel does not show"
    again = run_module(ns, module, args, diff=True)
    assert not again.failed, again.msg
    assert not again.changed, f"second run of {module} {args} changed {again.result.get('changes')}"
    check_again = run_module(ns, module, args, check_mode=True, diff=True)
    assert not check_again.failed, check_again.msg
    assert not check_again.changed, f"second check of {module} {args} reported {check_again.result.get('changes')}"
    assert view() == after
    return applied.result


def apply(run_module, ns, module: str, args: dict) -> dict:
    res = run_module(ns, module, args)
    assert not res.failed, res.msg
    return res.result


def fails(run_module, ns, module: str, args: dict, *needles: str, check_mode: bool = False) -> str:
    """Assert the module fails with a message containing every needle and leaves ipvsadm -Sn as it was."""
    before = ns.ipvsadm_save()
    res = run_module(ns, module, args, check_mode=check_mode)
    assert res.failed, f"{module} {args} did not fail: {res.result}"
    for needle in needles:
        assert needle in res.msg, f"{needle!r} not in {res.msg!r}"
    assert ns.ipvsadm_save() == before, f"{module} {args} changed the kernel while failing"
    return res.msg
