#!/usr/bin/env bash
# Removes what deploy/bootstrap.sh and deploy/deploy-app.sh created. Idempotent.
#   deploy/teardown.sh              delete the whole k3d cluster
#   deploy/teardown.sh --app dev    delete one environment (its namespace, Redis data included)
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: deploy/teardown.sh [--cluster-name NAME] [--app ENV [--yes]]

Without --app: deletes the k3d cluster '${CLUSTER_NAME}' and everything in it.
With --app ENV (dev, staging or prod): deletes that environment's SpinApps and namespace only,
including its Redis and the data in it. Needs --yes outside the k3d-${CLUSTER_NAME} context.
The namespace takes its Secrets (webhook-inbox-secrets, webhook-inbox-redis) with it.
EOF
}

APP_ENV=""
while (($#)); do
  case "$1" in
    --cluster-name) CLUSTER_NAME="${2:?--cluster-name needs a value}"; shift 2 ;;
    --app) APP_ENV="${2:?--app needs dev, staging or prod}"; shift 2 ;;
    --yes) export ALLOW_ANY_CONTEXT=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

if [[ -z "${APP_ENV}" ]]; then
  step "Deleting k3d cluster ${CLUSTER_NAME}"
  check_docker
  check_k3d
  if k3d cluster get "${CLUSTER_NAME}" >/dev/null 2>&1; then
    k3d cluster delete "${CLUSTER_NAME}"
    ok "k3d cluster ${CLUSTER_NAME} deleted"
  else
    ok "k3d cluster ${CLUSTER_NAME} does not exist; nothing to do"
  fi
  print_summary "teardown done"
  exit 0
fi

overlay="${REPO_ROOT}/kustomize/overlays/${APP_ENV}"
[[ -f "${overlay}/kustomization.yaml" ]] || die "no overlay '${APP_ENV}' (expected ${overlay})"
namespace="$(sed -n 's/^namespace:[[:space:]]*//p' "${overlay}/kustomization.yaml" | head -n1)"
[[ -n "${namespace}" ]] || die "could not read 'namespace:' from ${overlay}/kustomization.yaml"

step "Deleting environment ${APP_ENV} (namespace ${namespace})"
check_kubectl
guard_context
if kubectl get namespace "${namespace}" >/dev/null 2>&1; then
  # SpinApps first, while the operator still runs: it removes their finalizers and the
  # Deployments/Services they own. Deleting the namespace first can leave it Terminating.
  if kubectl get crd spinapps.core.spinkube.dev >/dev/null 2>&1; then
    kubectl -n "${namespace}" delete spinapps --all --wait --timeout="${KUBE_WAIT_TIMEOUT}"
    kubectl -n "${namespace}" delete spinappexecutors --all --wait --timeout="${KUBE_WAIT_TIMEOUT}"
  fi
  kubectl delete namespace "${namespace}" --wait --timeout="${KUBE_WAIT_TIMEOUT}"
  ok "namespace ${namespace} deleted"
else
  ok "namespace ${namespace} does not exist; nothing to do"
fi
print_summary "teardown of ${APP_ENV} done"
