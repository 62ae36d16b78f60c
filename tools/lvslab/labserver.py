# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny web service for lab real servers: answers every HTTP request with its own name.

    labserver.py [NAME] --ports 80,23 [--tls-ports 443 --cert C --key K] [--ready FILE]

Listens on all addresses (so a VIP on lo is served), one thread per port, HTTP/1.0. The body
is ``NAME port PORT\\n`` so a client can tell which real server and which service answered;
NAME is the host name by default. When every port listens, writes FILE (if given) so the lab
knows it is up. A TLS port whose certificate does not exist yet starts listening once it does
(the Molecule real servers start this before the role has installed the certificate); the
Molecule scenarios mount this directory into their containers.
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
from pathlib import Path


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "lvs-lab/1"

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


def _listen(name: str, port: int, cert: str | None, key: str | None) -> _Server:
    srv = _Server(("0.0.0.0", port), _Handler)
    srv.lab_name = name
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _listen_when_cert_exists(name: str, port: int, cert: str, key: str) -> None:
    while not (os.path.exists(cert) and os.path.exists(key)):
        time.sleep(1)
    _listen(name, port, cert, key)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", nargs="?", default=socket.gethostname())
    parser.add_argument("--ports", default="")
    parser.add_argument("--tls-ports", default="")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ready")
    args = parser.parse_args()
    # As PID 1 of a container, stop on the signal docker sends.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    for port in filter(None, args.ports.split(",")):
        _listen(args.name, int(port), None, None)
    for port in filter(None, args.tls_ports.split(",")):
        if os.path.exists(args.cert) and os.path.exists(args.key):
            _listen(args.name, int(port), args.cert, args.key)
        else:
            threading.Thread(target=_listen_when_cert_exists, args=(args.name, int(port), args.cert, args.key),
                             daemon=True).start()
    if args.ready:
        Path(args.ready).write_text("ready\n")
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
