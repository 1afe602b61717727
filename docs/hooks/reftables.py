"""The docs' reference tables, made from the code: catalog, option table, parsers, action.yml, results schema.

Nothing here is written by hand: each table reads the object that declares what it
shows, so the docs cannot say what the code does not.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

import conformance.plugin
from conformance import catalog
from conformance.collector.serve import add_serve_arguments
from conformance.plugin import options as table

ACTION_FILE = Path(__file__).resolve().parents[2] / "action.yml"
SCHEMA_FILE = Path(conformance.plugin.__file__).parent / "results.schema.json"  # as the package ships it
SURFACE_COMMANDS = {table.PYTEST: "pytest", table.CERTIFY: "clickstream-conformance certify",
                    table.LOAD: "clickstream-conformance load", "serve": "clickstream-conformance serve"}
NOT_SET = "not set"
NO_HELP = "(its parser gives no help)"


# --- Markdown ---------------------------------------------------------------------------------
def cell(text: Any) -> str:
    """A table cell: one line, its pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def code(text: Any) -> str:
    return f"`{text}`"


# --- the requirement catalog --------------------------------------------------------------------
def catalog_table(profile: str) -> str:
    """One profile's requirements: ID, level, statement, section."""
    if profile not in catalog.PROFILES:
        raise ValueError(f"{profile!r} is none of {catalog.PROFILES}")
    rows = [(code(r.id), r.level, r.statement, r.section) for r in catalog.REQUIREMENTS if r.profile == profile]
    return markdown_table(("ID", "level", "requirement", "section of the API document"), rows)


def catalog_counts() -> str:
    levels = [sum(r.level == level for r in catalog.REQUIREMENTS) for level in catalog.LEVELS]
    return ", ".join(f"{n} {level}" for n, level in zip(levels, catalog.LEVELS))


# --- options ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One option as a surface's parser takes it."""

    flags: tuple[str, ...]
    help: str
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    action: str | None = None
    positional: bool = False
    repeated: bool = False  # a positional that takes one or more values

    def usage(self) -> str:
        """`--flag METAVAR`, each spelling; the choices where there is no metavar."""
        if self.action in ("store_true", "store_false"):
            return ", ".join(code(f) for f in self.flags)
        choices = "{" + ",".join(self.choices) + "}" if self.choices else None
        value = self.metavar or choices or self.flags[0].lstrip("-").upper()
        if self.positional:
            return code(value + (" ..." if self.repeated else ""))
        return ", ".join(code(f"{f} {value}") for f in self.flags)

    def default_text(self) -> str:
        if self.positional:
            return "required"
        if self.action in ("store_true", "store_false"):
            return "off"
        if self.default in (None, [], ()):
            return NOT_SET
        value = self.default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return code(value)

    def cells(self) -> tuple[str, str, str]:
        return self.usage(), self.default_text(), plain_help(self.help) or NO_HELP


def plain_help(text: str) -> str:
    """Help as argparse prints it: ``%%`` is a percent sign."""
    return text.replace("%%", "%")


def row_of(option: table.Option, surface: str) -> Row:
    """``option`` with ``surface``'s overrides; a surface that shows no help gets the option's own."""
    kw = option.arguments(surface)
    return Row(option.flags, kw.get("help") or option.help or "", kw.get("default"), kw.get("metavar"),
               kw.get("choices"), kw.get("action"))


ACTIONS = {argparse._StoreTrueAction: "store_true", argparse._StoreFalseAction: "store_false",
           argparse._AppendAction: "append"}


def rows_of_parser(parser: argparse.ArgumentParser) -> list[Row]:
    """Every option and positional of an argparse parser, in its order."""
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        choices = tuple(action.choices) if action.choices else None
        metavar = action.metavar or (None if choices or action.option_strings else action.dest.upper())
        rows.append(Row(tuple(action.option_strings) or (action.dest,), action.help or "", action.default,
                        metavar, choices, ACTIONS.get(type(action)), positional=not action.option_strings,
                        repeated=action.nargs in ("+", "*")))
    return rows


def option_sections(surface: str) -> list[tuple[str | None, list[Row]]]:
    """The surface's options by the sections its help shows: pytest's groups, argparse's groups
    (options of no group first, under None)."""
    sections: dict[str | None, list[Row]] = {}
    for option in surface_options(surface):
        group = next(g for g in table.GROUPS if g.name == option.group)
        title = group.title if surface == table.PYTEST else group.sections.get(surface, (None,))[0]
        sections.setdefault(title, []).append(row_of(option, surface))
    return sorted(sections.items(), key=lambda item: item[0] is not None)


def options_table(rows: Iterable[Row]) -> str:
    return markdown_table(("option", "default", "what it does"), (r.cells() for r in rows))


