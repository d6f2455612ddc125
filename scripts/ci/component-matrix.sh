#!/usr/bin/env bash
# Writes spin.toml's artifacts (scripts/ci/components.py list) as a JSON array to the step output
# `components` ($GITHUB_OUTPUT), for a workflow's per-component matrix
# (`component: ${{ fromJSON(needs.<job>.outputs.components) }}`): a component added to spin.toml
# gets its CI and release jobs without touching the workflows. Prints the array too.
#
# Usage: scripts/ci/component-matrix.sh
set -euo pipefail

case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) echo "component-matrix: unknown argument '$1'" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
json=$(python3 scripts/ci/components.py list |
  python3 -c 'import json, sys; print(json.dumps(sys.stdin.read().split(), separators=(",", ":")))')
if [[ "${json}" == "[]" ]]; then
  echo "component-matrix: spin.toml has no components" >&2
  exit 1
fi
echo "components=${json}"
echo "components=${json}" >> "${GITHUB_OUTPUT:-/dev/null}"
