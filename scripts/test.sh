#!/usr/bin/env bash
# The one command that runs every test: `./scripts/test.sh`.
#
#   toolchain   the pinned Rust toolchain and the wasm32-wasip2 target (installed if missing)
#   python      .venv/ with requirements-dev.txt (installed or updated when it changes)
#   fmt         cargo fmt --check
#   clippy      cargo clippy --workspace --all-targets -- -D warnings
#   unit        cargo test for every crate but e2e: unit, handler and property tests
#   wasm        release build of each component; size budget (scripts/wasm-sizes.sh)
#   openapi     the API's generated OpenAPI document validates as OpenAPI 3.1
#   e2e         black-box tests against the real `spin up` (and redis-server)
#   deploy      kustomize overlays rendered and checked offline (scripts/check-deploy.sh)
#   lint        shellcheck over scripts/ and .ci/, actionlint over .github/workflows/
#
# Env: REQUIRE_SPIN=1   missing spin/redis-server fail the e2e tests instead of skipping them
#      REQUIRE_TOOLS=1  missing deploy/lint tools fail instead of skipping (.ci/run sets both)
#      SPIN_BIN         the spin binary (default: `spin` on PATH)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
: "${REQUIRE_TOOLS:=0}"
export REQUIRE_SPIN="${REQUIRE_SPIN:-0}" REQUIRE_TOOLS

started=$(date +%s)
results=()
failed=0

step() { # NAME COMMAND...
  local name=$1
  shift
  local t0
  t0=$(date +%s)
  printf '\n\033[1m==> [%s] %s\033[0m\n' "${name}" "$*"
  if "$@"; then
    results+=("PASS  ${name} ($(($(date +%s) - t0))s)")
  else
    results+=("FAIL  ${name} ($(($(date +%s) - t0))s)")
    failed=1
  fi
}

skip() { # NAME REASON
  if [[ "${REQUIRE_TOOLS}" == 1 ]]; then
    results+=("FAIL  $1 (missing: $2)")
    failed=1
  else
    printf '\n\033[1;33m==> [%s] SKIPPED: %s (set REQUIRE_TOOLS=1 to fail instead)\033[0m\n' "$1" "$2"
    results+=("SKIP  $1 ($2)")
  fi
}

toolchain() {
  rustup show active-toolchain >/dev/null
  if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
  fi
  rustc --version
}

python_tools() {
  local stamp=.venv/.requirements.sha256
  local want
  want=$(cat requirements-dev.txt tools/deploy-check/requirements.txt tools/deploy-check/constraints.txt | sha256sum | cut -d' ' -f1)
  if [[ -x .venv/bin/python && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
    echo "python tools up to date"
    return 0
  fi
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "${want}" > "${stamp}"
}

openapi() {
  mkdir -p out
  cargo run --quiet -p api-contract --features openapi --bin openapi > out/openapi.json
  .venv/bin/openapi-spec-validator out/openapi.json
}

lint() {
  local shellcheck=.venv/bin/shellcheck actionlint=.venv/bin/actionlint
  [[ -x "${shellcheck}" ]] || shellcheck=$(command -v shellcheck)
  [[ -x "${actionlint}" ]] || actionlint=$(command -v actionlint)
  "${shellcheck}" -x scripts/*.sh scripts/dev .ci/run
  "${actionlint}" -shellcheck "${shellcheck}" .github/workflows/*.yml
}

step toolchain toolchain
if command -v python3 >/dev/null; then step python python_tools; else skip python "python3"; fi
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets --quiet -- -D warnings
step unit cargo test --workspace --exclude e2e --quiet
step wasm scripts/wasm-sizes.sh
if [[ -x .venv/bin/openapi-spec-validator ]]; then step openapi openapi; else skip openapi "openapi-spec-validator"; fi
spin_bin="${SPIN_BIN:-$(command -v spin || true)}"
if [[ -z "${spin_bin}" && "${REQUIRE_SPIN}" != 1 ]]; then
  printf '\n\033[1;33m%s\n%s\n%s\033[0m\n' \
    "************************************************************************" \
    "e2e: spin not found (SPIN_BIN or PATH): the end-to-end tests SKIP themselves." \
    "Install Spin (https://spinframework.dev/install) or set REQUIRE_SPIN=1 to fail."
  step e2e-skipped cargo test -p e2e --quiet -- --test-threads=2
  results[-1]="SKIP  e2e (spin not found; the e2e tests were compiled but skipped)"
else
  step e2e cargo test -p e2e --quiet -- --test-threads=2
fi
step deploy scripts/check-deploy.sh
if [[ -x .venv/bin/shellcheck || -n "$(command -v shellcheck)" ]] && [[ -x .venv/bin/actionlint || -n "$(command -v actionlint)" ]]; then
  step lint lint
else
  skip lint "shellcheck/actionlint"
fi

printf '\n\033[1m==> test summary (%ss)\033[0m\n' "$(($(date +%s) - started))"
printf '  %s\n' "${results[@]}"
if (( failed )); then
  echo "test.sh: FAIL"
  exit 1
fi
echo "test.sh: PASS"
