#!/usr/bin/env bash
# From nothing to a SpinKube cluster on this machine:
#   k3d cluster on the containerd-shim-spin node image -> Traefik config -> cert-manager ->
#   RuntimeClass wasmtime-spin-v2 -> spin-operator CRDs + Helm chart -> KEDA + KEDA HTTP add-on
#   -> (optional) kube-prometheus-stack.
# Idempotent: re-running skips what exists and upgrades Helm releases in place.
# Versions: deploy/versions.env. Then deploy the app with deploy/deploy-app.sh dev|staging|prod.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${AGENTS:=1}"
WITH_KEDA=1
WITH_OBSERVABILITY=0

usage() {
  cat <<EOF
Usage: deploy/bootstrap.sh [options]

Creates (or reuses) the k3d cluster '${CLUSTER_NAME}' and installs the SpinKube platform into it.

Options:
  --cluster-name NAME     k3d cluster name (default: ${CLUSTER_NAME}; env CLUSTER_NAME)
  --http-port PORT        host port mapped to the cluster's ingress port 80 (default: ${HTTP_PORT}; env HTTP_PORT)
  --agents N              k3d agent nodes besides the server (default: ${AGENTS}; env AGENTS)
  --skip-keda             do not install KEDA and the KEDA HTTP add-on (the staging overlay needs them)
  --with-observability    also install kube-prometheus-stack (for kustomize/components/observability)
  -h, --help              show this help

Needs: docker (running), k3d >= ${MIN_K3D_VERSION}, kubectl >= ${MIN_KUBECTL_VERSION}, helm >= ${MIN_HELM_VERSION}, and internet access.
EOF
}

while (($#)); do
  case "$1" in
    --cluster-name) CLUSTER_NAME="${2:?--cluster-name needs a value}"; shift 2 ;;
    --http-port) HTTP_PORT="${2:?--http-port needs a value}"; shift 2 ;;
    --agents) AGENTS="${2:?--agents needs a value}"; shift 2 ;;
    --skip-keda) WITH_KEDA=0; shift ;;
    --with-observability) WITH_OBSERVABILITY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

step "Checking prerequisites"
check_docker
check_k3d
check_kubectl
check_helm
ok "docker, k3d, kubectl and helm are present"

step "k3d cluster '${CLUSTER_NAME}' (node image ${K3D_NODE_IMAGE})"
if k3d cluster get "${CLUSTER_NAME}" >/dev/null 2>&1; then
  info "the cluster exists; reusing it (delete it with deploy/teardown.sh to start over)"
  k3d cluster start "${CLUSTER_NAME}" >/dev/null
  k3d kubeconfig merge "${CLUSTER_NAME}" --kubeconfig-merge-default --kubeconfig-switch-context >/dev/null
  ok "k3d cluster ${CLUSTER_NAME} reused"
else
  # Port HTTP_PORT on the host goes to the cluster load balancer's port 80, where k3s's Traefik
  # listens; every node runs the shim image, so any node can run SpinApps.
  k3d cluster create "${CLUSTER_NAME}" \
    --image "${K3D_NODE_IMAGE}" \
    --port "${HTTP_PORT}:80@loadbalancer" \
    --agents "${AGENTS}" \
    --wait
  ok "k3d cluster ${CLUSTER_NAME} created (ingress on http://127.0.0.1:${HTTP_PORT})"
fi
[[ "$(current_context)" == "k3d-${CLUSTER_NAME}" ]] ||
  die "kubectl context is '$(current_context)', expected 'k3d-${CLUSTER_NAME}'"
info "kubectl context: $(current_context)"
kubectl wait --for=condition=Ready nodes --all --timeout="${KUBE_WAIT_TIMEOUT}" >/dev/null
ok "all nodes Ready"

step "Traefik (k3s's ingress controller): allow ExternalName backends"
kubectl apply -f "${DEPLOY_DIR}/manifests/traefik-config.yaml"
# k3s installs Traefik from a HelmChart a few seconds after the API comes up.
wait_for_object kube-system deployment/traefik 300 ||
  die "Traefik did not appear in kube-system (was the cluster created with --disable=traefik?)"
# k3s's helm-controller re-deploys Traefik with the new values shortly after the apply.
traefik_configured() {
  kubectl -n kube-system get deployment traefik -o jsonpath='{.spec.template.spec.containers[*].args}' |
    grep -qi 'allowexternalnameservices=true'
}
wait_until 180 traefik_configured ||
  die "Traefik was not re-deployed with allowExternalNameServices=true (kubectl -n kube-system get helmchart,helmchartconfig,jobs)"
