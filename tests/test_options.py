"""The one option table: names, defaults and help kept; the parsers made from it; one endpoint and cookie parser; certify's hand-over."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from _pytest.config.argparsing import Parser

from conformance import catalog
from conformance.cli import certify
from conformance.cli.main import build_parser, main
from conformance.load.options import OptionError, options_from_args
from conformance.plugin import options
from conformance.plugin.options import ALL, CERTIFY, GROUPS, LOAD, OPTIONS, PYTEST, Option
from conformance.plugin.settings import BadOption, parse_cookie, parse_endpoint, settings_from_options

# Made before the one table existed, by the extraction below run on the old modules.
BEFORE = json.loads((Path(__file__).parent / "data" / "options_before.json").read_text())


# --- the extraction the snapshot was made with ----------------------------------------------------
def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def pytest_parser() -> Parser:
    parser = Parser(_ispytest=True)
    options.pytest_addoption(parser)
    return parser


def pytest_options() -> dict[str, dict[str, Any]]:
    out = {}
    for group in pytest_parser()._groups:
        for opt in group.options:
            a = opt.attrs()
            out[" ".join(opt.names())] = {
                "group": group.name, "default": _plain(a.get("default")), "help": a.get("help"),
                "metavar": a.get("metavar"), "choices": list(a["choices"]) if a.get("choices") else None,
                "action": a.get("action"), "type": getattr(a.get("type"), "__name__", None)}
    return out


def subparser(command: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def argparse_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def argparse_options(parser: argparse.ArgumentParser) -> dict[str, dict[str, Any]]:
    return {" ".join(act.option_strings): {
        "dest": act.dest, "default": _plain(act.default), "help": act.help, "metavar": act.metavar,
        "choices": list(act.choices) if act.choices else None, "action": type(act).__name__,
        "type": getattr(act.type, "__name__", None)} for act in argparse_actions(parser)}


def snapshot() -> dict[str, dict[str, Any]]:
    made = {"pytest": pytest_options(), "certify": argparse_options(subparser("certify")),
            "load": argparse_options(subparser("load"))}
    return json.loads(json.dumps(made))  # tuples become lists, as in the file


# --- every option keeps its name, default and help ------------------------------------------------
@pytest.mark.parametrize("surface", ["pytest", "certify", "load"])
def test_every_option_keeps_its_name_default_and_help(surface: str) -> None:
    now, before = snapshot()[surface], BEFORE[surface]
    assert sorted(now) == sorted(before), "the same flags"
    for flags, was in before.items():
        assert now[flags] == was, flags


# --- the parsers are made from the table ---------------------------------------------------------
@pytest.mark.parametrize("surface", [CERTIFY, LOAD])
def test_argparse_options_are_the_tables_entries(surface: str) -> None:
    parser = subparser(surface)
    made = {tuple(a.option_strings): a for a in argparse_actions(parser)}
    table = {o.flags: o for o in OPTIONS if surface in o.on}
    assert list(made) == list(table), "every option of the parser is a table entry, in the table's order"
    sections = {g.title: {tuple(a.option_strings) for a in g._group_actions} for g in parser._action_groups}
    for flags, option in table.items():
        action, keywords = made[flags], option.arguments(surface)
        assert action.dest == option.name and action.help == keywords.get("help"), flags
        assert action.metavar == keywords.get("metavar") and action.type is keywords.get("type"), flags
        if "default" in keywords:
            assert action.default == keywords["default"], flags
        group = next(g for g in GROUPS if g.name == option.group)
        title = group.sections[surface][0] if surface in group.sections else "options"
        assert flags in sections[title], f"{flags} in the {title!r} section"


def test_pytest_options_are_the_tables_entries_in_their_groups() -> None:
    made = {tuple(o.names()): (g.name, o) for g in pytest_parser()._groups for o in g.options}
    table = {o.flags: o for o in OPTIONS if PYTEST in o.on}
    assert list(made) == [f for g in GROUPS for f, o in table.items() if o.group == g.name]
    kinds = {None: "_StoreAction", "append": "_AppendAction", "store_true": "_StoreTrueAction"}
    for flags, option in table.items():
        group, made_option = made[flags]
        keywords = option.arguments(PYTEST)
        assert group == option.group and made_option.attrs()["help"] == keywords["help"], flags
        assert type(made_option._action).__name__ == kinds[option.action], flags
    assert [g.name for g in pytest_parser()._groups if g.options] == [g.name for g in GROUPS]


def test_an_entry_added_to_the_table_appears_on_its_surfaces_only(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = Option(("--probe-option",), "a probe", (PYTEST, LOAD), type=int, default=3, metavar="N",
                   overrides={LOAD: {"help": "load's probe"}})
    monkeypatch.setattr(options, "OPTIONS", (*OPTIONS, probe))
    now = snapshot()
    assert now["pytest"]["--probe-option"]["help"] == "a probe" and now["pytest"]["--probe-option"]["default"] == 3
    assert now["load"]["--probe-option"]["help"] == "load's probe"
    assert "--probe-option" not in now["certify"]
    monkeypatch.setattr(options, "OPTIONS", tuple(o for o in OPTIONS if o.flags != ("--sink-wait",)))
    assert all("--sink-wait" not in made for made in snapshot().values())


def test_the_table_is_consistent() -> None:
    for option in OPTIONS:
        assert option.on and set(option.on) <= set(ALL), option.flags
        assert set(option.overrides) <= set(option.on), f"{option.flags}: an override for a surface it is not on"
        assert option.group in {g.name for g in GROUPS}, option.flags
    for surface in ALL:
        names = [o.name for o in OPTIONS if surface in o.on]
        assert len(names) == len(set(names)), f"two options of {surface} land in one attribute"


def test_the_profile_choices_are_the_catalogs_selectable_profiles() -> None:
    assert options.PROFILE_CHOICES == ("core", "strict", "websdk", "network", "h2", "clients")
    assert set(options.PROFILE_CHOICES) | set(options.SWITCHED_ON_BY) == set(catalog.PROFILES)
    flags = {f for o in OPTIONS if PYTEST in o.on for f in o.flags}
    assert set(options.SWITCHED_ON_BY.values()) <= flags, "each is switched on by a real option"


# --- the endpoint and the cookie, parsed once ------------------------------------------------------
class FakeConfig:
    """The getoption of a pytest config, with the plugin's defaults."""

    def __init__(self, **given: Any) -> None:
        self.values = {o.name: o.arguments(PYTEST).get("default") for o in OPTIONS if PYTEST in o.on} | given

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def plugin_problem(**given: Any) -> str:
    with pytest.raises(pytest.UsageError) as caught:
        settings_from_options(FakeConfig(app_id="a", **given))  # type: ignore[arg-type]
    return str(caught.value)


