#!/usr/bin/env bash
# Builds every component for wasm32-wasip2 in release mode and checks the size budget:
# at most 400 KB (400,000 bytes) per component and 1 MB (1,000,000 bytes) for the whole app.
# Prints a table; exits non-zero if a budget is exceeded.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly COMPONENT_BUDGET=400000
readonly APP_BUDGET=1000000
readonly COMPONENTS=(health api webhook)

echo "==> wasm-sizes: cargo build --release --target wasm32-wasip2 (${COMPONENTS[*]})"
packages=()
for component in "${COMPONENTS[@]}"; do packages+=(-p "${component}"); done
cargo build --quiet --release --target wasm32-wasip2 "${packages[@]}"

total=0
over=0
printf '\n  %-10s %12s %12s\n' component bytes budget
for component in "${COMPONENTS[@]}"; do
  wasm="target/wasm32-wasip2/release/${component}.wasm"
  size=$(wc -c < "${wasm}")
  total=$((total + size))
  verdict=ok
  if (( size > COMPONENT_BUDGET )); then verdict=OVER; over=1; fi
  printf '  %-10s %12d %12d  %s\n' "${component}" "${size}" "${COMPONENT_BUDGET}" "${verdict}"
done
verdict=ok
if (( total > APP_BUDGET )); then verdict=OVER; over=1; fi
printf '  %-10s %12d %12d  %s\n\n' total "${total}" "${APP_BUDGET}" "${verdict}"

if (( over )); then
  echo "wasm-sizes: FAIL (a size budget is exceeded; see docs/architecture.md on keeping components small)"
  exit 1
fi
echo "wasm-sizes: PASS"
