#!/usr/bin/env bash
# Writes requirements/dev-lock.txt: every package, at one version each, that the development
# and test install resolves to (all extras CI installs), for CPython 3.11 on x86-64 Linux.
# README.md and .ci/run install with it as constraints (`pip install -c`), so a newcomer gets
# what CI tested. pyproject.toml keeps ranges; tests/test_pins.py checks the two agree.
#
#   bash ci/lock.sh                 # re-resolve, keeping the locked versions that still fit
#   bash ci/lock.sh --upgrade OUT   # the newest versions the ranges allow, into OUT
#                                     (ci/refresh-lock.sh does this, then runs the suite)
#
# Needs uv (`pip install uv`): `uv pip compile` resolves without installing anything.
set -euo pipefail
cd "$(dirname "$0")/.."
out=requirements/dev-lock.txt
upgrade=()
if [[ ${1:-} == --upgrade ]]; then
    upgrade=(--upgrade)
    out=${2:?usage: ci/lock.sh --upgrade OUT}
fi
command -v uv >/dev/null || { echo "ci/lock.sh: needs uv: pip install uv" >&2; exit 2; }
extras=$(sed -n 's/^EXTRAS=//p' ci/extras.env)
args=()
for extra in ${extras//,/ }; do args+=(--extra "$extra"); done
uv pip compile pyproject.toml "${args[@]}" "${upgrade[@]}" --quiet \
    --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
    --custom-compile-command "bash ci/lock.sh" --output-file "$out"
echo "wrote $out"
