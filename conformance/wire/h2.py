"""The HTTP/2 evidence client: the h2 profile's cases talk to the collector through here.

Built on the sans-IO ``h2`` library (the connection, frame by frame, is ``h2_link.py``),
so every frame stays under the case's control:
the pseudo-headers and headers go out exactly as given (names lower-cased, as HTTP/2
requires; no header is split, merged or added except ``:authority``, ``content-length``
and ``x-conformance-case``, as the HTTP/1.1 client adds Host and Content-Length),
DATA frames follow the server's flow-control windows, and several requests can share
one connection as concurrent streams.

Each request returns the same :class:`~conformance.wire.exchange.Exchange` evidence as the
HTTP/1.1 client (``protocol`` says ``HTTP/2``; its curl line carries ``--http2``) with
the same outcomes: ``answered`` (a final response's HEADERS arrived, also when the
server answered before the body ended and then reset the stream with NO_ERROR, which
RFC 9113 section 8.1 allows), ``timeout`` (the exchange's total deadline passed),
``reset`` (the stream was reset, or the connection went away by GOAWAY or a close,
before any response) and ``refused`` (nobody listening).

The connection itself tells what the server offers: TLS endpoints are asked by ALPN
(h2, then http/1.1, as OkHttp and browsers offer); plain ``http://`` endpoints are
tried with h2c prior knowledge (RFC 9113 section 3.3). :class:`H2NotOffered` says the
server does not offer HTTP/2 (not a fault); :class:`H2NotSpoken` says it claimed h2 in
ALPN and then did not speak it (a fault).
"""
from __future__ import annotations

import socket
import ssl
import time
from typing import Any, Sequence


from conformance.wire.exchange import (
    BODY_METHODS, EndpointClient, Exchange, describe_error, parse_endpoint,
)
from conformance.wire.h2_link import H2Facts, H2NotOffered, H2NotSpoken, H2Request, Link, Queueing, Stream
from conformance.wire.http1 import connect_failure
from conformance.wire.tls import client_context, open_socket

__all__ = ["ALPN_OFFER", "H2Client", "H2Facts", "H2NotOffered", "H2NotSpoken", "H2Request",
           "PROTOCOL", "Queueing", "alpn_offers_h2", "alpn_selected"]

PROTOCOL = "HTTP/2"
ALPN_OFFER = ("h2", "http/1.1")  # what OkHttp, URLSession and Chromium offer
# Pseudo-headers and the fields this client computes itself: curl computes them too.
AUTO_HEADERS = (":method", ":scheme", ":authority", ":path")


# --------------------------------------------------------------------------- client


