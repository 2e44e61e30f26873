#!/usr/bin/env bash
# package-tree.sh DIR [SUBPACKAGE...]: makes DIR/anime_detector, the import package as a tree
# of links (runtime/'s files, plus the named top-level folders: train, export), for the tools
# that read a package from disk (mypy, lint-imports). runtime/, train/ and export/ are the
# folders of one package (pyproject.toml package-dir); this is the one place that maps them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:?usage: ci/package-tree.sh DIR [SUBPACKAGE...]}
mkdir -p "$dest/anime_detector"
ln -s "$root"/runtime/* "$dest/anime_detector/"
for sub in "${@:2}"; do ln -s "$root/$sub" "$dest/anime_detector/$sub"; done
