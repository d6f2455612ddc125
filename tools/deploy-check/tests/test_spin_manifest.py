"""spin.toml parsing and Spin route matching."""

from decimal import Decimal

import pytest

from inbox_tools.deploy_check.quantity import QuantityError, parse_quantity
from inbox_tools.spin_manifest import ManifestError, Route, SpinManifest, best_route, route_matches


def test_parses_variables_components_and_routes(spin: SpinManifest) -> None:
    assert spin.variables["api_token"].secret and spin.variables["api_token"].has_default
    assert not spin.variables["log_level"].secret
    assert set(spin.components) == {"health", "api", "webhook", "console", "forwarder", "ticker"}
    assert {"log_level", "api_token"} <= spin.components["api"].app_variables
    assert "api_token" not in spin.components["health"].app_variables
    assert spin.components["webhook"].key_value_stores == ["default"]
    assert spin.components["console"].key_value_stores == []
    assert {r.path for r in spin.routes if r.component == "health"} == {"/..."}
    assert spin.components["health"].serves == ["/healthz", "/readyz"]
    # allowed_outbound_hosts as written, and which variables they are templated on.
    assert spin.components["webhook"].allowed_outbound_hosts == ["{{ forward_dispatch_url }}"]
    assert spin.components["webhook"].outbound_templates() == {"forward_dispatch_url"}
    forwarder = spin.components["forwarder"]
    assert "http://127.0.0.1:*" in forwarder.allowed_outbound_hosts
    assert forwarder.outbound_templates() == {f"forward_allowed_host_{s}" for s in "abcd"}
    assert forwarder.outbound_app_variables("forward_allowed_host_a") == {"forward_allowed_host_a"}
    assert spin.components["console"].allowed_outbound_hosts == []
    # The ticker: no route; its tool table says the cluster runs it on a command trigger in the
    # forwarder's artifact.
    ticker = spin.components["ticker"]
    assert not any(r.component == "ticker" for r in spin.routes)
    assert (ticker.trigger, ticker.carried_with) == ("command", "forwarder")
    assert spin.carried_by("forwarder") == ["ticker"] and spin.carried_by("api") == []
    assert ticker.allowed_outbound_hosts == ["http://127.0.0.1:80"] and ticker.app_variables == {"api_token"}
    assert (spin.components["forwarder"].trigger, spin.components["forwarder"].carried_with) == (None, None)


@pytest.mark.parametrize(
    ("route", "path", "expected"),
    [
        ("/healthz", "/healthz", True),
        ("/healthz", "/healthz/x", False),
        ("/api/...", "/api", True),
        ("/api/...", "/api/events/1", True),
        ("/api/...", "/apiary", False),
        ("/...", "/anything/at/all", True),
        ("/...", "/", True),
        ("/users/:id", "/users/7", True),
        ("/users/:id", "/users/7/x", False),
        ("/api/...", "/api/events?x=1", True),
    ],
)
def test_route_matches(route: str, path: str, expected: bool) -> None:
    assert route_matches(route, path) is expected


def test_best_route_prefers_exact_then_longest_wildcard(spin: SpinManifest) -> None:
    # Exact routes win over wildcards: the console's document and the forwarder's tick under /api.
    assert best_route(spin.routes, "/api/openapi.json").component == "console"
    assert best_route(spin.routes, "/api/dispatch").component == "forwarder"
    assert best_route(spin.routes, "/healthz").is_catch_all
    assert best_route(spin.routes, "/api/events").component == "api"
    assert best_route(spin.routes, "/nope").is_catch_all
    # Without the health component nothing catches unknown paths.
    assert best_route(spin.routes, "/nope", {"api", "webhook"}) is None
    # Filtering components can change the winner: /api/x falls through to health's catch-all.
    assert best_route(spin.routes, "/api/x", {"health"}).is_catch_all


def test_private_routes_serve_nothing() -> None:
    assert best_route([Route(path="", component="x", private=True)], "/") is None


def base_manifest() -> dict:
    return {
        "spin_manifest_version": 2,
        "variables": {"a": {"default": "1"}},
        "trigger": {"http": [{"route": "/...", "component": "c"}]},
        "component": {"c": {"variables": {"a": "{{ a }}"}}},
    }


def test_rejects_manifest_version_1() -> None:
    data = base_manifest()
    data["spin_manifest_version"] = 1
    with pytest.raises(ManifestError, match="must be 2"):
        SpinManifest.from_dict(data)


def test_rejects_undeclared_variable_reference() -> None:
    data = base_manifest()
    data["component"]["c"]["variables"]["b"] = "prefix-{{ missing }}"
    with pytest.raises(ManifestError, match="undeclared variable 'missing'"):
        SpinManifest.from_dict(data)


def test_rejects_trigger_for_unknown_component() -> None:
    data = base_manifest()
    data["trigger"]["http"].append({"route": "/x", "component": "ghost"})
    with pytest.raises(ManifestError, match="unknown component 'ghost'"):
        SpinManifest.from_dict(data)


def test_multiple_template_references() -> None:
    data = base_manifest()
    data["variables"]["b"] = {"required": True}
    data["component"]["c"]["variables"]["ab"] = "{{a}}:{{ b }}"
    assert SpinManifest.from_dict(data).components["c"].app_variables == {"a", "b"}


@pytest.mark.parametrize(
    ("text", "value"),
    [("128Mi", 128 * 2**20), ("1Gi", 2**30), ("500m", "0.5"), ("2", 2), ("1e3", 1000), ("1.5k", 1500), (3, 3)],
)
def test_quantities(text, value) -> None:

    assert parse_quantity(text) == Decimal(str(value))


@pytest.mark.parametrize("text", ["12 Mi", "Mi", "1.2.3", "", True, None])
def test_bad_quantities(text) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_reads_the_paths_a_catch_all_declares_it_serves() -> None:
    manifest = SpinManifest.from_dict(
        {
            "spin_manifest_version": 2,
            "trigger": {"http": [{"route": "/...", "component": "health"}]},
            "component": {"health": {"source": "h.wasm", "tool": {"deploy-check": {"serves": ["/healthz"]}}}},
        }
    )
    assert manifest.components["health"].serves == ["/healthz"]
    assert SpinManifest.from_dict(
        {"spin_manifest_version": 2, "component": {"api": {"source": "a.wasm"}}}
    ).components["api"].serves == []


def test_a_carried_component_must_ride_with_a_known_component() -> None:
    data = {
        "spin_manifest_version": 2,
        "component": {"t": {"source": "t.wasm", "tool": {"webhook-inbox": {"trigger": "command", "with": "nope"}}}},
    }
    with pytest.raises(ManifestError, match="is not a component"):
        SpinManifest.from_dict(data)
