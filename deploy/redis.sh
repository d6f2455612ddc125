#!/usr/bin/env bash
# Installs Redis for the Spin key-value store into one app namespace and creates the two Secrets
# around it. Idempotent: an existing password is kept, the manifest is re-applied.
#   Secret redis-auth          key password   read by the Redis server (deploy/manifests/redis.yaml)
#   Secret webhook-inbox-redis key url        read by the SpinApps' runtimeConfig.keyValueStores
# Usually run by deploy/deploy-app.sh; standalone: deploy/redis.sh webhook-inbox-dev
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: deploy/redis.sh [--yes] NAMESPACE

Installs the in-cluster Redis (${REDIS_IMAGE}) into NAMESPACE and creates the Secrets
redis-auth (password) and webhook-inbox-redis (url) if they do not exist.

Options:
  --yes       allow a kubectl context other than k3d-${CLUSTER_NAME}
  -h, --help  show this help
EOF
}

NAMESPACE=""
while (($#)); do
  case "$1" in
    --yes) export ALLOW_ANY_CONTEXT=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) [[ -z "${NAMESPACE}" ]] || die "only one NAMESPACE, got '${NAMESPACE}' and '$1'"; NAMESPACE="$1"; shift ;;
  esac
done
[[ -n "${NAMESPACE}" ]] || { usage >&2; die "NAMESPACE is required"; }

step "Redis for namespace ${NAMESPACE}"
check_kubectl
guard_context

kubectl create namespace "${NAMESPACE}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
ok "namespace ${NAMESPACE}"

secret_exists() { kubectl -n "${NAMESPACE}" get secret "$1" >/dev/null 2>&1; }

# Secret values go through files in a private temp dir, never through command-line arguments
# (visible to every user in the process list).
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
chmod 700 "${tmp}"

if secret_exists redis-auth; then
  info "Secret redis-auth exists; keeping its password"
  kubectl -n "${NAMESPACE}" get secret redis-auth -o jsonpath='{.data.password}' | base64 -d >"${tmp}/password"
  [[ -s "${tmp}/password" ]] || die "Secret ${NAMESPACE}/redis-auth has no 'password' key"
else
  # Hex only: safe inside a redis:// URL without escaping.
  random_secret >"${tmp}/password"
  kubectl -n "${NAMESPACE}" create secret generic redis-auth --from-file=password="${tmp}/password" >/dev/null
  kubectl -n "${NAMESPACE}" label secret redis-auth app.kubernetes.io/part-of=webhook-inbox >/dev/null
  ok "created Secret redis-auth (random password)"
fi

if secret_exists webhook-inbox-redis; then
  info "Secret webhook-inbox-redis exists; leaving it as is"
else
  printf 'redis://:%s@redis.%s.svc.cluster.local:6379' "$(cat "${tmp}/password")" "${NAMESPACE}" >"${tmp}/url"
  kubectl -n "${NAMESPACE}" create secret generic webhook-inbox-redis --from-file=url="${tmp}/url" >/dev/null
  kubectl -n "${NAMESPACE}" label secret webhook-inbox-redis app.kubernetes.io/part-of=webhook-inbox >/dev/null
  ok "created Secret webhook-inbox-redis (url of the in-cluster Redis)"
fi

render_deploy_manifest "${DEPLOY_DIR}/manifests/redis.yaml" | kubectl -n "${NAMESPACE}" apply -f -
kubectl -n "${NAMESPACE}" rollout status statefulset/redis --timeout="${KUBE_WAIT_TIMEOUT}"
ok "Redis ${REDIS_IMAGE} running in ${NAMESPACE} (redis.${NAMESPACE}.svc.cluster.local:6379)"
