#!/usr/bin/env bash
# The benchmark suite, one command: ./scripts/bench.sh [--smoke] [--skip-build] [--out DIR]
#
# Builds the app, Spin's hello-world baseline and the native baseline, then measures size, cold
# start, throughput/latency, memory and scaling side by side (bench/run.py says how). Full run:
# about 6 minutes on 2 cores after the builds; --smoke: about a minute, every measurement once.
# Needs: spin (SPIN_BIN or PATH), cargo, python3; optional: docker-registry (artifact size),
# redis-server + redis-cli (Redis scaling), hey (cross-check). Results: out/bench/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python3 bench/run.py "$@"