kubectl -n kube-system rollout status deployment/traefik --timeout="${KUBE_WAIT_TIMEOUT}"
ok "Traefik running with allowExternalNameServices=true"

step "cert-manager ${CERT_MANAGER_VERSION} (certificates for the spin-operator admission webhooks)"
kubectl apply -f "${CERT_MANAGER_MANIFEST_URL}"
kubectl -n cert-manager wait --for=condition=Available \
  deployment/cert-manager deployment/cert-manager-cainjector deployment/cert-manager-webhook \
  --timeout="${KUBE_WAIT_TIMEOUT}"
ok "cert-manager ${CERT_MANAGER_VERSION} available"

step "RuntimeClass wasmtime-spin-v2 (handler: spin)"
kubectl apply -f "${DEPLOY_DIR}/manifests/runtime-class.yaml"
ok "RuntimeClass wasmtime-spin-v2"

step "spin-operator ${SPIN_OPERATOR_VERSION} CRDs"
kubectl apply -f "${SPIN_OPERATOR_CRDS_URL}"
kubectl wait --for=condition=Established \
  crd/spinapps.core.spinkube.dev crd/spinappexecutors.core.spinkube.dev --timeout=60s
ok "CRDs SpinApp and SpinAppExecutor (core.spinkube.dev/v1alpha1)"

step "spin-operator ${SPIN_OPERATOR_CHART_VERSION} (Helm, namespace spin-operator)"
# --wait also waits for the webhook Service's endpoints, so SpinApps can be admitted right after.
retry 3 15 helm_install spin-operator spin-operator "${SPIN_OPERATOR_CHART}" \
  --version "${SPIN_OPERATOR_CHART_VERSION}" --create-namespace \
  --wait --timeout 5m
ok "spin-operator ${SPIN_OPERATOR_CHART_VERSION} deployed"

if ((WITH_KEDA)); then
  step "KEDA ${KEDA_CHART_VERSION} + KEDA HTTP add-on ${KEDA_HTTP_ADDON_CHART_VERSION} (namespace keda; staging's scale-to-zero)"
  # --repo instead of `helm repo add`: no change to the user's Helm repository list.
  retry 3 15 helm_install keda keda keda \
    --repo "${KEDA_CHART_REPO}" --version "${KEDA_CHART_VERSION}" --create-namespace \
    --wait --timeout 5m
  retry 3 15 helm_install http-add-on keda keda-add-ons-http \
    --repo "${KEDA_CHART_REPO}" --version "${KEDA_HTTP_ADDON_CHART_VERSION}" \
    --values "${DEPLOY_DIR}/values/keda-http-add-on.yaml" \
    --wait --timeout 5m
  kubectl wait --for=condition=Established crd/httpscaledobjects.http.keda.sh --timeout=60s >/dev/null
  ok "KEDA ${KEDA_CHART_VERSION} and HTTP add-on ${KEDA_HTTP_ADDON_CHART_VERSION}"
else
  warn "KEDA skipped (--skip-keda): the staging overlay will not apply"
fi

if ((WITH_OBSERVABILITY)); then
  step "kube-prometheus-stack ${KUBE_PROMETHEUS_STACK_CHART_VERSION} (namespace monitoring)"
  retry 3 15 helm_install kube-prometheus-stack monitoring kube-prometheus-stack \
    --repo "${KUBE_PROMETHEUS_STACK_CHART_REPO}" --version "${KUBE_PROMETHEUS_STACK_CHART_VERSION}" \
    --create-namespace \
    --values "${DEPLOY_DIR}/values/kube-prometheus-stack.yaml" \
    --wait --timeout 10m
  ok "kube-prometheus-stack ${KUBE_PROMETHEUS_STACK_CHART_VERSION} (ServiceMonitors from every namespace)"
fi

print_summary "SpinKube cluster ready"
cat <<EOF

    cluster        k3d-${CLUSTER_NAME} (node image ${K3D_NODE_IMAGE})
    ingress        http://127.0.0.1:${HTTP_PORT} (Traefik; route by Host header)
    spin-operator  ${SPIN_OPERATOR_VERSION}, cert-manager ${CERT_MANAGER_VERSION}
    KEDA           $( ((WITH_KEDA)) && echo "${KEDA_CHART_VERSION} + HTTP add-on ${KEDA_HTTP_ADDON_CHART_VERSION}" || echo "not installed")
    monitoring     $( ((WITH_OBSERVABILITY)) && echo "kube-prometheus-stack ${KUBE_PROMETHEUS_STACK_CHART_VERSION}" || echo "not installed (--with-observability)")

Next: deploy the app, e.g.
    deploy/deploy-app.sh dev
EOF
