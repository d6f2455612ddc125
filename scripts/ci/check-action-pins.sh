#!/usr/bin/env bash
# This project's own rules for action pins, beside zizmor (the lint step runs both): zizmor's
# unpinned-uses audit (.github/zizmor.yml: hash-pin for every action) already fails an action that
# is not pinned to a full commit sha. What it does not check, and this does:
#   - the version a sha stands for is written in a trailing comment
#     (`uses: owner/repo/path@<40-hex sha> # v1.2.3`), so a reader and the README's pin table
#     can tell what is running;
#   - one action is pinned to the same sha in every workflow.
# Local actions and workflows (`./...`, `$/...`) and `docker://` images are left to zizmor.
#
# Usage: scripts/ci/check-action-pins.sh [WORKFLOW...]    (default: .github/workflows/*.yml)
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
    [[ "${ref}" == ./* || "${ref}" == \$/* || "${ref}" == docker://* ]] && continue
    if [[ "${ref}" =~ ${pin_re} ]]; then
      action="${BASH_REMATCH[1],,}" sha="${BASH_REMATCH[2]}"
      if [[ -n "${pinned[${action}]:-}" && "${pinned[${action}]}" != "${sha}" ]]; then
        echo "${here}: ${action} pinned to ${sha}, but to ${pinned[${action}]} at ${where[${action}]}"
        bad=1
      fi
      pinned[${action}]="${sha}" where[${action}]="${here}"
    else
      echo "${here}: want a commit sha with its version in a trailing comment: uses: ${ref}"
      echo "    want: uses: owner/repo@<40-hex commit sha> # vX.Y.Z"
      bad=1
    fi
  done <"${file}"
done

if ((bad)); then
  echo "check-action-pins: FAIL"
  exit 1
fi
echo "check-action-pins: PASS (${count} uses: in $# workflow(s), ${#pinned[@]} distinct actions, each with its version and one sha)"
