# shellcheck shell=bash
# Helpers shared by deploy/*.sh. Sourced, never executed.

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${DEPLOY_DIR}/.." && pwd)"
export DEPLOY_DIR REPO_ROOT

# shellcheck source=SCRIPTDIR/versions.env
source "${DEPLOY_DIR}/versions.env"

# Defaults shared by the scripts; all overridable from the environment.
: "${CLUSTER_NAME:=webhook-inbox}"
: "${HTTP_PORT:=8081}"
: "${KUBE_WAIT_TIMEOUT:=300s}"

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
  _c_bold=$'\033[1m' _c_green=$'\033[32m' _c_yellow=$'\033[33m' _c_red=$'\033[31m' _c_reset=$'\033[0m'
else
  _c_bold='' _c_green='' _c_yellow='' _c_red='' _c_reset=''
fi

# Steps done so far, printed by print_summary.
SUMMARY_LINES=()

step() { printf '\n%s==> %s%s\n' "${_c_bold}" "$*" "${_c_reset}"; }
info() { printf '    %s\n' "$*"; }
ok() {
  printf '    %sok%s %s\n' "${_c_green}" "${_c_reset}" "$*"
  SUMMARY_LINES+=("ok    $*")
}
warn() {
  printf '    %swarning:%s %s\n' "${_c_yellow}" "${_c_reset}" "$*" >&2
  SUMMARY_LINES+=("warn  $*")
}
die() {
  printf '%serror:%s %s\n' "${_c_red}" "${_c_reset}" "$*" >&2
  exit 1
}

print_summary() {
  local title="$1"
  printf '\n%s==> Summary: %s%s\n' "${_c_bold}" "${title}" "${_c_reset}"
  local line
  # ${a[@]+...}: an empty array under `set -u` is an error in bash < 4.4 (macOS ships 3.2).
  for line in ${SUMMARY_LINES[@]+"${SUMMARY_LINES[@]}"}; do
    printf '    %s\n' "${line}"
  done
}

