"""The requirement catalog: the single source of truth for what the suite checks.

Every conformance case names one or more IDs from here with
``@pytest.mark.requirement("CS-...")``. Levels follow the product decisions in
``shared/spec/verdicts.md``; ``section`` names the part of the Clickstream HTTP API
document each requirement rests on (we cite, we do not quote).

Profiles: ``core`` always runs; ``auth`` and ``web`` switch on when ``--auth-cookie``
or ``--origin`` is given; ``strict`` is chosen with ``--profile strict`` and turns
"the collector rejects bad input" from an observation into a demand; ``delivery``
switches on with ``--sink`` and judges what the collector stored, not only what it
answered; ``durability`` also needs ``--collector-command`` (the suite owns the
collector's process) and judges what survives a kill; ``websdk`` is chosen with
``--profile websdk`` and drives the real Web SDK in headless Chromium against the
collector, judging by what the SDK itself concludes; ``h2`` is chosen with
``--profile h2`` (``certify`` chooses it when the endpoint offers h2 by ALPN) and
runs the core cases that matter on the wire again over HTTP/2, under the core IDs,
with a few INFO observations of its own; ``clients`` is chosen with ``--profile clients``
(``certify`` chooses it for the embedded collector when the client programs are there) and
runs the document's example request, and a few SDK-shaped ones, in real HTTP client
programs (curl, OkHttp, Node's fetch, Python requests, C# HttpClient), judging each by the
client's own verdict.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable

MUST = "MUST"
SHOULD = "SHOULD"
INFO = "INFO"
LEVELS = (MUST, SHOULD, INFO)
PROFILES = ("core", "auth", "web", "strict", "delivery", "durability", "websdk", "network", "h2", "clients")

# Identity of the API document the catalog was written against.
API_DOCUMENT = {
    "title": "Clickstream HTTP API",
    "file": "clickstream-http-api.txt",
    "sha256": "47f927ddfd007d9dcedd6274ac6a8d7b9ee222b15aeee474a014ff98c4d15a30",
}


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    statement: str
    section: str
    profile: str = "core"

    def to_dict(self) -> dict:
        return asdict(self)


_R = Requirement

REQUIREMENTS: tuple[Requirement, ...] = (
    # --- MUST (verdicts.md MUST 1-12) ---------------------------------------
    _R("CS-VALID-200", MUST,
       "A well-formed batch of one or more events for a registered appId, using any "
       "documented field with its documented type (Unicode text included, optional "
       "fields present or not), is answered with status 200 exactly; 201 or 204 count "
       "as failures because SDKs re-send on anything but 200.",
       "API Specification (2); Request body; Event attributes; Request response"),
    _R("CS-APPID-403", MUST,
       "A request whose appId query parameter is unknown, empty or missing is answered "
       "with 403, whatever its body (an oversized body with a bad appId may get 413).",
       "API Specification (1); Request query parameters; HttpCode"),
    _R("CS-SIZE-413", MUST,
       "A body larger than 1,048,576 bytes as sent is answered with 413, and the client "
       "can read that answer even when the collector answers before the upload ends.",
       "API Specification (3); HttpCode"),
    _R("CS-SIZE-ACCEPT", MUST,
       "An otherwise valid body of up to 1,000,000 bytes as sent is answered with 200.",
       "API Specification (3)"),
    _R("CS-GZIP-200", MUST,
       "With compression=gzip, a body that is base64 text of gzip-compressed JSON is "
       "answered with 200, including bodies that decode to as much as 16 MiB from at "
       "most 1,000,000 bytes as sent.",
       "Request query parameters (compression)"),
    _R("CS-HASH-200", MUST,
       "A request carrying the correct hashCode (the first 8 lower-case hex digits of "
       "the sha256 of the body as sent) is answered with 200, and so is one carrying no "
       "hashCode at all.",
       "Request query parameters (hashCode)"),
    _R("CS-OPTIONAL-200", MUST,
       "Optional query parameters and headers never cause a rejection, whether present "
       "or absent: platform, event_bundle_sequence_id (any positive integer, in any "
       "order), upload_timestamp, an empty compression, parameters the document does not "
       "name, X-Forwarded-For (one address or a chain, IPv4 or IPv6), User-Agent, and "
       "the documented Content-Type.",
       "Request headers; Request query parameters"),
    _R("CS-LIMITS-200", MUST,
       "Events at every documented limit are accepted: 100 items, 100 user attributes, "
       "500 custom attributes, names of 50 characters and values of 1024 characters.",
       "Event attributes (items, user, attributes)"),
    _R("CS-RETRY-200", MUST,
       "An identical request sent again (a client retry) is answered with 200 each time, "
       "and events repeating an event_id, within one batch or across batches, are accepted.",
       "Request response; Event attributes (event_id)"),
    _R("CS-ROBUST", MUST,
       "No input makes the collector answer with a 5xx status or stop answering; after "
       "each hostile request a known-good request is still answered with 200. The one "
       "5xx allowed is 501 Not Implemented for a method other than POST and OPTIONS, "
       "which HTTP servers send for methods they do not support.",
       "HttpCode; Request response; Request method (501: RFC 9110 section 15.6.2)"),
    _R("CS-TIMELY", MUST,
       "Every request is answered within the request timeout (10 s by default, the same "
       "as the Web SDK's).",
       "Request response"),
    _R("CS-AUTH-COOKIE", MUST,
       "When the collector is set up with an authentication cookie, a request without "
       "the cookie or with a wrong value is refused (403; 401 is tolerated with a "
       "warning), and a request with the right cookie is answered with 200.",
       "Request headers (cookie); HttpCode (403)", "auth"),
    _R("CS-CORS-CREDENTIALS", MUST,
       "For a web origin, the preflight OPTIONS asking for content-type gets a 2xx with "
       "Access-Control-Allow-Origin equal to the origin (never *), "
       "Access-Control-Allow-Credentials true, POST among the allowed methods and "
       "content-type among the allowed headers; the POST answer carries the same "
       "origin and credentials headers.",
       "Request endpoint; Request headers (browsers send credentials with the cookie)", "web"),
    _R("CS-REPLAY-200", MUST,
       "Every POST captured from the real Web SDK and from the solution's data generator "
       "(immediate sends, multi-page loads, base64-gzip and plain batches), sent again "
       "byte for byte with only the appId replaced by a registered one, is answered "
       "with 200.",
       "Request response; Request query parameters; Request body"),
    # --- SHOULD -------------------------------------------------------------
    _R("CS-OK-EMPTY", SHOULD,
       "A 200 answer has an empty body.",
       "Request response"),
    _R("CS-AUTH-403", SHOULD,
       "A refused authentication is answered with 403 exactly, the status the document "
       "names, rather than another 4xx.",
       "HttpCode (403)", "auth"),
    # --- INFO (observed, no verdict) -----------------------------------------
    _R("CS-SIZE-GREY", INFO,
       "How the collector answers bodies of 1,000,001 to 1,048,576 bytes, where \"1MB\" "
       "is ambiguous.",
       "API Specification (3)"),
    _R("CS-HASH-VERIFY", INFO,
       "Whether the collector verifies hashCode: a wrong value, an upper-case value.",
       "Request query parameters (hashCode)"),
    _R("CS-ENCODING-ALT", INFO,
       "How the collector treats other encodings: raw gzip bytes with compression=gzip, "
       "a Content-Encoding: gzip header, unsupported compression names.",
       "Request query parameters (compression)"),
    _R("CS-GZIP-BOMB", INFO,
       "Whether a small compressed body that decodes past 64 MiB is accepted or refused "
       "with 413 (a 5xx is a CS-ROBUST failure).",
       "Request query parameters (compression); API Specification (3)"),
    _R("CS-VALIDATES-EVENTS", INFO,
       "Whether events that break the document's rules inside a well-formed array "
       "(missing required fields, wrong types, over-limit counts, bad names, an app_id "
       "unlike the query's) are refused at ingestion or passed through.",
       "API Specification (2); Event attributes"),
    _R("CS-VALIDATES-BODY", INFO,
       "Whether malformed JSON and bodies that are not an array of events are refused "
       "at ingestion or passed through.",
       "Request body"),
    _R("CS-METHOD-PATH", INFO,
       "How the collector answers methods other than POST and OPTIONS (any status but "
       "a 5xx other than 501), other paths, and an appId in another letter case.",
       "Request method; Request endpoint"),
    _R("CS-CONTENT-TYPE", INFO,
       "How the collector answers other Content-Type values: no charset, text/plain, "
       "none at all.",
       "Request headers (Content-Type)"),
    # --- strict profile: for collectors that claim to validate at ingestion ---
    _R("CS-STRICT-EVENTS-4XX", MUST,
       "A collector that validates at ingestion refuses, with a 4xx status, events that "
       "break the document's rules: a required field missing, a documented field of the "
       "wrong type, a malformed item or user attribute. Limit and naming deviations stay "
       "observations even here, because real SDKs send events past the limits.",
       "API Specification (2); Event attributes", "strict"),
    _R("CS-STRICT-BODY-4XX", MUST,
       "A collector that validates at ingestion refuses malformed JSON and bodies that "
       "are not a non-empty array of events with a 4xx status.",
       "Request body", "strict"),
    # --- delivery profile: what the collector stored (read back with --sink) ---
    _R("CS-DELIVERY-NO-LOSS", MUST,
       "Every valid event the suite sent in a request answered with 200, in any case of "
       "the run, can be read back from the sink, found by its event_id (after waiting a "
       "bounded time for a batching pipeline).",
       "Request response (200: the data was received)", "delivery"),
    _R("CS-DELIVERY-INTACT", MUST,
       "Each stored event equals the event sent as a JSON value: every field, Unicode "
       "text, numbers (an integer stays an integer), empty strings, the largest values "
       "and counts the document allows, and every event of a large base64-gzip batch.",
       "Request body; Event attributes; Request query parameters (compression)", "delivery"),
    _R("CS-DELIVERY-REFUSED-403", MUST,
       "Events of a request refused with 403 (unknown appId, failed authentication) are "
       "never stored.",
       "HttpCode (403); Request query parameters (appId); Request headers (cookie)", "delivery"),
    _R("CS-DELIVERY-REFUSED-4XX", SHOULD,
       "Events of a request refused with 413 or another 4xx status are not stored.",
       "HttpCode (413); API Specification (3)", "delivery"),
    _R("CS-DELIVERY-CONCURRENT", MUST,
       "Batches sent over several connections at once are all stored, intact: "
       "concurrent requests lose and corrupt nothing.",
       "Request response; Request body", "delivery"),
    _R("CS-DELIVERY-DUPLICATES", INFO,
       "Whether a retried request and a repeated event_id are stored once "
       "(deduplicating) or once per send (at-least-once).",
       "Request response; Event attributes (event_id)", "delivery"),
    _R("CS-DELIVERY-LAG", INFO,
       "How long an event takes from its 200 to being visible in the sink (p50, max).",
       "Request response", "delivery"),
    _R("CS-DELIVERY-METADATA", INFO,
       "Which request metadata the sink keeps with the events (appId, receive time, "
       "client IP, User-Agent, ...).",
       "Request query parameters; Request headers", "delivery"),
    # --- durability profile: a 200 survives the collector's death -------------------
    _R("CS-DURABLE-KILL", MUST,
       "Every event of a request answered with 200 is in the sink after the collector's "
       "process group was killed with SIGKILL and started again, several times while "
       "clients were sending; requests that got no answer may or may not be stored.",
       "Request response (200: the data was received)", "durability"),
    _R("CS-DURABLE-TERM", MUST,
       "The same through SIGTERM: every event of a request answered with 200 is stored, "
       "and the collector exits within a bounded time (30 s) instead of hanging.",
       "Request response (200: the data was received)", "durability"),
    _R("CS-DURABLE-TERM-EXIT", SHOULD,
       "The collector exits within 10 s of SIGTERM.",
       "Request response", "durability"),
    _R("CS-DURABLE-RESTART", INFO,
       "How long the collector takes from its start to the first 200, and how many "
       "requests were in flight at each kill.",
       "Request response", "durability"),
    # --- websdk profile: the real Web SDK in headless Chromium ------------------------
    _R("CS-WEBSDK-SENDS", MUST,
       "The real Web SDK, in headless Chromium on a page at the endpoint's origin, finds "
       "every send successful (its failed-event and pending-event stores are empty at "
       "the end): immediate sends, a batch flush, the flush when the page is hidden, and "
       "an event with the largest attribute set the SDK allows.",
       "Request response; Request headers; Event attributes", "websdk"),
    _R("CS-WEBSDK-CORS", MUST,
       "The same from a page at the allowed web origin: the browser lets the SDK's "
       "credentialed cross-origin sends through, and the SDK finds each one successful.",
       "Request endpoint; Request headers (browsers send credentials with the cookie)", "websdk"),
    # --- network profile: slow, idle, flooding and aborting clients ----------------------
    _R("CS-NET-CANARY", MUST,
       "While hostile clients hold connections (slow headers, slow bodies, idle and "
       "kept-alive connections, a flood of connections, uploads cut short), valid "
       "requests sent on fresh connections at a steady pace are all answered, none with "
       "a 5xx, at the latest 5 s after the hostile clients leave.",
       "Request response; HttpCode (verdicts MUST 9 and 10 under hostile clients)", "network"),
    _R("CS-NET-RECOVER", MUST,
       "Within 5 s after the hostile clients closed their connections, a known-good "
       "request is answered with 200.",
       "Request response", "network"),
    _R("CS-NET-ABORT", MUST,
       "An upload cut short (reset or closed halfway through its body, plain or "
       "base64-gzip) harms nothing: the collector keeps serving, and, when the suite "
       "can read the store (--sink), the request's events are stored whole and as sent, "
       "or not at all.",
       "Request response (200: the data was received); Request body", "network"),
    _R("CS-NET-LATENCY", SHOULD,
       "During each hostile-client attack the 99th percentile of the canary's latency "
       "stays within the request timeout (10 s by default, the Web SDK's).",
       "Request response", "network"),
    _R("CS-NET-TIMEOUTS", INFO,
       "How long the collector keeps a silent, a slow and an idle kept-alive connection "
       "open (its timeouts, as measured), and how many concurrent connections it served.",
       "Request response", "network"),
    # --- h2 profile: observations of the HTTP/2 transport (the verdicts are the core IDs',
    # whose cases run again over HTTP/2) ---------------------------------------------------
    _R("CS-H2-ALPN", INFO,
       "Which of h2 and http/1.1 the endpoint accepts by ALPN when the client offers "
       "them as OkHttp, URLSession and Chromium do (h2 first); an endpoint without h2 "
       "is no failure, its HTTP/2 cases are skipped.",
       "Request endpoint (HTTPS); RFC 7301; RFC 9113 section 3.2", "h2"),
    _R("CS-H2-SETTINGS", INFO,
       "The SETTINGS the server sends first on an HTTP/2 connection (concurrent streams, "
       "initial window, frame and header list sizes).",
       "RFC 9113 section 6.5.2", "h2"),
    _R("CS-H2C", INFO,
       "Whether a plain http:// endpoint speaks HTTP/2 with prior knowledge (h2c).",
       "RFC 9113 section 3.3", "h2"),
    # --- clients profile: the document's examples in real client programs ------------------
    _R("CS-CLIENTS-CURL", MUST,
       "curl, run as the document's example runs it, gets 200 for the example request, a "
       "base64-gzip batch with compression=gzip and hashCode and a body of 1,000,000 bytes, "
       "and 413 for a body over 1,048,576 bytes: over HTTP/1.1 (where curl sends "
       "Expect: 100-continue before a large body) and, over https, in whatever protocol "
       "curl and the endpoint agree on (h2 by ALPN). A TLS error, a reset or a timeout is "
       "a failure.",
       "Request code example (curl); Request query parameters; API Specification (3); HttpCode", "clients"),
    _R("CS-CLIENTS-OKHTTP", MUST,
       "OkHttp 4, built bare as in the document's Java example (so sending OkHttp's default "
       "User-Agent, okhttp/<version>), gets the same answers: 200 for the valid requests, "
       "413 for the oversized one.",
       "Request code example (Java OkHttp); HttpCode", "clients"),
    _R("CS-CLIENTS-OKHTTP-SDK", MUST,
       "OkHttp 4 configured as the Android SDK configures it (its timeouts and retry, its "
       "own User-Agent, the cookie in a cookie header, the SDK's query order with an empty "
       "or gzip compression) gets the same answers.",
       "Request code example (Java OkHttp); Request query parameters; Request headers (cookie)", "clients"),
    _R("CS-CLIENTS-FETCH", MUST,
       "Node's global fetch, used as in the document's JavaScript example, gets the same answers.",
       "Request code example (JavaScript fetch); HttpCode", "clients"),
    _R("CS-CLIENTS-REQUESTS", MUST,
       "Python requests, used as in the document's Python example, gets the same answers.",
       "Request code example (Python requests); HttpCode", "clients"),
    _R("CS-CLIENTS-HTTPCLIENT", MUST,
       "C# HttpClient, used as in the document's C# example, gets the same answers (run "
       "only where the dotnet command is installed).",
       "Request code example (C# HttpClient); HttpCode", "clients"),
    _R("CS-CLIENTS-413-READABLE", SHOULD,
       "Each client reads the 413 for its oversized body, rather than seeing the connection "
       "reset while it is still uploading (as curl can behind a server that invites the body "
       "with 100 Continue and then closes on it). A reset there still counts as the body "
       "refused, so the client's MUST holds.",
       "API Specification (3); HttpCode (413)", "clients"),
    _R("CS-CLIENTS-OBSERVED", INFO,
       "Which protocol each client program spoke with the endpoint (http/1.1 or h2), and how "
       "long each of its requests took, start-up of the program excluded where it says so.",
       "Request code example", "clients"),
)

BY_ID: dict[str, Requirement] = {r.id: r for r in REQUIREMENTS}


def get(requirement_id: str) -> Requirement:
    """Return the requirement with this ID; KeyError names unknown IDs."""
    try:
        return BY_ID[requirement_id]
    except KeyError:
        raise KeyError(f"unknown requirement ID {requirement_id!r}") from None


def active(requirement_ids: Iterable[str], profiles: Iterable[str]) -> list[Requirement]:
    """The requirements among these IDs whose profile is selected."""
    selected = set(profiles)
    return [get(i) for i in requirement_ids if get(i).profile in selected]


def format_catalog(requirements: Iterable[Requirement] = REQUIREMENTS) -> str:
    """The catalog as text for `clickstream-conformance requirements`."""
    lines = []
    for r in requirements:
        lines.append(f"{r.id}  [{r.level}, profile {r.profile}]  ({r.section})")
        lines.append(f"    {r.statement}")
    return "\n".join(lines)


def digest(requirements: Iterable[Requirement] = REQUIREMENTS) -> str:
    """The sha256 of the catalog's content: the catalog's version, as a bundle records it."""
    data = json.dumps([r.to_dict() for r in requirements], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def requirement_ids(item: Any) -> list[str]:
    """The IDs a case names with ``@pytest.mark.requirement(...)`` (a pytest item), in order."""
    ids: list[str] = []
    for marker in item.iter_markers("requirement"):
        ids += [i for i in marker.args if i not in ids]
    return ids
