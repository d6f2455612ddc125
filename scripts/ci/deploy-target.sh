#!/usr/bin/env bash
# Decides what the deploy workflow deploys where, and writes it as step outputs (GITHUB_OUTPUT:
# environment, image, commit) and into the run summary:
#   after a release   --record FILE, the release.env that scripts/ci/release-push.sh wrote (the
#                     release workflow uploads it as the artifact `release-digest`): a push to main
#                     goes to dev, a vX.Y.Z tag to staging; prod is always promoted by hand
#   by hand           --environment dev|staging|prod --image REF, REF = repo@sha256:<digest>, or a
#                     bare sha256:<digest> of --repository
#
# Usage: scripts/ci/deploy-target.sh --record FILE
#        scripts/ci/deploy-target.sh --environment ENV --image REF [--repository REPO]
# Env (used when the option is not given): RELEASE_RECORD, DEPLOY_ENVIRONMENT, DEPLOY_IMAGE,
#      IMAGE_REPOSITORY (default ghcr.io/<GITHUB_REPOSITORY, lowercased>)
set -euo pipefail

die() {
  echo "deploy-target: $*" >&2
  exit 1
}

record="${RELEASE_RECORD:-}"
environment="${DEPLOY_ENVIRONMENT:-}"
image="${DEPLOY_IMAGE:-}"
repository="${IMAGE_REPOSITORY:-}"
if [[ -z "${repository}" && -n "${GITHUB_REPOSITORY:-}" ]]; then
  repository="ghcr.io/${GITHUB_REPOSITORY,,}"
fi
while (($#)); do
  case "$1" in
    --record) record="${2:?--record needs a file}"; shift 2 ;;
    --environment) environment="${2:?--environment needs a value}"; shift 2 ;;
    --image) image="${2:?--image needs a value}"; shift 2 ;;
    --repository) repository="${2:?--repository needs a value}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

commit=""
if [[ -n "${record}" ]]; then
  [[ -f "${record}" ]] || die "no release record at ${record}"
  [[ -z "${environment}${image}" ]] || die "--record decides the environment and the image: give neither"
  ref=""
  while IFS='=' read -r key value; do
    case "${key}" in
      reference) image="${value}" ;;
      commit) commit="${value}" ;;
      ref) ref="${value}" ;;
    esac
  done <"${record}"
  case "${ref}" in
    refs/heads/main) environment=dev ;;
    refs/tags/v*) environment=staging ;;
    *) die "the release of '${ref}' is deployed nowhere automatically (main goes to dev, v* tags to staging)" ;;
  esac
  [[ "${commit}" =~ ^[0-9a-f]{40}$ ]] || die "the release record has no commit sha"
else
  [[ -n "${environment}" && -n "${image}" ]] || die "give --record FILE, or --environment and --image"
fi

case "${environment}" in
  dev | staging | prod) ;;
  *) die "unknown environment '${environment}' (dev, staging or prod)" ;;
esac
if [[ "${image}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  [[ -n "${repository}" ]] || die "a bare digest needs --repository (or GITHUB_REPOSITORY)"
  image="${repository}@${image}"
fi
[[ "${image}" =~ ^[a-z0-9][a-z0-9._:/-]*@sha256:[0-9a-f]{64}$ && "${image%@*}" != */*:* ]] ||
  die "the image must be a repository pinned by digest (repo@sha256:<64 hex>), got '${image}'"

echo "deploy-target: ${environment} <- ${image}${commit:+ (commit ${commit})}"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'environment=%s\nimage=%s\ncommit=%s\n' "${environment}" "${image}" "${commit}" >>"${GITHUB_OUTPUT}"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  # shellcheck disable=SC2016 # Markdown backticks, not command substitution
  printf '### Deploy target\n\n- environment: `%s`\n- image: `%s`\n%s\n' "${environment}" "${image}" \
    "${commit:+- commit: \`${commit}\`}" >>"${GITHUB_STEP_SUMMARY}"
fi
