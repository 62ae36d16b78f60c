#!/usr/bin/env bash
# Copyright (c) 2026, lvs.ipvs contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# ansible-test on this checkout, without moving it: ansible-test needs the collection at
# .../ansible_collections/lvs/ipvs, so this copies the checkout's files (tracked and new, not
# ignored; without the developer tooling that galaxy.yml's build_ignore keeps out of the
# collection) to .cache/ansible-test/ansible_collections/lvs/ipvs, as a git tree of its own,
# and runs ansible-test there with the arguments given, e.g.:
#
#   bin/ansible-test sanity --python 3.11 --venv
#   bin/ansible-test sanity --test validate-modules --python 3.11 --venv
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$ROOT/.cache/venv"
COL="$ROOT/.cache/ansible-test/ansible_collections/lvs/ipvs"
# ansible-test keeps its venvs and caches under ~/.ansible/test: keep them in the project.
TEST_HOME="$ROOT/.cache/ansible-test/home"

[ -x "$VENV/bin/ansible-test" ] || { echo "bin/ansible-test: run bin/setup first" >&2; exit 1; }

rm -rf "$COL"
mkdir -p "$COL"
(cd "$ROOT" && git ls-files -co --exclude-standard -z \
  | grep -z -v -E '^(bin/|tools/|\.ci/|requirements.*\.txt$|constraints\.txt$)' \
  | tar --null -T - -cf -) | tar -C "$COL" -xf -
(cd "$COL" && git init -q && git add -A)

# ansible-test bootstraps pip in its venvs with a script it downloads from a host this machine
# cannot reach; give it a stand-in (tools/lvslab/get_pip.py) ...
pipv=$(grep -oE "pip='[0-9.]+'" "$VENV"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py \
  | head -1 | tr -dc '0-9.')
cache="$TEST_HOME/.ansible/test/cache"
mkdir -p "$cache"
cp "$ROOT/tools/lvslab/get_pip.py" "$cache/get_pip_${pipv//./_}.py"
# ... and the wheel of that pip beside it (once): each venv then installs pip from it, without ensurepip.
if ! compgen -G "$cache/pip-$pipv-*.whl" > /dev/null; then
  rm -f "$cache"/pip-*.whl
  "$VENV/bin/pip" download -qq --disable-pip-version-check --no-deps --only-binary=:all: -d "$cache" "pip==$pipv"
fi

cd "$COL"
HOME="$TEST_HOME" PATH="$VENV/bin:$PATH" "$VENV/bin/ansible-test" "$@" --color no 2>&1 \
  | grep --line-buffered -v -E "^WARNING: (Command \"docker|Using locale)|Cannot connect to the Docker daemon|^>>> |^\{\"ID\""
