# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real requests from the client: firewall-mark persistence keeps 80 and 443 on one real server."""

from __future__ import annotations

import testinfra

testinfra_hosts = ["ansible://clients"]

NAME = "shop.example.com"
CERT = "/etc/ssl/certs/lvs-ipvs-shop.example.com.crt"
ROUNDS = 4


def _get(host, lab, scheme: str) -> str:
    url = f"{scheme}://{NAME}/"
    # -k: the certificate is self-signed; which certificate is served is checked below.
    out = host.check_output(
        f"curl -sS -k --max-time 10 --resolve {NAME}:80:{lab.vip} --resolve {NAME}:443:{lab.vip} {url}"
    )
    name, sep, port = out.strip().partition(" port ")
    assert sep and name in lab.real_servers, f"unexpected answer from {url}: {out!r}"
    assert port == ("443" if scheme == "https" else "80")
    return name


def test_80_and_443_stick_to_one_real_server(host, lab) -> None:
    answers = [_get(host, lab, scheme) for _round in range(ROUNDS) for scheme in ("http", "https")]
    assert len(set(answers)) == 1, f"persistence broken, answers: {answers}"


def test_template_on_director_points_at_that_server(host, lab) -> None:
    answered = _get(host, lab, "http")
    director = testinfra.get_host(f"docker://{lab.director}")
    conns = director.check_output("ipvsadm -Lnc").splitlines()
    # A firewall-mark persistence template: protocol IP, client port 0, virtual 0.0.0.<mark>:0.
    templates = [c.split() for c in conns if c.split()[:1] == ["IP"] and c.split()[3] == f"{lab.client}:0"]
    assert [t[4:6] for t in templates] == [["0.0.0.10:0", f"{lab.real_servers[answered]}:0"]], "\n".join(conns)


def test_every_real_server_presents_the_shared_certificate(host, lab) -> None:
    served = host.check_output(
        f"openssl s_client -connect {lab.vip}:443 -servername {NAME} </dev/null 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256"
    )
    for name in lab.real_servers:
        real_server = testinfra.get_host(f"docker://{name}")
        on_disk = real_server.check_output(f"openssl x509 -noout -fingerprint -sha256 -in {CERT}")
        assert served == on_disk