# version_ge A B: true when version A >= version B (both like 1.2.3, leading v ignored).
# Pure bash: old macOS `sort` has no -V.
version_ge() {
  local a="${1#v}" b="${2#v}" i x y
  local -a av bv
  IFS=. read -r -a av <<<"${a%%[-+]*}"
  IFS=. read -r -a bv <<<"${b%%[-+]*}"
  for i in 0 1 2; do
    x="${av[i]:-0}" y="${bv[i]:-0}"
    x="${x//[!0-9]/}" y="${y//[!0-9]/}"
    ((10#${x:-0} > 10#${y:-0})) && return 0
    ((10#${x:-0} < 10#${y:-0})) && return 1
  done
  return 0
}

# require_cmd NAME HINT: fail with an install hint when NAME is not on PATH.
require_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH. $2"
}

check_docker() {
  require_cmd docker "Install Docker (https://docs.docker.com/get-docker/) or Rancher Desktop."
  docker info >/dev/null 2>&1 ||
    die "Docker is installed but its engine is not reachable ('docker info' failed). Start Docker and retry."
}

check_k3d() {
  require_cmd k3d "Install k3d >= v${MIN_K3D_VERSION} (https://k3d.io/#installation)."
  local v
  v="$(k3d version 2>/dev/null | sed -n 's/^k3d version v\{0,1\}\([0-9.]*\).*/\1/p' | head -n1)"
  [[ -n "${v}" ]] || die "could not read the k3d version from 'k3d version'."
  version_ge "${v}" "${MIN_K3D_VERSION}" || die "k3d ${v} is too old; need >= ${MIN_K3D_VERSION}."
}

check_kubectl() {
  require_cmd kubectl "Install kubectl >= v${MIN_KUBECTL_VERSION} (https://kubernetes.io/docs/tasks/tools/)."
  local v
  v="$(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: v\{0,1\}\([0-9.]*\).*/\1/p' | head -n1)"
  [[ -n "${v}" ]] || die "could not read the kubectl version from 'kubectl version --client'."
  # kustomize sortOptions (used by every overlay) need the kustomize v5 built into kubectl 1.27+.
  version_ge "${v}" "${MIN_KUBECTL_VERSION}" || die "kubectl ${v} is too old; need >= ${MIN_KUBECTL_VERSION}."
}

check_helm() {
  require_cmd helm "Install helm >= v${MIN_HELM_VERSION} (https://helm.sh/docs/intro/install/)."
  local v
  v="$(helm version --template '{{.Version}}' 2>/dev/null)"
  v="${v#v}"
  [[ -n "${v}" ]] || die "could not read the helm version from 'helm version'."
  version_ge "${v}" "${MIN_HELM_VERSION}" || die "helm ${v} is too old; need >= ${MIN_HELM_VERSION} (OCI charts)."
}

# The kubectl context the scripts act on.
current_context() { kubectl config current-context 2>/dev/null || true; }

# guard_context: refuse to touch a cluster that is not this project's k3d cluster unless the user
# said so (ALLOW_ANY_CONTEXT=1 or --yes), so a forgotten context never installs into production.
guard_context() {
  local ctx
  ctx="$(current_context)"
  [[ -n "${ctx}" ]] || die "kubectl has no current context. Run deploy/bootstrap.sh first, or select a cluster."
  if [[ "${ctx}" != "k3d-${CLUSTER_NAME}" && "${ALLOW_ANY_CONTEXT:-0}" != "1" ]]; then
    die "the current kubectl context is '${ctx}', not 'k3d-${CLUSTER_NAME}'. Re-run with --yes (or ALLOW_ANY_CONTEXT=1) to use it."
  fi
  info "kubectl context: ${ctx}"
}

# retry ATTEMPTS DELAY_SECONDS CMD...: run CMD until it succeeds.
retry() {
  local attempts="$1" delay="$2" n=1
  shift 2
  until "$@"; do
    if ((n >= attempts)); then
      return 1
    fi
    warn "attempt ${n}/${attempts} failed: $*; retrying in ${delay}s"
    sleep "${delay}"
    n=$((n + 1))
  done
}

# wait_until SECONDS CMD...: poll CMD every 5 seconds, quietly, until it succeeds or time is up.
wait_until() {
  local seconds="$1" waited=0
  shift
  until "$@"; do
    ((waited >= seconds)) && return 1
    sleep 5
    waited=$((waited + 5))
  done
}

# wait_for_object NAMESPACE KIND/NAME SECONDS: wait until an object exists (e.g. one an operator
# creates asynchronously).
wait_for_object() {
  local ns="$1" obj="$2" seconds="$3" waited=0
  until kubectl -n "${ns}" get "${obj}" >/dev/null 2>&1; do
    ((waited >= seconds)) && return 1
    sleep 2
    waited=$((waited + 2))
  done
}

# port_forward NAMESPACE TARGET PORT: start `kubectl port-forward TARGET :PORT` in the background
# and set PF_PORT to the local port it chose (logs in PF_LOG_DIR, which the caller sets). Each port-forward writes to a log of its own, created
# empty here before it starts: with one log for all, the `>` truncation runs in the background
# child, and a read racing it could still see the previous port-forward's line and take its port,
# whose listener was just stopped (the smoke test then failed with "did not answer 200").
PF_COUNT=0
port_forward() {
  local log waited=0
  PF_COUNT=$((PF_COUNT + 1))
  log="${PF_LOG_DIR:?PF_LOG_DIR is not set}/port-forward.${PF_COUNT}.log"
  : >"${log}"
  PF_PORT=""
  kubectl -n "$1" port-forward "$2" ":$3" >>"${log}" 2>&1 &
  PF_PID=$!
  while [[ -z "${PF_PORT}" ]]; do
    PF_PORT="$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "${log}" | head -n1)"
    [[ -n "${PF_PORT}" ]] && break
    # Polled every 0.2 s (kubectl prints its port within a second; 30 s at most).
    if ! kill -0 "${PF_PID}" 2>/dev/null || ((waited >= 150)); then
      cat "${log}" >&2
      die "kubectl port-forward $2 did not start"
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
}

stop_port_forward() {
  kill "${PF_PID}" 2>/dev/null || true
  wait "${PF_PID}" 2>/dev/null || true
  PF_PID=""
}

# random_secret: 48 hex characters from the kernel's CSPRNG (URL-safe, no quoting issues).
random_secret() {
  od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

# create_random_app_secret NAMESPACE: the Secret webhook-inbox-secrets with random values (dev,
# and throwaway clusters with --generate-secrets). The values go through files in a private
# folder, never through arguments or output.
create_random_app_secret() {
  local ns="$1" dir
  dir="$(mktemp -d)"
  chmod 700 "${dir}"
  random_secret >"${dir}/api_token"
  random_secret >"${dir}/forward_dispatch_token"
  random_secret >"${dir}/webhook_github_secret"
  printf 'whsec_%s' "$(random_secret)" >"${dir}/webhook_stripe_secret"
  # Standard Webhooks secrets are whsec_ + base64 of the key bytes.
  printf 'whsec_%s' "$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >"${dir}/webhook_standard_secret"
  kubectl -n "${ns}" create secret generic webhook-inbox-secrets \
    --from-file="${dir}/api_token" --from-file="${dir}/forward_dispatch_token" \
    --from-file="${dir}/webhook_github_secret" \
    --from-file="${dir}/webhook_stripe_secret" --from-file="${dir}/webhook_standard_secret" >/dev/null
  rm -rf "${dir}"
  kubectl -n "${ns}" label secret webhook-inbox-secrets app.kubernetes.io/part-of=webhook-inbox >/dev/null
}

# render_deploy_manifest FILE: print a deploy/manifests file with @VAR@ placeholders replaced by
# the pinned values from versions.env.
render_deploy_manifest() {
  sed -e "s|@REDIS_IMAGE@|${REDIS_IMAGE}|g" "$1"
}

# helm_install RELEASE NAMESPACE CHART [helm args...]: `helm upgrade --install`, first removing a
# release whose only install failed or was interrupted (Helm cannot upgrade a release that was
# never deployed), so that a re-run or retry() starts clean.
helm_install() {
  local release="$1" ns="$2"
  shift 2
  local status
  status="$(helm status "${release}" --namespace "${ns}" 2>/dev/null | sed -n 's/^STATUS: //p' | head -n1)"
  case "${status}" in
    failed | pending-install | uninstalling)
      if ! helm history "${release}" --namespace "${ns}" 2>/dev/null | grep -q 'deployed\|superseded'; then
        warn "removing Helm release ${release} left '${status}' by an earlier run"
        helm uninstall "${release}" --namespace "${ns}" --wait >/dev/null 2>&1 || true
      fi
      ;;
  esac
  helm upgrade --install "${release}" "$@" --namespace "${ns}"
}

# The YAML the scripts read or change goes through deploy/manifest.py (PyYAML), never awk/sed.
# Its Python: PYTHON, else the repository's .venv (./scripts/test.sh makes it), else python3.
deploy_python() {
  if [[ -z "${DEPLOY_PY:-}" ]]; then
    if [[ -n "${PYTHON:-}" ]]; then
      DEPLOY_PY="${PYTHON}"
    elif [[ -x "${REPO_ROOT}/.venv/bin/python" ]]; then
      DEPLOY_PY="${REPO_ROOT}/.venv/bin/python"
    else
      DEPLOY_PY=python3
    fi
    "${DEPLOY_PY}" -c 'import yaml' 2>/dev/null ||
      die "${DEPLOY_PY} cannot import yaml: pip install -r deploy/requirements.txt (PyYAML), or set PYTHON"
  fi
}

# manifest_tool COMMAND ARGS...: deploy/manifest.py (see its --help).
manifest_tool() {
  deploy_python
  "${DEPLOY_PY}" "${DEPLOY_DIR}/manifest.py" "$@"
}

# overlay_namespace OVERLAY_DIR: the overlay's `namespace:`.
overlay_namespace() {
  manifest_tool namespace "$1/kustomization.yaml"
}

# add_component_to_overlay KUSTOMIZATION_FILE COMPONENT_PATH: add a kustomize component to an
# overlay's kustomization.yaml (used on private copies by deploy-app.sh --observability and
# scripts/check-deploy.sh; the committed overlays stay untouched).
add_component_to_overlay() {
  manifest_tool add-component "$1" "$2"
}

# image_overlay KUSTOMIZE_COPY ENV IMAGE...: in a private copy of kustomize/ (never the committed
# one), add overlays/with-image, a wrapper kustomization over overlays/ENV whose `images:` point
# each SpinApp at the artifact of its own component, like `kustomize edit set image` per
# component. IMAGE is COMPONENT=REF (repo@sha256:<64 hex> or repo:tag), or PREFIX:TAG for every
# component (PREFIX/<component>:TAG). The overlay's sortOptions are repeated (not inherited).
# Sets IMAGE_OVERLAY_DIR; prints `component<TAB>image` lines.
image_overlay() {
  local copy="$1" env="$2"
  shift 2
  local current
  current="$(mktemp)"
  kubectl kustomize "${copy}/overlays/${env}" >"${current}" || { rm -f "${current}"; die "could not render overlay ${env}"; }
  IMAGE_OVERLAY_DIR="${copy}/overlays/with-image"
  if ! manifest_tool image-overlay "${current}" "${copy}/overlays/${env}" "${IMAGE_OVERLAY_DIR}" "$@"; then
    rm -f "${current}"
    die "--image: see the error above"
  fi
  rm -f "${current}"
}

# refuse_placeholders RENDERED: die, before anything reaches a cluster, when a SpinApp would run
# the committed placeholder digest (sha256:000...0): its pods would sit in ErrImagePull.
refuse_placeholders() {
  local found
  if ! found="$(manifest_tool placeholders "$1")"; then
    found="${found//$'\t'/ runs }"
    die "refusing to deploy the placeholder image digest the overlay commits (${found//$'\n'/; }). Pass the released digests: --image COMPONENT=REPO@sha256:<digest> for each component (the release run's summary lists them); a plain workload's image: pin its real digest in deploy/versions.env and the manifest"
  fi
}

# interceptor_targets RENDERED: the SpinApps an HTTPScaledObject routes to, one per line.
interceptor_targets() {
  manifest_tool interceptor-targets "$1"
}

# public_spinapps RENDERED: the SpinApps an outside request reaches (Ingress or interceptor).
public_spinapps() {
  manifest_tool public-spinapps "$1"
}

# require_every_component RENDERED: every component of spin.toml (scripts/ci/components.py) runs
# in a SpinApp of RENDERED, else stop before the cluster is touched.
require_every_component() {
  local missing
  if ! missing="$(manifest_tool coverage "$1" "${REPO_ROOT}/spin.toml")"; then
    [[ -n "${missing}" ]] || die "could not compare the overlay's SpinApps with spin.toml"
    die "spin.toml has component(s) no SpinApp of the overlay runs: ${missing//$'\n'/, } (add a SpinApp in kustomize/base/spinapps.yaml; docs/deploy.md, \"Adding a component\")"
  fi
}

# annotate_executor_hash RENDERED: annotate every SpinApp in RENDERED (in place) with a hash of its
# SpinAppExecutor's spec, so that applying a changed executor also changes the SpinApps and the
# operator, which does not watch executors, reconciles them (deploy/manifest.py executor-hash).
annotate_executor_hash() {
  local out
  out="$(mktemp)"
  manifest_tool executor-hash "$1" "${out}" >/dev/null || { rm -f "${out}"; die "could not annotate the SpinApps"; }
  mv "${out}" "$1"
}
