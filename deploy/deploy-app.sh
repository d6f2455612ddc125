#!/usr/bin/env bash
# Deploys one environment of the app onto a cluster prepared by deploy/bootstrap.sh:
#   render the overlay (no cluster yet; the placeholder digest is refused) -> platform check ->
#   namespace -> Redis + its Secrets -> app Secrets -> kubectl apply -> wait for the operator's
#   Deployments -> smoke test through the Ingress.
# Idempotent: re-running re-applies the overlay and keeps existing Secrets and Redis data.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: deploy/deploy-app.sh ENV [options]      ENV: dev | staging | prod

Options:
  --generate-secrets  staging/prod: create the Secret webhook-inbox-secrets with random values
                      when it is missing (throwaway clusters only; real ones: docs/deploy.md).
                      dev always does this when the Secret is missing
  --no-redis          do not install the in-cluster Redis: the Secret webhook-inbox-redis (key url)
                      must already point at your Redis
  --image IMAGE...     deploy these artifacts instead of the overlay's: COMPONENT=REF (REF =
                      repo:tag or repo@sha256:digest) for each component, or PREFIX:TAG for all
                      (PREFIX/<component>:TAG, what scripts/push.sh PREFIX TAG pushes); repeatable.
                      prod's overlay commits a placeholder digest: prod needs --image
  --observability     add kustomize/components/observability for this apply (needs
                      deploy/bootstrap.sh --with-observability); the SpinApps are then made to
                      reconcile, since the operator reads the executor's otel settings only then
  --no-smoke-test     skip the curl checks through the Ingress
  --yes               allow a kubectl context other than k3d-${CLUSTER_NAME}
  -h, --help          show this help

Environment: CLUSTER_NAME (${CLUSTER_NAME}), HTTP_PORT (${HTTP_PORT}, the host port of the ingress).
EOF
}

APP_ENV=""
GENERATE_SECRETS=0
WITH_REDIS=1
WITH_OBSERVABILITY=0
SMOKE_TEST=1
IMAGES=()
while (($#)); do
  case "$1" in
    --generate-secrets) GENERATE_SECRETS=1; shift ;;
    --no-redis) WITH_REDIS=0; shift ;;
    --observability) WITH_OBSERVABILITY=1; shift ;;
    --image) read -r -a more <<<"${2:?--image needs a reference}"; IMAGES+=(${more[@]+"${more[@]}"}); shift 2 ;;
    --no-smoke-test) SMOKE_TEST=0; shift ;;
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

OVERLAY="${REPO_ROOT}/kustomize/overlays/${APP_ENV}"
NAMESPACE="$(overlay_namespace "${OVERLAY}")" || die "could not read 'namespace:' from ${OVERLAY}/kustomization.yaml"

# Everything is rendered and checked before the cluster is touched: a malformed --image, or the
# placeholder digest, stops here. A private copy of kustomize/ takes the changes, so the committed
# overlay stays untouched.
step "Rendering kustomize/overlays/${APP_ENV}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cp -R "${REPO_ROOT}/kustomize" "${work}/"
render_dir="${work}/kustomize/overlays/${APP_ENV}"
if ((WITH_OBSERVABILITY)); then
  add_component_to_overlay "${render_dir}/kustomization.yaml" ../../components/observability
  info "with kustomize/components/observability"
