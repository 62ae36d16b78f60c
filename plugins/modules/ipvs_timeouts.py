#!/usr/bin/python
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ipvs_timeouts
short_description: Set the IPVS connection timeouts (tcp, tcpfin, udp)
version_added: 0.1.0
description:
  - Sets the idle timeouts of IPVS connections, as C(ipvsadm --set tcp tcpfin udp) does.
  - Only the timeouts given are changed; the others keep their values.
  - The kernel's defaults are 900 (tcp), 120 (tcp_fin) and 300 (udp) seconds.
author:
  - lvs.ipvs contributors (@lvs-ipvs)
extends_documentation_fragment:
  - lvs.ipvs.ipvs
attributes:
  check_mode:
    support: full
    description: Reports what would change without touching the kernel.
  diff_mode:
    support: full
    description: Shows the timeouts before and after, as C(ipvsadm -L --timeout) prints them.
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  tcp:
    description: Idle timeout of established TCP connections, in seconds.
    type: int
  tcp_fin:
    description: Timeout of TCP connections after a FIN, in seconds.
    type: int
  udp:
    description: Idle timeout of UDP connections, in seconds.
    type: int
seealso:
  - module: lvs.ipvs.ipvs_info
"""

EXAMPLES = r"""
- name: Timeouts as ipvsadm --set 300 60 100
  lvs.ipvs.ipvs_timeouts:
    tcp: 300
    tcp_fin: 60
    udp: 100

- name: Change only the UDP timeout
  lvs.ipvs.ipvs_timeouts:
    udp: 60
"""

RETURN = r"""
timeouts:
  description: The timeouts after the task (as they would be, in check mode), in seconds.
  returned: always
  type: dict
  sample: {tcp: 300, tcp_fin: 60, udp: 100}
before:
  description: The timeouts before the task, in seconds.
  returned: always
  type: dict
  sample: {tcp: 900, tcp_fin: 120, udp: 300}
changes:
  description: The timeouts that changed.
  returned: always
  type: list
  elements: str
  sample: [tcp, tcp_fin, udp]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lvs.ipvs.plugins.module_utils._errors import run_and_exit
from ansible_collections.lvs.ipvs.plugins.module_utils._ipvs import (
    HAS_PYROUTE2,
    PYROUTE2_IMPORT_ERROR,
    IpvsHandle,
    pyroute2_problem,
)
from ansible_collections.lvs.ipvs.plugins.module_utils._model import merge_timeouts, timeouts_from_params


def run(module: AnsibleModule) -> dict:
    wanted = timeouts_from_params(module.params)
    with IpvsHandle(module.run_command) as ipvs:
        current = ipvs.get_timeouts()
        target = merge_timeouts(current, wanted)
        before, after = current.as_dict(), target.as_dict()
        changes = [name for name in after if after[name] != before[name]]
        result = {"changed": bool(changes), "changes": changes, "before": before, "timeouts": after}
        if module._diff:
            result["diff"] = {"before": current.render() + "\n", "after": target.render() + "\n"}
        if changes and not module.check_mode:
            ipvs.set_timeouts({name: after[name] for name in changes})
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            tcp=dict(type="int"),
            tcp_fin=dict(type="int"),
            udp=dict(type="int"),
        ),
        required_one_of=[("tcp", "tcp_fin", "udp")],
        supports_check_mode=True,
    )
    if not HAS_PYROUTE2:
        module.fail_json(msg=pyroute2_problem(), exception=PYROUTE2_IMPORT_ERROR)
    run_and_exit(module, run)


if __name__ == "__main__":
    main()
