#!/usr/bin/env bash
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run the Molecule scenarios (molecule/*) for real: Docker containers on a kernel with IPVS.
#
#   bin/molecule-bed [--prove-verifiers] [SCENARIO...]     (default: every scenario)
#
# On the machine (outside the bed) it builds the plain Debian images and their local package
# repositories once (bin/images build, cached in .cache/images) and runs itself inside the kernel
# test bed (bin/bed): on this host when its kernel has IPVS, otherwise in the User-Mode Linux bed.
# Inside the bed it
#   1. loads the IPVS scheduler and netfilter modules (containers cannot load modules),
#   2. uses the Docker engine at $DOCKER_HOST when one answers there (a host with IPVS), or
#      starts a private dockerd with its data on a tmpfs (the bed, or a host without Docker),
#   3. docker-imports the cached image of each suite the scenarios use (the suite named by the
#      default image in their molecule.yml) unless it is already there, and sets the scenarios'
#      variables: image, package repository (bin/images env), the kernel's module tree,
#   4. runs `molecule test -s SCENARIO` for each scenario from a scratch copy of the collection
#      (the checkout is read-only in the bed), each with its own log in $BED_OUT,
#   5. with --prove-verifiers: breaks the roles' results on purpose in the debian13 scenario (a real
#      server's arp_announce 1, its VIP removed from lo, its boot path doing nothing; a director's
#      boot path that forgets the firewall marks) and checks that the verifier fails on exactly that,
#   6. stops its dockerd and removes everything it made.
# Exit status 0 only when every scenario passed (and every deliberate break was caught).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

if [ -z "${LVS_BED:-}" ]; then
  "$ROOT/bin/images" build >/dev/null || { echo "molecule-bed: building the image failed" >&2; exit 1; }
  # every scenario and the four deliberate breaks take 30-50 minutes: more than bin/bed's default limit
  exec "$ROOT/bin/bed" run --timeout "${LVS_BED_TIMEOUT:-4800}" --out "$ROOT/.cache/bed/molecule" -- bin/molecule-bed "$@"
fi

PROVE=0
SCENARIOS=()
for arg in "$@"; do
  case "$arg" in
    --prove-verifiers) PROVE=1 ;;
    -*) echo "molecule-bed: unknown option $arg" >&2; exit 2 ;;
    *) SCENARIOS+=("$arg") ;;
  esac
done
if [ "${#SCENARIOS[@]}" -eq 0 ]; then
  for f in molecule/*/molecule.yml; do SCENARIOS+=("$(basename "$(dirname "$f")")"); done
fi

OUT=${BED_OUT:-/tmp}
WORK=/tmp/lvs-molecule.$$
OWN_DOCKERD=0
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 MOLECULE_NO_COLOR=1 NO_COLOR=1
# Keep ansible's temporary files in /tmp (the bed's tmpfs overlay),
# on the controller and in the containers alike.
export ANSIBLE_LOCAL_TEMP="$WORK/ansible-local" ANSIBLE_REMOTE_TMP=/tmp/.ansible-remote

say() { printf 'molecule-bed: %s\n' "$*"; }
now() { date +%s; }

# wait_for SECONDS WHAT CMD...: poll CMD every second until it succeeds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  say "ERROR: $what did not come up within $secs s; the end of its log:"
  tail -20 "$OUT/$what.log"
  return 1
}

