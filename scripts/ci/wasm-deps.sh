#!/usr/bin/env bash
# Installs Binaryen (wasm-opt) from the distribution's packages when it is missing: every
# component's release link runs it (scripts/build/), and scripts/wasm-sizes.sh requires it.
# Debian/Ubuntu (apt-get); uses sudo when not root. The CI and release workflows' Wasm jobs run
# it; scripts/ci/e2e-deps.sh installs it too.
#
# Usage: scripts/ci/wasm-deps.sh
set -euo pipefail

case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) echo "wasm-deps: unknown argument '$1'" >&2; exit 2 ;;
esac

if ! command -v wasm-opt >/dev/null; then
  sudo_cmd=()
  [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
  echo "wasm-deps: apt-get install binaryen"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binaryen >/dev/null
fi
wasm-opt --version
