"""webhook-inbox's Python: the checks, the release and deploy helpers, and the benchmark suite.

One package (distribution ``webhook-inbox-tools``, pyproject.toml at the repository root), installed
editable into ``.venv`` by the test command's python step (``pip install -e .``):

- :mod:`inbox_tools.spin_manifest`: the one model of spin.toml, and :mod:`inbox_tools.manifests`:
  the one model of rendered Kubernetes output (what every module below reads them with);
- :mod:`inbox_tools.components`: spin.toml's components as release artifacts (scripts/ci/components.py);
- :mod:`inbox_tools.deploy_manifest`: the YAML the deploy scripts read and write (deploy/manifest.py);
- :mod:`inbox_tools.deploy_check`: the offline deploy checks (scripts/check-deploy.sh);
- :mod:`inbox_tools.obscheck`: the offline observability checks (scripts/check-observability.sh);
- :mod:`inbox_tools.provider_lists` and :mod:`inbox_tools.provider_vectors`: what is generated from
  the provider catalogue (tools/provider-lists/provider_lists.py, tools/provider-vectors/vectors.py);
- :mod:`inbox_tools.bench`: the benchmark suite (scripts/bench.sh, bench/run.py).

The modules work on this checkout (``ROOT``), so the package is only ever installed editable. The
files named in brackets are the commands people and CI run: shims that run the module from the
checkout with any python3, without the virtualenv (GitHub's jobs run some with the runner's python3).
Those that need no virtualenv use the standard library only (PyYAML too for deploy_manifest).
"""

from pathlib import Path

# The repository this package is part of (tools/python/inbox_tools/ -> the root).
ROOT = Path(__file__).resolve().parents[3]
