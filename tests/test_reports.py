"""The reports layer: bundle, manifest, report.html, comparison and their commands.

Everything here is offline: results are built the way the plugin builds them
(RunResults over case dicts holding real Exchange records), never by a run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance import catalog
from conformance.wire.exchange import Exchange
from conformance.plugin.results import RunResults
from conformance.target import Settings
from conformance.reports.bundle import clear_bundle_dir, verify_bundle, write_bundle
from conformance.reports.commands import add_commands
from conformance.reports.compare import compare_bundles
from conformance.reports.evidence import case_evidence_html
from conformance.reports.html import render_report
from conformance.reports.markup import case_anchor

ENDPOINT = "http://127.0.0.1:8080/collect"
FAILING_ENDPOINT = "http://127.0.0.1:9090/collect"
COOKIE_SECRET = "c00kie-s3cret-value"
HOSTILE = "<script>alert('x')</script>"
JUNIT = '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="1"/></testsuites>\n'


# --------------------------------------------------------------------------- sample results


def exchange(case: str, status: int | None = 200, body: bytes = b'[{"event_type":"_page_view"}]',
             response_body: bytes = b"", outcome: str = "answered", detail: str = "") -> dict[str, Any]:
    """An exchange as the plugin stores it (Exchange.to_dict), plus its curl command."""
    ex = Exchange(
        case=case, method="POST", url=f"{ENDPOINT}?platform=Web&appId=shop_dev&compression=",
        request_headers=[("Host", "127.0.0.1:8080"), ("Content-Type", "application/json; charset=utf-8"),
                         ("Cookie", "session=<redacted>"), ("Content-Length", str(len(body)))],
        body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest(),
        body_excerpt=body.decode("utf-8", "replace")[:200], outcome=outcome, detail=detail,
        status=status, reason={200: "OK", 204: "No Content", 500: "Internal Server Error"}.get(status or 0, ""),
        response_headers=[("Content-Length", str(len(response_body)))] if status else [],
        response_body=response_body, response_body_size=len(response_body),
        response_body_excerpt=response_body.decode("utf-8", "replace"), elapsed=0.0123,
        _body=body, _auto_headers=("host", "content-length"),
    )
    return {**ex.to_dict(), "curl": ex.curl()}


def case(name: str, requirements: list[str], outcome: str, message: str = "",
         observations: list[dict[str, str]] | None = None, exchanges: list[dict[str, Any]] | None = None,
         failure: dict[str, Any] | None = None, level: str | None = None) -> dict[str, Any]:
    """A case result with the keys EndpointMode.judge gives it."""
    exchanges = exchanges if exchanges is not None else [exchange(name)]
    return {
        "nodeid": f"conformance/cases/{name.split('::')[0]}.py::{name.split('::')[1]}",
        "case": name, "area": name.split("::")[0], "doc": f"Checks {', '.join(requirements)}.",
        "requirements": requirements,
        "level": level or max((catalog.get(r).level for r in requirements),
                              key=("INFO", "SHOULD", "MUST").index),
        "outcome": outcome, "message": message, "failure": failure, "warnings": [],
        "observations": observations or [], "held": [],
        "exchange_count": len(exchanges) + (40 if outcome == "FAIL" else 0),
        "exchanges": exchanges, "duration": 0.25,
    }


def info_cases() -> list[dict[str, Any]]:
    return [
        case("size::test_grey_zone[1048576]", ["CS-SIZE-GREY"], "INFO", "1,048,576 bytes: 413",
             [{"text": "1,048,576 bytes: 413", "key": "size limit as measured", "value": "1,000,001 bytes refused"}]),
        case("robustness::test_invalid_body[malformed-json]", ["CS-VALIDATES-BODY"], "INFO",
             "malformed-json: 400", [{"text": "malformed-json: 400", "key": "validates bodies at ingestion",
                                      "value": "yes (400)"}]),
        case("hashcode::test_variants[wrong]", ["CS-HASH-VERIFY"], "INFO", "wrong hashCode: 200",
             [{"text": "wrong hashCode: 200", "key": "verifies hashCode", "value": "no"}]),
        case("compression::test_alternatives[raw-gzip]", ["CS-ENCODING-ALT"], "INFO", "raw gzip: 200",
             [{"text": "raw gzip bytes: 200", "key": "raw gzip accepted", "value": "yes"}],
             [exchange("compression::test_alternatives[raw-gzip]", response_body=HOSTILE.encode())]),
    ]


def skipped_cases() -> list[dict[str, Any]]:
    return [case("robustness::test_strict_events", ["CS-STRICT-EVENTS-4XX"], "SKIP",
                 "profile not selected: strict (give --profile strict)", exchanges=[]),
            case("cors::test_preflight", ["CS-CORS-CREDENTIALS"], "SKIP",
                 "profile not selected: web (give --origin ORIGIN)", exchanges=[])]


def passing_cases() -> list[dict[str, Any]]:
    """One PASS case for every core and auth requirement that gets a verdict."""
    judged = [r for r in catalog.REQUIREMENTS if r.level != catalog.INFO and r.profile in ("core", "auth")]
    return [case(f"status::test_{r.id.lower().replace('-', '_')}", [r.id], "PASS") for r in judged]


def failing_cases() -> list[dict[str, Any]]:
    failed = "status::test_cs_valid_200"
    failure = {"kind": "RejectedValidData", "title": "A valid request was not answered with exactly 200",
               "requirement": "CS-VALID-200", "expected": "200", "actual": "204 No Content", "detail": ""}
    broken = exchange(failed, status=204)
    message = (f"[CS-VALID-200] RejectedValidData: {failure['title']}\n  expected: 200\n  actual:   204 No Content\n"
               f"  reproduce: {broken['curl']}")
    replaced = {
        failed: case(failed, ["CS-VALID-200"], "FAIL", message, exchanges=[broken], failure=failure),
        "status::test_cs_robust": case("status::test_cs_robust", ["CS-ROBUST"], "ERROR",
                                       "could not judge: connection reset", exchanges=[
                                           exchange("status::test_cs_robust", status=None, outcome="reset",
                                                    detail="connection closed before any response")]),
        "status::test_cs_ok_empty": case("status::test_cs_ok_empty", ["CS-OK-EMPTY"], "WARN",
                                         "[CS-OK-EMPTY] NonEmptySuccessBody: A 200 answer carried a body",
                                         exchanges=[exchange("status::test_cs_ok_empty", response_body=b"ok")]),
    }
    # A soft SHOULD failure, as Target.soft records it: the warning names its requirement.
    replaced["status::test_cs_ok_empty"]["warnings"] = [
        {"kind": "NonEmptySuccessBody", "title": "A 200 answer carried a body", "requirement": "CS-OK-EMPTY",
         "expected": "an empty body", "actual": "200 OK with body 'ok'", "detail": ""}]
    return [replaced.get(c["case"], c) for c in passing_cases()]


def make_results(failing: bool = False) -> dict[str, Any]:
    """A results dict as RunResults.to_dict() gives it for a passing or a failing collector."""
    settings = Settings(FAILING_ENDPOINT if failing else ENDPOINT, "shop_dev",
                        auth_cookie=("session", COOKIE_SECRET), profiles=frozenset({"core", "auth"}))
    options = {"endpoint": settings.endpoint, "app_id": "shop_dev", "auth_cookie": "session=<redacted>",
               "origin": None, "profile": "core", "request_timeout": 10.0, "conformance_examples": 25,
               "hypothesis_seed": "20261126", "baseline": None}
    run = RunResults(settings, options)
    for result in (failing_cases() if failing else passing_cases()) + info_cases() + skipped_cases():
        run.add(result)
    run.finish()
    return json.loads(json.dumps(run.to_dict()))  # exactly what results.json holds


@pytest.fixture
def passing() -> dict[str, Any]:
    return make_results(failing=False)


@pytest.fixture
def failing() -> dict[str, Any]:
    return make_results(failing=True)


def make_bundle(directory: Path, results: dict[str, Any]) -> Path:
    """A bundle as the plugin leaves it: junit.xml first, then write_bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "junit.xml").write_text(JUNIT)
    return write_bundle(directory, results)


