#!/usr/bin/env bash
# mypy --strict over the package as it is installed: strongroom/ with domain/,
# infrastructure/ and projections/ as its subpackages (the layout setuptools maps).
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/strongroom"
for entry in strongroom/*; do
  ln -s "$PWD/$entry" "$tree/strongroom/"
done
for sub in domain infrastructure projections; do
  ln -s "$PWD/$sub" "$tree/strongroom/$sub"
done
exec "${MYPY:-.venv/bin/mypy}" --config-file pyproject.toml --cache-dir /dev/null "$tree/strongroom"
