#!/usr/bin/env bash
# Runs one artifact's tests natively: the crate of each component it holds (services/COMPONENT;
# the forwarder's artifact also holds the ticker: scripts/ci/components.py members) and their
# sub-crates (services/COMPONENT/*: api-contract for api, webhook-verify for webhook). The release
# workflow runs it once per artifact before building that artifact's Wasm.
#
# Usage: scripts/ci/component-tests.sh [--locked] COMPONENT      COMPONENT: one of spin.toml's
#                                                               artifacts (components.py list)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

flags=()
component=""
for arg in "$@"; do
  case "${arg}" in
    --locked) flags+=(--locked) ;;
    -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "component-tests: unknown argument '${arg}'" >&2; exit 2 ;;
    *)
      python3 scripts/ci/components.py list | grep -qx -- "${arg}" ||
        { echo "component-tests: unknown argument '${arg}' (not a component of spin.toml)" >&2; exit 2; }
      component="${arg}"
      ;;
  esac
done
[[ -n "${component}" ]] || { echo "component-tests: COMPONENT is required (one of spin.toml's components)" >&2; exit 2; }

packages=()
mapfile -t held < <(python3 scripts/ci/components.py members "${component}")
for member in "${held[@]}"; do
  for manifest in "services/${member}/Cargo.toml" "services/${member}"/*/Cargo.toml; do
    [[ -f "${manifest}" ]] || continue
    name="$(sed -n '/^\[package\]/,/^\[/{s/^name *= *"\(.*\)"/\1/p;}' "${manifest}" | head -n1)"
    [[ -n "${name}" ]] || { echo "component-tests: no package name in ${manifest}" >&2; exit 1; }
    packages+=(-p "${name}")
  done
done
echo "==> component-tests: cargo test ${flags[*]:+${flags[*]} }${packages[*]}"
cargo test ${flags[@]+"${flags[@]}"} "${packages[@]}"
