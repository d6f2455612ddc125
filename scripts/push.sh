#!/usr/bin/env bash
# Pushes every component of spin.toml as its own OCI artifact, IMAGE/<component>, with
# `spin registry push`, once per tag, and reports one digest per component. Each artifact is a
# Spin app holding only that component (its manifest derived from spin.toml at push time by
# scripts/ci/components.py), so a SpinApp runs the artifact of its own component and a release
# that leaves a component unchanged leaves its digest, and its pods, unchanged. The release
# workflow runs exactly this, and so does the end-to-end test that pushes to a local registry
# (e2e/tests/e2e/registry.rs).
#
#   scripts/push.sh [--insecure] [--build] IMAGE TAG [TAG...]
#
#   IMAGE       repository prefix without tag, e.g. ghcr.io/acme/webhook-inbox: the components go
#               to ghcr.io/acme/webhook-inbox/health, .../api, ...
#   TAG         one or more tags; every tag of a component points at the same digest
#   --build     build first (scripts/ci/build-component.sh: each component stamped with its own
#               commit, reproducibly); without it the release .wasm files must already exist
#   --insecure  plain-HTTP / self-signed registry (a local one)
#
# Env:  REGISTRY_USERNAME + REGISTRY_PASSWORD  log in first (the password goes in on stdin)
#       SPIN_BIN                              the spin binary (default: spin on PATH)
#       GITHUB_OUTPUT, GITHUB_STEP_SUMMARY    set by GitHub Actions: image=, components=, and per
#                                             component digest_<c>=, reference_<c>=, commit_<c>=,
#                                             then references= (all `<c>=<ref>` pairs); a summary
# Standard output: one `<component>=IMAGE/<component>@sha256:...` line per component.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
SPIN="${SPIN_BIN:-spin}"
COMPONENTS_PY=(python3 scripts/ci/components.py)

die() { printf 'push.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }

usage() { sed -n '11,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

insecure=()
build=0
positional=()
while (($#)); do
  case "$1" in
    --insecure) insecure=(--insecure); shift ;;
    --build) build=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done
((${#positional[@]} >= 2)) || { usage >&2; die "need IMAGE and at least one TAG"; }
image="${positional[0]}"
tags=("${positional[@]:1}")

# A reference that already carries a tag or digest would turn IMAGE/<c>:TAG into nonsense.
[[ "${image##*/}" != *[:@]* ]] || die "IMAGE must not carry a tag or digest: ${image}"
[[ "${image}" == "${image,,}" ]] || die "OCI repository names are lowercase: ${image}"
for tag in "${tags[@]}"; do
  [[ "${tag}" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not a valid OCI tag: '${tag}'"
done
command -v "${SPIN}" >/dev/null || die "spin not found (install it: https://spinframework.dev/install, or set SPIN_BIN)"
mapfile -t components < <("${COMPONENTS_PY[@]}" list)
((${#components[@]})) || die "spin.toml has no component"
say "components of spin.toml: ${components[*]}"

if ((build)); then
  scripts/ci/build-component.sh "${components[@]}" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
for component in "${components[@]}"; do
  # Fails with "build it first" when the component's .wasm is missing.
  "${COMPONENTS_PY[@]}" manifest "${component}" "${work}/${component}" >/dev/null ||
    die "could not derive the manifest of ${component} (build first, or pass --build)"
done

if [[ -n "${REGISTRY_USERNAME:-}" && -n "${REGISTRY_PASSWORD:-}" ]]; then
  registry="${image%%/*}"
  say "spin registry login ${registry} as ${REGISTRY_USERNAME}"
  printf '%s' "${REGISTRY_PASSWORD}" |
    "${SPIN}" registry login "${registry}" --username "${REGISTRY_USERNAME}" --password-stdin >&2
fi

declare -A digest_of=() commit_of=()
for component in "${components[@]}"; do
  # Spin stamps each push with the wall-clock time (org.opencontainers.image.created) unless told
  # otherwise: pin it, and the revision, to the component's own stamp (the newest commit that
  # changed what it is built from). An unchanged component then gets the same artifact, byte for
  # byte, and the same digest; the release commit is in the tags instead.
  stamp="$("${COMPONENTS_PY[@]}" stamp "${component}")"
  created="$("${COMPONENTS_PY[@]}" stamp-time "${component}")"
  annotations=(
    --annotation "org.opencontainers.image.created=${created}"
    --annotation "org.opencontainers.image.revision=${stamp}"
    --annotation "org.opencontainers.image.title=${component}"
  )
  if [[ -n "${GITHUB_REPOSITORY:-}" ]]; then
    annotations+=(--annotation "org.opencontainers.image.source=${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY}")
  fi
  digest=""
  for tag in "${tags[@]}"; do
    say "spin registry push ${image}/${component}:${tag} (stamp ${stamp})"
    output=$("${SPIN}" registry push "${insecure[@]}" "${annotations[@]}" \
      -f "${work}/${component}/spin.toml" "${image}/${component}:${tag}" 2>&1) || {
      printf '%s\n' "${output}" >&2
      die "push of ${image}/${component}:${tag} failed"
    }
    printf '%s\n' "${output}" >&2
    pushed=$(grep -oE 'sha256:[0-9a-f]{64}' <<<"${output}" | tail -n1 || true)
    [[ -n "${pushed}" ]] || die "spin did not report a digest for ${image}/${component}:${tag}"
    # With the annotations fixed, the same content has the same digest; a difference means the
    # inputs changed under us, and the tags would not name one artifact.
    [[ -z "${digest}" || "${digest}" == "${pushed}" ]] ||
      die "tags of ${component} got different digests (${digest} vs ${pushed})"
    digest="${pushed}"
  done
  digest_of[${component}]="${digest}"
  commit_of[${component}]="${stamp}"
done

references=()
for component in "${components[@]}"; do
  references+=("${component}=${image}/${component}@${digest_of[${component}]}")
done
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  {
    echo "image=${image}"
    echo "components=${components[*]}"
    for component in "${components[@]}"; do
      echo "digest_${component}=${digest_of[${component}]}"
      echo "reference_${component}=${image}/${component}@${digest_of[${component}]}"
      echo "commit_${component}=${commit_of[${component}]}"
    done
    echo "references=${references[*]}"
  } >>"${GITHUB_OUTPUT}"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  {
    echo "### Pushed one artifact per component"
    echo
    echo "Tags: $(printf "\`%s\` " "${tags[@]}")"
    echo
    echo "| component | reference | stamp (/healthz commit) | .wasm bytes |"
    echo "|---|---|---|---:|"
    for component in "${components[@]}"; do
      # One size per component the artifact holds (the forwarder's: forwarder + ticker).
      bytes="$(sed -n 's/^source = "\(.*\)"$/\1/p' "${work}/${component}/spin.toml" |
        while IFS= read -r wasm; do wc -c <"${work}/${component}/${wasm}"; done | paste -sd+ -)"
      echo "| ${component} | \`${image}/${component}@${digest_of[${component}]}\` | \`${commit_of[${component}]}\` | ${bytes} |"
    done
    echo
    echo "To deploy these by hand: \`${references[*]}\`"
  } >>"${GITHUB_STEP_SUMMARY}"
fi
say "pushed ${#components[@]} artifacts (tags: ${tags[*]})"
printf '%s\n' "${references[@]}"
