#!/usr/bin/env bash
# Installs what the end-to-end tests run besides Spin, from the distribution's packages, when it is
# missing: redis-server (two Spin replicas sharing one store), docker-registry (the CNCF
# distribution registry the release push is tested against), chromium (the console's browser test,
# driven by the playwright wheel, which downloads no browser) and node (the console's unit tests,
# package nodejs) and binaryen (wasm-opt, which every component's link runs: scripts/build/). Debian/Ubuntu (apt-get); uses sudo when not root. Spin itself: the workflow's
# spin/setup action, or https://spinframework.dev/install.
#
# With --bench also hey, which the benchmark suite (scripts/bench.sh) uses as a cross-check.
# .ci/run calls this too.
#
# Usage: scripts/ci/e2e-deps.sh [--bench]
set -euo pipefail

# program:package
wanted=(redis-server:redis-server docker-registry:docker-registry chromium:chromium node:nodejs wasm-opt:binaryen)
case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  --bench) wanted+=(hey:hey) ;;
  "") ;;
  *) echo "e2e-deps: unknown argument '$1' (usage: scripts/ci/e2e-deps.sh [--bench])" >&2; exit 2 ;;
esac

missing=()
for entry in "${wanted[@]}"; do
  command -v "${entry%%:*}" >/dev/null || missing+=("${entry#*:}")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
  echo "e2e-deps: apt-get install ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
redis-server --version
# The registry has no --version flag in every release; its package version says enough.
# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
dpkg-query -W -f='docker-registry ${Version}\n' docker-registry 2>/dev/null || command -v docker-registry
# The wrapper script may warn about /dev/shm on stderr; the version line is what matters.
chromium --version 2>/dev/null
node --version
wasm-opt --version
