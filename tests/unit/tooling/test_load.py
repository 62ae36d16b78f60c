# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tools/lvslab/load.py: the load harness - a bounded run on loopback, and what its summary counts."""

from __future__ import annotations

import http.server
import io
import json
import threading
from pathlib import Path

from lvslab import load


def _rec(client, n, port, server, ok=True):
    return {"client": client, "n": n, "t": 100.0 + n, "port": port, "server": server, "ok": ok,
            "url": f"http://vip:{port}/", "error": None if ok else "timeout"}


def test_summary_counts_failures_and_moves_per_port_or_group():
    records = [_rec("c1", 0, 80, "rs1"), _rec("c1", 1, 443, "rs2"), _rec("c1", 2, 80, "rs1"),
               _rec("c1", 3, 443, "rs2"), _rec("c2", 0, 80, "rs2"), _rec("c2", 1, 80, "rs1"),
               _rec("c2", 2, 80, None, ok=False)]
    per_port = load.summary(records)
    assert (per_port["requests"], per_port["failed"], per_port["moves"]) == (7, 1, 1)
    assert per_port["servers"] == {"rs1": 3, "rs2": 3} and per_port["errors"] == ["c2 #2 http://vip:80/: timeout"]
    assert per_port["moves_unexplained"] == 1
    grouped = load.summary(records, template=lambda r: r["client"])  # one template for 80 and 443
    assert grouped["moves"] == 4 and grouped["moves_unexplained"] == 4
    # rs1 out of rotation from t=101.5 on: c1's moves away from rs1 at n=1 (t 100-101) are not explained, at
    # n=3 (t 102-103) they are; c2's move away from rs2 never is
    explained = load.summary(records, template=lambda r: r["client"],
                             out_of_rotation=lambda server, t1, t2: server == "rs1" and t2 > 101.5)
    assert explained["moves_unexplained"] == 3
    assert explained["unexplained"][0] == "c1: rs1 at 100.0 -> rs2 at 101.0"
    # one template shared by both clients (a granularity network): the answers in the order they were sent
    shared = [_rec("c1", 0, 80, "rs1"), _rec("c2", 0, 80, "rs1"), _rec("c1", 1, 80, "rs1"), _rec("c2", 1, 80, "rs1"),
              _rec("c1", 5, 80, "rs2")]
    shared[1]["t"], shared[3]["t"] = 100.5, 101.5
    assert load.summary(shared, template=lambda r: "net")["moves"] == 1


def test_bounded_run_against_loopback():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"rs9 port 80\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = io.StringIO()
    try:
        load.run("c1", [f"http://127.0.0.1:{server.server_port}/", "http://127.0.0.1:1/"], out,
                 count=5, interval=0.01, deadline=30)
    finally:
        server.shutdown()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["ok"] for r in records] == [True, False, True, False, True]  # stopped at the count, by itself
    assert {r["server"] for r in records if r["ok"]} == {"rs9"}
    assert load.summary(records)["failed"] == 2
    stop = io.StringIO()  # told to stop, once it sent its minimum
    flag = Path(__file__)  # a file that exists
    load.run("c1", ["http://127.0.0.1:1/"], stop, count=50, interval=0.01, deadline=30, stop_file=str(flag),
             min_count=3)
    assert len(stop.getvalue().splitlines()) == 3