def load_problem(*argv: str) -> str:
    args = subparser("load").parse_args(["--app-id", "a", *argv])
    with pytest.raises(OptionError) as caught:
        options_from_args(args)
    return str(caught.value)


def certify_problem(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        main(["certify", *argv])
    assert caught.value.code == 4
    err = capsys.readouterr().err.strip()
    assert err.startswith("certify: ") and "\n" not in err
    return err.removeprefix("certify: ")


@pytest.mark.parametrize("endpoint, message", [
    ("not a url", "--endpoint must be an http(s) URL like http://127.0.0.1:8080/collect, got 'not a url'"),
    ("ftp://h/c", "--endpoint must be an http(s) URL like http://127.0.0.1:8080/collect, got 'ftp://h/c'"),
    ("https://[::1/c", "--endpoint must be an http(s) URL like http://127.0.0.1:8080/collect, got 'https://[::1/c'"),
    ("http://h:99999/c", "--endpoint has a bad port: 'http://h:99999/c'"),
    ("http://h/c?appId=a", "--endpoint must not carry a query or fragment (the suite adds appId and the rest), "
                           "got 'http://h/c?appId=a'"),
])
def test_one_endpoint_check_with_one_message_everywhere(capsys: pytest.CaptureFixture[str], endpoint: str,
                                                        message: str) -> None:
    with pytest.raises(BadOption) as caught:
        parse_endpoint(endpoint)
    assert str(caught.value) == message
    assert plugin_problem(endpoint=endpoint) == message
    assert load_problem("--endpoint", endpoint) == message
    assert certify_problem(capsys, "--endpoint", endpoint, "--app-id", "a") == message


def test_a_good_endpoint_is_kept_as_given() -> None:
    for endpoint in ("http://127.0.0.1:8080/collect", "https://collector.example/", "http://[::1]:9/c"):
        assert parse_endpoint(endpoint) == endpoint


@pytest.mark.parametrize("text, cookie", [
    ("session=abc", ("session", "abc")),
    ("  session =abc", ("session", "abc")),
    ('session="abc"', ("session", '"abc"')),  # the value as it goes on the wire
    ("s=!#$%&'()*+-./:<=>?@[]^_`{|}~", ("s", "!#$%&'()*+-./:<=>?@[]^_`{|}~")),
    ("__Host-id.v2=x", ("__Host-id.v2", "x")),
])
def test_the_cookie_parser_accepts_rfc_6265_cookies(text: str, cookie: tuple[str, str]) -> None:
    assert parse_cookie(text) == cookie


SECRET = "S3CRET"


@pytest.mark.parametrize("text, fragment", [
    (SECRET, "must look like NAME=VALUE"),
    (f"={SECRET}", "must look like NAME=VALUE"),
    ("session=", "must look like NAME=VALUE"),
    ('session=""', "must look like NAME=VALUE"),
    (f"session={SECRET} x", "cannot carry"),
    (f"session={SECRET};x", "cannot carry"),
    (f"session={SECRET},x", "cannot carry"),
    (f"session={SECRET}\\x", "cannot carry"),
    (f"session={SECRET}\u00e9", "cannot carry"),
    (f"session={SECRET}\tx", "cannot carry"),
    (f'session="{SECRET}', "cannot carry"),
    (f'session={SECRET}"x"', "cannot carry"),
    (f"ses sion={SECRET}", "'ses sion' is not a valid cookie name"),
    (f"s(1)={SECRET}", "is not a valid cookie name"),
    (f"s\u00e9={SECRET}", "is not a valid cookie name"),
])
def test_the_cookie_parser_refuses_in_one_line_without_the_value(capsys: pytest.CaptureFixture[str], text: str,
                                                                 fragment: str) -> None:
    with pytest.raises(BadOption) as caught:
        parse_cookie(text)
    message = str(caught.value)
    assert fragment in message and SECRET not in message and "\n" not in message
    # The plugin, load and certify (both targets) say the same.
    assert plugin_problem(endpoint="http://127.0.0.1:9/c", auth_cookie=text) == message
    assert load_problem("--endpoint", "http://127.0.0.1:9/c", "--auth-cookie", text) == message
    assert certify_problem(capsys, "--endpoint", "http://127.0.0.1:9/c", "--app-id", "a",
                           "--auth-cookie", text) == message
    assert certify_problem(capsys, "--auth-cookie", text) == message


def test_no_suite_module_borrows_the_collectors_cookie_parser() -> None:
    suite = Path(catalog.__file__).parent
    borrowers = [p for p in suite.rglob("*.py") if "collector" not in p.relative_to(suite).parts
                 and "parse_auth_cookie" in p.read_text()]
    assert borrowers == []


# --- certify hands its values on to pytest --------------------------------------------------------
INI = str(Path(tempfile.gettempdir()) / "clickstream-conformance-empty.ini")
URL = "https://collector.example/collect"
# The pytest options that take a value, so that "--flag value" and "--flag=value" compare alike.
TAKES_VALUE = {"--endpoint", "--app-id", "--request-timeout", "--conformance-report", "-p", "--auth-cookie",
               "--origin", "--network-seconds", "--websdk-version", "--baseline", "--sink", "--sink-wait",
               "--sink-record", "--ca-cert", "--client-cert", "--client-key", "--proxy", "--summary-md",
               "--collector-command", "--har", "--har-body-cap", "--sign-key", "-c", "--rootdir"}


def units(argv: list[str]) -> list[str]:
    out, rest = [], list(argv)
    while rest:
        token = rest.pop(0)
        out.append(f"{token}={rest.pop(0)}" if token in TAKES_VALUE else token)
    return out


def assert_same_pytest_run(new: list[str], old: list[str]) -> None:
    """Each option before -c is given once (--profile aside, which pytest sorts), so pytest
    takes them in any order; from -c on (the ini, the rootdir, the extras) order counts:
    the extras come last so that they win."""
    new_units, old_units = units(new), units(old)
    new_cut, old_cut = new_units.index(f"-c={INI}"), old_units.index(f"-c={INI}")
    assert new_units[new_cut:] == old_units[old_cut:]
    assert sorted(new_units[:new_cut]) == sorted(old_units[:old_cut])
    flags = [u.split("=", 1)[0] for u in new_units[:new_cut] if not u.startswith("--profile=")]
    assert len(flags) == len(set(flags)), "no option twice"


def handed_over(monkeypatch: pytest.MonkeyPatch, cwd: Path, *argv: str) -> list[str]:
    monkeypatch.chdir(cwd)
    args = subparser("certify").parse_args(list(argv))
    return certify.pytest_args(args, args.endpoint or "http://127.0.0.1:5/collect", args.app_id or "shop_dev")


def test_hand_over_of_the_least(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    new = handed_over(monkeypatch, tmp_path, "--endpoint", URL, "--app-id", "a")
    assert_same_pytest_run(new, [
        "--endpoint", URL, "--app-id", "a", "--profile=core", "--request-timeout", "10.0",
        "--hypothesis-seed=20261126", "--conformance-report", "conformance-report", "-p", "no:cacheprovider", "-q",
        "--assert=plain", "-c", INI, "--rootdir", str(tmp_path.resolve())])


def test_hand_over_of_every_shared_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    here = tmp_path.resolve()
    new = handed_over(
        monkeypatch, tmp_path, "--endpoint", URL, "--app-id", "a", "--auth-cookie", "s=t", "--origin",
        "https://shop.example", "--profile", "strict", "--profile", "network", "--network-seconds", "2",
        "--websdk-version", "0.12.6", "--request-timeout", "2.5", "-o", "out", "--baseline", "b.json",
        "--sink", "jsonl:/tmp/s.jsonl", "--sink-wait", "3", "--sink-record", "body=data", "--collector-command",
        "run it", "--summary-md", "s.md", "--seed", "7", "--pytest-arg=-x", "--pytest-arg=--conformance-examples=5",
        "--har", "run.har", "--har-body-cap", "0", "--sign-key", "k.pem", "--ca-cert", "ca.pem",
        "--client-cert", "c.pem", "--client-key", "k2.pem", "--insecure", "--proxy", "http://p:3128")
    old = ["--endpoint", URL, "--app-id", "a", "--profile=strict", "--profile=network", "--request-timeout", "2.5",
           "--hypothesis-seed=7", "--conformance-report", "out", "-p", "no:cacheprovider", "-q", "--assert=plain",
           "--auth-cookie", "s=t", "--origin", "https://shop.example", "--network-seconds", "2.0",
           "--websdk-version", "0.12.6", "--baseline", "b.json",
           "--sink", "jsonl:/tmp/s.jsonl", "--sink-wait", "3.0", "--sink-record", "body=data",
           "--ca-cert", "ca.pem", "--client-cert", "c.pem", "--client-key", "k2.pem", "--proxy", "http://p:3128",
           "--insecure", "--summary-md", "s.md", "--collector-command", "run it", "--durability-seed=1790921346",
           "--har", str(here / "run.har"), "--har-body-cap", "0", "--sign-key", str(here / "k.pem"),
           "-c", INI, "--rootdir", str(tmp_path.resolve()), "-x", "--conformance-examples=5"]
    assert_same_pytest_run(new, old)
    shared = {o.flags[0] for o in options.shared(CERTIFY, PYTEST)}
    assert len(shared) == 22 and shared <= {u.split("=", 1)[0] for u in units(new)}


def test_hand_over_without_a_sink_in_github_actions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "/runner/summary.md")
    new = handed_over(monkeypatch, tmp_path, "--endpoint", URL, "--app-id", "a", "--profile", "h2",
                      "--sink-wait", "3", "--sink-record", "body=data", "--har-body-cap", "1024", "--output", "b",
                      "--network-seconds", "0", "--origin", "")
    assert_same_pytest_run(new, [
        "--endpoint", URL, "--app-id", "a", "--profile=h2", "--request-timeout", "10.0", "--hypothesis-seed=20261126",
        "--conformance-report", "b", "-p", "no:cacheprovider", "-q", "--assert=plain", "--network-seconds", "0.0",
        "--summary-md", "/runner/summary.md", "--har-body-cap", "1024", "-c", INI, "--rootdir", str(tmp_path.resolve())])
