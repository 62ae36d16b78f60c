# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny web service for lab real servers: answers every HTTP request with its own name.

    labserver.py NAME --ports 80,23 [--tls-ports 443 --cert C --key K] [--ready FILE]

Listens on all addresses (so a VIP on lo is served), one thread per port, HTTP/1.0. The body
is ``NAME port PORT\\n`` so a client can tell which real server and which service answered.
When every port listens, writes FILE (if given) so the lab knows it is up.
"""

from __future__ import annotations

import argparse
import http.server
import socketserver
import ssl
import sys
import threading
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--ports", default="")
    parser.add_argument("--tls-ports", default="")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ready")
    args = parser.parse_args()

    servers = []
    for spec, tls in ((args.ports, False), (args.tls_ports, True)):
        for port in filter(None, spec.split(",")):
            srv = _Server(("0.0.0.0", int(port)), _Handler)
            srv.lab_name = args.name
            if tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(args.cert, args.key)
                srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
            servers.append(srv)
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    if args.ready:
        Path(args.ready).write_text("ready\n")
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
