#!/usr/bin/env bash
# Downloads the SpinKube CRDs the manifests are checked against (spin-operator's release asset
# spin-operator.crds.yaml, at the version pinned in deploy/versions.env) into DIR, for
# scripts/check-deploy.sh's crd-schema check, and points SPINKUBE_CRDS_DIR at it: through
# GITHUB_ENV on GitHub Actions, else by printing the export line.
#
# Usage: scripts/ci/spinkube-crds.sh [DIR]
#   DIR defaults to $RUNNER_TEMP/spinkube-crds on GitHub Actions, else out/spinkube-crds.
# Needs curl and access to github.com (a machine without it keeps the CRDs in
# ../shared/reference/spinkube, check-deploy.sh's default).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=SCRIPTDIR/../../deploy/versions.env
source "${root}/deploy/versions.env"

case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
esac
if [[ -n "${1:-}" ]]; then
  dir="$1"
elif [[ -n "${RUNNER_TEMP:-}" ]]; then
  dir="${RUNNER_TEMP}/spinkube-crds"
else
  dir="${root}/out/spinkube-crds"
fi
mkdir -p "${dir}"
dir="$(cd "${dir}" && pwd)"

echo "spinkube-crds: spin-operator ${SPIN_OPERATOR_VERSION} CRDs from ${SPIN_OPERATOR_CRDS_URL}"
curl -fsSL --retry 3 --retry-all-errors -o "${dir}/spin-operator.crds.yaml" "${SPIN_OPERATOR_CRDS_URL}"
for kind in SpinApp SpinAppExecutor; do
  grep -q "^    kind: ${kind}\$" "${dir}/spin-operator.crds.yaml" || {
    echo "spinkube-crds: ${kind} CRD not found in the download" >&2
    exit 1
  }
done
echo "spinkube-crds: $(grep -c '^kind: CustomResourceDefinition' "${dir}/spin-operator.crds.yaml") CRDs in ${dir}"

if [[ -n "${GITHUB_ENV:-}" ]]; then
  echo "SPINKUBE_CRDS_DIR=${dir}" >>"${GITHUB_ENV}"
else
  echo "export SPINKUBE_CRDS_DIR=${dir}"
fi
