"""Certification a customer can check: keygen, signed attestations, verify --key and each
tampering it must catch, HAR evidence, reproduce, and the seed that repeats a verdict.

One real run (the reference collector served on a free port, certified with a signing
key) feeds most tests; each tampering test works on its own copy of the bundle.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
from referencing import Registry, Resource

from tests.tiny_collector import TinyCollector

pytest.importorskip("cryptography")

from conformance.reports.attestation import PAYLOAD_TYPE, attestation_bytes, statement  # noqa: E402
from conformance.reports.signing import canonical_json, load_private_key, sign_envelope  # noqa: E402

CLI = [sys.executable, "-m", "conformance.cli.main"]
SECRET = "Tr0st-cookie-VALUE-7781"
COOKIE = f"session={SECRET}"
HAR_SCHEMAS = Path(__file__).parent / "data" / "har-schema"


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference collector, served on a free loopback port for the module."""
    db = tmp_path_factory.mktemp("collector") / "c.sqlite3"
    proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--db", str(db), "--auth-cookie", COOKIE],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert "serving http://127.0.0.1:" in line, line
        yield line.split("serving ", 1)[1].split()[0]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("keys")
    made = {}
    for who in ("vendor", "forger"):
        run = cli("keygen", str(work / who), cwd=work)
        assert run.returncode == 0, run.stderr
        made[who] = work / who / "conformance-signing.key"
        made[who + ".pub"] = work / who / "conformance-signing.pub"
    return made


@pytest.fixture(scope="module")
def signed(collector: str, keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A signed bundle of the reference collector (core and auth), with a --har copy."""
    work = tmp_path_factory.mktemp("signed")
    run = cli("certify", "--endpoint", collector, "--app-id", "shop_dev", "--auth-cookie", COOKIE,
              "--sign-key", str(keys["vendor"]), "--har", str(work / "copy.har"), "--output", "bundle",
              "--pytest-arg=--conformance-examples=3", cwd=work)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert SECRET not in run.stdout + run.stderr
    return work / "bundle"


def copy_of(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(bundle, target)
    return target


def verify(bundle: Path, key: Path | None = None) -> subprocess.CompletedProcess:
    return cli("verify", str(bundle), *(["--key", str(key)] if key else []), cwd=bundle.parent)


def rewrite_manifest(bundle: Path) -> None:
    """What a forger does: make the manifest agree with the edited files again."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (bundle / entry["path"]).read_bytes()
        entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def edit_verdict(bundle: Path) -> None:
    results = json.loads((bundle / "results.json").read_text())
    results["verdict"]["text"] = "CONFORMANT (edited)"
    results["requirements"][0]["outcome"] = "FAIL"
    (bundle / "results.json").write_text(json.dumps(results))


def bundle_contents(bundle: Path) -> dict[str, bytes]:
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*")
            if p.is_file() and p.name != "attestation.json"}


# --- keys ------------------------------------------------------------------------