fi
if ((${#IMAGES[@]})); then
  # A wrapper kustomization whose `images:` point each SpinApp at its component's artifact.
  image_overlay "${work}/kustomize" "${APP_ENV}" "${IMAGES[@]}" >"${work}/images.tsv"
  render_dir="${IMAGE_OVERLAY_DIR}"
  while IFS=$'\t' read -r component ref; do info "image ${component}: ${ref}"; done <"${work}/images.tsv"
fi
RENDERED="${work}/rendered.yaml"
kubectl kustomize "${render_dir}" >"${RENDERED}" || die "kubectl kustomize ${APP_ENV} failed"
refuse_placeholders "${RENDERED}"
annotate_executor_hash "${RENDERED}"
require_every_component "${RENDERED}"
interceptor_targets "${RENDERED}" >"${work}/interceptor.txt"
manifest_tool spinapps "${RENDERED}" >"${work}/spinapps.tsv"
public_spinapps "${RENDERED}" >"${work}/public.txt"
ok "rendered $(grep -c '^kind:' "${RENDERED}") objects for ${NAMESPACE}"

step "Checking prerequisites"
check_kubectl
if ((SMOKE_TEST)); then
  require_cmd curl "Install curl, or pass --no-smoke-test."
fi
guard_context
ok "kubectl present, context $(current_context)"

step "Checking the SpinKube platform (deploy/bootstrap.sh installs it)"
need_crd() {
  kubectl get crd "$1" >/dev/null 2>&1 || die "CRD $1 is missing: $2"
}
need_crd spinapps.core.spinkube.dev "run deploy/bootstrap.sh"
need_crd spinappexecutors.core.spinkube.dev "run deploy/bootstrap.sh"
kubectl get runtimeclass wasmtime-spin-v2 >/dev/null 2>&1 ||
  die "RuntimeClass wasmtime-spin-v2 is missing: run deploy/bootstrap.sh"
# deploy/bootstrap.sh installs the operator in the namespace spin-operator; a cluster may also run
# it elsewhere (another namespace, or outside the cluster as the test cluster does). What a
# SpinApp needs is the operator's admission webhooks, registered for spinapps.
if [[ -n "$(kubectl -n spin-operator get deployments -o name 2>/dev/null)" ]]; then
  kubectl -n spin-operator wait --for=condition=Available deployments --all --timeout="${KUBE_WAIT_TIMEOUT}" >/dev/null
# (Read whole, then matched: `kubectl ... | grep -q` under pipefail fails whenever grep exits before
# kubectl has written everything, which made this check flaky.)
elif webhook_resources="$(kubectl get mutatingwebhookconfigurations -o jsonpath='{range .items[*].webhooks[*]}{.rules[*].resources}{"\n"}{end}' 2>/dev/null)" &&
  [[ "${webhook_resources}" == *spinapps* ]]; then
  info "spin-operator runs outside the namespace spin-operator (its admission webhooks for spinapps are registered)"
else
  die "spin-operator is not installed (no Deployment in namespace spin-operator, no admission webhook for spinapps): run deploy/bootstrap.sh"
fi
if [[ "${APP_ENV}" == staging ]]; then
  need_crd httpscaledobjects.http.keda.sh "staging needs KEDA + the KEDA HTTP add-on: run deploy/bootstrap.sh without --skip-keda"
fi
if ((WITH_OBSERVABILITY)); then
  need_crd servicemonitors.monitoring.coreos.com "--observability needs the Prometheus Operator: run deploy/bootstrap.sh --with-observability"
fi
ok "spin-operator, CRDs and RuntimeClass present"

step "Namespace ${NAMESPACE} and Redis"
if ((WITH_REDIS)); then
  "${DEPLOY_DIR}/redis.sh" "${NAMESPACE}"
  ok "in-cluster Redis and Secret webhook-inbox-redis"
else
  kubectl create namespace "${NAMESPACE}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl -n "${NAMESPACE}" get secret webhook-inbox-redis >/dev/null 2>&1 ||
    die "--no-redis: create the Secret webhook-inbox-redis (key url) in ${NAMESPACE} first (docs/deploy.md, Secrets)"
  ok "using the existing Secret webhook-inbox-redis (external Redis)"
fi

step "App secrets"
if kubectl -n "${NAMESPACE}" get secret webhook-inbox-secrets >/dev/null 2>&1; then
  ok "Secret webhook-inbox-secrets exists"
elif [[ "${APP_ENV}" == dev ]] || ((GENERATE_SECRETS)); then
  create_random_app_secret "${NAMESPACE}"
  if [[ "${APP_ENV}" == dev ]]; then
    ok "created Secret webhook-inbox-secrets with random values (read them back: docs/deploy.md, secret_of)"
  else
    warn "generated Secret webhook-inbox-secrets with random values (--generate-secrets): fine for a throwaway cluster only"
  fi
else
  die "Secret ${NAMESPACE}/webhook-inbox-secrets is missing. Create it from your secret store (docs/deploy.md, Secrets), or pass --generate-secrets on a throwaway cluster."
fi

step "Applying kustomize/overlays/${APP_ENV}"
# The overlay orders the SpinAppExecutor before the SpinApps, but the operator's admission webhook
# reads executors from a cache; a retry covers the rare first-apply race (apply is idempotent).
retry 3 10 kubectl apply -f "${RENDERED}"
ok "kubectl apply of kustomize/overlays/${APP_ENV}"
# spin-operator v0.6.1 does not watch SpinAppExecutors: it reads the executor (and its otel
# settings) only when it reconciles a SpinApp. The SpinApps carry a hash of their executor's spec
# (annotate_executor_hash), so a changed executor changed them too and the apply above made the
# operator reconcile them; say so, since that is what turns observability on or off.
if ((WITH_OBSERVABILITY)); then
  ok "observability: the executor now exports OTLP; the SpinApps were updated with its new hash, so the operator reconciles them and rolls their pods"
else
  ok "SpinApps carry their executor's spec hash: an executor change reaches the pods on this apply"
fi

step "Waiting for the operator's Deployments"
# (A plain loop instead of mapfile: macOS still ships bash 3.2.)
spinapps="$(kubectl -n "${NAMESPACE}" get spinapps -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}')"
[[ -n "${spinapps// /}" ]] || die "no SpinApps in ${NAMESPACE} after apply"
for app in ${spinapps}; do
  wait_for_object "${NAMESPACE}" "deployment/${app}" 180 ||
    die "the operator did not create deployment/${app}: kubectl -n ${NAMESPACE} describe spinapp ${app}; kubectl -n spin-operator logs deploy/spin-operator-controller-manager"
  if [[ "${APP_ENV}" == staging ]] && grep -qx -- "${app}" "${work}/interceptor.txt"; then
    # KEDA may hold it at zero replicas until traffic arrives; the smoke test wakes it.
    ok "deployment/${app} exists (scaled by KEDA, possibly to zero)"
  else
    kubectl -n "${NAMESPACE}" rollout status "deployment/${app}" --timeout="${KUBE_WAIT_TIMEOUT}"
    ok "deployment/${app} rolled out"
  fi
done
# The overlay's plain workloads (with --observability, the OpenTelemetry Collector): every
# Deployment of the rendered overlay that is not a SpinApp's.
while IFS= read -r workload; do
  case " ${spinapps} " in *" ${workload} "*) continue ;; esac
  kubectl -n "${NAMESPACE}" rollout status "deployment/${workload}" --timeout="${KUBE_WAIT_TIMEOUT}" ||
    die "deployment/${workload} did not roll out: kubectl -n ${NAMESPACE} describe deployment ${workload}"
  ok "deployment/${workload} rolled out"
done < <(awk '/^kind: Deployment$/ { d = 1; next } d && /^  name: / { print $2; d = 0 } /^---/ { d = 0 }' "${RENDERED}")

# smoke_port_forward: on a context that is not this project's k3d cluster (no known Ingress
# address), each SpinApp's readiness path through `kubectl port-forward` to its Service (the
# port_forward of lib.sh, as deploy/release.sh's smoke test): what the operator made answers, on
# any cluster. The Ingress routing itself is checked on k3d only.
smoke_port_forward() {
  local app ready code
  PF_LOG_DIR="${work}"
  while IFS=$'\t' read -r app _component _image _live ready; do
    port_forward "${NAMESPACE}" "service/${app}" 80
    pf_ready() {
      code="$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:${PF_PORT}${ready}" 2>/dev/null || true)"
      [[ "${code}" == 200 ]]
    }
    wait_until 90 pf_ready || { stop_port_forward; die "GET ${ready} on service/${app} (port-forward) answered ${code:-nothing}"; }
    stop_port_forward
    ok "GET ${ready} -> 200 (service/${app}, through kubectl port-forward)"
  done <"${work}/spinapps.tsv"
}

host="$(kubectl -n "${NAMESPACE}" get ingress webhook-inbox -o jsonpath='{.spec.rules[0].host}')"
base_url="http://127.0.0.1:${HTTP_PORT}"
if ((SMOKE_TEST)) && [[ "$(current_context)" == "k3d-${CLUSTER_NAME}" ]]; then
  step "Smoke test through the Ingress (${base_url}, Host: ${host})"
  probe() {
    local path="$1" code
    code="$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 30 -H "Host: ${host}" "${base_url}${path}" || true)"
    [[ "${code}" == 200 ]]
  }
  # Staging starts from zero replicas: the interceptor holds the first request during the cold start.
  wait_until 90 probe /healthz || die "GET /healthz via the Ingress did not answer 200; see docs/deploy.md, Troubleshooting"
  ok "GET /healthz -> 200"
  # /readyz does a write/read/delete round trip on the key-value store: this proves the Redis
  # Secret, the runtime config and the NetworkPolicies.
  wait_until 90 probe /readyz || die "GET /readyz via the Ingress did not answer 200 (key-value store or variables not ready)"
  ok "GET /readyz -> 200 (Redis reachable)"
  # Every other SpinApp the Ingress routes to, on its own readiness path.
  while IFS=$'\t' read -r app _component _image _live ready; do
    if [[ "${ready}" == /readyz ]] || ! grep -qx -- "${app}" "${work}/public.txt"; then
      continue
    fi
    wait_until 90 probe "${ready}" || die "GET ${ready} (${app}) via the Ingress did not answer 200"
    ok "GET ${ready} -> 200 (${app})"
  done <"${work}/spinapps.tsv"
  # The dispatch tick is for the ticker inside the forwarder's pods: from outside it must not
  # reach the forwarder (which would answer 401 without the token); the api component answers 404.
  code="$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 30 -X POST -H "Host: ${host}" "${base_url}/api/dispatch" || true)"
  [[ "${code}" != 200 && "${code}" != 401 ]] ||
    die "POST /api/dispatch via the Ingress answered ${code}: the forwarder's tick is reachable from outside (docs/deploy.md, \"Routes\")"
  ok "POST /api/dispatch via the Ingress -> ${code} (the forwarder's tick is not public)"
elif ((SMOKE_TEST)); then
  step "Smoke test through kubectl port-forward (context $(current_context): its Ingress address is unknown here)"
  smoke_port_forward
  info "the Ingress itself was not checked: curl your ingress with Host: ${host}"
fi

print_summary "${APP_ENV} deployed to ${NAMESPACE}"
cat <<EOF

Try it (docs/deploy.md has the full walk-through):
    curl -H 'Host: ${host}' ${base_url}/healthz
    curl -H 'Host: ${host}' ${base_url}/readyz
    SECRET="\$(kubectl -n ${NAMESPACE} get spinapp webhook-inbox-api -o jsonpath='{.spec.variables[?(@.name=="api_token")].valueFrom.secretKeyRef.name}')"
    TOKEN="\$(kubectl -n ${NAMESPACE} get secret "\$SECRET" -o jsonpath='{.data.api_token}' | base64 -d)"
    curl -H 'Host: ${host}' -H "Authorization: Bearer \$TOKEN" ${base_url}/api/events
EOF
