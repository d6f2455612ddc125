#!/usr/bin/env bash
# The release workflow's push of the app to the registry, runnable the same from a laptop:
#   tags      the commit sha; on refs/heads/main also `main` (the dev overlay's moving tag); on a
#             tag refs/tags/vX.Y.Z also X.Y.Z (the version, without the `v`)
#   push      scripts/push.sh IMAGE TAG... (one artifact per component, IMAGE/<component>, from
#             the prebuilt target/wasm32-wasip2/release/*.wasm; logs in when REGISTRY_USERNAME
#             and REGISTRY_PASSWORD are set)
#   record    what was pushed, as key=value lines: to GITHUB_OUTPUT (image, components, and per
#             component digest_<c>, reference_<c>, commit_<c> (its stamp), references, commits, tags,
#             commit, ref, version) and, with --record DIR, to DIR/release.env for the deploy
#             workflow
#
# Usage: scripts/ci/release-push.sh [--record DIR] [--dry-run] [--insecure] [--build]
#   --dry-run           print the push that would run, push nothing
#   --insecure --build  passed to scripts/push.sh (a plain-HTTP registry; spin build first)
# Env: IMAGE        default ghcr.io/<GITHUB_REPOSITORY, lowercased> (GHCR wants lowercase)
#      GITHUB_SHA   the commit (default: git rev-parse HEAD)
#      GITHUB_REF   refs/heads/<branch> or refs/tags/<tag> (default: the checkout's branch)
#      PUSH_SH      the push script (default: scripts/push.sh)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${root}"

die() {
  echo "release-push: $*" >&2
  exit 1
}

record_dir=""
dry_run=0
push_flags=()
while (($#)); do
  case "$1" in
    --record) record_dir="${2:?--record needs a folder}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --insecure | --build) push_flags+=("$1"); shift ;;
    -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if [[ -z "${IMAGE:-}" ]]; then
  [[ -n "${GITHUB_REPOSITORY:-}" ]] || die "set IMAGE (e.g. ghcr.io/you/webhook-inbox) or GITHUB_REPOSITORY (owner/name)"
  IMAGE="ghcr.io/${GITHUB_REPOSITORY,,}"
fi
[[ "${IMAGE}" =~ ^[a-z0-9][a-z0-9._:/-]*$ && "${IMAGE##*/}" != *:* ]] ||
  die "IMAGE must be a lowercase repository without tag or digest, got '${IMAGE}'"
commit="${GITHUB_SHA:-$(git rev-parse HEAD)}"
[[ "${commit}" =~ ^[0-9a-f]{40}$ ]] || die "GITHUB_SHA must be a full commit sha, got '${commit}'"
ref="${GITHUB_REF:-refs/heads/$(git rev-parse --abbrev-ref HEAD)}"

tags=("${commit}")
version=""
case "${ref}" in
  refs/heads/main) tags+=(main) ;;
  refs/tags/v*)
    version="${ref#refs/tags/v}"
    # An OCI tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} (so no semver `+build` metadata).
    [[ "${version}" =~ ^[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}$ ]] || die "tag ${ref#refs/tags/} gives '${version}', not a valid image tag"
    tags+=("${version}")
    ;;
esac

push_sh="${PUSH_SH:-scripts/push.sh}"
echo "release-push: ${push_sh} ${push_flags[*]:+${push_flags[*]} }${IMAGE} ${tags[*]}"
if ((dry_run)); then
  echo "release-push: --dry-run, nothing pushed"
  exit 0
fi
[[ -x "${push_sh}" ]] || die "${push_sh} is missing or not executable"

# scripts/push.sh writes image=, components=, digest_<c>=, reference_<c>=, commit_<c>=,
# references= to GITHUB_OUTPUT: give it a private file, check it, then pass it on.
outputs="$(mktemp)"
trap 'rm -f "${outputs}"' EXIT
GITHUB_OUTPUT="${outputs}" "${push_sh}" ${push_flags[@]+"${push_flags[@]}"} "${IMAGE}" "${tags[@]}"
declare -A out=()
while IFS='=' read -r key value; do
  [[ -n "${key}" ]] && out[${key}]="${value}"
done <"${outputs}"
[[ "${out[image]:-}" == "${IMAGE}" ]] || die "${push_sh} reported image '${out[image]:-}', expected ${IMAGE}"
read -r -a components <<<"${out[components]:-}"
((${#components[@]})) || die "${push_sh} reported no component"
for component in "${components[@]}"; do
  digest="${out[digest_${component}]:-}"
  [[ "${digest}" =~ ^sha256:[0-9a-f]{64}$ ]] || die "${push_sh} reported no digest for ${component} (got '${digest}')"
  [[ "${out[reference_${component}]:-}" == "${IMAGE}/${component}@${digest}" ]] ||
    die "${push_sh} reported reference '${out[reference_${component}]:-}' for ${component}; expected ${IMAGE}/${component}@${digest}"
done

record="$(
  printf 'image=%s\ncomponents=%s\n' "${IMAGE}" "${components[*]}"
  for component in "${components[@]}"; do
    printf 'digest_%s=%s\nreference_%s=%s\ncommit_%s=%s\n' \
      "${component}" "${out[digest_${component}]}" "${component}" "${out[reference_${component}]}" \
      "${component}" "${out[commit_${component}]:-}"
  done
  stamps=()
  for component in "${components[@]}"; do stamps+=("${component}=${out[commit_${component}]:-}"); done
  printf 'references=%s\ncommits=%s\ntags=%s\ncommit=%s\nref=%s\nversion=%s\n' \
    "${out[references]:-}" "${stamps[*]}" "${tags[*]}" "${commit}" "${ref}" "${version}"
)"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf '%s\n' "${record}" >>"${GITHUB_OUTPUT}"
fi
if [[ -n "${record_dir}" ]]; then
  mkdir -p "${record_dir}"
  printf '%s\n' "${record}" >"${record_dir}/release.env"
  echo "release-push: recorded in ${record_dir}/release.env"
fi
echo "release-push: ${out[references]:-} (tags: ${tags[*]})"