def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(keys: dict[str, Path]) -> None:
    mode = stat.S_IMODE(keys["vendor"].stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert b"BEGIN PRIVATE KEY" in keys["vendor"].read_bytes()
    assert b"BEGIN PUBLIC KEY" in keys["vendor.pub"].read_bytes()
    before = keys["vendor"].read_bytes()
    again = cli("keygen", str(keys["vendor"].parent), cwd=keys["vendor"].parent)
    assert again.returncode == 4 and "never overwritten" in again.stderr
    assert keys["vendor"].read_bytes() == before


def test_a_bad_signing_key_is_one_line_before_any_case_runs(collector: str, tmp_path: Path,
                                                            keys: dict[str, Path]) -> None:
    for bad, says in ((tmp_path / "nope.key", "no such signing key file"),
                      (keys["vendor.pub"], "not a PEM private key")):
        run = cli("certify", "--endpoint", collector, "--app-id", "shop_dev", "--sign-key", str(bad),
                  "--output", "b", cwd=tmp_path)
        assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
        assert says in run.stderr and "Traceback" not in run.stderr


# --- a signed bundle and its checks ---------------------------------------------

def test_a_signed_bundle_verifies_with_its_public_key(signed: Path, keys: dict[str, Path]) -> None:
    kid = json.loads((signed / "results.json").read_text())["signing"]["key_id"]
    checked = verify(signed, keys["vendor.pub"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"untouched; signed by {kid[:16]}" in checked.stdout and "not checked" not in checked.stdout
    unchecked = verify(signed)
    assert unchecked.returncode == 0 and "key not checked" in unchecked.stdout


def test_the_attestation_is_an_in_toto_statement_over_every_file(signed: Path) -> None:
    envelope = json.loads((signed / "attestation.json").read_text())
    assert envelope["payloadType"] == PAYLOAD_TYPE
    told = json.loads(base64.b64decode(envelope["payload"]))
    assert told["_type"] == "https://in-toto.io/Statement/v1"
    subjects = {s["name"]: s["digest"]["sha256"] for s in told["subject"]}
    assert set(subjects) == {"results.json", "report.html", "junit.xml", "manifest.json", "exchanges.har"}
    for name, digest in subjects.items():
        assert hashlib.sha256((signed / name).read_bytes()).hexdigest() == digest
    results = json.loads((signed / "results.json").read_text())
    predicate = told["predicate"]
    assert predicate["verdict"]["conformant"] is True and predicate["target"] == results["run"]["target"]
    assert predicate["seed"] == results["run"]["seed"] and predicate["catalog"]["digest"]
    assert predicate["outcomes"]["CS-AUTH-COOKIE"] == "PASS"
    assert predicate["suite"]["version"] == results["suite"]["version"]
    assert "PRIVATE" not in (signed / "attestation.json").read_text()


def test_an_edited_result_with_a_rewritten_manifest_is_caught(signed: Path, keys: dict[str, Path],
                                                              tmp_path: Path) -> None:
    bundle = copy_of(signed, tmp_path)
    edit_verdict(bundle)
    rewrite_manifest(bundle)
    for key in (keys["vendor.pub"], None):  # the hashes are checked with or without the key
        run = verify(bundle, key)
        assert run.returncode == 1
        assert "results.json: changed after signing" in run.stdout
        assert "predicate disagrees with results.json on verdict; outcomes of CS-" in run.stdout


def test_a_bundle_re_signed_by_another_key_is_the_wrong_key(signed: Path, keys: dict[str, Path],
                                                            tmp_path: Path) -> None:
    bundle = copy_of(signed, tmp_path)
    edit_verdict(bundle)
    rewrite_manifest(bundle)
    results = json.loads((bundle / "results.json").read_text())
    forged = attestation_bytes(load_private_key(keys["forger"]), bundle_contents(bundle), results)
    (bundle / "attestation.json").write_bytes(forged)
    run = verify(bundle, keys["vendor.pub"])
    assert run.returncode == 1 and "wrong key: the bundle is signed by" in run.stdout
    # Without the vendor's key nothing tells a forger's signature apart: verify says whose it is.
    unchecked = verify(bundle)
    assert unchecked.returncode == 0 and "key not checked" in unchecked.stdout


def test_an_altered_statement_is_a_bad_signature(signed: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    bundle = copy_of(signed, tmp_path)
    envelope = json.loads((bundle / "attestation.json").read_text())
    told = json.loads(base64.b64decode(envelope["payload"]))
    told["predicate"]["app_id"] = "someone_else"
    envelope["payload"] = base64.b64encode(canonical_json(told)).decode()
    (bundle / "attestation.json").write_text(json.dumps(envelope))
    run = verify(bundle, keys["vendor.pub"])
    assert run.returncode == 1 and "bad signature" in run.stdout
    assert "predicate disagrees with results.json on app_id" in run.stdout


def test_a_signed_predicate_that_disagrees_with_the_results_is_caught(signed: Path, keys: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    bundle = copy_of(signed, tmp_path)
    original = json.loads((bundle / "results.json").read_text())
    edit_verdict(bundle)
    rewrite_manifest(bundle)
    # The right key signs the edited files but the run's own predicate: only the predicate is off.
    told = statement(bundle_contents(bundle), original)
    envelope = sign_envelope(load_private_key(keys["vendor"]), PAYLOAD_TYPE, canonical_json(told))
    (bundle / "attestation.json").write_text(json.dumps(envelope))
    run = verify(bundle, keys["vendor.pub"])
    problems = [line for line in run.stdout.splitlines() if line.startswith(str(bundle))]
    assert run.returncode == 1 and len(problems) == 1, run.stdout
    assert "predicate disagrees with results.json on verdict; outcomes of CS-" in problems[0]


def test_a_file_added_or_removed_after_signing_is_named(signed: Path, keys: dict[str, Path],
                                                        tmp_path: Path) -> None:
    added = copy_of(signed, tmp_path / "a")
    (added / "extra.txt").write_text("not from the run")
    run = verify(added, keys["vendor.pub"])
    assert run.returncode == 1 and "extra.txt: added after signing" in run.stdout
    removed = copy_of(signed, tmp_path / "r")
    (removed / "junit.xml").unlink()
    run = verify(removed, keys["vendor.pub"])
    assert run.returncode == 1 and "junit.xml: named in the attestation but missing" in run.stdout


def test_a_removed_attestation_is_caught_and_an_unsigned_bundle_says_so(signed: Path, keys: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    bundle = copy_of(signed, tmp_path)
    (bundle / "attestation.json").unlink()
    run = verify(bundle)
    assert run.returncode == 1 and "attestation.json: missing, though results.json says" in run.stdout
    with_key = verify(bundle, keys["vendor.pub"])
    assert with_key.returncode == 1


def test_verify_with_a_private_key_or_no_key_file_is_one_line(signed: Path, keys: dict[str, Path]) -> None:
    for key, says in ((keys["vendor"], "this is a private key"), (signed / "nope.pub", "no such public key")):
        run = verify(signed, key)
        assert run.returncode == 4 and says in run.stderr and "Traceback" not in run.stderr


def test_the_report_header_names_the_signer_and_the_versions(signed: Path) -> None:
    results = json.loads((signed / "results.json").read_text())
    page = (signed / "report.html").read_text()
    assert f'id="signed-by">signed by {results["signing"]["key_id"][:16]}<' in page
    assert f'clickstream-conformance {results["suite"]["version"]}' in page
    assert f'catalog {results["catalog"]["digest"][:12]}' in page


# --- HAR ---------------------------------------------------------------------------

def har_validator() -> jsonschema.Validator:
    resources = [(path.name, Resource.from_contents(json.loads(path.read_text())))
                 for path in HAR_SCHEMAS.glob("*.json")]
    registry = Registry().with_resources(resources)
    return jsonschema.Draft6Validator({"$ref": "har.json#"}, registry=registry)


def test_the_har_is_valid_har_1_2_and_holds_every_exchange(signed: Path, tmp_path: Path) -> None:
    har = json.loads((signed / "exchanges.har").read_text())
    errors = list(har_validator().iter_errors(har))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    assert har["log"]["version"] == "1.2"
    results = json.loads((signed / "results.json").read_text())
    assert len(har["log"]["entries"]) >= sum(c["exchange_count"] for c in results["cases"])
    # The --har copy is the same log.
    assert (signed.parent / "copy.har").read_bytes() == (signed / "exchanges.har").read_bytes()


def test_the_har_keeps_bodies_as_sent_or_their_digest(signed: Path) -> None:
    entries = json.loads((signed / "exchanges.har").read_text())["log"]["entries"]
    posts = [e["request"] for e in entries if e["request"]["method"] == "POST"]
    texts = [r for r in posts if r["postData"].get("text") is not None and "_encoding" not in r["postData"]]
    assert texts and all(len(r["postData"]["text"].encode()) == r["bodySize"] for r in texts)
    binary = [r for r in posts if r["postData"].get("_encoding") == "base64"]
    assert binary and all(len(base64.b64decode(r["postData"]["text"])) == r["bodySize"] for r in binary)
    over = [r for r in posts if r["bodySize"] > 256 * 1024]
    assert over and all("text" not in r["postData"] and r["postData"]["_size"] == r["bodySize"] for r in over)
    assert all(len(r["postData"]["_sha256"]) == 64 for r in over)


def test_no_secret_appears_in_the_har_or_anywhere_in_the_bundle(signed: Path) -> None:
    har = (signed / "exchanges.har").read_bytes()
    assert b"session=<redacted>" in har  # the cookie was sent, and is there redacted
    for path in [*signed.iterdir(), signed.parent / "copy.har"]:
        assert SECRET.encode() not in path.read_bytes(), f"the cookie value leaked into {path.name}"


# --- compare and reproduce ----------------------------------------------------------

def test_compare_names_the_signer_and_marks_an_unsigned_bundle(signed: Path, collector: str,
                                                               keys: dict[str, Path], tmp_path: Path) -> None:
    run = cli("certify", "--endpoint", collector, "--app-id", "shop_dev", "--auth-cookie", COOKIE,
              "--output", "unsigned", "--pytest-arg=--conformance-examples=3", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'id="signed-by">unsigned<' in (tmp_path / "unsigned" / "report.html").read_text()
    page = tmp_path / "c.html"
    result = cli("compare", str(signed), str(tmp_path / "unsigned"), "--key", str(keys["vendor.pub"]),
                 "--output", str(page), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    kid = json.loads((signed / "results.json").read_text())["signing"]["key_id"]
    assert f"signed by {kid[:16]}; signature checked" in html
    assert "<b>UNSIGNED</b>" in html
    assert f"{tmp_path / 'unsigned'}: unsigned" in result.stderr


def test_reproduce_re_sends_a_case_and_shows_both_answers(signed: Path, collector: str) -> None:
    case = "auth::test_request_with_the_cookie_is_accepted[alone]"
    run = cli("reproduce", str(signed), case, "--auth-cookie", COOKIE, cwd=signed.parent)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "200 OK" in run.stdout and "same answer for 1 of 1 re-sent request(s)" in run.stdout
    assert SECRET not in run.stdout
    # Without the cookie's value the request goes out with the redacted one: refused, and said.
    bare = cli("reproduce", str(signed), case, cwd=signed.parent)
    assert bare.returncode == 1 and "403" in bare.stdout and "differs" in bare.stdout
    assert "pass --auth-cookie NAME=VALUE" in bare.stdout


def test_reproduce_against_a_broken_collector_shows_the_difference(signed: Path) -> None:
    case = "params::test_optional_query_parameters_are_accepted[unnamed-fakeIp]"
    entries = json.loads((signed / "exchanges.har").read_text())["log"]["entries"]
    assert any(e["comment"] == case for e in entries), sorted({e["comment"] for e in entries})[:50]
    with TinyCollector(reject="fakeIp") as broken:
        run = cli("reproduce", str(signed), case, "--endpoint", broken.url, cwd=signed.parent)
    assert run.returncode == 1 and "differs" in run.stdout, run.stdout + run.stderr


def test_reproduce_says_what_it_cannot_do_in_one_line(signed: Path, collector: str) -> None:
    for args, says in ((["no-such-case"], "no case named"), (["size::"], "give one whole name"),
                       (["size::test_oversized_body_gets_413[1048577]"], None)):
        run = cli("reproduce", str(signed), *args, cwd=signed.parent)
        assert run.returncode == 4, run.stdout + run.stderr
        if says:
            assert says in run.stderr and "Traceback" not in run.stderr
        else:
            assert "not re-sent: the bundle kept only the body's size" in run.stdout
    missing = cli("reproduce", str(signed.parent / "nowhere"), "x", cwd=signed.parent)
    assert missing.returncode == 4 and "no such bundle directory" in missing.stderr


def test_the_recorded_seed_gives_the_same_verdict_again(tmp_path: Path) -> None:
    runs: list[dict[str, Any]] = []
    with TinyCollector(reject="fakeIp") as broken:
        for n, seed in enumerate(("12345", None)):
            seed = seed or runs[0]["run"]["seed"]  # the second run takes the seed the first recorded
            run = cli("certify", "--endpoint", broken.url, "--app-id", "shop_dev", "--seed", str(seed),
                      "--output", f"run{n}", "--pytest-arg=--conformance-examples=3", cwd=tmp_path)
            assert run.returncode == 1, run.stdout[-2000:]
            runs.append(json.loads((tmp_path / f"run{n}" / "results.json").read_text()))
    first, second = runs
    assert first["run"]["seed"] is not None and first["verdict"]["conformant"] is False
    assert first["verdict"] == second["verdict"]
    assert ({r["id"]: r["outcome"] for r in first["requirements"]}
            == {r["id"]: r["outcome"] for r in second["requirements"]})