@pytest.fixture
def bundle(tmp_path: Path, passing: dict[str, Any]) -> Path:
    return make_bundle(tmp_path / "reference", passing)


def test_sample_results_are_what_the_verdict_needs(passing: dict[str, Any], failing: dict[str, Any]) -> None:
    assert passing["verdict"]["text"] == "CONFORMANT", passing["verdict"]["reasons"]
    assert passing["verdict"]["profiles"] == {"core": "PASS", "auth": "PASS", "web": "NOT SELECTED",
                                              "strict": "NOT SELECTED", "delivery": "NOT SELECTED",
                                              "durability": "NOT SELECTED", "websdk": "NOT SELECTED",
                                              "network": "NOT SELECTED", "h2": "NOT SELECTED", "clients": "NOT SELECTED"}
    assert failing["verdict"]["text"] == "NOT CONFORMANT"
    assert failing["verdict"]["profiles"]["core"] == "FAIL"


# --------------------------------------------------------------------------- bundle and manifest


def test_write_bundle_writes_the_four_files(bundle: Path, passing: dict[str, Any]) -> None:
    assert sorted(p.name for p in bundle.iterdir()) == ["junit.xml", "manifest.json", "report.html", "results.json"]
    assert json.loads((bundle / "results.json").read_text()) == passing
    assert (bundle / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_manifest_lists_every_other_file_with_its_digest(tmp_path: Path, passing: dict[str, Any]) -> None:
    directory = tmp_path / "bundle"
    (directory / "attachments").mkdir(parents=True)
    (directory / "attachments" / "trace.txt").write_text("captured\n")
    make_bundle(directory, passing)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["format"] == "clickstream-conformance/manifest@1"
    assert re.match(r"\d{4}-\d\d-\d\dT", manifest["created_at"])
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == {"junit.xml", "report.html", "results.json", "attachments/trace.txt"}
    for name, entry in listed.items():
        data = (directory / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)


def test_an_untouched_bundle_verifies(bundle: Path) -> None:
    assert verify_bundle(bundle) == []


def test_writing_twice_keeps_the_bundle_verifiable(bundle: Path, failing: dict[str, Any]) -> None:
    write_bundle(bundle, failing)
    assert verify_bundle(bundle) == []
    assert "NOT CONFORMANT" in (bundle / "report.html").read_text()


@pytest.mark.parametrize("name", ["report.html", "results.json", "junit.xml"])
def test_one_changed_byte_is_found_and_named(bundle: Path, name: str) -> None:
    path = bundle / name
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] = ord("x") if data[middle] != ord("x") else ord("y")
    path.write_bytes(bytes(data))
    problems = verify_bundle(bundle)
    assert len(problems) == 1 and problems[0].startswith(f"{name}: sha256 differs"), problems


