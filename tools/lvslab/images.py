# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plain Debian container images for the Molecule scenarios, and a local APT repository per suite.

    bin/images build [SUITE...]   build the image tarball and the APT repository of each suite
                                  (default: all), unless cached
    bin/images path SUITE         print the cached image tarball's path (exit 1 when not built)
    bin/images repo SUITE         print the cached APT repository's directory (exit 1 when not built)
    bin/images name SUITE         print the Docker image name of SUITE
    bin/images env [SUITE...]     print the scenarios' settings for each suite (default: all) as
                                  shell assignments: image name and repository directory
    bin/images load [SUITE...]    docker import the cached tarball of each suite (default: all) under
                                  its image name, unless the Docker daemon already has this recipe

Suites: bookworm (Debian 12) and trixie (Debian 13); the image and repository variables the
scenarios read are in SUITES. The image is a plain host (``debootstrap --variant=minbase`` plus what
a Debian cloud image has, and curl and openssl for the verifiers), with NOTHING the roles install;
the repository stands in for an air-gapped site's mirror: the role packages and every dependency
the image lacks, as apt resolves them there. Built from this machine's apt mirror
(``LVS_IMAGE_MIRROR`` overrides it), cached in .cache/images/ under a hash of the recipe; building
needs root, loading a Docker daemon. docs/molecule.md has the details.
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lvslab import CACHE as _CACHE

CACHE = _CACHE / "images"

# suite -> (the variable naming its image, the default image name, the variable naming its
# repository): the Molecule scenarios read these variables.
SUITES: dict[str, tuple[str, str, str]] = {
    "bookworm": ("LVS_MOLECULE_IMAGE", "lvs-ipvs-molecule:bookworm", "LVS_MOLECULE_APT_REPO"),
    "trixie": ("LVS_MOLECULE_IMAGE_DEBIAN13", "lvs-ipvs-molecule:trixie", "LVS_MOLECULE_APT_REPO_DEBIAN13"),
}
# The plain host. Never add here what the roles install: add it to REPO_PACKAGES.
IMAGE_PACKAGES = [
    # what any Debian cloud image has: init, remote access, privilege, certificates, Python
    # (cloud-init's), and the basic network and process tools
    "systemd", "systemd-sysv", "openssh-client", "openssh-server", "sudo", "ca-certificates",
    "python3", "iproute2", "procps",
    # Debian's cloud images and standard installs have python3-apt (unattended-upgrades and
    # apt-listchanges need it); ansible.builtin.apt needs it to run in check mode
    "python3-apt",
    # what the verifiers and the client container use (the lab's web service is python3)
    "curl", "openssl",
]
# What the roles may install (lvs.ipvs.director, lvs.ipvs.real_server): the local repository
# holds these and every dependency the plain image lacks (python3-apt: what ansible.builtin.apt
# installs for itself on a host that lacks it).
REPO_PACKAGES = ["ipvsadm", "iptables", "kmod", "iproute2", "procps", "python3-pyroute2", "python3-apt"]
# Bump when the build steps below change in a way the package lists do not show.
RECIPE_VERSION = "3"
LABEL = "io.github.lvs-ipvs.recipe"


def say(msg: str) -> None:
    print(f"images: {msg}", file=sys.stderr, flush=True)


def check_suite(suite: str) -> str:
    if suite not in SUITES:
        raise SystemExit(f"images: ERROR: unknown suite {suite!r} (known: {', '.join(SUITES)})")
    return suite


def image_name(suite: str) -> str:
    env, default, _ = SUITES[suite]
    return os.environ.get(env) or default


def recipe(suite: str) -> str:
    return "\n".join([
        f"recipe {RECIPE_VERSION}",
        f"suite {suite} variant minbase",
        "image " + ",".join(sorted(IMAGE_PACKAGES)),
        "repository " + ",".join(sorted(REPO_PACKAGES)),
    ]) + "\n"


def recipe_hash(suite: str) -> str:
    return hashlib.sha256(recipe(suite).encode()).hexdigest()[:12]


def tarball(suite: str) -> Path:
    return CACHE / f"lvs-ipvs-molecule-{suite}-{recipe_hash(suite)}.tar"


