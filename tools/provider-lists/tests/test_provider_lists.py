"""provider_lists.py on a copy of the repository's target files and a made-up catalogue: --write
fills every block, --check passes then, and fails when a provider is added to the catalogue or a
generated line is edited by hand. Standard library only: `PYTHONPATH=tools/python python3 -m
unittest discover -s tools/provider-lists/tests` (scripts/test.sh's unit step), or pytest in .venv."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
import unittest
from pathlib import Path

from inbox_tools import ROOT as REPO
from inbox_tools import provider_lists


def row(slug: str, name: str, secret_format: str = "text") -> dict:
    return {
        "slug": slug,
        "name": name,
        "docs": f"https://{slug}.example/webhooks",
        "family": "hmac-body",
        "secret_variable": f"webhook_{slug}_secret",
        "secret_format": secret_format,
        "handshake": None,
        "proof": "computed-vector",
        "sdk": None,
    }


class ProviderLists(unittest.TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.root)
        for path in {path for path, *_ in provider_lists.BLOCKS}:
            (self.root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / path, self.root / path)
        self.rows = [row("github", "GitHub"), row("standard", "Standard Webhooks", "standard-webhooks")]
        self.catalogue = self.root / "catalogue.json"

    def run_tool(self, *args: str) -> int:
        self.catalogue.write_text(json.dumps(self.rows))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return provider_lists.main([*args, "--catalogue", str(self.catalogue), "--root", str(self.root)])

    def test_write_then_check(self) -> None:
        self.assertEqual(self.run_tool("--write"), 0)
        self.assertEqual(self.run_tool("--check"), 0)
        spin = (self.root / "spin.toml").read_text()
        self.assertIn('webhook_standard_secret = { default = "", secret = true }', spin)
        self.assertNotIn("webhook_stripe_secret", spin)
        env = (self.root / "deploy/dev-secrets.env.example").read_text()
        self.assertIn("webhook_standard_secret=whsec_", env)
        self.assertIn("webhook_standard_secret standard-webhooks", (self.root / "scripts/dev").read_text())
        collector = self.root / "kustomize/components/observability/collector-config.yaml"
        self.assertIn('"^/webhooks/(github|standard)$"', collector.read_text())

    def test_a_new_provider_makes_every_list_stale(self) -> None:
        self.assertEqual(self.run_tool("--write"), 0)
        self.rows.append(row("acme", "Acme"))
        self.assertEqual(self.run_tool("--check"), 1)
        self.assertEqual(self.run_tool("--write"), 0)
        for path in {path for path, *_ in provider_lists.BLOCKS}:
            self.assertIn("acme", (self.root / path).read_text(), path)
        spinapps = (self.root / "kustomize/base/spinapps.yaml").read_text()
        self.assertIn("key: webhook_acme_secret\n          optional: true", spinapps)
        self.assertNotIn("key: webhook_github_secret\n          optional: true", spinapps)

    def test_a_hand_edit_is_stale(self) -> None:
        self.assertEqual(self.run_tool("--write"), 0)
        docs = self.root / "docs/providers.md"
        docs.write_text(docs.read_text().replace("| github | GitHub |", "| github | Github |"))
        self.assertEqual(self.run_tool("--check"), 1)


if __name__ == "__main__":
    unittest.main()
