#!/usr/bin/env bash
# The one command that runs every test: `./scripts/test.sh`.
# `./scripts/test.sh STEP...` runs only those steps (CI runs them as separate jobs), e.g.
# `./scripts/test.sh fmt clippy`; the toolchain and python steps are added when a step needs them.
#
#   toolchain   the pinned Rust toolchain and the wasm32-wasip2 target (installed if missing)
#   python      .venv/ with requirements-dev.txt and the project's Python package installed editable
#               (pyproject.toml: tools/python/inbox_tools); installed or updated when either changes
#   fmt         cargo fmt --check
#   clippy      cargo clippy --workspace --all-targets -- -D warnings
#   unit        cargo test for every crate but e2e: unit, handler and property tests; and the
#               provider lists written from the catalogue are current (tools/provider-lists --check)
#   ui          the console's browser logic under node --test (services/console/ui/test)
#   wasm        release build of each component; size budget (scripts/wasm-sizes.sh)
#   openapi     the API's generated OpenAPI document validates as OpenAPI 3.1
#   e2e         black-box tests against the real `spin up` (and redis-server, a local OCI
#               registry), and the API contract checked by schemathesis against it; the
#               providers' own npm libraries for the SDK proofs (e2e/sdk) installed if missing
#   cluster     the Kubernetes path on a real single-node cluster (e2e/tests/cluster.rs: the
#               provided kube-apiserver, spin-operator with its webhooks, kubelet, containerd and
#               the SpinKube shim): every component pushed by scripts/push.sh, the dev overlay
#               deployed by deploy/deploy-app.sh, the data path and forwarding through the
#               pods, a one-component release rolled, staging and prod accepted. Once, whatever
#               SPIN_BINS says (the shim embeds its own Spin)
#   browser     the console in Debian's Chromium via Playwright against the real `spin up`
#               (e2e/browser); screenshots in out/console/
#   bench       the benchmark suite's smoke run (scripts/bench.sh --smoke): every measurement
#               once, tiny, must answer without errors; no timing is judged. When the cluster
#               step runs too, the bench's two sections that start a cluster of their own (the
#               containerd shim, the kubelet: `--only cluster`) run right after the cluster
#               test, in its step (the same ports), and the bench step runs the others
#   deploy      kustomize overlays rendered and checked offline (scripts/check-deploy.sh)
#   observability  the observability component offline (scripts/check-observability.sh): collector
#               config vs its distribution and Spin's signals, promtool check/test rules, the
#               Grafana dashboard's schema and queries
#   lint        shellcheck over every script (scripts/, scripts/ci/, .ci/run, deploy/); over
#               .github/workflows/: actionlint (with shellcheck), the GitHub workflow JSON schema
#               (check-jsonschema, offline), zizmor (--offline; .github/zizmor.yml), the
#               project's pin rules (scripts/ci/check-action-pins.sh) and unused Cargo
#               dependencies (cargo-machete); ruff over every Python file (ruff.toml)
#
# Env: REQUIRE_SPIN=1   missing spin/redis-server/chromium fail the e2e and browser tests instead of skipping
#      REQUIRE_TOOLS=1  missing deploy/lint tools fail instead of skipping (.ci/run sets both)
#      SPIN_BIN         the spin binary (default: `spin` on PATH)
#      CHROMIUM_BIN     the browser (default: /usr/bin/chromium, then `chromium` on PATH)
#      SPIN_BINS        e2e: run the end-to-end suite once per Spin binary of this space-separated
#                       list (default: the one found), so a change that works on one runtime and
#                       not the other fails; .ci/run gives both provided builds (4.1 and 3.6.3)
#      REQUIRE_CLUSTER=1  the real-cluster test fails instead of skipping without root or the
#                       provided tools (SHARED_TOOLS_DIR, default ../shared/tools)
#      CLUSTER_FOREGROUND=1  run the cluster step in the foreground even when steps follow it
#                       (by default it runs beside bench, browser, deploy, observability and lint)
#      BACKGROUND=0     run every step in the foreground, one at a time (by default a full run
#                       installs .venv and the SDK proofs' packages beside fmt, clippy, unit and
#                       wasm, and runs the cluster step beside the last steps)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
: "${REQUIRE_TOOLS:=0}"
export REQUIRE_SPIN="${REQUIRE_SPIN:-0}" REQUIRE_TOOLS

