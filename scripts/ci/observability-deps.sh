#!/usr/bin/env bash
# Installs promtool (Debian's `prometheus` package ships it) when it is missing: the test command's
# `observability` step runs `promtool check rules` and `promtool test rules` with it. Debian/Ubuntu
# (apt-get); uses sudo when not root. .ci/run calls this.
#
# Usage: scripts/ci/observability-deps.sh
set -euo pipefail

case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) echo "observability-deps: unknown argument '$1'" >&2; exit 2 ;;
esac

if ! command -v promtool >/dev/null; then
  sudo_cmd=()
  [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
  echo "observability-deps: apt-get install prometheus (for promtool)"
  "${sudo_cmd[@]}" apt-get update -qq
  # The package also installs the server and a systemd unit; nothing here starts it.
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool --version 2>&1 | head -n1
