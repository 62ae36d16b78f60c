# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny web service for the real servers of the scenario: answers every request with its name.

    labserver.py [--name NAME] --ports 80 [--tls-ports 443 --cert C --key K]

Listens on all addresses (so the VIP on lo is served), one thread per port, HTTP/1.0. The body
is ``NAME port PORT`` so a client can tell which real server and which port answered; NAME is
the host name by default. A TLS port starts listening once the certificate and key exist, so
the container can start this before the role has installed them.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "lvs-molecule/1"

    def do_GET(self) -> None:
        body = f"{self.server.lab_name} port {self.server.server_address[1]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        return


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    lab_name = ""


def _serve(name: str, port: int, cert: str | None = None, key: str | None = None) -> None:
    if cert and key:
        while not (os.path.exists(cert) and os.path.exists(key)):
            time.sleep(1)
    srv = _Server(("0.0.0.0", port), _Handler)
    srv.lab_name = name
    if cert and key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default=socket.gethostname())
    parser.add_argument("--ports", default="")
    parser.add_argument("--tls-ports", default="")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    # As PID 1 of a container, stop on the signal docker sends.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for spec, tls in ((args.ports, False), (args.tls_ports, True)):
        for port in filter(None, spec.split(",")):
            cert, key = (args.cert, args.key) if tls else (None, None)
            threading.Thread(target=_serve, args=(args.name, int(port), cert, key), daemon=True).start()
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