def repo_dir(suite: str) -> Path:
    return CACHE / f"lvs-ipvs-apt-{suite}-{recipe_hash(suite)}"


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 first, then sources.list).

    The host lists its own suite only; the same mirror serves every Debian suite. Security and
    update archives are not the mirror (their suites have a "-security"/"-updates" suffix).
    """
    env = os.environ.get("LVS_IMAGE_MIRROR")
    if env:
        return env
    plain = re.compile(r"^[a-z]+$")  # "bookworm", not "bookworm-security"
    found: list[str] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
                continue
            if any(plain.match(s) for s in fields.get("suites", "").split()):
                found.extend(fields.get("uris", "").split())
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and plain.match(m.group(2)):
                found.append(m.group(1))
    if not found:
        raise SystemExit("images: ERROR: no Debian apt source on this machine: set LVS_IMAGE_MIRROR")
    return found[0]


def run(argv: list[str], what: str, *, log: Path | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = log.read_text().splitlines()[-30:] if log and log.is_file() else []
        raise SystemExit(f"images: ERROR: {what} failed (exit {proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}" + "\n".join(tail))


def chroot(rootfs: Path, *argv: str) -> list[str]:
    return ["chroot", str(rootfs), "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8", *argv]


def download_repo_debs(rootfs: Path, dest: Path) -> None:
    """Download the role packages and what the plain image lacks for them, resolved by apt there."""
    archives = rootfs / "var" / "cache" / "apt" / "archives"
    for old in archives.glob("*.deb"):
        old.unlink()
    run(chroot(rootfs, "apt-get", "-q", "update"), "apt-get update in the image")
    # Missing packages and dependencies, Recommends included (whatever the roles' apt task asks).
    run(chroot(rootfs, "apt-get", "-q", "-y", "--download-only", "install", *REPO_PACKAGES),
        "apt-get install --download-only in the image")
    # The role packages the image already has (iproute2, procps): a mirror has them too.
    dl = rootfs / "tmp" / "lvs-download"
    dl.mkdir(mode=0o777)
    dl.chmod(0o777)  # apt's sandbox user writes here
    run(chroot(rootfs, "sh", "-c", "cd /tmp/lvs-download && apt-get -q download " + " ".join(REPO_PACKAGES)),
        "apt-get download in the image")
    for deb in [*archives.glob("*.deb"), *dl.glob("*.deb")]:
        target = dest / deb.name
        if not target.exists():
            shutil.move(str(deb), target)
    shutil.rmtree(dl)


def deb_fields(deb: Path) -> str:
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    return control.rstrip("\n")


def index_repo(repo: Path, suite: str) -> None:
    """A flat repository (``deb file:/srv/lvs-apt ./``): Packages, Packages.gz and a Release."""
    stanzas = []
    for deb in sorted(repo.glob("*.deb")):
        data = deb.read_bytes()
        stanzas.append("\n".join([
            deb_fields(deb),
            f"Filename: ./{deb.name}",
            f"Size: {len(data)}",
            f"SHA256: {hashlib.sha256(data).hexdigest()}",
        ]))
    packages = ("\n\n".join(stanzas) + "\n").encode()
    (repo / "Packages").write_bytes(packages)
    (repo / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
    files = {name: (repo / name).read_bytes() for name in ("Packages", "Packages.gz")}
    release = [
        "Origin: lvs.ipvs test mirror",
        f"Label: lvs-ipvs-{suite}",
        f"Suite: {suite}",
        f"Codename: {suite}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        "Architectures: " + subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                                           text=True, check=True).stdout.strip() + " all",
        "Description: the packages lvs.ipvs's roles install, for the Molecule scenarios",
        "SHA256:",
        *(f" {hashlib.sha256(b).hexdigest()} {len(b)} {n}" for n, b in files.items()),
    ]
    (repo / "Release").write_text("\n".join(release) + "\n")


def strip_image(rootfs: Path) -> None:
    """Nothing a container needs: package caches and lists, build logs, docs, the builder's names."""
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log"):
        for p in (rootfs / junk).glob("*"):
            if p.is_file():
                p.unlink()
    for p in (rootfs / "var" / "cache" / "apt").glob("*.bin"):
        p.unlink()
    for junk in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
        shutil.rmtree(rootfs / junk, ignore_errors=True)
        (rootfs / junk).mkdir()
    # debootstrap copies this machine's resolver and host name; Docker provides both.
    (rootfs / "etc" / "resolv.conf").write_text("")
    (rootfs / "etc" / "hostname").write_text("localhost\n")


