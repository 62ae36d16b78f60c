#!/usr/bin/env bash
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Install everything lvs.ipvs needs to be developed, tested and demonstrated, idempotently:
#   1. Debian packages (only the missing ones; apt-get update only when something is missing)
#   2. a Python virtual environment in .cache/venv with the pinned versions of requirements.txt
#      and constraints.txt (re-created only when those files or the interpreter change)
#   3. User-Mode Linux (Debian's user-mode-linux, downloaded, not installed) in .cache/uml/<version>:
#      the test bed, a Linux kernel with IPVS run as a process, no emulation; two of them:
#      .cache/uml/bookworm (Debian 12's, kernel 6.1) and .cache/uml/trixie (Debian 13's, kernel 6.12,
#      with Debian 13's C library beside it: the binary needs glibc 2.38 or later)
#   4. Debian's python3-pyroute2 (downloaded the same way) in .cache/pyroute2-debian/<version>: the
#      kernel stage runs the IPVS tests a second time with the pyroute2 a Debian fleet host has
#   5. .cache/collections/ansible_collections/lvs/ipvs -> this checkout, for ansible and ansible-test
# A failed download or install stops with the tool's own error output.
#
# Usage: bin/setup [--relock]
#   --relock   resolve requirements.txt afresh and rewrite constraints.txt
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE="$ROOT/.cache"
VENV="$CACHE/venv"
UML_DIR="$CACHE/uml"
DEB_PYROUTE2_DIR="$CACHE/pyroute2-debian"
PY=python3

APT_PACKAGES=(
  # the test bed (modprobe in User-Mode Linux; patchelf points Debian 13's UML at its own C library)
  kmod patchelf
  # netfilter and IPVS userland (ipvsadm only as a test oracle)
  iptables ipvsadm iproute2 procps
  # the director role's keepalived engine (its tests run keepalived in the bed, as a fleet host has it)
  keepalived
  # the lab and molecule (crun: the runtime of the bed's private dockerd)
  docker.io crun debootstrap openssh-server openssh-client openssl curl
  # the virtual environment and ansible-test
  python3-venv git ca-certificates
)

log() { printf 'setup: %s\n' "$*"; }
# quiet CMD...: run CMD with its output kept aside; shown in full (stdout and stderr) only when it fails.
quiet() {
  local out rc=0
  out=$(mktemp)
  "$@" >"$out" 2>&1 || { rc=$?; cat "$out" >&2; }
  rm -f "$out"
  return "$rc"
}
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    quiet as_root apt-get update -q || die "apt-get update failed"
    apt_updated=1
  fi
}

install_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages: all ${#APT_PACKAGES[@]} present"
    return
  fi
  log "Debian packages: installing ${missing[*]}"
  apt_update_once
  quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
}

install_venv() {
  command -v "$PY" >/dev/null || die "no $PY on PATH"
  local stamp want
  want=$( (cat "$ROOT/requirements.txt" "$ROOT/constraints.txt"; "$PY" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)
  stamp="$VENV/.lvs-ipvs-stamp"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ "${1:-}" != relock ]; then
    log "virtual environment: up to date ($VENV)"
    return
  fi
  log "virtual environment: creating $VENV"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" || die "$PY -m venv failed (is python3-venv installed?)"
  quiet "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip || die "pip upgrade failed (its output is above)"
  if [ "${1:-}" = relock ]; then
    quiet "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt" || die "pip install failed (its output is above)"
    "$VENV/bin/pip" freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)==' > "$ROOT/constraints.txt"
    log "constraints.txt rewritten ($(wc -l < "$ROOT/constraints.txt") pins)"
  else
    quiet "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt" \
      || die "pip install -r requirements.txt -c constraints.txt failed (its output is above)"
  fi
  (cat "$ROOT/requirements.txt" "$ROOT/constraints.txt"; "$PY" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1 > "$stamp"
}

# apt_suite SUITE apt-get|apt-cache ARGS...: apt with only SUITE of this machine's Debian mirror as its source (its own
# lists and cache in .cache/apt-SUITE; the archive's signatures checked with Debian's keyring).
apt_suite() {
  local suite=$1 tool=$2 dir="$CACHE/apt-$1" mirror
  shift 2
  if [ ! -f "$dir/sources.list" ]; then
    mirror=$("$VENV/bin/python" -c 'import sys; sys.path.insert(0, sys.argv[1]); from lvslab.images import apt_mirror; print(apt_mirror())' \
      "$ROOT/tools") || die "cannot read this machine's Debian mirror from its apt sources"
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" > "$dir/sources.list"
  fi
  "$tool" -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o APT::Sandbox::User=root "$@"
}

