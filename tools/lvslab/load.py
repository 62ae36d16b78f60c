# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A bounded client load for the lab: which real server answered each request, and which failed.

    load.py NAME URL [URL...] --count N --interval SECONDS --deadline SECONDS [--out FILE]
            [--stop-file FILE [--min-count M]]

Run inside a client namespace (``ip netns exec client1 python3 load.py client1 http://VIP:80/``):
sends requests to the URLs in turn (a new connection each, as a browser's next page), one every
``--interval`` seconds, and stops by itself after ``--count`` requests or ``--deadline`` seconds,
whichever comes first, or once FILE exists and it has sent at least M requests (the test's "done").
Writes one JSON line per request: ``{"n", "t", "client", "url", "port", "server",
"ok", "error", "ms"}`` (``t``: when it was sent, in seconds since the epoch; ``server``: the real server's
name, from the lab web server's answer ``NAME port PORT``). Standard library only; TLS certificates are
not checked (the lab's own).

In a test, :func:`start` runs clients in namespaces, :func:`collect` waits for them and reads their
records, and :func:`summary` counts what the records show.
"""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path


def request(url: str, timeout: float) -> tuple[str | None, str | None]:
    """(server, None) for an answer, (None, error) for a failure."""
    context = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as answer:
            body = answer.read().decode(errors="replace").strip()
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return (body.split(" port ")[0] if " port " in body else body), None


def run(name: str, urls: Sequence[str], out, *, count: int, interval: float, deadline: float,
        stop_file: str | None = None, min_count: int = 0) -> int:
    start = time.monotonic()
    n = 0
    while n < count and time.monotonic() - start < deadline:
        if stop_file and n >= min_count and Path(stop_file).exists():
            break
        url = urls[n % len(urls)]
        t, sent = time.monotonic(), time.time()
        server, error = request(url, timeout=5.0)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        out.write(json.dumps({"n": n, "t": round(sent, 3), "client": name, "url": url, "port": port,
                              "server": server, "ok": error is None, "error": error,
                              "ms": round((time.monotonic() - t) * 1000, 1)}) + "\n")
        out.flush()
        n += 1
        time.sleep(max(0.0, t + interval - time.monotonic()))
    return 0


# --- in a test ---------------------------------------------------------------------------------------------


def start(clients: dict[str, str], urls: Sequence[str], *, count: int, interval: float, deadline: float,
          out_dir: Path, min_count: int = 0) -> list[tuple[subprocess.Popen, Path]]:
    """Start one load client per entry of ``clients`` (name -> network namespace); records in ``out_dir``.
    Each stops by itself (``count``, ``deadline``), or at :func:`stop` once it sent ``min_count`` requests."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "stop").unlink(missing_ok=True)
    procs = []
    for name, ns in clients.items():
        path = out_dir / f"{name}.jsonl"
        argv = ["ip", "netns", "exec", ns, sys.executable, __file__, name, *urls, "--count", str(count),
                "--interval", str(interval), "--deadline", str(deadline), "--out", str(path),
                "--stop-file", str(out_dir / "stop"), "--min-count", str(min_count)]
        procs.append((subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), path))
    return procs


def collect(procs: list[tuple[subprocess.Popen, Path]], *, timeout: float) -> list[dict]:
    """Tell the clients to stop (once they sent their ``min_count``), wait for them (killed after ``timeout``) and
    return every record."""
    for _proc, path in procs[:1]:
        (path.parent / "stop").touch()
    end = time.monotonic() + timeout
    records: list[dict] = []
    for proc, path in procs:
        try:
            proc.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.returncode not in (0, -9) or not path.exists():
            raise RuntimeError(f"load client {path.stem} failed ({proc.returncode}): {proc.stderr.read()}")
        records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return records


def summary(records: Iterable[dict], *, template: Callable[[dict], Hashable] | None = None,
            out_of_rotation: Callable[[str, float, float], bool] | None = None) -> dict:
    """What the records show: ``requests``, ``failed`` (with the first few ``errors``), ``servers`` (answers per
    real server) and ``moves``: each time the next answer under one persistence template (``template`` of a
    record; by default the client and URL) came from another real server than the previous one.
    ``moves_unexplained`` counts the moves away from a server that ``out_of_rotation(server, t1, t2)`` says was
    in rotation all the time between the two requests (a persistent client of a server nobody took out must
    never move; the first few are described in ``unexplained``); without ``out_of_rotation`` every move counts.
    The records are taken in the order they were sent, whichever client sent them."""
    records = sorted(records, key=lambda r: (r["t"], r["client"], r["n"]))  # in time: clients may share a template
    template = template or (lambda r: (r["client"], r["url"]))
    last: dict[Hashable, tuple[str, float]] = {}
    out = {"requests": 0, "failed": 0, "errors": [], "servers": {}, "moves": 0, "moves_unexplained": 0,
           "unexplained": []}
    for r in records:
        out["requests"] += 1
        if not r["ok"]:
            out["failed"] += 1
            if len(out["errors"]) < 5:
                out["errors"].append(f"{r['client']} #{r['n']} {r['url']}: {r['error']}")
            continue
        out["servers"][r["server"]] = out["servers"].get(r["server"], 0) + 1
        key = template(r)
        before = last.get(key)
        if before is not None and before[0] != r["server"]:
            out["moves"] += 1
            if not (out_of_rotation and out_of_rotation(before[0], before[1], r["t"])):
                out["moves_unexplained"] += 1
                if len(out["unexplained"]) < 5:
                    out["unexplained"].append(f"{key}: {before[0]} at {before[1]:.1f} -> {r['server']} at {r['t']:.1f}")
        last[key] = (r["server"], r["t"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--deadline", type=float, required=True)
    parser.add_argument("--out")
    parser.add_argument("--stop-file")
    parser.add_argument("--min-count", type=int, default=0)
    args = parser.parse_args()
    with open(args.out, "w", encoding="utf-8") if args.out else sys.stdout as out:
        return run(args.name, args.urls, out, count=args.count, interval=args.interval, deadline=args.deadline,
                   stop_file=args.stop_file, min_count=args.min_count)


if __name__ == "__main__":
    sys.exit(main())
