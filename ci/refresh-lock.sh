#!/usr/bin/env bash
# Upgrading on purpose: resolve the newest versions pyproject.toml's ranges allow into a new
# lock, install it in a fresh venv as README.md says, run the static checks and the suite,
# and report what changed and what broke. requirements/dev-lock.txt is left as it is.
#
#   bash ci/refresh-lock.sh [NEW_LOCK]      # default requirements/dev-lock.new.txt
#
# If the suite passes: mv requirements/dev-lock.new.txt requirements/dev-lock.txt, commit.
# If not: the report names the failing tests next to the versions that moved; bound the
# culprit in pyproject.toml (with a comment saying why) or fix the code, then run this again.
set -uo pipefail
cd "$(dirname "$0")/.."
new=${1:-requirements/dev-lock.new.txt}
work=$(mktemp -d "${TMPDIR:-/tmp}/refresh-lock.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -f "$new"
bash ci/lock.sh --upgrade "$new" || exit 2

echo "== versions that moved (old -> new)"
python3 - requirements/dev-lock.txt "$new" <<'PY'
import re, sys
def pins(path):
    found = {}
    for line in open(path):
        m = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line)
        if m:
            found[m[1].lower()] = m[2]
    return found
old, new = map(pins, sys.argv[1:3])
for name in sorted(old.keys() | new.keys()):
    if old.get(name) != new.get(name):
        print(f"  {name}: {old.get(name, '-')} -> {new.get(name, '-')}")
PY

extras=$(sed -n 's/^EXTRAS=//p' ci/extras.env)
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
echo "== installing the new lock in a fresh venv"
pip install --quiet --disable-pip-version-check -c "$new" -e ".[$extras]" \
    && pip install --quiet --disable-pip-version-check --no-deps -r requirements/no-deps.txt \
    || { echo "refresh-lock: the new versions do not install (above)"; exit 1; }
echo "== static checks"
ci/static-checks >"$work/static.log" 2>&1
static=$?
tail -n 20 "$work/static.log"
echo "== the suite"
python -m pytest -q -p no:cacheprovider 2>&1 | tee "$work/pytest.log" | grep -E "^(FAILED|ERROR) "
suite=${PIPESTATUS[0]}
tail -n 1 "$work/pytest.log"
if ((static == 0 && suite == 0)); then
    echo "refresh-lock: all green on the new versions: mv $new requirements/dev-lock.txt"
else
    echo "refresh-lock: broken on the new versions (static checks exit $static, pytest exit $suite)"
    exit 1
fi
