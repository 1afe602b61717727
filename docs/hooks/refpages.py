"""The MkDocs hook that makes the reference pages and fills the reference markers, from the code.

The reference pages (docs/reference/) are committed, so they read on GitHub too, but
never written by hand: the build makes each again from the code, and a committed copy
that differs is a warning, which fails ``mkdocs build --strict``. Refresh them with

    .venv/bin/python docs/hooks/refpages.py            # --check: only name the stale ones

Any page may hold a marker such as ``<!-- reference: catalog core -->``; the build puts
the generated table there (see MARKERS).
"""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any, Callable

import reftables as t

from conformance import catalog
from conformance.plugin import options as table

DOCS = Path(__file__).resolve().parents[1]
HEADER = ("<!-- Made by docs/hooks/refpages.py from {source}; do not edit: run "
          "`.venv/bin/python docs/hooks/refpages.py` after changing the source. -->\n\n")
MARKER = re.compile(r"<!--\s*reference:\s*([^>]*?)\s*-->")
log = logging.getLogger("mkdocs.hooks.refpages")  # under "mkdocs": --strict counts its warnings


# --- the pages ---------------------------------------------------------------------------------------
def requirements_page() -> str:
    doc = catalog.API_DOCUMENT
    parts = [HEADER.format(source="conformance/catalog.py"), "# Requirement catalog\n",
             f"Every requirement the suite checks: {len(catalog.REQUIREMENTS)} in all ({t.catalog_counts()}). "
             "Each case names the IDs it checks, and a self-test fails when a MUST or SHOULD requirement has no "
             "case. `clickstream-conformance requirements` prints the same catalog (`--profile P` for one "
             "profile); `grep -rn ID conformance/` finds where an ID is checked.\n",
             f"The sections are those of the {doc['title']} document (`{doc['file']}`, sha256 "
             f"`{doc['sha256'][:16]}...`); the catalog cites them and quotes none. Its digest, which "
             f"results.json records as `catalog.digest`, is `{catalog.digest()}`.\n"]
    for profile in catalog.PROFILES:
        parts += [f"## {profile}\n", f"[The {profile} profile](../profiles/{profile}.md).\n",
                  t.catalog_table(profile) + "\n"]
    return "\n".join(parts)


def options_page() -> str:
    parts = [HEADER.format(source="conformance/plugin/options.py (OPTIONS) and conformance/collector/serve.py"),
             "# Options\n",
             "Every option of every command. pytest, `certify` and `load` share one option table "
             "(`conformance/plugin/options.py`), so an option keeps its name and default wherever it appears; "
             "a command may word its help more briefly. `certify` hands every option it shares with pytest on "
             "to pytest. The reference collector's options come from its own parser (`serve.py`), since the "
             "collector imports nothing of the suite.\n"]
    for surface in (table.PYTEST, table.CERTIFY, table.LOAD):
        parts += [f"## {surface}\n", f"`{t.SURFACE_COMMANDS[surface]}`\n", t.surface_tables(surface) + "\n"]
    parts += ["## serve\n", f"`{t.SURFACE_COMMANDS['serve']}`: [the reference collector](../collector.md).\n",
              t.options_table(t.serve_rows()) + "\n", "## Other commands\n"]
    for name, parser in t.other_commands():
        about = [parser.description + "\n"] if parser.description else []
        parts += [f"### {name}\n", f"`clickstream-conformance {name}`\n", *about,
                  t.options_table(t.rows_of_parser(parser)) + "\n"]
    return "\n".join(parts)


def action_page() -> str:
    return "\n".join([HEADER.format(source="action.yml"), "# GitHub Action\n",
                      "The inputs and outputs of the composite action (`action.yml`); "
                      "[the CI gate page](../ci-gate.md) shows it in a workflow.\n",
                      "## Inputs\n", t.action_inputs_table() + "\n", "## Outputs\n", t.action_outputs_table() + "\n"])


def results_page() -> str:
    root = t.schema()
    parts = [HEADER.format(source="conformance/plugin/results.schema.json"), "# results.json\n",
             f"{root['description']}\n",
             f"The format is `{root['properties']['format']['const']}`. Its JSON Schema (draft 2020-12) ships "
             "in the package as `conformance/plugin/results.schema.json`, and the self-tests hold real bundles "
             "to it. [The certification bundle](../bundle.md) says what else a bundle holds.\n",
             "## The top level\n", t.results_top_table() + "\n"]
    for name, rows in t.results_sections():
        parts += [f"## {name}\n", rows + "\n"]
    return "\n".join(parts)


PAGES: dict[str, Callable[[], str]] = {
    "reference/requirements.md": requirements_page,
    "reference/options.md": options_page,
    "reference/action.md": action_page,
    "reference/results-json.md": results_page,
}


# --- markers in hand-written pages --------------------------------------------------------------------
MARKERS: dict[str, Callable[..., str]] = {
    "catalog": t.catalog_table,                   # catalog PROFILE
    # options SURFACE [GROUP | --flag ...]: every option of a command, one group, or the flags named
    "options": lambda surface, *picks: (t.some_options_table(surface, *picks) if picks
                                        else t.surface_tables(surface, "####")),
    "serve": lambda: t.options_table(t.serve_rows()),
    "action-inputs": t.action_inputs_table,
    "action-outputs": t.action_outputs_table,
}


def expand(markdown: str, where: str) -> str:
    """``markdown`` with each reference marker replaced by its table; a bad marker is a warning."""
    def one(match: re.Match[str]) -> str:
        kind, *args = match.group(1).split()
        try:
            return "\n" + MARKERS[kind](*args) + "\n"
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("%s: bad reference marker %r (%s)", where, match.group(0), exc)
            return match.group(0)
    return MARKER.sub(one, markdown)


# --- MkDocs hooks ------------------------------------------------------------------------------------
def on_files(files: Any, config: Any) -> Any:
    """Serve each reference page as made now; say when the committed copy is stale or missing."""
    from mkdocs.structure.files import File
    for path, make in PAGES.items():
        fresh, found = make(), files.get_file_from_path(path)
        if found is None:
            log.warning("docs/%s is missing: run .venv/bin/python docs/hooks/refpages.py", path)
            files.append(File.generated(config, path, content=fresh))
        elif found.content_string != fresh:
            log.warning("docs/%s is stale: run .venv/bin/python docs/hooks/refpages.py", path)
            found.content_string = fresh
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown, page.file.src_uri)


# --- the command ---------------------------------------------------------------------------------------
def stale() -> list[str]:
    """The committed reference pages that differ from what the code makes now."""
    return [path for path, make in PAGES.items()
            if not (DOCS / path).is_file() or (DOCS / path).read_text(encoding="utf-8") != make()]


def write() -> list[str]:
    """Write every reference page that changed; return their paths."""
    changed = stale()
    for path in changed:
        (DOCS / path).parent.mkdir(parents=True, exist_ok=True)
        (DOCS / path).write_text(PAGES[path](), encoding="utf-8")
    return changed


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        names = stale()
        print("\n".join(f"stale: docs/{p}" for p in names) or "every reference page is current")
        return 1 if names else 0
    print("\n".join(f"wrote docs/{p}" for p in write()) or "every reference page is current")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