cleanup() {
  if [ "$OWN_DOCKERD" -eq 1 ]; then
    # Containers left by a failed scenario go with the daemon's tmpfs.
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
    if [ -f "$WORK/docker.pid" ]; then
      kill "$(cat "$WORK/docker.pid")" 2>/dev/null
      for _ in $(seq 1 30); do [ -f "$WORK/docker.pid" ] || break; sleep 1; done
    fi
    if [ -f "$WORK/containerd.pid" ]; then
      kill "$(cat "$WORK/containerd.pid")" 2>/dev/null
      sleep 2
    fi
    umount -l "$WORK/docker" 2>/dev/null
  fi
  umount -l "$WORK/src" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

say "in the bed ($LVS_BED, kernel $(uname -r)); scenarios: ${SCENARIOS[*]}"
# 1. Kernel modules: IPVS with the schedulers the scenarios (and most users) use, and netfilter.
modprobe -a ip_vs || { say "ERROR: cannot load ip_vs: this kernel has no IPVS"; exit 1; }
for m in ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_mh br_netfilter overlay \
         iptable_mangle iptable_nat iptable_filter xt_mark xt_MARK xt_comment xt_tcpudp xt_multiport \
         nf_tables nft_compat nf_conntrack veth; do
  modprobe -q "$m" 2>/dev/null || true
done

# 2. A Docker engine.
mkdir -p "$WORK"
if [ -n "${DOCKER_HOST:-}" ] && docker version >/dev/null 2>&1; then
  say "using the Docker engine at $DOCKER_HOST"
elif [ "$LVS_BED" = host ] && [ -z "${DOCKER_HOST:-}" ] && docker version >/dev/null 2>&1; then
  say "using this host's Docker engine"
else
  mkdir -p "$WORK/docker"
  # In the UML bed the controller (molecule, ansible) runs on the host (lvslab.bedctl) and
  # reaches this engine over the bed's private link.
  if [ -n "${LVS_BED_CONTROLLER:-}" ]; then
    BED_DOCKER_TCP="tcp://${LVS_BED_SSH#*@}:2375"
  fi
  # containerd does not work on the bed's hostfs root: the engine's data lives on a tmpfs.
  mount -t tmpfs -o size=2g lvs-molecule-docker "$WORK/docker" || { say "ERROR: cannot mount a tmpfs"; exit 1; }
  OWN_DOCKERD=1
  export DOCKER_HOST="unix://$WORK/docker/docker.sock"
  # containerd first, with a generous wait: in the one-CPU bed it can take longer to
  # come up than dockerd is prepared to wait for the containerd it would start itself.
  cat >"$WORK/containerd.toml" <<EOF
version = 2
root = "$WORK/docker/containerd"
state = "$WORK/docker/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$WORK/docker/containerd.sock"
EOF
  say "starting a private containerd and dockerd (data on a tmpfs)"
  containerd --config "$WORK/containerd.toml" >"$OUT/containerd.log" 2>&1 &
  echo $! >"$WORK/containerd.pid"
  wait_for 300 "containerd" test -S "$WORK/docker/containerd.sock" || exit 1
  # crun, not runc, runs the containers: a C program where runc is a Go one that starts twice per
  # container and per `docker exec` (one per Ansible task); in the bed, where starting a process is
  # dear, `docker exec` costs 0.31 s against 0.39 s and `docker run` 1.4 s against 1.8 s.
  command -v crun >/dev/null || { say "ERROR: crun is not installed (bin/setup installs it)"; exit 1; }
  dockerd --data-root "$WORK/docker/data" --exec-root "$WORK/docker/exec" \
    --containerd "$WORK/docker/containerd.sock" --add-runtime crun="$(command -v crun)" --default-runtime crun \
    -H "$DOCKER_HOST" ${BED_DOCKER_TCP:+-H "$BED_DOCKER_TCP"} --pidfile "$WORK/docker.pid" --storage-driver overlay2 \
    >"$OUT/dockerd.log" 2>&1 &
  wait_for 300 "dockerd" docker version || exit 1
  say "started a private dockerd ($(docker version -f '{{.Server.Version}}'), runtime $(docker info -f '{{.DefaultRuntime}}')) at $DOCKER_HOST"
fi

# 3. The images of the suites the scenarios use, and the scenarios' settings.
declare -a SUITES=()
PROVE_SCENARIOS=(debian13)  # the scenario the deliberate breaks (5.) converge
for s in "${SCENARIOS[@]}" $([ "$PROVE" -eq 1 ] && echo "${PROVE_SCENARIOS[@]}"); do
  suite=$(grep -oE 'lvs-ipvs-molecule:[a-z]+' "molecule/$s/molecule.yml" 2>/dev/null | head -1 | cut -d: -f2)
  if [ -n "$suite" ] && [[ " ${SUITES[*]} " != *" $suite "* ]]; then SUITES+=("$suite"); fi
done
# image names and local package repositories (LVS_MOLECULE_IMAGE, LVS_MOLECULE_APT_REPO, ...)
settings=$("$ROOT/bin/images" env "${SUITES[@]}") || exit 1
while IFS= read -r line; do eval "export $line"; done <<<"$settings"
# The boot path runs modprobe in the director's container, which needs the running kernel's module
# tree; in the bed /lib/modules/<release> is a link to the UML tree: mount what it points at.
LVS_MOLECULE_MODULES=$(dirname "$(readlink -f "/lib/modules/$(uname -r)")")
export LVS_MOLECULE_MODULES
for suite in "${SUITES[@]}"; do
  t=$(now)
  "$ROOT/bin/images" load "$suite" || exit 1
  img=$("$ROOT/bin/images" name "$suite")
  say "image $img ready in $(( $(now) - t )) s"
  # Debian's user-mode-linux has no nf_tables for IPv4/IPv6. The image has no iptables (the role
  # installs it), so in that bed an apt hook selects the legacy backend whenever a package is
  # installed, as an administrator of such a host would (a derived image under the same name, in
  # this bed's engine only; the roles and the scenarios are unchanged).
  if [ "$LVS_BED" = uml ]; then
    docker rm -f lvs-legacy-iptables >/dev/null 2>&1
    docker run --name lvs-legacy-iptables "$img" sh -c 'cat >/etc/apt/apt.conf.d/99lvs-bed-legacy-iptables <<EOF
DPkg::Post-Invoke { "if [ -x /usr/sbin/iptables-legacy ]; then update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy && update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-legacy; fi"; };
EOF' >/dev/null && docker commit lvs-legacy-iptables "$img" >/dev/null && docker rm lvs-legacy-iptables >/dev/null \
      || { say "ERROR: cannot add the legacy iptables hook to $img"; exit 1; }
    say "image $img: iptables will use the legacy backend once installed (this kernel has no nf_tables for IPv4)"
  fi
done
# 4. A scratch copy of the collection, found by ansible as lvs.ipvs (where the controller side sees it).
if [ -n "${LVS_BED_CONTROLLER:-}" ]; then
  SRC="$OUT/molecule-src"
  rm -rf "$SRC"
  export ANSIBLE_LOCAL_TEMP="$OUT/ansible-local"
else
  SRC="$WORK/src"
  mkdir -p "$SRC"
  mount -t tmpfs -o size=512m lvs-molecule-src "$SRC" 2>/dev/null || true
fi
COL="$SRC/ansible_collections/lvs/ipvs"
mkdir -p "$COL"
git -c safe.directory="$ROOT" ls-files -co --exclude-standard -z \
  | tar --null -T - -cf - 2>/dev/null | tar -C "$COL" -xf - \
  || { say "ERROR: cannot copy the collection to $COL"; exit 1; }
export ANSIBLE_COLLECTIONS_PATH="$SRC"

declare -a SUMMARY=()
FAILED=0

# run_molecule NAME LOG ARGS...: molecule ARGS in the copy; output to the console and LOG.
run_molecule() {
  local log=$1
  shift
  mol "$@" 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}
# mol ARGS...: molecule ARGS in the copy, on the controller side (the host, from the UML bed).
mol() {
  if [ -n "${LVS_BED_CONTROLLER:-}" ]; then
    DOCKER_HOST="$BED_DOCKER_TCP" python -m lvslab.bedctl --cwd "$COL" -- molecule "$@"
  else
    (cd "$COL" && molecule "$@")
  fi
}

for s in "${SCENARIOS[@]}"; do
  if [ ! -f "$COL/molecule/$s/molecule.yml" ]; then
    say "ERROR: no scenario $s"; SUMMARY+=("$s: no such scenario"); FAILED=1; continue
  fi
  say "=== molecule test -s $s"
  # Molecule's state of this scenario starts empty: this engine is new, whatever a killed run left.
  export MOLECULE_EPHEMERAL_DIRECTORY="$SRC/ephemeral/$s"
  t=$(now)
  run_molecule "$OUT/molecule-$s.log" test -s "$s"
  rc=$?
  secs=$(( $(now) - t ))
  idem=$(grep -E "idempotence\] Executed: |Idempotence completed successfully" "$OUT/molecule-$s.log" | tail -1 | sed "s/^INFO *//")
  conv=$(grep -E "converge\] Executed: " "$OUT/molecule-$s.log" | tail -1 | sed "s/^INFO *//")
  tests=$(grep -E "^=+ .*(passed|failed|error).* in [0-9.]+s" "$OUT/molecule-$s.log" | tail -1)
  # the reboot simulation (molecule/resources/tests/test_reboot.py), one result per host (pytest -v)
  reboot=$(grep -oE "test_boot_path_restores_the_state\[[^]]*\] (PASSED|FAILED|ERROR)" "$OUT/molecule-$s.log" \
    | sed -E 's/.*ansible:\/\/([^]]*)\] /\1 /' | sort -u | tr '\n' ',' | sed 's/,$//; s/,/, /g')
  SUMMARY+=("$s: $([ "$rc" -eq 0 ] && echo PASSED || echo "FAILED (exit $rc)") in ${secs}s | converge: ${conv:-no report} | idempotence: ${idem:-no report} | verifier: ${tests:-no report} | reboot simulation: ${reboot:-no report}")
  [ "$rc" -eq 0 ] || FAILED=1
done

# 5. Deliberate breaks: each must make the matching verifier test fail.
if [ "$PROVE" -eq 1 ]; then
  # prove_break SCENARIO LABEL TEST ALSO SETUP...: converge SCENARIO, run SETUP, then verify must fail
  # on TEST, and on no test outside TEST|ALSO (ALSO: a regex of tests the same defect rightly fails too).
  prove_break() {
    local scenario=$1 label=$2 expect=$3 also=$4 log="$OUT/prove-$2.log"
    shift 4
    say "=== deliberate break: $label in $scenario (expect $expect to fail)"
    export MOLECULE_EPHEMERAL_DIRECTORY="$SRC/ephemeral/$scenario-$label"
    (mol destroy -s "$scenario" && mol converge -s "$scenario") >"$log" 2>&1 \
      || { SUMMARY+=("break $label: converge failed, see $log"); FAILED=1; return; }
    "$@" >>"$log" 2>&1
    mol verify -s "$scenario" >>"$log" 2>&1
    local rc=$?
    local failed others
    # pytest's summary lines, e.g. "FAILED tests/test_real_servers.py::test_vip_on_lo[ansible://...]"
    failed=$(grep -oE '^FAILED [^ ]+::test_[A-Za-z0-9_]+' "$log" | sed 's/.*:://' | sort -u | tr '\n' ' ')
    others=$(tr ' ' '\n' <<<"$failed" | grep . | grep -vxE "$expect|$also" | tr '\n' ' ')
    mol destroy -s "$scenario" >>"$log" 2>&1
    if [ "$rc" -ne 0 ] && grep -qw "$expect" <<<"$failed" && [ -z "$others" ]; then
      SUMMARY+=("break $label: caught, verify exit $rc, failed tests: $failed")
    else
      SUMMARY+=("break $label: NOT caught as expected (verify exit $rc; failed: ${failed:-none}; unexpected: ${others:-none})")
      FAILED=1
    fi
  }
  # debian13 converges default's converge.yml (in the scratch copy)
  cp "$COL/molecule/default/converge.yml" "$WORK/converge.orig"
  sed -i 's/^        real_server_tls: true$/        real_server_tls: true\n        real_server_arp_announce: 1/' \
    "$COL/molecule/default/converge.yml"
  # arp_announce 1 is also what the role writes for boot: test_sysctls_kept_for_boot fails rightly too
  prove_break debian13 arp_announce test_arp_sysctls test_sysctls_kept_for_boot true
  cp "$WORK/converge.orig" "$COL/molecule/default/converge.yml"
  # The boot path puts the removed VIP back, so the state after the simulated reboot differs from
  # the (broken) one before it: test_boot_path_restores_the_state fails rightly too, and so do the
  # client's requests, which that real server no longer accepts.
  prove_break debian13 vip_on_lo test_vip_on_lo \
    'test_boot_path_restores_the_state|test_80_and_443_stick_to_one_real_server|test_template_on_director_points_at_that_server|test_every_real_server_presents_the_shared_certificate' \
    docker exec lvs13-rs1 ip addr del 172.30.78.250/32 dev lo
  # A boot path that does nothing: the reboot simulation must notice that nothing came back.
  prove_break debian13 boot_path_noop test_boot_path_restores_the_state '(none)' \
    docker exec lvs13-rs1 sh -c ': > /etc/lvs-ipvs-real-server/restore.sh'
  # A director's boot path that forgets one piece (the firewall marks).
  prove_break debian13 director_boot_forgets_marks test_boot_path_restores_the_state '(none)' \
    docker exec lvs13-director sed -i '/^apply_marks iptables /d' /etc/lvs-ipvs/restore.sh
fi

echo
say "summary"
for line in "${SUMMARY[@]}"; do printf '  %s\n' "$line"; done
[ "$FAILED" -eq 0 ] && say "all passed" || say "FAILED"
exit "$FAILED"
