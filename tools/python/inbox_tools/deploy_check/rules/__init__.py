"""The spin-operator's rules and this app's rules, applied to one rendered overlay.

Each rule is a function ``(ctx) -> list[Finding]`` registered in :data:`RULES` under an id that
shows in its findings. The operator behaviour each rule mirrors is spin-operator v0.6.1
(``internal/webhook/spinapp_validating.go``, ``spinappexecutor_validating.go`` and
``internal/controller``): what its admission webhooks reject, and what its controller would
build that cannot work.

The rules live by concern in this package's modules (workloads, spin_toml, capacity, references,
forwarding); inbox_tools.deploy_check.rules.netpol is the NetworkPolicy reachability evaluator the forwarding
rules use, inbox_tools.deploy_check.rules.base the Context and the registry. Importing the package registers
every rule, in this order (the order of `list-rules` and of the findings).
"""

# Registration order = file order of the single module these came from (isort would reorder).
# isort: off
from inbox_tools.deploy_check.rules import workloads, spin_toml, capacity, references, forwarding  # noqa: F401 (registers)
# isort: on
from inbox_tools.deploy_check.rules.base import RULES, Context, Rule, rule, run_rules

__all__ = ["RULES", "Context", "Rule", "rule", "run_rules"]
