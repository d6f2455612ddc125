#!/usr/bin/env bash
# Writes the kubeconfig the deploy workflow acts with, from the environment's KUBECONFIG secret
# (passed in KUBECONFIG_DATA), and points KUBECONFIG at it: through GITHUB_ENV on GitHub Actions,
# else by printing the export line. The secret may hold the kubeconfig YAML itself or its base64
# (`base64 -w0 < kubeconfig`, which survives copy and paste). The content is never printed.
#
# Usage: KUBECONFIG_DATA=... scripts/ci/kubeconfig.sh [FILE]
#   FILE defaults to $RUNNER_TEMP/kubeconfig on GitHub Actions, else out/kubeconfig (mode 600).
set -euo pipefail

die() {
  echo "kubeconfig: $*" >&2
  exit 1
}

case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
esac
if [[ -n "${1:-}" ]]; then
  file="$1"
elif [[ -n "${RUNNER_TEMP:-}" ]]; then
  file="${RUNNER_TEMP}/kubeconfig"
else
  file="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/out/kubeconfig"
fi
[[ -n "${KUBECONFIG_DATA:-}" ]] ||
  die "KUBECONFIG_DATA is empty: add the secret KUBECONFIG to this GitHub environment (README, CI/CD)"

mkdir -p "$(dirname "${file}")"
(umask 077 && : >"${file}")
chmod 600 "${file}"
if [[ "${KUBECONFIG_DATA}" == *"apiVersion:"* || "${KUBECONFIG_DATA}" == *"clusters:"* ]]; then
  printf '%s\n' "${KUBECONFIG_DATA}" >"${file}"
  format=yaml
elif printf '%s' "${KUBECONFIG_DATA}" | tr -d ' \n\r\t' | base64 -d >"${file}" 2>/dev/null &&
  grep -q 'clusters:' "${file}"; then
  format=base64
else
  rm -f "${file}"
  die "KUBECONFIG_DATA is neither a kubeconfig nor the base64 of one"
fi
grep -q 'clusters:' "${file}" || { rm -f "${file}"; die "the kubeconfig has no clusters:"; }

echo "kubeconfig: wrote ${file} (${format}, mode 600)"
if [[ -n "${GITHUB_ENV:-}" ]]; then
  echo "KUBECONFIG=${file}" >>"${GITHUB_ENV}"
else
  echo "export KUBECONFIG=${file}"
fi