# One build stamp for every step: components read GIT_COMMIT at compile time (/healthz reports
# it), and cargo rebuilds whatever read it when it changes, so the wasm step, the end-to-end
# suites and the bench must all see the same value or each rebuilds every component.
if [[ -z "${GIT_COMMIT:-}" ]] && git rev-parse HEAD >/dev/null 2>&1; then
  GIT_COMMIT="$(git rev-parse HEAD)"
  export GIT_COMMIT
fi

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

# Steps in the background: each one's output goes to out/test-steps/NAME.log and is printed when
# it ends; `finish_background NAME` waits for it and records its result like `step` (a name not
# started is a no-op; no name: all of them). A full run uses it twice. The installs (python's
# .venv, the SDK proofs' node_modules) wait on the network and the disk, so they run beside the
# compile-bound fmt, clippy, unit and wasm steps and are awaited by the first step that needs
# them. The real-cluster step mostly waits on the kubelet and the pods, and the end-to-end suites
# on Spin and their deadlines (a fresh clone's run had half of the 2 cores idle during them), so
# a full run starts the cluster step and the checks lane (deploy, observability, lint) beside the
# suites, once their test binaries are built; the bench's smoke run and the browser step follow
# the suites in the foreground. The bench's own cluster sections run in the cluster step, after
# the cluster test, since they start clusters on the same ports.
declare -A background_pids=() background_t0=()
step_background() { # NAME COMMAND...
  local name=$1
  shift
  mkdir -p out/test-steps
  background_t0[${name}]=$(date +%s)
  printf '\n\033[1m==> [%s] %s (in the background; log: out/test-steps/%s.log)\033[0m\n' \
    "${name}" "$*" "${name}"
  "$@" >"out/test-steps/${name}.log" 2>&1 &
  background_pids[${name}]=$!
}

