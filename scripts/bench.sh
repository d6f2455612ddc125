#!/usr/bin/env bash
# The benchmark suite, one command:
#   ./scripts/bench.sh [--smoke] [--skip-build] [--out DIR] [--baseline-rev REV|none]
#                      [--only store,forwarding,retention]
#
# Builds the app, Spin's hello-world baseline and the native baseline, then measures size, cold
# start, throughput (closed loop), latency (open loop), memory and scaling side by side, and the
# event store against a previous revision (default 518f819, the layout before issue 19: built
# once under out/bench-baseline/, about 10 minutes on 2 cores), forwarding to one destination
# against none (issue 16) and a store capped by retention against an uncapped one (issue 17), and
# pods under the containerd shim and on a real kubelet (skipped, saying why, without root and the
# tools). bench/run.py runs the package inbox_tools.bench; its modules (tools/python/inbox_tools/
# bench/: run.py, layout.py, forwarding.py, retention.py, shim.py, kubelet.py) say how. Full run: about 30 minutes on 2 cores after the builds (the steps
# before the store's took about 15 in the run BENCHMARKS.md quotes, forwarding and retention
# about 12; the kubelet's clusters come on top); --smoke: every measurement once, tiny (the test
# command's `bench` step; about 6 minutes on 2 cores when last timed), the before/after part only
# if the baseline is already built (or REV is given); its forwarding and retention correctness
# checks fail it like errors do. Needs: spin (SPIN_BIN or PATH), cargo, git, python3; optional: docker-registry
# (artifact size), redis-server + redis-cli (Redis cells), hey (cross-check). Results: out/bench/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python3 bench/run.py "$@"
