#!/usr/bin/env bash
# Deletes the runtime-config Secrets the spin-operator left behind in one namespace.
#
# On every change of a SpinApp's runtime config (a new Redis URL or password, say) spin-operator
# v0.6.1 writes a new Secret `<spinapp>-<adler32 of the TOML>` holding runtime-config.toml, points
# the Deployment at it, and never deletes the old one (internal/controller/spinapp_controller.go,
# reconcileDeployment): after a password rotation the old password stays readable in the
# namespace. This removes exactly those: Secrets named <SpinApp>-<hex>, owned by that SpinApp,
# holding runtime-config.toml, that no Deployment mounts any more. Run it after the rollouts of a
# rotation have finished (docs/deploy.md, "Rotation"); a Secret still mounted is never touched.
#
# Usage: deploy/prune-runtime-configs.sh [--dry-run] [--yes] NAMESPACE
#   --dry-run  list what would be deleted, delete nothing
#   --yes      allow a kubectl context other than k3d-${CLUSTER_NAME}
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DRY_RUN=0
NAMESPACE=""
while (($#)); do
  case "$1" in
    --dry-run) DRY_RUN=1; shift ;;
    --yes) export ALLOW_ANY_CONTEXT=1; shift ;;
    -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *) [[ -z "${NAMESPACE}" ]] || die "only one NAMESPACE"; NAMESPACE="$1"; shift ;;
  esac
done
[[ -n "${NAMESPACE}" ]] || die "NAMESPACE is required (e.g. webhook-inbox-prod)"

step "Stale runtime-config Secrets in ${NAMESPACE}"
check_kubectl
guard_context
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
chmod 700 "${work}"
# Secret data goes to a private file only (it holds passwords); nothing of it is printed.
kubectl -n "${NAMESPACE}" get secrets -o json >"${work}/secrets.json"
kubectl -n "${NAMESPACE}" get deployments -o json >"${work}/deployments.json"
stale="$(manifest_tool stale-runtime-configs "${work}/secrets.json" "${work}/deployments.json")"
count=0
for name in ${stale}; do
  count=$((count + 1))
  if ((DRY_RUN)); then
    info "would delete Secret ${name} (no Deployment mounts it)"
  else
    kubectl -n "${NAMESPACE}" delete secret "${name}" >/dev/null
    ok "deleted Secret ${name} (an old runtime config no Deployment mounts)"
  fi
done
((count)) || ok "no stale runtime-config Secret in ${NAMESPACE}"
print_summary "${count} stale runtime-config Secret(s) in ${NAMESPACE}$( ((DRY_RUN)) && echo ' (dry run: none deleted)')"
