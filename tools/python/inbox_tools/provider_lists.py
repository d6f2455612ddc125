"""Every hand-read list of providers, written from the provider catalogue.

The providers are declared once, in crates/provider-catalogue/src/catalogue.rs (`Provider::ALL`).
Files that Spin, kustomize, the collector or a person read as they are cannot compute that list,
so this tool writes it into them, between a `BEGIN generated` and an `END generated` line:

  spin.toml (and its deploy-check fixture copy)   [variables]: `webhook_<slug>_secret = { default = "",
                                                  secret = true }`; [component.webhook.variables]: each one
  kustomize/base/spinapps.yaml                    the webhook SpinApp's secretKeyRef variables (every
                                                  provider after the first three `optional: true`)
  kustomize/external-refs.yaml                    webhook-inbox-secrets' keys, for every overlay
  deploy/dev-secrets.env.example                  a fake secret per provider, in its secret's format
  scripts/dev                                     each provider's secret variable and format (for .env)
  kustomize/components/observability/collector-config.yaml
                                                  the one transform statement that sets webhook.provider
                                                  from /webhooks/<slug>, for the catalogue's slugs only
  docs/providers.md                               the provider table (whole file)

  tools/provider-lists/provider_lists.py --write   rewrite those blocks
  tools/provider-lists/provider_lists.py --check   exit 1, naming each stale file, when a block is
                                                   not what --write writes (run by the `unit` step
                                                   of scripts/test.sh, after tests/)

(`python -m inbox_tools.provider_lists` is the same.)

Options: --catalogue FILE reads the catalogue from FILE (the JSON the `catalogue` bin prints) instead
of running `cargo run -q -p provider-catalogue --bin catalogue`; --root DIR works on another copy.
Standard library only (Python >= 3.11).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inbox_tools import ROOT

TOOL = "tools/provider-lists/provider_lists.py"
CATALOGUE = "crates/provider-catalogue/src/catalogue.rs"
# The providers whose Secret keys every cluster already had before the others were added: their
# secretKeyRefs stay required (a Secret without them fails the pod instead of silently switching
# them off); every other provider's key is optional (absent: that provider answers 404).
REQUIRED = ("github", "stripe", "standard")
# The Secret's keys that are not providers' (external-refs.yaml): the API token, the forwarding
# destinations and the dispatch token (both optional).
OTHER_SECRET_KEYS = ("api_token", "forward_destinations", "forward_dispatch_token")

Row = dict[str, Any]


def load_catalogue(root: Path, path: Path | None) -> list[Row]:
    """The catalogue's rows, in `Provider::ALL` order."""
    if path is not None:
        text = path.read_text(encoding="utf-8")
    else:
        text = subprocess.run(
            ["cargo", "run", "-q", "-p", "provider-catalogue", "--bin", "catalogue"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    rows = json.loads(text)
    if not rows or not all(re.fullmatch(r"[a-z0-9]+", row["slug"]) for row in rows):
        raise SystemExit(f"{TOOL}: the catalogue has no rows, or a slug that is not [a-z0-9]+")
    return rows


# --- what each block holds ---------------------------------------------------------------------


def spin_variables(rows: list[Row]) -> list[str]:
    return [f'{row["secret_variable"]} = {{ default = "", secret = true }}' for row in rows]


def spin_webhook_variables(rows: list[Row]) -> list[str]:
    return [f'{row["secret_variable"]} = "{{{{ {row["secret_variable"]} }}}}"' for row in rows]


def spinapp_variables(rows: list[Row]) -> list[str]:
    lines: list[str] = []
    for row in rows:
        name = row["secret_variable"]
        lines += [
            f"- name: {name}",
            "  valueFrom:",
            "    secretKeyRef:",
            "      name: webhook-inbox-secrets",
            f"      key: {name}",
        ]
        if row["slug"] not in REQUIRED:
            lines.append("      optional: true")
    return lines


def external_keys(rows: list[Row]) -> list[str]:
    keys = [OTHER_SECRET_KEYS[0], *(row["secret_variable"] for row in rows), *OTHER_SECRET_KEYS[1:]]
    wrapped = textwrap.wrap(", ".join(keys), width=100, break_on_hyphens=False, break_long_words=False)
    lines = [f"keys: [{wrapped[0]}"] + [f"       {line}" for line in wrapped[1:]]
    lines[-1] += "]"
    return lines


def fake_secret(row: Row) -> str:
    """A fake example value of the provider's secret format (never a real secret)."""
    text = f"dev-{row['slug']}-secret-CHANGE-ME"
    encoded = base64.b64encode(text.encode()).decode()
    return {
        "text": text,
        "standard-webhooks": f"whsec_{encoded}",
        "base64": encoded,
        "basic": f"dev-{row['slug']}:CHANGE-ME",
    }[row["secret_format"]]


def env_example(rows: list[Row]) -> list[str]:
    return [f"{row['secret_variable']}={fake_secret(row)}" for row in rows]


def dev_formats(rows: list[Row]) -> list[str]:
    return ["provider_secrets='"] + [f"{row['secret_variable']} {row['secret_format']}" for row in rows] + ["'"]


def collector_statement(rows: list[Row]) -> list[str]:
    """One OTTL statement: webhook.provider is the slug of exactly `/webhooks/<slug>`, for the
    catalogue's slugs (an alternation per line, each line an `or`, so no line is too long and the
    folded scalar's line breaks fall between conditions)."""
    slugs = [row["slug"] for row in rows]
    groups = textwrap.wrap(" ".join(slugs), width=56)
    lines = [
        "- >-",
        '  set(attributes["webhook.provider"],',
        '  ExtractPatterns(attributes["url.path"], "^/webhooks/(?P<provider>[a-z0-9]+)$")["provider"])',
    ]
    for at, group in enumerate(groups):
        keyword = "where" if at == 0 else "or"
        lines.append(f'  {keyword} IsMatch(attributes["url.path"], "^/webhooks/({group.replace(" ", "|")})$")')
    return lines


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def providers_md(rows: list[Row]) -> list[str]:
    lines = [
        "<!-- checked: providers -->",
        "| provider | name | scheme family | secret variable | handshake | proof | documented at |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        proof = row["proof"] if row["sdk"] is None else f"{row['proof']} (`{row['sdk']}`)"
        handshake = f"`{row['handshake']}`" if row["handshake"] else "none"
        lines.append(
            f"| {row['slug']} | {cell(row['name'])} | `{row['family']}` | `{row['secret_variable']}` "
            f"| {handshake} | {proof} | [docs]({row['docs']}) |"
        )
    return lines


# --- where each block goes ---------------------------------------------------------------------

# (file, block name, comment prefix, render); a block name may occur several times in a file
# (external-refs.yaml: once per overlay), each occurrence written at its BEGIN line's indentation.
BLOCKS: list[tuple[str, str, str, Callable[[list[Row]], list[str]]]] = [
    ("spin.toml", "provider secret variables", "#", spin_variables),
    ("spin.toml", "webhook provider secrets", "#", spin_webhook_variables),
    ("tools/deploy-check/tests/fixtures/spin.toml", "provider secret variables", "#", spin_variables),
    ("tools/deploy-check/tests/fixtures/spin.toml", "webhook provider secrets", "#", spin_webhook_variables),
    ("kustomize/base/spinapps.yaml", "webhook provider secrets", "#", spinapp_variables),
    ("kustomize/external-refs.yaml", "webhook-inbox-secrets keys", "#", external_keys),
    ("deploy/dev-secrets.env.example", "provider secrets", "#", env_example),
    ("scripts/dev", "provider secret formats", "#", dev_formats),
    ("kustomize/components/observability/collector-config.yaml", "webhook.provider", "#", collector_statement),
    ("docs/providers.md", "provider table", "<!--", providers_md),
]


def markers(prefix: str, name: str) -> tuple[str, str]:
    if prefix == "<!--":
        return (f"<!-- BEGIN generated: {name} ({TOOL} --write) -->", f"<!-- END generated: {name} -->")
    return (f"{prefix} BEGIN generated: {name} ({TOOL} --write)", f"{prefix} END generated: {name}")


def rewrite(text: str, prefix: str, name: str, body: list[str]) -> tuple[str, int]:
    """`text` with every `name` block's lines replaced by `body`, and how many blocks it has."""
    begin, end = markers(prefix, name)
    out: list[str] = []
    lines = text.split("\n")
    found = 0
    at = 0
    while at < len(lines):
        line = lines[at]
        out.append(line)
        at += 1
        if line.strip() != begin:
            continue
        found += 1
        indent = line[: len(line) - len(line.lstrip())]
        while at < len(lines) and lines[at].strip() != end:
            at += 1
        if at == len(lines):
            raise SystemExit(f"{TOOL}: a `{begin}` without its `{end}`")
        out.extend(f"{indent}{body_line}" if body_line else "" for body_line in body)
    return "\n".join(out), found


def generate(root: Path, rows: list[Row]) -> dict[str, str]:
    """Every target file's text as --write leaves it."""
    texts: dict[str, str] = {}
    for path, name, prefix, render in BLOCKS:
        text = texts.get(path)
        if text is None:
            text = (root / path).read_text(encoding="utf-8")
        text, found = rewrite(text, prefix, name, render(rows))
        if not found:
            raise SystemExit(f"{TOOL}: {path} has no `{markers(prefix, name)[0]}` block")
        texts[path] = text
    return texts


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    mode.add_argument("--check", action="store_true", help="fail when a generated block is stale")
    parser.add_argument("--catalogue", type=Path, help="the catalogue JSON (default: run the catalogue bin)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    args = parser.parse_args(argv)
    rows = load_catalogue(args.root, args.catalogue)
    stale = []
    for path, text in generate(args.root, rows).items():
        if (args.root / path).read_text(encoding="utf-8") != text:
            stale.append(path)
            if args.write:
                (args.root / path).write_text(text, encoding="utf-8")
    if args.check and stale:
        for path in stale:
            print(f"{path}: a generated provider list is stale", file=sys.stderr)
        print(f"run `python3 {TOOL} --write` and commit the result", file=sys.stderr)
        return 1
    verb = "rewrote" if args.write else "checked"
    print(f"{TOOL}: {len(rows)} providers; {verb} {', '.join(stale) if args.write else 'every block'}"
          if stale or args.check else f"{TOOL}: {len(rows)} providers; every block up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
