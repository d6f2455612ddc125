"""Offline checks for the webhook-inbox SpinKube manifests.

Three families of checks, each a sub-command of ``python -m inbox_tools.deploy_check``:

- ``rules``: the spin-operator's admission and reconcile rules plus this app's own rules, applied
  to the rendered output of one kustomize overlay (see :mod:`inbox_tools.deploy_check.rules`);
- ``crd-schema``: SpinApp/SpinAppExecutor (and any other kind whose CRD is supplied) against the
  CRD's openAPIV3Schema with unknown fields rejected, like the API server's strict field
  validation (see :mod:`inbox_tools.deploy_check.crd_schema`);
- ``k8s-schema``: built-in kinds against the Kubernetes OpenAPI schemas shipped by the
  ``kubernetes-validate`` package (see :mod:`inbox_tools.deploy_check.k8s_schema`).
"""

__version__ = "0.1.0"