def build_suite(suite: str, mirror: str) -> None:
    out, repo = tarball(suite), repo_dir(suite)
    if out.is_file() and (repo / "Release").is_file():
        say(f"{suite}: cached: {out.name}, {repo.name}/")
        return
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="build-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        debs = Path(tmp) / "repo"
        debs.mkdir()
        say(f"{suite}: debootstrap minbase + {len(IMAGE_PACKAGES)} packages from this machine's apt mirror")
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(IMAGE_PACKAGES), suite, str(rootfs),
             mirror], f"debootstrap {suite}", log=rootfs / "debootstrap" / "debootstrap.log")
        say(f"{suite}: downloading {', '.join(REPO_PACKAGES)} and what the image lacks for them")
        download_repo_debs(rootfs, debs)
        missing = [p for p in REPO_PACKAGES if not list(debs.glob(f"{p}_*.deb"))]
        if missing:
            raise SystemExit(f"images: ERROR: {suite}: no .deb for {', '.join(missing)}")
        index_repo(debs, suite)
        strip_image(rootfs)
        (rootfs / "etc" / "lvs-ipvs-molecule-recipe").write_text(recipe(suite))
        part = out.with_suffix(".tar.part")
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(part), "."], check=True)
        part.rename(out)
        shutil.rmtree(repo, ignore_errors=True)
        debs.chmod(0o755)
        shutil.move(str(debs), repo)
    for old in [*CACHE.glob(f"lvs-ipvs-molecule-{suite}-*.tar"), *CACHE.glob(f"lvs-ipvs-apt-{suite}-*")]:
        if old not in (out, repo):
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    size = sum(p.stat().st_size for p in repo.glob("*.deb"))
    say(f"{suite}: built {out.name} ({out.stat().st_size // 2**20} MiB) and {repo.name}/ "
        f"({len(list(repo.glob('*.deb')))} packages, {size // 2**20} MiB)")


def build(args: argparse.Namespace) -> int:
    suites = [check_suite(s) for s in args.suites] or list(SUITES)
    todo = [s for s in suites if not (tarball(s).is_file() and (repo_dir(s) / "Release").is_file())]
    if todo:
        if os.geteuid() != 0:
            raise SystemExit("images: ERROR: building the images needs root (debootstrap, chroot)")
        if not shutil.which("debootstrap"):
            raise SystemExit("images: ERROR: debootstrap is not installed (bin/setup installs it)")
    CACHE.mkdir(parents=True, exist_ok=True)
    mirror = apt_mirror() if todo else ""
    for suite in suites:
        build_suite(suite, mirror)
        print(tarball(suite))
    return 0


def path(args: argparse.Namespace) -> int:
    out = tarball(check_suite(args.suite))
    if not out.is_file():
        say(f"not built yet: {out} (run bin/images build)")
        return 1
    print(out)
    return 0


def repo(args: argparse.Namespace) -> int:
    out = repo_dir(check_suite(args.suite))
    if not (out / "Release").is_file():
        say(f"not built yet: {out} (run bin/images build)")
        return 1
    print(out)
    return 0


def name(args: argparse.Namespace) -> int:
    print(image_name(check_suite(args.suite)))
    return 0


def env(args: argparse.Namespace) -> int:
    for suite in [check_suite(s) for s in args.suites] or list(SUITES):
        image_env, _, repo_env = SUITES[suite]
        if not (repo_dir(suite) / "Release").is_file():
            say(f"not built yet: {repo_dir(suite)} (run bin/images build)")
            return 1
        print(f"{image_env}={shlex.quote(image_name(suite))}")
        print(f"{repo_env}={shlex.quote(str(repo_dir(suite)))}")
    return 0


def load_suite(suite: str) -> int:
    out, image, want = tarball(suite), image_name(suite), recipe_hash(suite)
    have = subprocess.run(["docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{LABEL}"}}}}', image],
                          capture_output=True, text=True, check=False)
    if have.returncode == 0 and have.stdout.strip() == want:
        say(f"{image} is loaded and current (recipe {want})")
        return 0
    if not out.is_file():
        say(f"ERROR: the image tarball {out} is not built: run bin/images build (as root) first")
        return 1
    say(f"docker import {out.name} as {image}")
    with out.open("rb") as stream:
        subprocess.run(["docker", "import", "--change", f"LABEL {LABEL}={want}",
                        "--change", 'CMD ["bash"]', "-", image], stdin=stream, check=True,
                       stdout=subprocess.DEVNULL)
    return 0


def load(args: argparse.Namespace) -> int:
    suites = [check_suite(s) for s in args.suites] or list(SUITES)
    return max(load_suite(s) for s in suites)


def main() -> int:
    parser = argparse.ArgumentParser(prog="images", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb, func in (("build", build), ("load", load), ("env", env)):
        sub.add_parser(verb).set_defaults(func=func)
        sub.choices[verb].add_argument("suites", nargs="*", metavar="SUITE")
    for verb, func in (("path", path), ("repo", repo), ("name", name)):
        sub.add_parser(verb).set_defaults(func=func)
        sub.choices[verb].add_argument("suite", metavar="SUITE")
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
