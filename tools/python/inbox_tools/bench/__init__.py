"""The benchmark suite (BENCHMARKS.md): ``scripts/bench.sh`` runs :mod:`inbox_tools.bench.run`.

:mod:`~inbox_tools.bench.common` holds the helpers every step shares (output, server processes,
load cells, the app's API); the steps are :mod:`~inbox_tools.bench.layout` (the event store),
:mod:`~inbox_tools.bench.forwarding`, :mod:`~inbox_tools.bench.retention`,
:mod:`~inbox_tools.bench.shim` (the containerd shim) and :mod:`~inbox_tools.bench.kubelet` (a real
kubelet). Standard library only: the suite runs with any python3 >= 3.11 (bench/run.py).
"""