def test_a_deleted_file_is_found_and_named(bundle: Path) -> None:
    (bundle / "junit.xml").unlink()
    assert verify_bundle(bundle) == ["junit.xml: listed in the manifest but missing"]


def test_an_added_file_is_found_and_named(bundle: Path) -> None:
    (bundle / "extra").mkdir()
    (bundle / "extra" / "note.txt").write_text("added later")
    problems = verify_bundle(bundle)
    assert len(problems) == 1 and problems[0].startswith("extra/note.txt: not listed"), problems


def test_a_missing_or_broken_manifest_is_a_problem(bundle: Path) -> None:
    (bundle / "manifest.json").write_text("{not json")
    assert verify_bundle(bundle)[0].startswith("manifest.json: unreadable")
    (bundle / "manifest.json").unlink()
    assert verify_bundle(bundle)[0].startswith("manifest.json: missing")


# --------------------------------------------------------------------------- secrets


def leak(results: dict[str, Any], text: str) -> dict[str, Any]:
    results["cases"][0]["observations"].append({"text": text, "key": "", "value": ""})
    return results


def test_clearing_removes_an_earlier_bundle_and_refuses_foreign_files(bundle: Path) -> None:
    (bundle / "stray.txt").write_text("not listed anywhere")
    before = sorted(p.name for p in bundle.iterdir())
    with pytest.raises(ValueError, match="stray.txt"):
        clear_bundle_dir(bundle)
    assert sorted(p.name for p in bundle.iterdir()) == before, "nothing removed on refusal"
    (bundle / "stray.txt").unlink()
    clear_bundle_dir(bundle)
    assert list(bundle.iterdir()) == []
    clear_bundle_dir(bundle / "not-yet-there")


