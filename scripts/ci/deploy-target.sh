#!/usr/bin/env bash
# Decides what the deploy workflow deploys where, and writes it as step outputs (GITHUB_OUTPUT:
# environment, images, commits) and into the run summary. A release is one artifact per
# component, so `images` is a list of COMPONENT=REPO@sha256:<digest> pairs and `commits` a list of
# COMPONENT=<stamp> pairs (the commit each component's liveness path reports):
#   after a release   --ref REF --images LIST --commits LIST (release.yml passes its push job's
#                     outputs), or --record FILE (the release.env of scripts/ci/release-push.sh,
#                     also the artifact `release-digest`): a push to main goes to dev, a vX.Y.Z
#                     tag to staging; prod is always promoted by hand
#   by hand           --environment dev|staging|prod --images LIST, each REF a repo@sha256:<digest>
#                     or a bare sha256:<digest> of --repository (REPO/<component>@sha256:...)
#
# Usage: scripts/ci/deploy-target.sh --ref REF --images LIST [--commits LIST]
#        scripts/ci/deploy-target.sh --record FILE
#        scripts/ci/deploy-target.sh --environment ENV --images LIST [--repository REPO]
# Env (used when the option is not given): DEPLOY_REF, DEPLOY_IMAGES, DEPLOY_COMMITS,
#      RELEASE_RECORD, DEPLOY_ENVIRONMENT, IMAGE_REPOSITORY (default ghcr.io/<GITHUB_REPOSITORY,
#      lowercased>)
set -euo pipefail

die() {
  echo "deploy-target: $*" >&2
  exit 1
}

record="${RELEASE_RECORD:-}"
environment="${DEPLOY_ENVIRONMENT:-}"
images="${DEPLOY_IMAGES:-}"
commits="${DEPLOY_COMMITS:-}"
ref="${DEPLOY_REF:-}"
repository="${IMAGE_REPOSITORY:-}"
if [[ -z "${repository}" && -n "${GITHUB_REPOSITORY:-}" ]]; then
  repository="ghcr.io/${GITHUB_REPOSITORY,,}"
fi
while (($#)); do
  case "$1" in
    --record) record="${2:?--record needs a file}"; shift 2 ;;
    --environment) environment="${2:?--environment needs a value}"; shift 2 ;;
    --images) images="${2:?--images needs a value}"; shift 2 ;;
    --commits) commits="${2?--commits needs a value}"; shift 2 ;;
    --ref) ref="${2:?--ref needs a value}"; shift 2 ;;
    --repository) repository="${2:?--repository needs a value}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if [[ -n "${record}" ]]; then
  [[ -f "${record}" ]] || die "no release record at ${record}"
  [[ -z "${environment}${images}" ]] || die "--record decides the environment and the images: give neither"
  declare -A rec=()
  while IFS='=' read -r key value; do
    [[ -n "${key}" ]] && rec[${key}]="${value}"
  done <"${record}"
  ref="${rec[ref]:-}"
  images="${rec[references]:-}"
  commits=""
  for component in ${rec[components]:-}; do
    commits+="${commits:+ }${component}=${rec[commit_${component}]:-}"
  done
fi

if [[ -n "${ref}" && -z "${environment}" ]]; then
  case "${ref}" in
    refs/heads/main) environment=dev ;;
    refs/tags/v*) environment=staging ;;
    *) die "the release of '${ref}' is deployed nowhere automatically (main goes to dev, v* tags to staging)" ;;
  esac
fi
[[ -n "${environment}" && -n "${images}" ]] || die "give --record FILE, --ref and --images, or --environment and --images"
case "${environment}" in
  dev | staging | prod) ;;
  *) die "unknown environment '${environment}' (dev, staging or prod)" ;;
esac

declare -A seen=()
resolved=()
for item in ${images}; do
  [[ "${item}" == *=* ]] || die "each image is COMPONENT=REF (one artifact per component), got '${item}'"
  component="${item%%=*}" image="${item#*=}"
  [[ "${component}" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "not a component id: '${component}'"
  [[ -z "${seen[${component}]:-}" ]] || die "component ${component} is named twice"
  seen[${component}]=1
  if [[ "${image}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
    [[ -n "${repository}" ]] || die "a bare digest needs --repository (or GITHUB_REPOSITORY)"
    image="${repository}/${component}@${image}"
  fi
  [[ "${image}" =~ ^[a-z0-9][a-z0-9._:/-]*@sha256:[0-9a-f]{64}$ && "${image%@*}" != */*:* ]] ||
    die "the image of ${component} must be a repository pinned by digest (repo@sha256:<64 hex>), got '${image}'"
  resolved+=("${component}=${image}")
done
((${#resolved[@]})) || die "no image given"
for item in ${commits}; do
  sha="${item#*=}"
  [[ "${item}" == *=* && ( -z "${sha}" || "${sha}" =~ ^[0-9a-f]{40}(-dirty)?$ ) ]] ||
    die "each commit is COMPONENT=<40-hex sha>, got '${item}'"
  [[ "${sha}" != *-dirty ]] || die "component ${item%%=*} was built from uncommitted changes: not deployable"
done

echo "deploy-target: ${environment} <- ${resolved[*]}${commits:+ (stamps ${commits})}"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'environment=%s\nimages=%s\ncommits=%s\n' "${environment}" "${resolved[*]}" "${commits}" >>"${GITHUB_OUTPUT}"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  # shellcheck disable=SC2016 # Markdown backticks, not command substitution
  {
    printf '### Deploy target\n\n- environment: `%s`\n' "${environment}"
    for item in "${resolved[@]}"; do
      printf -- '- %s: `%s`\n' "${item%%=*}" "${item#*=}"
    done
  } >>"${GITHUB_STEP_SUMMARY}"
fi
