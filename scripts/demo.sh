#!/usr/bin/env bash
# strongroom's main job on the embedded default, through the CLI:
# put -> reveal -> list -> delete -> reveal fails (the value is crypto-shredded).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/strongroom ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
fi
export STRONGROOM_HOME=${STRONGROOM_HOME:-$PWD/.demo-home}
sr=.venv/bin/strongroom
name="demo/db-password-$(date +%s)"

echo "\$ printf 's3cr3t' | strongroom put $name"
printf 's3cr3t' | $sr put "$name" >/dev/null && echo "stored $name (version 1)"
echo "\$ strongroom reveal $name"
$sr reveal "$name"; echo
echo "\$ strongroom list --prefix demo/"
$sr list --prefix demo/
echo "\$ strongroom delete $name --yes"
$sr delete "$name" --yes
echo "\$ strongroom reveal $name"
if $sr reveal "$name"; then
  echo "unexpected: the deleted secret was revealed" >&2
  exit 1
else
  echo "(exit code $? - every version of $name is crypto-shredded; its name stays reserved)"
fi