def test_a_secret_in_the_results_refuses_the_bundle(tmp_path: Path, passing: dict[str, Any]) -> None:
    directory = tmp_path / "bundle"
    directory.mkdir()
    (directory / "junit.xml").write_text(JUNIT)
    with pytest.raises(ValueError, match="results.json") as info:
        write_bundle(directory, leak(passing, f"Cookie: session={COOKIE_SECRET}"), secrets=[COOKIE_SECRET])
    assert COOKIE_SECRET not in str(info.value)
    assert "report.html" in str(info.value)
    assert sorted(p.name for p in directory.iterdir()) == ["junit.xml"]  # nothing written


def test_a_secret_in_junit_xml_refuses_the_bundle(tmp_path: Path, passing: dict[str, Any]) -> None:
    directory = tmp_path / "bundle"
    directory.mkdir()
    (directory / "junit.xml").write_text(f"<testsuites><!-- {COOKIE_SECRET} --></testsuites>")
    with pytest.raises(ValueError, match="junit.xml"):
        write_bundle(directory, passing, secrets=(COOKIE_SECRET,))


def test_an_escaped_secret_is_found_too(tmp_path: Path, passing: dict[str, Any]) -> None:
    secret = 'a<b&"c'  # shows up as a&lt;b&amp;... in HTML and a<b&\"c in JSON
    with pytest.raises(ValueError, match="report.html"):
        write_bundle(tmp_path / "b", leak(passing, secret), secrets=[secret])


def test_a_redacted_bundle_is_written_when_secrets_are_given(tmp_path: Path, passing: dict[str, Any]) -> None:
    directory = make_bundle(tmp_path / "b", passing)
    write_bundle(directory, passing, secrets=[COOKIE_SECRET, ""])
    assert verify_bundle(directory) == []
    for path in directory.iterdir():
        assert COOKIE_SECRET not in path.read_text()


# --------------------------------------------------------------------------- report.html


