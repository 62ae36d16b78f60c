# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel test bed: run one command on a kernel that has IPVS.

    bin/bed run [options] -- COMMAND [ARG...]
    bin/bed info

Where the command runs:

* ``host`` - the host kernel has IPVS and we are root: the command runs directly.
* ``uml``  - otherwise User-Mode Linux (Debian's user-mode-linux, cached by bin/setup in .cache/uml):
  a real Linux kernel with IPVS that runs as an ordinary process, no emulation, with this
  machine's files as its read-only root (hostfs) and tmpfs overlays on /etc, /var, /tmp, /usr, ...
  ``LVS_BED_UML`` chooses Debian's: ``trixie`` (Debian 13, kernel 6.12, the default) or ``bookworm``
  (Debian 12, kernel 6.1: each process start costs it three to five times as much). It has one CPU and
  runs on one CPU of the machine that no other bed holds (claim_cpu).

Inside, the command starts in this checkout with the project's virtual environment first on
PATH, HOME on a private tmpfs, ``LVS_BED`` set to the mode and ``BED_OUT`` to a directory that
is writable through to the host: whatever the command leaves there is handed back in
``--out`` (emptied first; default a new .cache/bed/runs/<time>-<pid>). The exit status is the command's; 125 means
the bed itself failed (no kernel, it did not start, timeout), with a message saying which.
Settings (docs/development.md): LVS_BED_MODE=auto|host|uml, LVS_BED_UML=trixie|bookworm, LVS_BED_MEMORY,
LVS_BED_TIMEOUT.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lvslab import CACHE, ROOT, VENV_BIN

UML_SUITES = ("trixie", "bookworm")
UML_SUITE = os.environ.get("LVS_BED_UML") or UML_SUITES[0]
UML_DIR = CACHE / "uml" / UML_SUITE
BED_FAILED = 125


def say(msg: str) -> None:
    print(f"bed: {msg}", file=sys.stderr, flush=True)


def fail(msg: str) -> int:
    say(f"ERROR: {msg}")
    return BED_FAILED


def host_has_ipvs() -> bool:
    if Path("/proc/net/ip_vs").exists():
        return True
    if os.geteuid() != 0 or not shutil.which("modprobe"):
        return False
    subprocess.run(["modprobe", "-q", "ip_vs"], capture_output=True, check=False)
    return Path("/proc/net/ip_vs").exists()


def choose_mode() -> str:
    mode = os.environ.get("LVS_BED_MODE", "auto")
    if mode not in ("auto", "host", "uml"):
        raise SystemExit(fail(f"LVS_BED_MODE must be auto, host or uml, not {mode!r}"))
    if mode == "auto":
        mode = "host" if os.geteuid() == 0 and host_has_ipvs() else "uml"
    return mode


def uml_release() -> str:
    mods = UML_DIR / "usr" / "lib" / "uml" / "modules"
    found = sorted(p.name for p in mods.iterdir()) if mods.is_dir() else []
    return found[0] if found else ""


BED_NET = "10.213.0"  # host side .1, the bed .2; the lab networks (10.77.0.0/16) are routed through .2
CONTROLLER_PORT = 7001

# PID 1 of the User-Mode Linux bed.
UML_INIT = """#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t tmpfs -o mode=0755 run /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
modprobe -d {uml_dir} overlay || echo "bed: overlayfs did not load" >&2
for d in etc var tmp root usr home srv opt; do
  mkdir -p /run/bed-overlay/$d/upper /run/bed-overlay/$d/work
  mount -t overlay bed-$d -o lowerdir=/$d,upperdir=/run/bed-overlay/$d/upper,workdir=/run/bed-overlay/$d/work /$d \
    || echo "bed: no writable overlay on /$d" >&2
done
# root's shell start-up files of this machine (pyenv init, ...) cost seconds per SSH session in here
for f in .bashrc .profile .bash_profile; do [ -e /root/$f ] && : > /root/$f; done
# modprobe and the kernel's own module requests find the UML module tree where they look
rm -rf /usr/lib/modules/{release}
mkdir -p /usr/lib/modules
ln -s {modules} /usr/lib/modules/{release}
mount -t hostfs bed-out {out} -o {out}
hostname lvs-bed
# The link to the host: a tap device in a network namespace of the host that bin/bed made for this
# run. The controller service (bin/bed controller) listens there: Ansible controllers run on the host
# at native speed, the managed nodes here (see docs/testing.md).
ip link set vec0 up && ip addr add {bed_ip}/24 dev vec0 || echo "bed: no network link to the host" >&2
sysctl -qw net.ipv4.ip_forward=1
usermod -p '*' root 2>/dev/null   # key-only SSH for a locked root without PAM (this bed's /etc only)
mkdir -p /run/sshd
/usr/sbin/sshd -o UsePAM=no -o PermitRootLogin=prohibit-password -o PasswordAuthentication=no \
  -o AuthorizedKeysFile={bed_key}.pub -o ListenAddress={bed_ip} -o UseDNS=no -o MaxStartups=64 \
  -o MaxSessions=64 -o LogLevel=ERROR -E /run/bed-sshd.log || echo "bed: sshd did not start" >&2
export LVS_BED_CONTROLLER={host_ip}:{port} LVS_BED_SSH_KEY={bed_key} LVS_BED_SSH=root@{bed_ip} LVS_BED_NAME={netns}
# Debian's user-mode-linux has no nf_tables for IPv4/IPv6: the system's iptables is the legacy backend
# here (in this bed's /etc overlay only), as on a host where an administrator chose it.
for t in iptables ip6tables; do update-alternatives --quiet --set $t /usr/sbin/$t-legacy >/dev/null; done
ip link set lo up
bash {script} </dev/null
poweroff -f
"""


def bed_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}:/usr/sbin:/sbin"
    return env