finish_background() { # [NAME]
  local names=("$@") name rc
  ((${#names[@]})) || names=("${!background_pids[@]}")
  for name in "${names[@]}"; do
    [[ -n "${background_pids[${name}]:-}" ]] || continue
    printf '\n\033[1m==> [%s] waiting for the background step\033[0m\n' "${name}"
    rc=0
    wait "${background_pids[${name}]}" || rc=$?
    cat "out/test-steps/${name}.log"
    # A lane of steps (checks_lane) leaves each one's result line beside its log.
    if [[ -f "out/test-steps/${name}.results" ]]; then
      mapfile -t -O "${#results[@]}" results <"out/test-steps/${name}.results"
      rm -f "out/test-steps/${name}.results"
    fi
    if ((rc == 0)); then
      results+=("PASS  ${name} ($(($(date +%s) - background_t0[${name}]))s, in the background)")
    else
      results+=("FAIL  ${name} ($(($(date +%s) - background_t0[${name}]))s, in the background)")
      failed=1
    fi
    unset "background_pids[${name}]"
  done
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
  rustup show active-toolchain >/dev/null || return 1
  if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2 || return 1
  fi
  rustc --version
}

python_tools() {
  local stamp=.venv/.requirements.sha256
  local want
  want=$(cat requirements-dev.txt tools/deploy-check/requirements.txt tools/deploy-check/constraints.txt pyproject.toml |
    sha256sum | cut -d' ' -f1)
  if [[ -x .venv/bin/python && -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
    echo "python tools up to date"
    return 0
  fi
  # `|| return 1`: errexit is off inside `if "$@"`, and a failed install must not be stamped.
  python3 -m venv .venv || return 1
  # The project's package, editable (its modules work on this checkout), with the pinned tools.
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e . || return 1
  echo "${want}" > "${stamp}"
}

# The provider lists written from the catalogue are what the generator writes, and it can fail.
# Standard library only, with the system python3 (no .venv needed): the tests import the package
# from the checkout (tools/python), as the tools/provider-lists/provider_lists.py shim runs it.
provider_lists() {
  PYTHONPATH="tools/python${PYTHONPATH:+:${PYTHONPATH}}" python3 -m unittest discover -s tools/provider-lists/tests -q ||
    return 1
  python3 tools/provider-lists/provider_lists.py --check
}

openapi() {
  mkdir -p out
  cargo run --quiet -p api-contract --features openapi --bin openapi > out/openapi.json || return 1
  .venv/bin/openapi-spec-validator out/openapi.json
}

lint() {
  local shellcheck=.venv/bin/shellcheck actionlint=.venv/bin/actionlint jsonschema=.venv/bin/check-jsonschema zizmor=.venv/bin/zizmor ruff=.venv/bin/ruff rc=0
  [[ -x "${shellcheck}" ]] || shellcheck=$(command -v shellcheck)
  [[ -x "${actionlint}" ]] || actionlint=$(command -v actionlint)
  [[ -x "${jsonschema}" ]] || jsonschema=$(command -v check-jsonschema)
  [[ -x "${zizmor}" ]] || zizmor=$(command -v zizmor)
  [[ -x "${ruff}" ]] || ruff=$(command -v ruff)
  # Every linter runs; any failure fails the step (errexit is off inside `if "$@"`).
  "${shellcheck}" -x scripts/*.sh scripts/dev scripts/ci/*.sh .ci/run deploy/*.sh deploy/versions.env || rc=1
  "${actionlint}" -shellcheck "${shellcheck}" .github/workflows/*.yml || rc=1
  # The schema ships inside the check-jsonschema wheel: no network.
  "${jsonschema}" --builtin-schema vendor.github-workflows .github/workflows/*.yml || rc=1
  # Security audit of the workflows (dangerous triggers, cache poisoning, unpinned actions, ...).
  "${zizmor}" --offline --no-progress .github/workflows/ || rc=1
  scripts/ci/check-action-pins.sh .github/workflows/*.yml || rc=1
  # Every Python file of the project (bench/, tools/, deploy/, scripts/ci/, e2e/): ruff.toml.
  "${ruff}" check --no-cache . || rc=1
  # Unused dependencies (cargo-machete, from crates.io; .ci/run installs it).
  if command -v cargo-machete >/dev/null; then
    cargo machete || rc=1
  elif [[ "${REQUIRE_TOOLS}" == 1 ]]; then
    echo "lint: cargo-machete not found (cargo install cargo-machete --locked)" >&2
    rc=1
  else
    printf '\033[1;33mlint: cargo-machete not found: unused dependencies not checked\033[0m\n'
  fi
  return "${rc}"
}

# The providers' own npm libraries the SDK proofs run (e2e/sdk, e2e/tests/e2e/sdk.rs), installed
# with `npm ci` when missing or when package-lock.json changed: from npm's cache when it has them
# (--prefer-offline), no install scripts. Without node the SDK test skips loudly (fails under
# REQUIRE_SPIN=1), as it does when this install failed.
sdk_deps() {
  local stamp=e2e/sdk/node_modules/.lock.sha256 want
  command -v node >/dev/null || { echo "e2e: node not found: the SDK proofs will skip (REQUIRE_SPIN=1 fails them)"; return 0; }
  want=$(sha256sum e2e/sdk/package-lock.json | cut -d' ' -f1)
  if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
    return 0
  fi
  echo "e2e: npm ci in e2e/sdk (the providers' libraries)"
  (cd e2e/sdk && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error) || return 1
  echo "${want}" > "${stamp}"
}

e2e() {
  local spin_bin="${SPIN_BIN:-$(command -v spin || true)}"
  if [[ -n "${background_pids[e2e-sdk-deps]:-}" ]]; then
    finish_background e2e-sdk-deps
  else
    step e2e-sdk-deps sdk_deps
  fi
  if [[ -z "${spin_bin}" && -z "${SPIN_BINS:-}" && "${REQUIRE_SPIN}" != 1 ]]; then
    printf '\n\033[1;33m%s\n%s\n%s\033[0m\n' \
      "************************************************************************" \
      "e2e: spin not found (SPIN_BIN or PATH): the end-to-end tests SKIP themselves." \
      "Install Spin (https://spinframework.dev/install) or set REQUIRE_SPIN=1 to fail."
    step e2e-skipped cargo test -p e2e --quiet -- --test-threads=2
    results[-1]="SKIP  e2e (spin not found; the e2e tests were compiled but skipped)"
    return
  fi
  # Once per Spin binary: SPIN_BINS, else the one found.
  local bins bin version
  read -r -a bins <<<"${SPIN_BINS:-${spin_bin}}"
  if ((${#bins[@]} == 0)); then
    # REQUIRE_SPIN=1 and no Spin: a failure, not a silent absence of the step.
    results+=("FAIL  e2e (spin not found: SPIN_BIN, SPIN_BINS or PATH)")
    failed=1
    return
  fi
  for bin in "${bins[@]}"; do
    version="$("${bin}" --version 2>/dev/null | awk '{print $2}')"
    # --no-fail-fast: one failing test binary must not hide the others' results.
    # The real-cluster test runs once, in its own step.
    step "e2e (spin ${version:-?})" env SPIN_BIN="${bin}" cargo test -p e2e --quiet --no-fail-fast -- --test-threads=2 --skip on_a_real_cluster
  done
}

browser() { # pytest skips loudly without spin or chromium unless REQUIRE_SPIN=1
  step browser .venv/bin/python -m pytest -p no:cacheprovider -q -rs e2e/browser
  if [[ "${REQUIRE_SPIN}" != 1 ]] && { [[ -z "${SPIN_BIN:-$(command -v spin || true)}" ]] ||
    [[ -z "${CHROMIUM_BIN:-$(command -v /usr/bin/chromium chromium | head -n1 || true)}" ]]; }; then
    results[-1]="SKIP  browser (spin or chromium not found; the browser tests skipped)"
  fi
}

# Whether the bench's smoke run goes ahead (it needs Spin; REQUIRE_SPIN=1 fails without it).
bench_runs() {
  [[ -n "${SPIN_BIN:-$(command -v spin || true)}" || "${REQUIRE_SPIN}" == 1 ]]
}

bench_smoke() {
  if ! bench_runs; then
    skip bench "spin not found"
  elif [[ " ${selected[*]} " == *" cluster "* ]]; then
    # Its cluster sections run in the cluster step (cluster_step), on the same ports.
    step bench scripts/bench.sh --smoke --skip cluster --out out/bench-smoke
  else
    step bench scripts/bench.sh --smoke --out out/bench-smoke
  fi
}

# The steps that check manifests, rules and scripts (deploy, observability, lint), one after the
# other, in a lane of their own: a full run starts it beside the end-to-end suites, which wait on
# Spin, the network and their deadlines more than they compute (about half of the 2 cores idle in
# a fresh clone's run). Each step's result line is left for finish_background.
checks_lane() {
  results=()
  failed=0
  local name
  for name in deploy observability lint; do
    [[ " ${selected[*]} " == *" ${name} "* ]] && run_step "${name}"
  done
  printf '%s\n' "${results[@]}" >out/test-steps/checks.results
  return "${failed}"
}

# The real-cluster test, then (when the bench step runs too) the bench's smoke sections that
# start a cluster of their own: after it, as they use the same ports.
cluster_step() {
  cargo test -p e2e --quiet --test cluster -- --nocapture || return 1
  if [[ " ${selected[*]} " == *" bench "* ]] && bench_runs; then
    echo "==> the bench smoke run's cluster sections (the shim, the kubelet), on the same ports"
    scripts/bench.sh --smoke --only cluster --out out/bench-smoke-cluster
  fi
}

have_lint_tools() {
  [[ -x .venv/bin/shellcheck || -n "$(command -v shellcheck)" ]] &&
    [[ -x .venv/bin/actionlint || -n "$(command -v actionlint)" ]] &&
    [[ -x .venv/bin/check-jsonschema || -n "$(command -v check-jsonschema)" ]] &&
    [[ -x .venv/bin/zizmor || -n "$(command -v zizmor)" ]] &&
    [[ -x .venv/bin/ruff || -n "$(command -v ruff)" ]]
}

run_step() { # NAME: one step of the test command, with its skip rules
  case "$1" in
    toolchain) step toolchain toolchain ;;
    python)
      if ! command -v python3 >/dev/null; then
        skip python "python3"
      elif [[ "${2:-}" == background ]]; then
        step_background python python_tools
      else
        step python python_tools
      fi
      ;;
    fmt) step fmt cargo fmt --all -- --check ;;
    clippy) step clippy cargo clippy --workspace --all-targets --quiet -- -D warnings ;;
    unit)
      step unit cargo test --workspace --exclude e2e --quiet
      if command -v python3 >/dev/null; then
        step provider-lists provider_lists
      else
        skip provider-lists "python3"
      fi
      ;;
    ui) if command -v node >/dev/null; then step ui node --test services/console/ui/test/; else skip ui "node"; fi ;;
    wasm) step wasm scripts/wasm-sizes.sh ;;
    openapi) if [[ -x .venv/bin/openapi-spec-validator ]]; then step openapi openapi; else skip openapi "openapi-spec-validator"; fi ;;
    e2e) e2e ;;
    cluster)
      if [[ "${2:-}" == background ]]; then
        step_background cluster cluster_step
      else
        step cluster cluster_step
      fi
      ;;
    browser) if [[ -x .venv/bin/python ]]; then browser; else skip browser "python3 (.venv)"; fi ;;
    bench) bench_smoke ;;
    deploy) step deploy env EXTRA_CRDS_DIR="${EXTRA_CRDS_DIR:-tools/observability-check/vendor/monitoring-crds}" scripts/check-deploy.sh ;;
    observability) step observability scripts/check-observability.sh ;;
    lint) if have_lint_tools; then step lint lint; else skip lint "shellcheck/actionlint/check-jsonschema/zizmor/ruff"; fi ;;
  esac
}

usage() {
  sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# No argument: every step, in this order. Arguments: those steps (plus their prerequisites), in
# this order whatever the order given.
STEPS=(toolchain python fmt clippy unit ui wasm openapi e2e cluster bench browser deploy observability lint)
selected=()
if (($# == 0)); then
  selected=("${STEPS[@]}")
else
  declare -A wanted=()
  for arg in "$@"; do
    case "${arg}" in
      -h | --help) usage; exit 0 ;;
      toolchain | python | fmt | clippy | unit | ui | wasm | openapi | e2e | cluster | browser | bench | deploy | observability | lint) wanted[${arg}]=1 ;;
      *) echo "test.sh: unknown step '${arg}' (steps: ${STEPS[*]})" >&2; exit 2 ;;
    esac
  done
  for s in fmt clippy unit wasm openapi e2e cluster browser bench; do [[ -z "${wanted[${s}]:-}" ]] || wanted[toolchain]=1; done
  for s in openapi e2e cluster browser deploy observability lint; do [[ -z "${wanted[${s}]:-}" ]] || wanted[python]=1; done
  for s in "${STEPS[@]}"; do [[ -z "${wanted[${s}]:-}" ]] || selected+=("${s}"); done
fi

# A full run overlaps what waits on the network, the disk or the kubelet with what computes
# (see step_background): the installs start first and are awaited by the first step that needs
# them; the cluster step goes to the background when steps follow it. BACKGROUND=0: one at a time.
last="${selected[${#selected[@]}-1]}"
overlap=0
if [[ "${BACKGROUND:-1}" == 1 ]] && ((${#selected[@]} == ${#STEPS[@]})); then overlap=1; fi
for name in "${selected[@]}"; do
  case "${name}" in
    python)
      if ((overlap)); then
        run_step python background
        if command -v node >/dev/null && [[ -f e2e/sdk/package-lock.json ]]; then
          step_background e2e-sdk-deps sdk_deps
        fi
      else
        run_step python
      fi
      ;;
    e2e)
      if ((overlap)); then
        # Compiled first (the cluster step's test binary with it: they share cargo's lock), then
        # the real cluster and the checks lane start beside the suites (see checks_lane).
        step e2e-build cargo test -p e2e --quiet --no-run
        run_step cluster background
        finish_background python
        step_background checks checks_lane
      fi
      run_step e2e
      ;;
    deploy | observability | lint) ((overlap)) || { finish_background python; run_step "${name}"; } ;;
    openapi | browser) finish_background python; run_step "${name}" ;;
    cluster)
      if ((overlap)); then
        : # started beside the e2e step
      elif [[ "${last}" != cluster && "${CLUSTER_FOREGROUND:-0}" != 1 && "${BACKGROUND:-1}" == 1 ]]; then
        run_step cluster background
      else
        run_step cluster
      fi
      ;;
    *) run_step "${name}" ;;
  esac
done
finish_background

printf '\n\033[1m==> test summary (%ss)\033[0m\n' "$(($(date +%s) - started))"
printf '  %s\n' "${results[@]}"
if (( failed )); then
  echo "test.sh: FAIL"
  exit 1
fi
echo "test.sh: PASS"
