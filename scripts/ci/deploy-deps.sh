#!/usr/bin/env bash
# Installs what deploy/*.sh need beside kubectl and curl (deploy/requirements.txt: PyYAML, which
# deploy/manifest.py reads and writes the manifests with) into the Python on PATH. The deploy
# workflow runs it after actions/setup-python.
#
# Usage: scripts/ci/deploy-deps.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) echo "deploy-deps: unknown argument '$1'" >&2; exit 2 ;;
esac
echo "deploy-deps: pip install -r deploy/requirements.txt"
python3 -m pip install --quiet --disable-pip-version-check -r deploy/requirements.txt
python3 -c 'import yaml; print("deploy-deps: PyYAML", yaml.__version__)'