def surface_options(surface: str) -> tuple[table.Option, ...]:
    if surface not in table.ALL:
        raise ValueError(f"{surface!r} is none of {table.ALL}")
    return table.on_surface(surface)


def some_options_table(surface: str, *picks: str) -> str:
    """A few of a surface's options: one group (``tls``, ``clickstream-network``) or the flags named."""
    if picks and picks[0].startswith("--"):
        chosen = [o for o in surface_options(surface) if set(o.flags) & set(picks)]
        if len(chosen) != len(picks):
            raise ValueError(f"not every one of {picks} is an option of {surface}")
    else:
        chosen = [o for o in surface_options(surface) if o.group in picks]
        if len(picks) != 1 or not chosen:
            raise ValueError(f"{picks} is not one option group of {surface}")
    return options_table(row_of(o, surface) for o in chosen)


def surface_tables(surface: str, heading: str = "###") -> str:
    """Every option of a surface, a table per section."""
    parts = []
    for title, rows in option_sections(surface):
        if title is not None:
            parts.append(f"{heading} {title}")
        parts.append(options_table(rows))
    return "\n\n".join(parts)


def serve_rows() -> list[Row]:
    """The reference collector's options, read from the parser serve.py builds."""
    parser = argparse.ArgumentParser(add_help=False)
    add_serve_arguments(parser)
    return rows_of_parser(parser)


def other_commands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """The CLI's subcommands besides certify, load and serve, from its own parser."""
    from conformance.cli.main import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        if name not in ("certify", "load", "serve"):
            yield name, parser


# --- the GitHub Action ----------------------------------------------------------------------------
def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION_FILE.read_text(encoding="utf-8"))


def action_inputs_table() -> str:
    rows = [(code(name), code(spec["default"]) if spec.get("default") else "empty", spec.get("description", ""))
            for name, spec in action()["inputs"].items()]
    return markdown_table(("input", "default", "what it does"), rows)


def action_outputs_table() -> str:
    rows = [(code(name), spec.get("description", "")) for name, spec in action()["outputs"].items()]
    return markdown_table(("output", "what it holds"), rows)


# --- results.json, from its schema -------------------------------------------------------------
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def type_text(node: dict[str, Any], root: dict[str, Any]) -> str:
    """A schema node's type in a few words: string, null or object, one of `A`, `B`, array of ..."""
    node = resolve(node, root)
    if "const" in node:
        return code(json.dumps(node["const"]))
    if "enum" in node:
        return "one of " + ", ".join(code(v) for v in node["enum"])
    if "oneOf" in node:
        return " or ".join(type_text(n, root) for n in node["oneOf"])
    kind = node.get("type", "any")
    if kind == "array":
        return "array of " + (type_text(node["items"], root) if "items" in node else "pairs")
    return " or ".join(kind) if isinstance(kind, list) else kind


def nested_object(node: dict[str, Any], root: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(path suffix, object) when a field holds objects with named fields: itself, in a list, or as a map's values."""
    node = resolve(node, root)
    for choice in node.get("oneOf", ()):
        if resolve(choice, root).get("type") != "null":
            return nested_object(choice, root)
    if "properties" in node:
        return "", node
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        found = nested_object(node["items"], root)
        return ("[]" + found[0], found[1]) if found else None
    values = node.get("additionalProperties")
    if isinstance(values, dict) and "properties" in resolve(values, root):
        return ".KEY", resolve(values, root)
    return None


def field_rows(node: dict[str, Any], root: dict[str, Any], prefix: str) -> Iterator[tuple[str, str, str]]:
    """(path, type, meaning) of every field below ``node``, depth first."""
    required = set(node.get("required", ()))
    for name, sub in node["properties"].items():
        path = f"{prefix}.{name}" if prefix else name
        meaning = sub.get("description") or resolve(sub, root).get("description", "")
        if name not in required:
            meaning = f"(optional) {meaning}"
        yield code(path), type_text(sub, root), meaning
        found = nested_object(sub, root)
        if found:
            yield from field_rows(found[1], root, path + found[0])


def results_sections() -> Iterator[tuple[str, str]]:
    """(top-level field, table of its fields) for each top-level field that holds objects."""
    root = schema()
    for name, sub in root["properties"].items():
        found = nested_object(sub, root)
        if found:
            yield name, markdown_table(("field", "type", "meaning"), field_rows(found[1], root, name + found[0]))


def results_top_table() -> str:
    root = schema()
    rows = [(code(name), type_text(sub, root), sub.get("description", "")) for name, sub in root["properties"].items()]
    return markdown_table(("field", "type", "meaning"), rows)
