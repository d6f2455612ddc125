#!/usr/bin/env bash
# Pushes the app (spin.toml and its three components) to an OCI registry with
# `spin registry push`, once per tag, and reports the digest. The release workflow runs exactly
# this, and so does the end-to-end test that pushes to a local registry (e2e/tests/registry.rs).
#
#   scripts/push.sh [--insecure] [--build] IMAGE TAG [TAG...]
#
#   IMAGE       repository without tag, e.g. ghcr.io/acme/webhook-inbox or 127.0.0.1:5000/inbox
#   TAG         one or more tags; every tag points at the same digest
#   --build     run `spin build` first, stamping GIT_COMMIT (default: `git rev-parse HEAD`)
#               into the components; without it the release .wasm files must already exist
#   --insecure  plain-HTTP / self-signed registry (a local one)
#
# Env:  REGISTRY_USERNAME + REGISTRY_PASSWORD  log in first (the password goes in on stdin)
#       SPIN_BIN                              the spin binary (default: spin on PATH)
#       GITHUB_OUTPUT, GITHUB_STEP_SUMMARY    set by GitHub Actions: image=, digest=, reference=
#                                             outputs and a summary table are written there
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
SPIN="${SPIN_BIN:-spin}"
COMPONENTS=(health api webhook)
WASM_DIR=target/wasm32-wasip2/release

die() { printf 'push.sh: error: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }

usage() { sed -n '6,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

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

# A reference that already carries a tag or digest would turn IMAGE:TAG into nonsense.
[[ "${image##*/}" != *[:@]* ]] || die "IMAGE must not carry a tag or digest: ${image}"
[[ "${image}" == "${image,,}" ]] || die "OCI repository names are lowercase: ${image}"
for tag in "${tags[@]}"; do
  [[ "${tag}" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not a valid OCI tag: '${tag}'"
done
command -v "${SPIN}" >/dev/null || die "spin not found (install it: https://spinframework.dev/install, or set SPIN_BIN)"

if ((build)); then
  GIT_COMMIT="${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
  export GIT_COMMIT
  say "spin build (GIT_COMMIT=${GIT_COMMIT})"
  "${SPIN}" build >&2
fi
for component in "${COMPONENTS[@]}"; do
  [[ -f "${WASM_DIR}/${component}.wasm" ]] ||
    die "${WASM_DIR}/${component}.wasm is missing: build first (spin build) or pass --build"
done

if [[ -n "${REGISTRY_USERNAME:-}" && -n "${REGISTRY_PASSWORD:-}" ]]; then
  registry="${image%%/*}"
  say "spin registry login ${registry} as ${REGISTRY_USERNAME}"
  printf '%s' "${REGISTRY_PASSWORD}" |
    "${SPIN}" registry login "${registry}" --username "${REGISTRY_USERNAME}" --password-stdin >&2
fi

# Spin stamps each push with the wall-clock time (org.opencontainers.image.created), so two
# pushes of the same build get different digests. Pin it to the commit time instead: every tag
# then names one digest, and re-pushing an unchanged commit reproduces it.
revision="${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}"
created="$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)"
annotations=(--annotation "org.opencontainers.image.created=${created}")
[[ -z "${revision}" ]] || annotations+=(--annotation "org.opencontainers.image.revision=${revision}")
if [[ -n "${GITHUB_REPOSITORY:-}" ]]; then
  annotations+=(--annotation "org.opencontainers.image.source=${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY}")
fi

digest=""
for tag in "${tags[@]}"; do
  say "spin registry push ${image}:${tag}"
  output=$("${SPIN}" registry push "${insecure[@]}" "${annotations[@]}" "${image}:${tag}" 2>&1) || {
    printf '%s\n' "${output}" >&2
    die "push of ${image}:${tag} failed"
  }
  printf '%s\n' "${output}" >&2
  pushed=$(grep -oE 'sha256:[0-9a-f]{64}' <<<"${output}" | tail -n1 || true)
  [[ -n "${pushed}" ]] || die "spin did not report a digest for ${image}:${tag}"
  # With the annotations fixed, the same content has the same digest; a difference means the
  # inputs changed under us, and the tags would not name one artifact.
  [[ -z "${digest}" || "${digest}" == "${pushed}" ]] ||
    die "tags got different digests (${digest} vs ${pushed})"
  digest="${pushed}"
done

reference="${image}@${digest}"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  {
    echo "image=${image}"
    echo "digest=${digest}"
    echo "reference=${reference}"
  } >>"${GITHUB_OUTPUT}"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  {
    echo "### Pushed the app"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| reference | \`${reference}\` |"
    echo "| tags | $(printf "\`%s\` " "${tags[@]}") |"
    for component in "${COMPONENTS[@]}"; do
      echo "| ${component}.wasm | $(wc -c <"${WASM_DIR}/${component}.wasm") bytes |"
    done
  } >>"${GITHUB_STEP_SUMMARY}"
fi
say "pushed ${reference} (tags: ${tags[*]})"
echo "${reference}"
