#!/usr/bin/env python3
"""`bench/run.py ARGS...` runs tools/python/inbox_tools/bench/run.py: the same as
`python -m inbox_tools.bench.run ARGS...` with the project's package installed.

A shim, so that the command works from any checkout with any python3 >= 3.11, without the project's
virtualenv or an install (some callers, GitHub's jobs among them, run it with the system python3):
it runs the module of this checkout, whose package root it puts first on PYTHONPATH.
"""

import os
import sys
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1] / "tools" / "python")
PYTHONPATH = os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
ARGV = [sys.executable, "-m", "inbox_tools.bench.run", *sys.argv[1:]]
os.execve(sys.executable, ARGV, {**os.environ, "PYTHONPATH": PYTHONPATH})
