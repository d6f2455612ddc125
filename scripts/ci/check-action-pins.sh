#!/usr/bin/env bash
# Every action a workflow uses is pinned to a full 40-hex commit sha with the version it stands for
# in a trailing comment (`uses: owner/repo/path@<sha> # v1.2.3`), and the same action to the same
# sha in every workflow. A tag or a branch can be moved after review; a commit sha cannot.
# Local actions (`./...`) are exempt; `docker://` images must be pinned by digest.
#
# Usage: scripts/ci/check-action-pins.sh [WORKFLOW...]    (default: .github/workflows/*.yml)
# Run by the lint step of ./scripts/test.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if (($# == 0)); then
  set -- .github/workflows/*.yml
fi

declare -A pinned=() where=()
bad=0 count=0
pin_re='^([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@([0-9a-f]{40})[[:space:]]+#[[:space:]]*([^[:space:]].*)$'
for file in "$@"; do
  lineno=0
  while IFS= read -r line || [[ -n "${line}" ]]; do
    lineno=$((lineno + 1))
    [[ "${line}" =~ ^[[:space:]]*(-[[:space:]]+)?uses:[[:space:]]*(.*)$ ]] || continue
    ref="${BASH_REMATCH[2]}"
    ref="${ref%"${ref##*[![:space:]]}"}"
    ref="${ref#[\"\']}" && ref="${ref/[\"\']/}"
    here="${file}:${lineno}"
    count=$((count + 1))
    if [[ "${ref}" == ./* ]]; then
      continue
    elif [[ "${ref}" == docker://* ]]; then
      [[ "${ref}" =~ @sha256:[0-9a-f]{64}([[:space:]]|$) ]] || {
        echo "${here}: docker image not pinned by digest: ${ref}"
        bad=1
      }
    elif [[ "${ref}" =~ ${pin_re} ]]; then
      action="${BASH_REMATCH[1],,}" sha="${BASH_REMATCH[2]}"
      if [[ -n "${pinned[${action}]:-}" && "${pinned[${action}]}" != "${sha}" ]]; then
        echo "${here}: ${action} pinned to ${sha}, but to ${pinned[${action}]} at ${where[${action}]}"
        bad=1
      fi
      pinned[${action}]="${sha}" where[${action}]="${here}"
    else
      echo "${here}: not pinned to a full commit sha with its version in a comment: uses: ${ref}"
      echo "    want: uses: owner/repo@<40-hex commit sha> # vX.Y.Z"
      bad=1
    fi
  done <"${file}"
done

if ((bad)); then
  echo "check-action-pins: FAIL"
  exit 1
fi
echo "check-action-pins: PASS (${count} uses: in $# workflow(s), ${#pinned[@]} distinct actions, all pinned by sha)"