class Elements(HTMLParser):
    """Ids, links and tags of a page, to check structure rather than strings."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(values["id"] or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action")]


def test_report_puts_the_verdict_first(passing: dict[str, Any]) -> None:
    page = render_report(passing)
    verdict = page.index('id="verdict"')
    assert verdict < page.index('id="counts"') < page.index('id="requirement-matrix"') \
        < page.index('id="observed"') < page.index('id="run-facts"') < page.index('id="cases"')
    banner = page[verdict:page.index("</section>", verdict)]
    assert "CONFORMANT" in banner and "conformant" in banner and "not-conformant" not in banner
    for profile, word in (("core", "PASS"), ("auth", "PASS"), ("web", "NOT SELECTED")):
        assert re.search(rf"{profile}</div><div class=\"profile-verdict\">{word}<", banner)


def test_a_failing_report_says_why(failing: dict[str, Any]) -> None:
    page = render_report(failing)
    banner = page[page.index('id="verdict"'):page.index('id="counts"')]
    assert "NOT CONFORMANT" in banner and "not-conformant" in banner
    reasons = [re.sub(r"<[^>]+>", "", r) for r in re.findall(r"<li>(.*?)</li>", banner.split('class="reasons"')[1])]
    assert reasons == ["FAIL status::test_cs_valid_200", "ERROR status::test_cs_robust"]
    assert f'href="#{case_anchor("status::test_cs_valid_200")}"' in banner  # a reason leads to its evidence
    assert "21 cases: 12 PASS, 1 FAIL, 1 WARN, 4 INFO, 1 ERROR, 2 SKIP" in banner


def test_report_counts_cases_by_level_and_outcome(failing: dict[str, Any]) -> None:
    page = render_report(failing)
    counts = page[page.index('id="counts"'):page.index('id="requirement-matrix"')]
    must = re.search(r'<tr data-level="MUST">(.*?)</tr>', counts).group(1)
    numbers = [int(n) for n in re.findall(r'<td class="num[^"]*">(?:<strong>)?(\d+)', must)]
    expected = failing["counts"]["MUST"]
    assert numbers == [expected.get(o, 0) for o in ("PASS", "FAIL", "WARN", "INFO", "ERROR", "SKIP")] \
        + [sum(expected.values())]
    assert 'data-level="Total"' in counts


def test_report_matrix_has_every_requirement(failing: dict[str, Any]) -> None:
    page = render_report(failing)
    matrix = page[page.index('id="requirement-matrix"'):page.index('id="observed"')]
    rows = dict(re.findall(r'data-requirement="([^"]+)" data-outcome="([^"]+)"', matrix))
    assert list(rows) == [r.id for r in catalog.REQUIREMENTS]
    assert rows["CS-VALID-200"] == "FAIL" and rows["CS-ROBUST"] == "ERROR" and rows["CS-OK-EMPTY"] == "WARN"
    assert rows["CS-SIZE-GREY"] == "INFO" and rows["CS-CORS-CREDENTIALS"] == "SKIP"
    assert rows["CS-GZIP-BOMB"] == "NOT TESTED"
    assert catalog.get("CS-VALID-200").statement.split(",")[0] in matrix


def test_matrix_links_lead_to_case_sections(failing: dict[str, Any]) -> None:
    elements = Elements(render_report(failing))
    anchors = [link[1:] for link in elements.links if link.startswith("#")]
    assert anchors and set(anchors) <= set(elements.ids)
    assert case_anchor("status::test_cs_valid_200") in anchors
    assert len(elements.ids) == len(set(elements.ids)), "ids must be unique"


def test_report_shows_the_observed_profile_and_run_facts(passing: dict[str, Any]) -> None:
    page = render_report(passing)
    observed = page[page.index('id="observed"'):page.index('id="run-facts"')]
    for key, value in passing["observed"].items():
        assert f"<th>{key}</th><td>{value}</td>" in observed
    assert "validates bodies at ingestion" in observed and "size limit as measured" in observed
    facts = page[page.index('id="run-facts"'):page.index('id="cases"')]
    for fact in (ENDPOINT, passing["suite"]["version"], catalog.API_DOCUMENT["title"],
                 catalog.API_DOCUMENT["sha256"], "20261126", "auth, core", passing["run"]["started_at"],
                 "session=&lt;redacted&gt;"):
        assert fact in facts, fact


def test_report_shows_evidence_for_judged_cases_only(failing: dict[str, Any]) -> None:
    page = render_report(failing)
    failed = page[page.index(f'id="{case_anchor("status::test_cs_valid_200")}"'):]
    failed = failed[:failed.index("</article>")]
    assert "<code>204 No Content</code>" in failed and "Reproduce" in failed and "curl -sS -i" in failed
    assert "Showing 1 of 41 exchanges" in failed and "Expected" in failed
    passed = page[page.index(f'id="{case_anchor("status::test_cs_appid_403")}"'):]
    passed = passed[:passed.index("</article>")]
    assert 'class="evidence"' not in passed


def test_report_is_self_contained_and_escaped(passing: dict[str, Any]) -> None:
    page = render_report(passing)
    elements = Elements(page)
    assert not elements.tags & {"script", "link", "img", "iframe"}
    assert all(url.startswith("#") for url in elements.urls), elements.urls
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_report_renders_sparse_results() -> None:
    page = render_report({"format": "clickstream-conformance/results@1"})
    assert 'id="verdict"' in page and 'id="requirement-matrix"' in page


def test_case_evidence_fragment(failing: dict[str, Any]) -> None:
    result = next(c for c in failing["cases"] if c["outcome"] == "ERROR")
    fragment = case_evidence_html(result)
    assert fragment.startswith('<div class="evidence">')
    assert f"POST {ENDPOINT}?platform=Web&amp;appId=shop_dev" in fragment
    assert "Cookie: session=&lt;redacted&gt;" in fragment
    assert "no answer (reset)" in fragment and "connection closed before any response" in fragment
    assert result["exchanges"][0]["body_sha256"] in fragment


# --------------------------------------------------------------------------- comparison


def test_compare_puts_collectors_side_by_side(tmp_path: Path, passing: dict[str, Any],
                                              failing: dict[str, Any]) -> None:
    good = make_bundle(tmp_path / "good", passing)
    bad = make_bundle(tmp_path / "bad", failing)
    page = compare_bundles([good, bad])
    assert f"{ENDPOINT} (good)" in page and f"{FAILING_ENDPOINT} (bad)" in page
    assert page.index("CONFORMANT") < page.index("NOT CONFORMANT")  # header row, column order
    row = re.search(r'<tr class="requirement differs" data-requirement="CS-VALID-200">(.*?)</tr>', page).group(1)
    assert re.findall(r'data-outcome="([^"]+)"', row) == ["PASS", "FAIL"]
    assert "bundle untouched" in page
    assert not Elements(page).tags & {"script", "link", "img"}


def test_compare_shows_a_changed_bundle_as_unverified_not_by_its_claim(tmp_path: Path, passing: dict[str, Any],
                                                                       failing: dict[str, Any]) -> None:
    good = make_bundle(tmp_path / "good", passing)
    forged = make_bundle(tmp_path / "forged", failing)
    results = json.loads((forged / "results.json").read_text())
    results["verdict"].update(conformant=True, text="CONFORMANT")
    results["requirements"] = [{**r, "outcome": "PASS"} for r in results["requirements"]]
    (forged / "results.json").write_text(json.dumps(results))
    page = compare_bundles([good, forged])
    heads = re.findall(r'<th class="collector">(.*?)</th>', page)
    assert "CONFORMANT" in heads[0] and "UNVERIFIED" not in heads[0]
    assert "UNVERIFIED" in heads[1] and "CONFORMANT" not in heads[1]
    assert "results.json: sha256 differs" in heads[1]
    row = re.search(r'data-requirement="CS-VALID-200">(.*?)</tr>', page).group(1)
    assert re.findall(r'<td( class="unverified"[^>]*)? data-outcome', row)[1].startswith(' class="unverified"')


def test_compare_names_a_bundle_it_cannot_read(tmp_path: Path, bundle: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty"):
        compare_bundles([bundle, empty])
    (empty / "results.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not in the clickstream-conformance/results@1 format"):
        compare_bundles([bundle, empty])


# --------------------------------------------------------------------------- commands


def run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="clickstream-conformance")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_verify_command(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command("verify", str(bundle)) == 0
    assert "untouched" in capsys.readouterr().out
    (bundle / "report.html").write_text("<p>changed</p>")
    assert run_command("verify", str(bundle)) == 1
    assert "report.html: sha256 differs" in capsys.readouterr().out
    assert run_command("verify", str(tmp_path / "nowhere")) == 2
    assert "no such directory" in capsys.readouterr().err
    assert run_command("verify", str(tmp_path)) == 2
    assert "not a certification bundle" in capsys.readouterr().err


def test_compare_command(tmp_path: Path, passing: dict[str, Any], failing: dict[str, Any],
                         capsys: pytest.CaptureFixture[str]) -> None:
    good = make_bundle(tmp_path / "good", passing)
    bad = make_bundle(tmp_path / "bad", failing)
    output = tmp_path / "side-by-side.html"
    assert run_command("compare", str(good), str(bad), "--output", str(output)) == 0
    assert capsys.readouterr().out.strip() == str(output)
    assert 'id="comparison-matrix"' in output.read_text()
    assert run_command("compare", str(good), str(tmp_path / "missing"), "--output", str(output)) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and str(tmp_path / "missing") in err
    assert run_command("compare", str(good), str(tmp_path), "--output", str(output)) == 2
    assert "cannot read results.json" in capsys.readouterr().err


def test_compare_command_fails_on_an_unverified_bundle_unless_allowed(
        tmp_path: Path, passing: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    good = make_bundle(tmp_path / "good", passing)
    changed = make_bundle(tmp_path / "changed", passing)
    (changed / "results.json").write_text((changed / "results.json").read_text().replace("PASS", "FAIL", 1))
    output = tmp_path / "side-by-side.html"
    assert run_command("compare", str(good), str(changed), "--output", str(output)) == 1
    assert f"{changed} fails verification" in capsys.readouterr().err
    assert "UNVERIFIED" in output.read_text()
    assert run_command("compare", str(good), str(changed), "--output", str(output), "--allow-unverified") == 0
    assert "UNVERIFIED" in output.read_text()


def test_commands_are_wired_into_the_main_command(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli.main import main
    assert main(["verify", str(bundle)]) == 0
    assert "untouched" in capsys.readouterr().out
