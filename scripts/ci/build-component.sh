#!/usr/bin/env bash
# The release build of components, reproducible: the same sources give the same bytes, so an
# unchanged component keeps its OCI digest from one release to the next (its pods are not rolled).
#   stamp   GIT_COMMIT = the component's own stamp (scripts/ci/components.py stamp): the newest
#           commit that changed what its Wasm is built from, not the release commit, which would
#           change every component's bytes on every release
#   paths   --remap-path-prefix for the cargo home and the checkout, so the panic locations
#           compiled into the Wasm do not depend on where the build ran
#   build   scripts/wasm-sizes.sh COMPONENT (release build and its size budget), one artifact at
#           a time since each has its own GIT_COMMIT; an artifact that carries another component
#           (the forwarder carries the ticker) builds both under its stamp
# The release workflow runs it once per component; scripts/push.sh --build runs it for them all.
#
# Usage: scripts/ci/build-component.sh [--locked] COMPONENT...     (artifacts: components.py list)
# Needs the git history of the checkout (fetch-depth: 0 in the workflows) for the stamps.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${root}"

flags=()
components=()
for arg in "$@"; do
  case "${arg}" in
    --locked) flags+=(--locked) ;;
    -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "build-component: unknown option '${arg}'" >&2; exit 2 ;;
    *) components+=("${arg}") ;;
  esac
done
((${#components[@]})) || { echo "build-component: name at least one component" >&2; exit 2; }
known="$(python3 scripts/ci/components.py list)"
for component in "${components[@]}"; do
  grep -qx "${component}" <<<"${known}" ||
    { echo "build-component: '${component}' is not a component of spin.toml (${known//$'\n'/, })" >&2; exit 2; }
done

if git rev-parse --is-shallow-repository 2>/dev/null | grep -qx true; then
  echo "build-component: the checkout is shallow: the stamps need its history (actions/checkout fetch-depth: 0)" >&2
  exit 1
fi

cargo_home="${CARGO_HOME:-${HOME}/.cargo}"
RUSTFLAGS="${RUSTFLAGS:+${RUSTFLAGS} }--remap-path-prefix=${cargo_home}=/cargo --remap-path-prefix=${root}=/src"
export RUSTFLAGS

built=()
for component in "${components[@]}"; do
  GIT_COMMIT="$(python3 scripts/ci/components.py stamp "${component}")"
  export GIT_COMMIT
  echo "==> build-component: ${component} (stamp ${GIT_COMMIT})"
  scripts/wasm-sizes.sh ${flags[@]+"${flags[@]}"} "${component}"
  built+=("${component}=${GIT_COMMIT}")
done
echo "build-component: built ${built[*]}"