# install_uml SUITE: Debian SUITE's user-mode-linux, unpacked (not installed) into .cache/uml/<version>,
# linked as .cache/uml/SUITE. The machine's own suite comes from its apt sources as they are; another
# suite's binary gets that suite's C library beside it (patchelf: its loader and library path).
install_uml() {
  local suite=$1 own ver
  own=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [ -L "$UML_DIR/$suite" ] && [ -f "$UML_DIR/$suite/.complete" ]; then
    log "user-mode linux ($suite): cached ($(readlink "$UML_DIR/$suite"))"
    return
  fi
  local dest dl="$UML_DIR/download"
  rm -rf "$dl"
  mkdir -p "$dl"
  chmod 0777 "$dl"
  if [ "$suite" = "$own" ]; then
    ver=$(apt-cache show user-mode-linux 2>/dev/null | awk '/^Version:/{print $2; exit}')
    if [ -z "$ver" ]; then
      apt_update_once
      ver=$(apt-cache show user-mode-linux 2>/dev/null | awk '/^Version:/{print $2; exit}')
    fi
    [ -n "$ver" ] || die "Debian has no user-mode-linux package in this machine's apt sources"
    (cd "$dl" && quiet apt-get download -q "user-mode-linux=$ver") || die "apt-get download user-mode-linux failed"
  else
    quiet apt_suite "$suite" apt-get update || die "apt-get update for Debian $suite failed (its output is above)"
    ver=$(apt_suite "$suite" apt-cache show user-mode-linux 2>/dev/null | awk '/^Version:/{print $2; exit}' || true)
    [ -n "$ver" ] || die "Debian $suite has no user-mode-linux package"
    (cd "$dl" && quiet apt_suite "$suite" apt-get download user-mode-linux libc6) \
      || die "apt-get download user-mode-linux libc6 from Debian $suite failed (its output is above)"
  fi
  dest="$UML_DIR/$ver"
  log "user-mode linux ($suite): user-mode-linux $ver unpacked into $dest, not installed"
  rm -rf "$dest"
  mkdir -p "$dest"
  dpkg-deb -x "$dl"/user-mode-linux_*.deb "$dest" || die "cannot unpack user-mode-linux"
  [ -x "$dest/usr/bin/linux.uml" ] || die "user-mode-linux $ver has no usr/bin/linux.uml"
  if [ "$suite" != "$own" ]; then
    local libc="$dest/libc/usr/lib/x86_64-linux-gnu"
    dpkg-deb -x "$dl"/libc6_*.deb "$dest/libc" || die "cannot unpack Debian $suite's libc6"
    patchelf --set-interpreter "$libc/ld-linux-x86-64.so.2" --set-rpath "$libc" "$dest/usr/bin/linux.uml" \
      || die "patchelf could not point user-mode-linux $ver at Debian $suite's C library"
  fi
  "$dest/usr/bin/linux.uml" --version >/dev/null 2>&1 || die "user-mode-linux $ver does not run here: $("$dest/usr/bin/linux.uml" --version 2>&1 | head -3)"
  local kver
  kver=$(basename "$(find "$dest/usr/lib/uml/modules" -mindepth 1 -maxdepth 1 -type d | head -1)")
  [ -n "$(find "$dest/usr/lib/uml/modules/$kver" -name 'ip_vs.ko*' -print -quit)" ] || die "user-mode-linux ships no ip_vs module"
  # modprobe -d DIR looks in DIR/lib/modules/<release>
  mkdir -p "$dest/lib/modules"
  ln -sfn "../../usr/lib/uml/modules/$kver" "$dest/lib/modules/$kver"
  depmod -b "$dest" "$kver" || die "depmod failed for $dest"
  rm -rf "$dl"
  touch "$dest/.complete"
  ln -sfn "$ver" "$UML_DIR/$suite"
  log "user-mode linux ($suite): $ver (kernel $kver) ready"
}

# Debian's own python3-pyroute2 (Debian 12: 0.7.2), as a fleet host installs it, unpacked (not
# installed) so that the kernel stage can put its usr/lib/python3/dist-packages first on the path.
install_debian_pyroute2() {
  if [ -L "$DEB_PYROUTE2_DIR/current" ] && [ -f "$DEB_PYROUTE2_DIR/current/.complete" ]; then
    log "Debian's python3-pyroute2: cached ($(readlink "$DEB_PYROUTE2_DIR/current"))"
    return
  fi
  local ver
  ver=$(apt-cache policy python3-pyroute2 2>/dev/null | awk '/Candidate:/{print $2; exit}')
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    apt_update_once
    ver=$(apt-cache policy python3-pyroute2 2>/dev/null | awk '/Candidate:/{print $2; exit}')
  fi
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "Debian has no python3-pyroute2 package in this machine's apt sources"
  local dest="$DEB_PYROUTE2_DIR/$ver" dl="$DEB_PYROUTE2_DIR/download"
  log "Debian's python3-pyroute2: downloading $ver (unpacked into $dest, not installed)"
  rm -rf "$dest" "$dl"
  mkdir -p "$dl"
  chmod 0777 "$dl"   # apt's sandbox user writes the download here
  (cd "$dl" && quiet apt-get download -q "python3-pyroute2=$ver") || die "apt-get download python3-pyroute2=$ver failed"
  mkdir -p "$dest"
  dpkg-deb -x "$dl"/*.deb "$dest" || die "cannot unpack python3-pyroute2 $ver"
  [ -f "$dest/usr/lib/python3/dist-packages/pyroute2/__init__.py" ] \
    || die "python3-pyroute2 $ver has no usr/lib/python3/dist-packages/pyroute2"
  rm -rf "$dl"
  touch "$dest/.complete"
  ln -sfn "$ver" "$DEB_PYROUTE2_DIR/current"
  log "Debian's python3-pyroute2: $ver ready"
}

link_collection() {
  local d="$CACHE/collections/ansible_collections/lvs"
  mkdir -p "$d"
  ln -sfn "$ROOT" "$d/ipvs"
}

main() {
  local start=$SECONDS mode=""
  [ "${1:-}" = "--relock" ] && mode=relock
  mkdir -p "$CACHE"
  install_packages
  install_venv "$mode"
  install_uml bookworm
  install_uml trixie
  install_debian_pyroute2
  link_collection
  log "done in $((SECONDS - start)) s"
}

main "$@"