class H2Client(EndpointClient):
    """HTTP/2 evidence client: one kept connection, one or many streams per call."""

    def __init__(self, endpoint: str, timeout: float = 10.0, secrets: Sequence[str] = (),
                 tls: Any = None) -> None:
        super().__init__(endpoint, timeout, secrets)
        self.tls = tls
        self._link: Link | None = None
        self.facts: H2Facts | None = None  # of the latest connection
        self.queueing = Queueing()          # of the latest send_many

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    # ---------------------------------------------------------------- public
    def connect(self, timeout: float | None = None) -> H2Facts:
        """A fresh connection; its facts. Raises H2NotOffered, H2NotSpoken or OSError."""
        self.close()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._link = self._new_link(deadline)
        self.facts = self._link.facts
        return self.facts

    def send(self, method: str = "POST", query: str | None = None, body: bytes = b"",
             headers: Sequence[tuple[str, str]] = (), case: str = "", path: str | None = None,
             timeout: float | None = None) -> Exchange:
        """One request as one stream on the kept connection; the same call as ``Client.send``."""
        return self.send_many([H2Request(method, query, bytes(body), tuple(headers), case, path)],
                              timeout=timeout)[0]

    def send_many(self, requests: Sequence[H2Request], timeout: float | None = None) -> list[Exchange]:
        """Send the requests as concurrent streams of one connection, under one total
        deadline; one Exchange each, in order. More than the server allows at once wait
        in a queue (``self.queueing`` says how many)."""
        started_at = time.time()
        start = time.monotonic()
        deadline = start + (self.timeout if timeout is None else timeout)
        streams = [self._stream(r) for r in requests]
        reused = self._link is not None and self._link.usable
        if reused:
            self._link.poll_idle()
            reused = self._link.usable
        failure = None if reused else self._fresh_link(deadline)
        if failure is not None:
            for stream in streams:
                stream.settle(*failure)
        else:
            self._link.exchange(streams, deadline)
            self.queueing = Queueing(len(streams), self._link.limit, self._link.peak_open,
                                     sum(s.waited for s in streams), sum(s.refusals for s in streams))
            retry = [i for i, s in enumerate(streams) if reused and self._not_processed(s)]
            if retry:
                # The kept connection had ended as these streams went out (an idle
                # timeout, a GOAWAY naming an earlier stream): not processed, so they
                # go once more on a fresh connection.
                streams = self._retry(streams, retry, deadline)
            if self._link is not None and not self._link.usable:
                self.close()
        exchanges = [self._evidence(s, started_at) for s in streams]
        elapsed = time.monotonic() - start
        for ex in exchanges:
            ex.elapsed = elapsed
        return exchanges

    # ---------------------------------------------------------------- connections
    def _new_link(self, deadline: float) -> Link:
        tls = self.scheme == "https"
        context = client_context(self.tls, alpn=ALPN_OFFER) if tls else None
        sock = open_socket(self.host, self.port, max(deadline - time.monotonic(), 0.001), self.tls, context)
        try:
            facts = self._facts_of(sock, tls)
            if tls and facts.alpn_selected != "h2":
                chosen = facts.alpn_selected or "no protocol"
                raise H2NotOffered(f"h2 not offered: ALPN selected {chosen} from the offer "
                                   f"{', '.join(ALPN_OFFER)}")
            link = Link(sock, facts)
        except BaseException:
            sock.close()
            raise
        try:
            link.start(deadline)
        except BaseException:
            link.close()
            raise
        return link

    @staticmethod
    def _facts_of(sock: socket.socket, tls: bool) -> H2Facts:
        if not tls:
            return H2Facts(mode="h2c")
        assert isinstance(sock, ssl.SSLSocket)
        return H2Facts(mode="h2", alpn_offered=ALPN_OFFER, alpn_selected=sock.selected_alpn_protocol(),
                       tls_version=sock.version())

    def _fresh_link(self, deadline: float) -> tuple[str, str] | None:
        """Open a new connection; None, or the (outcome, detail) every stream gets."""
        self.close()
        try:
            self._link = self._new_link(deadline)
        except (H2NotOffered, H2NotSpoken) as exc:
            return "reset", str(exc)
        except OSError as exc:
            outcome, detail, _ = connect_failure(self.host, self.port, self.tls, exc)
            return outcome, detail
        self.facts = self._link.facts
        return None

    def _not_processed(self, stream: Stream) -> bool:
        """Reset with no frame of its own, and no GOAWAY saying it may have been processed."""
        link = self._link
        if stream.outcome != "reset" or stream.status is not None or stream.received or \
                stream.reset_code is not None or link is None:
            return False
        return link.goaway is None or (stream.stream_id or 0) > link.goaway

    def _retry(self, streams: list[Stream], indexes: list[int], deadline: float) -> list[Stream]:
        fresh = [self._stream(streams[i].request) for i in indexes]
        failure = self._fresh_link(deadline)
        if failure is None:
            self._link.exchange(fresh, deadline)
        elif failure[0] == "refused":
            # Nobody listens any more: the collector went away while these were in
            # flight, and the first attempt is the evidence.
            for i in indexes:
                streams[i].detail += ("; a fresh connection was then refused "
                                      "(the collector went away while handling this request)")
                streams[i].retried = True
            return streams
        else:
            for stream in fresh:
                stream.settle(*failure)
        result = list(streams)
        for i, stream in zip(indexes, fresh):
            stream.retried = True
            result[i] = stream
        return result

    # ---------------------------------------------------------------- requests
    def _stream(self, request: H2Request) -> Stream:
        target = (self.endpoint_path if request.path is None else request.path) + \
            ("" if request.query is None else "?" + request.query)
        given = [(name.lower(), value) for name, value in request.headers]
        authority = next((v for n, v in given if n == "host"), self.netloc)
        fields = [(":method", request.method), (":scheme", self.scheme), (":authority", authority),
                  (":path", target)] + [(n, v) for n, v in given if n != "host"]
        auto = list(AUTO_HEADERS)
        names = {n for n, _ in given}
        if (request.body or request.method.upper() in BODY_METHODS) and "content-length" not in names:
            fields.append(("content-length", str(len(request.body))))
            auto.append("content-length")
        if request.case and "x-conformance-case" not in names:
            fields.append(("x-conformance-case", request.case))
        return Stream(request, target, fields, tuple(auto))

    # ---------------------------------------------------------------- evidence
    def _evidence(self, stream: Stream, started_at: float) -> Exchange:
        request = stream.request
        ex = self.evidence.request(
            case=request.case, method=request.method, url=f"{self.scheme}://{self.netloc}{stream.target}",
            headers=stream.headers, body=request.body, auto_headers=stream.auto,
            outcome=stream.outcome or "reset", detail=stream.detail, early_answer=stream.early,
            started_at=started_at, retried=stream.retried, protocol=PROTOCOL)
        if stream.status is not None:
            self.evidence.response(ex, status=stream.status, headers=stream.response_headers,
                                   body=bytes(stream.data), truncated=stream.truncated)
        return ex


def alpn_selected(endpoint: str, offer: Sequence[str], timeout: float = 5.0, tls: Any = None) -> str:
    """What an https endpoint's TLS selects from ``offer``: a protocol name, "no protocol"
    (ALPN ignored), or "handshake failed: ..." (e.g. a server that refuses the offer)."""
    scheme, host, port, _, _ = parse_endpoint(endpoint)
    if scheme != "https":
        raise ValueError(f"ALPN needs an https endpoint, got {endpoint!r}")
    try:
        sock = open_socket(host, port, timeout, tls, client_context(tls, alpn=offer))
    except OSError as exc:
        return f"handshake failed: {describe_error(exc)}"
    with sock:
        chosen = sock.selected_alpn_protocol() if isinstance(sock, ssl.SSLSocket) else None
    return chosen or "no protocol"


def alpn_offers_h2(endpoint: str, timeout: float = 5.0, tls: Any = None) -> bool:
    """A quick check for certify: does the https endpoint's TLS select h2 by ALPN?
    Any failure (a plain endpoint, a refused or failed handshake) is False; the run
    itself then reports the transport problem."""
    try:
        return alpn_selected(endpoint, ALPN_OFFER, timeout, tls) == "h2"
    except ValueError:
        return False