def inner_script(out: Path, argv: list[str], mode: str) -> str:
    """The wrapper run inside the bed: environment, the command, its exit status."""
    # The caller's settings for the tests go in with the command (User-Mode Linux starts its init
    # with an empty environment): LVS_*, ANSIBLE_*, MOLECULE_*, PYTEST_* variables (not the bed's own).
    passed = "".join(
        f"export {k}={shlex.quote(v)}\n" for k, v in sorted(os.environ.items())
        if k.startswith(("LVS_", "ANSIBLE_", "MOLECULE_", "PYTEST_")) and not k.startswith("LVS_BED")
    )
    if mode == "uml":
        passed += f"export LVS_BED_UML={shlex.quote(UML_SUITE)}\n"  # whose kernel runs the command
    return f"""#!/bin/bash
{passed}export LVS_BED={mode} BED_OUT={shlex.quote(str(out))}
export PATH={shlex.quote(str(VENV_BIN))}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PYTHONPATH={shlex.quote(str(ROOT / "tools"))} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ANSIBLE_NOCOLOR=1
if [ "$LVS_BED" != host ]; then
  export HOME=/tmp/bed-home
  mkdir -p "$HOME"
  mount -t tmpfs -o size=70% bed-scratch /tmp/bed-home 2>/dev/null || true
fi
cd {shlex.quote(str(ROOT))}
{shlex.join(argv)}
rc=$?
echo $rc > {shlex.quote(str(out / '.bed-rc'))}
exit $rc
"""


class Terminated(Exception):  # noqa: N818 - a signal, not an error
    """SIGTERM or SIGHUP: stop the bed (its process group) like an interrupt."""


def _terminated(signum: int, _frame: object) -> None:
    raise Terminated(f"signal {signum}")


