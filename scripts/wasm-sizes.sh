#!/usr/bin/env bash
# Builds every component for wasm32-wasip2 in release mode and checks the size budget: at most
# 400 KB (400,000 bytes) per component. Each artifact is pushed and pulled on its own, most of
# them one component (the forwarder's also carries the ticker: scripts/ci/components.py); the
# sum of all of them is printed for information.
# Prints a table; exits non-zero if a budget is exceeded.
#
# Usage: scripts/wasm-sizes.sh [--locked] [COMPONENT...]
#   no COMPONENT  every component of spin.toml (the test command's `wasm` step)
#   COMPONENT...  only those (spin.toml's component ids); an artifact's id stands for every
#                 component it holds (forwarder: forwarder and ticker). The CI and release
#                 workflows run one job per artifact
#   --locked      passed to cargo: Cargo.lock must already be up to date (CI)
# With GITHUB_STEP_SUMMARY set (GitHub Actions), the table is also appended to the run summary.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly COMPONENT_BUDGET=400000
mapfile -t ALL_COMPONENTS < <(python3 scripts/ci/components.py list --all)
mapfile -t ARTIFACTS < <(python3 scripts/ci/components.py list)
readonly ALL_COMPONENTS ARTIFACTS

cargo_flags=()
components=()
for arg in "$@"; do
  case "${arg}" in
    --locked) cargo_flags+=(--locked) ;;
    -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "wasm-sizes: unknown option '${arg}'" >&2; exit 2 ;;
    *)
      [[ " ${ALL_COMPONENTS[*]} " == *" ${arg} "* ]] ||
        { echo "wasm-sizes: unknown argument '${arg}' (components: ${ALL_COMPONENTS[*]})" >&2; exit 2; }
      if [[ " ${ARTIFACTS[*]} " == *" ${arg} "* ]]; then
        mapfile -t -O "${#components[@]}" components < <(python3 scripts/ci/components.py members "${arg}")
      else
        components+=("${arg}")
      fi
      ;;
  esac
done
whole_app=0
if ((${#components[@]} == 0)); then
  components=("${ALL_COMPONENTS[@]}")
  whole_app=1
fi

# The budget is for the build users ship: linked through scripts/build/link-component, which runs
# Binaryen's wasm-opt on each component's core module.
if ! command -v "${WASM_OPT:-wasm-opt}" >/dev/null; then
  echo "wasm-sizes: wasm-opt not found: install Binaryen (apt install binaryen, brew install binaryen)," >&2
  echo "  then rebuild from clean (cargo clean --release --target wasm32-wasip2): the budget is for the optimized build" >&2
  exit 1
fi
echo "==> wasm-sizes: cargo build --release --target wasm32-wasip2 (${components[*]}), optimized by $("${WASM_OPT:-wasm-opt}" --version)"
packages=()
for component in "${components[@]}"; do packages+=(-p "$(python3 scripts/ci/components.py package "${component}")"); done
cargo build --quiet ${cargo_flags[@]+"${cargo_flags[@]}"} --release --target wasm32-wasip2 "${packages[@]}"

total=0
over=0
summary=()
printf '\n  %-10s %12s %12s\n' component bytes budget
for component in "${components[@]}"; do
  wasm="target/wasm32-wasip2/release/${component}.wasm"
  size=$(wc -c < "${wasm}")
  total=$((total + size))
  verdict=ok
  if (( size > COMPONENT_BUDGET )); then verdict=OVER; over=1; fi
  printf '  %-10s %12d %12d  %s\n' "${component}" "${size}" "${COMPONENT_BUDGET}" "${verdict}"
  summary+=("| \`${component}.wasm\` | ${size} | ${COMPONENT_BUDGET} | ${verdict} |")
done
if ((whole_app)); then
  printf '  %-10s %12d %12s  %s\n' total "${total}" - "(every component; no budget)"
  summary+=("| total | ${total} | - | |")
fi
echo

if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  {
    echo "### Wasm size (release, wasm32-wasip2)"
    echo
    echo "| component | bytes | budget | |"
    echo "|---|---:|---:|---|"
    printf '%s\n' "${summary[@]}"
    echo
  } >>"${GITHUB_STEP_SUMMARY}"
fi

if (( over )); then
  echo "wasm-sizes: FAIL (a size budget is exceeded; see docs/architecture.md on keeping components small;"
  echo "  a component linked before wasm-opt was installed stays unoptimized until it is rebuilt)"
  exit 1
fi
echo "wasm-sizes: PASS"