def bed_key() -> Path:
    """The key the host uses to reach the bed's sshd (made once)."""
    key = CACHE / "bed" / "ssh" / "id_ed25519"
    key.parent.mkdir(parents=True, exist_ok=True)
    # bin/test starts two beds at once: the first makes the key, the other waits for it.
    with open(key.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (key.exists() and key.with_suffix(".pub").exists()):
            key.unlink(missing_ok=True)
            key.with_suffix(".pub").unlink(missing_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lvs-ipvs-bed", "-f", str(key)],
                           check=True, capture_output=True)
    return key


def claim_cpu() -> tuple[int, object]:
    """A CPU of this machine for one bed, and the lock that holds it while the bed runs.

    User-Mode Linux runs each process of the bed under ptrace from its kernel's thread: a system call
    or page fault is a round trip between the two. On one CPU that trip costs a context switch; across
    two it costs wake-ups between CPUs, and a process start in the bed takes 2-3 times as long. So
    each bed runs on one CPU, the first that no other bed holds (when all are held, one by the pid).
    The locks are the machine's, in /run/lock, not the checkout's: beds of two checkouts share the CPUs too.
    """
    cpus = sorted(os.sched_getaffinity(0))
    for cpu in cpus:
        lock = open(f"/run/lock/lvs-ipvs-bed-cpu{cpu}.lock", "w")  # noqa: SIM115 - held for the bed's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return cpu, lock
        except OSError:
            lock.close()
    return cpus[os.getpid() % len(cpus)], None


def host_link(netns: str) -> None:
    """A namespace on the host with the tap device the bed attaches to, routes to the lab networks."""
    def ip(*a: str) -> None:
        subprocess.run(["ip", *a], check=True, capture_output=True, text=True)
    ip("netns", "add", netns)
    ip("-n", netns, "link", "set", "lo", "up")
    ip("-n", netns, "tuntap", "add", "dev", "bed0", "mode", "tap")
    ip("-n", netns, "addr", "add", f"{BED_NET}.1/24", "dev", "bed0")
    ip("-n", netns, "link", "set", "bed0", "up")
    ip("-n", netns, "route", "add", "10.77.0.0/16", "via", f"{BED_NET}.2")


def drop_host_link(netns: str) -> None:
    """Stop whatever still runs in the namespace (ssh masters of ControlPersist...), then remove it."""
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def controller(_args: argparse.Namespace) -> int:
    """The controller service (run by bin/bed inside the host side of the bed's link).

    Runs commands for the bed on the host: one JSON line per connection, ``{"argv", "env", "cwd"}``;
    the answer streams the command's output as ``{"out": text}`` lines and ends with ``{"rc": N}``.
    Only the bed can reach it: it listens on the tap device of a namespace made for this bed.
    """
    import json
    import socketserver

    from lvslab import bedctl

    # The bed's own settings stay in the bed; HOME, PWD... are this side's.
    not_passed = ("HOME", "PWD", "OLDPWD", "SHLVL", "_", "TMPDIR", "LVS_BED", "BED_OUT", "LVS_BED_CONTROLLER")

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            req = json.loads(self.rfile.readline())
            env = dict(os.environ)
            env.update({k: v for k, v in req.get("env", {}).items() if k not in not_passed})

            def send(obj: dict) -> None:
                self.wfile.write((json.dumps(obj) + "\n").encode())
                self.wfile.flush()

            try:
                rc = bedctl.follow(req["argv"], env=env, cwd=req.get("cwd") or str(ROOT),
                                   on_output=lambda text: send({"out": text}))
            except OSError as exc:
                send({"out": f"controller: cannot run {req['argv'][0]}: {exc}\n"})
                rc = 127
            send({"rc": rc})

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    with Server((f"{BED_NET}.1", CONTROLLER_PORT), Handler) as server:
        server.serve_forever()
    return 0


def _copy_output(stream) -> None:
    """Pass the bed's output through as it comes, without the NUL padding of the console."""
    out = sys.stdout.buffer
    for chunk in iter(lambda: stream.read1(65536), b""):
        out.write(chunk.replace(b"\x00", b""))
        out.flush()


def run(args: argparse.Namespace) -> int:
    argv = args.command
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        return fail("no command given: bin/bed run -- COMMAND")
    # A directory of its own per run unless told, so that concurrent beds cannot clobber each other.
    run_dir = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    out = Path(args.out).resolve() if args.out else CACHE / "bed" / "runs" / run_dir
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    mode = choose_mode()
    cleanups: list = []
    try:
        return _run(args, argv, out, mode, cleanups)
    finally:
        for undo in reversed(cleanups):
            undo()


def _run(args: argparse.Namespace, argv: list[str], out: Path, mode: str, cleanups: list) -> int:
    rc_file = out / ".bed-rc"
    script = out / ".bed-inner.sh"
    script.write_text(inner_script(out, argv, mode))
    script.chmod(0o755)
    start = time.monotonic()

    if mode == "host":
        if os.geteuid() != 0 or not host_has_ipvs():
            return fail("LVS_BED_MODE=host needs root and a host kernel with IPVS")
        say(f"running on the host kernel {os.uname().release} (it has IPVS)")
        cmd = ["bash", str(script)]
    else:
        if UML_SUITE not in UML_SUITES:
            return fail(f"LVS_BED_UML must be one of {', '.join(UML_SUITES)}, not {UML_SUITE!r}")
        binary = UML_DIR / "usr" / "bin" / "linux.uml"
        release = uml_release()
        if not binary.is_file() or not release:
            return fail(f"User-Mode Linux not found in {UML_DIR}: run bin/setup")
        uml_dir = UML_DIR.resolve()
        init = out / ".bed-init.sh"
        netns = f"lvsbed{os.getpid()}"
        init.write_text(UML_INIT.format(
            netns=netns, bed_ip=f"{BED_NET}.2", host_ip=f"{BED_NET}.1", port=CONTROLLER_PORT,
            bed_key=shlex.quote(str(bed_key())),
            uml_dir=uml_dir, release=release, modules=uml_dir / "usr" / "lib" / "uml" / "modules" / release,
            out=shlex.quote(str(out)), script=shlex.quote(str(script))))
        init.chmod(0o755)
        cpu, cpu_lock = claim_cpu()
        cleanups.append(lambda: cpu_lock and cpu_lock.close())
        say(f"starting User-Mode Linux {release} (Debian {UML_SUITE}'s, IPVS) on CPU {cpu}; the host kernel has none")
        try:
            host_link(netns)
        except subprocess.CalledProcessError as exc:
            return fail(f"cannot make the bed's network link in namespace {netns}: {exc.stderr.strip()}")
        cleanups.append(lambda: drop_host_link(netns))
        controller = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m", "lvslab.bed", "controller"],
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        cleanups.append(lambda: stop(controller))
        cmd = ["taskset", "--cpu-list", str(cpu), "ip", "netns", "exec", netns, str(binary),
               f"mem={os.environ.get('LVS_BED_MEMORY', '3G')}",
               "rootfstype=hostfs", "rootflags=/", "ro", "quiet", "loglevel=1", f"init={init}", "con=null",
               "con0=fd:0,fd:1", "vec0:transport=tap,ifname=bed0"]

    # Both streams through a pipe, passed on as they come (without the console's NUL padding).
    proc = subprocess.Popen(cmd, env=bed_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    pump = threading.Thread(target=_copy_output, args=(proc.stdout,), daemon=True)
    pump.start()
    try:
        proc.wait(timeout=args.timeout)
        pump.join(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return fail(f"timed out after {args.timeout} s ({mode}); output so far is above")
    except (KeyboardInterrupt, Terminated):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return fail("interrupted")
    took = time.monotonic() - start
    if not rc_file.exists():
        where = "the host" if mode == "host" else "User-Mode Linux"
        return fail(
            f"the command did not run to completion in {where}: no exit status came back "
            f"(runner exit status {proc.returncode}, after {took:.0f} s). "
            + ("It did not boot or crashed; its console output is above." if mode != "host" else "")
        )
    rc = int(rc_file.read_text().strip() or BED_FAILED)
    rc_file.unlink()
    script.unlink()
    say(f"command exited {rc} after {took:.0f} s ({mode}); files handed back in {out}")
    return rc


def info(_args: argparse.Namespace) -> int:
    mode = choose_mode()
    print(f"mode: {mode}")
    print(f"host kernel: {os.uname().release} (IPVS: {'yes' if host_has_ipvs() else 'no'})")
    if mode == "uml":
        rel = uml_release()
        print(f"user-mode linux: {UML_DIR.resolve()} (Debian {UML_SUITE}; "
              f"{'kernel ' + rel if rel else 'MISSING: run bin/setup'})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="bed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    p_run = sub.add_parser("run", help="run a command on a kernel with IPVS")
    p_run.add_argument("--out", help="directory for the files handed back (default: a new one in .cache/bed/runs)")
    p_run.add_argument("--timeout", type=int, default=int(os.environ.get("LVS_BED_TIMEOUT", "3000")),
                       help="seconds before the bed is killed (default 3000)")
    p_run.add_argument("command", nargs=argparse.REMAINDER)
    p_run.set_defaults(func=run)
    p_ctl = sub.add_parser("controller", help="(internal) the controller service of a UML bed")
    p_ctl.set_defaults(func=controller)
    p_info = sub.add_parser("info", help="say where commands would run")
    p_info.set_defaults(func=info)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _terminated)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
