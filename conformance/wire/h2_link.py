"""One HTTP/2 connection and its streams, frame by frame, under the client's deadline.

The sans-IO ``h2`` state machine over a socket: the preface and SETTINGS, request
streams opened as the server's concurrency allows, bodies pushed as its flow-control
windows open, and each stream settled as answered, reset or timed out.
``conformance/wire/h2.py`` is the client built on it.
"""
from __future__ import annotations

import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Sequence

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from conformance.wire.exchange import RESPONSE_BODY_CAP, describe_error

__all__ = ["H2Facts", "H2NotOffered", "H2NotSpoken", "H2Request", "Link", "Queueing", "Stream"]

WRITE_CHUNK = 16 * 1024
READ_CHUNK = 64 * 1024
PREFACE_EXCERPT = 80
# A stream refused with REFUSED_STREAM was not processed (RFC 9113 section 8.7): it goes
# again on the same connection, at most this many times (a server that lowers its limit
# mid-connection refuses the streams it had not yet counted).
MAX_REFUSALS = 3


class H2NotOffered(Exception):
    """The server does not offer HTTP/2 on this endpoint (ALPN chose otherwise, or a
    plain port refused h2c prior knowledge). Not a failure: the h2 cases skip."""


class H2NotSpoken(Exception):
    """The server claimed h2 in ALPN, then did not speak HTTP/2 on the connection."""


@dataclass(frozen=True)
class H2Request:
    """One request to send as a stream: the same parts as ``Client.send`` takes."""

    method: str = "POST"
    query: str | None = None
    body: bytes = b""
    headers: Sequence[tuple[str, str]] = ()
    case: str = ""
    path: str | None = None


@dataclass
class H2Facts:
    """What a connection showed about the server (INFO for the report)."""

    mode: str                                  # "h2" (TLS, ALPN) or "h2c" (prior knowledge)
    alpn_offered: tuple[str, ...] = ()
    alpn_selected: str | None = None
    tls_version: str | None = None
    settings: dict[str, int] = field(default_factory=dict)  # the server's first SETTINGS

    @property
    def max_concurrent_streams(self) -> int | None:
        return self.settings.get("MAX_CONCURRENT_STREAMS")


@dataclass(frozen=True)
class Queueing:
    """How the latest send_many met the server's concurrency limit (INFO for a case)."""

    streams: int = 0
    limit: int | None = None     # SETTINGS_MAX_CONCURRENT_STREAMS at the end (None: not set)
    peak_open: int = 0           # most streams open at once
    queued: int = 0              # held back at first by the limit, opened as others closed
    refused: int = 0             # REFUSED_STREAM resets, each sent again


# --------------------------------------------------------------------------- one stream


@dataclass
class Stream:
    """One request in flight, and what came back on its stream."""

    request: H2Request
    target: str
    headers: list[tuple[str, str]]   # as sent, pseudo-headers first
    auto: tuple[str, ...]
    stream_id: int | None = None
    offset: int = 0                  # body bytes sent
    sent_all: bool = False           # END_STREAM sent
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    ended: bool = False              # the server's END_STREAM
    reset_code: int | None = None    # the server's RST_STREAM
    early: bool = False              # the response came before the body was sent
    outcome: str | None = None       # set once the stream is settled
    detail: str = ""
    received: int = 0                # frames seen for this stream (for the retry rule)
    retried: bool = False            # sent again on a fresh connection
    waited: bool = False             # queued: the server's limit held it back at first
    refusals: int = 0                # REFUSED_STREAM resets, each sent again

    def reopen(self) -> None:
        """Back to unsent, to go again after a REFUSED_STREAM (nothing was processed)."""
        self.stream_id, self.offset, self.sent_all = None, 0, False
        self.status, self.response_headers, self.data = None, [], bytearray()
        self.ended, self.reset_code, self.early, self.received = False, None, False, 0
        self.refusals += 1

    @property
    def settled(self) -> bool:
        return self.outcome is not None

    def settle(self, outcome: str, detail: str = "") -> None:
        if self.outcome is None:
            self.outcome, self.detail = outcome, detail


def _error_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error code {code:#x}"


def _setting_name(code: int) -> str:
    try:
        return h2.settings.SettingCodes(code).name
    except ValueError:
        return f"SETTING_{code:#x}"


# --------------------------------------------------------------------------- connection


class Link:
    """One HTTP/2 connection: the socket and the h2 state machine over it."""

    def __init__(self, sock: socket.socket, facts: H2Facts) -> None:
        self.sock = sock
        self.facts = facts
        config = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                           normalize_outbound_headers=False,
                                           split_outbound_cookies=False)
        self.h2 = h2.connection.H2Connection(config=config)
        self.outbuf = bytearray()
        self.closed = False           # the socket ended (EOF, error) or we closed it
        self.write_broken = False
        self.goaway: int | None = None  # last_stream_id of the server's GOAWAY
        self.goaway_detail = ""
        self.error = ""               # why the connection broke
        self.got_settings = False
        self.streams: dict[int, Stream] = {}
        self.peak_open = 0            # most streams open at once in the latest exchange

    @property
    def limit(self) -> int | None:
        """The server's SETTINGS_MAX_CONCURRENT_STREAMS now in force (None: no limit set)."""
        value = self.h2.remote_settings.max_concurrent_streams
        return None if value >= 2 ** 31 else value

    @property
    def usable(self) -> bool:
        return not self.closed and self.goaway is None and not self.error

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # --- the preface ------------------------------------------------------------
    def start(self, deadline: float) -> None:
        """Send our preface and SETTINGS; read until the server's SETTINGS arrive.
        Raises H2NotSpoken (or H2NotOffered for h2c) when what comes back is not HTTP/2."""
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.h2.initiate_connection()
        first = bytearray()
        while not self.got_settings:
            self._write_pending(deadline)
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._not_h2(f"no SETTINGS from the server within the deadline ({len(first)} bytes received)")
            try:
                self.sock.settimeout(left)
                data = self.sock.recv(READ_CHUNK)
            except TimeoutError:
                continue
            except OSError as exc:
                raise self._not_h2(f"the connection broke before the server's SETTINGS: {describe_error(exc)}") from None
            if not data:
                raise self._not_h2("the server closed the connection before its SETTINGS"
                                   + (f" after sending {_show(bytes(first))}" if first else ""))
            first += data[: PREFACE_EXCERPT]
            try:
                events = self.h2.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                raise self._not_h2(f"the server answered the HTTP/2 preface with {_show(bytes(first))}, "
                                   f"not HTTP/2 frames ({describe_error(exc)})") from None
            self._handle(events)
        self._write_pending(deadline)

    def _not_h2(self, detail: str) -> Exception:
        self.close()
        if self.facts.mode == "h2c":
            return H2NotOffered(f"h2c with prior knowledge not supported on this plain port: {detail}")
        return H2NotSpoken(f"ALPN selected h2, but {detail}")

    # --- moving bytes -------------------------------------------------------------
    def _write_pending(self, deadline: float) -> None:
        """Queue what h2 has to send; write it without blocking past the deadline."""
        self.outbuf += self.h2.data_to_send()
        while self.outbuf and not self.write_broken:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            _, writable, _ = select.select([], [self.sock], [], left)
            if not writable:
                return
            self._write_some()

    def _write_some(self) -> None:
        try:
            self.sock.settimeout(1.0)
            sent = self.sock.send(self.outbuf[:WRITE_CHUNK])
            del self.outbuf[:sent]
        except TimeoutError:
            pass
        except OSError as exc:
            # The server may have answered and closed: read what it sent before judging.
            self.write_broken = True
            self.outbuf.clear()
            self.error = self.error or f"sending failed: {describe_error(exc)}"

    def _read_some(self, timeout: float) -> bool:
        """Read once (waiting at most ``timeout``) and handle the frames; False on EOF or error."""
        try:
            self.sock.settimeout(max(timeout, 0.001))
            data = self.sock.recv(READ_CHUNK)
        except (TimeoutError, ssl.SSLWantReadError):
            return True
        except OSError as exc:
            self.error = self.error or f"connection broke: {describe_error(exc)}"
            self.close()
            return False
        if not data:
            self.error = self.error or "the server closed the connection"
            self.close()
            return False
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.error = f"HTTP/2 protocol error from the server: {describe_error(exc)}"
            self.close()
            return False
        self._handle(events)
        return True

    def _readable(self, writable_wanted: bool, timeout: float) -> tuple[bool, bool]:
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True, False  # decrypted bytes wait inside ssl: select cannot see them
        readable, writable, _ = select.select([self.sock], [self.sock] if writable_wanted else [], [],
                                              max(timeout, 0))
        return bool(readable), bool(writable)

    def poll_idle(self) -> None:
        """Before reusing an idle connection: take in a GOAWAY or a close that came meanwhile."""
        if self.closed:
            return
        try:
            readable, _ = self._readable(False, 0)
        except (OSError, ValueError):
            self.close()
            return
        if readable:
            self._read_some(0.05)

    # --- events ---------------------------------------------------------------------
    def _handle(self, events: list[h2.events.Event]) -> None:
        for event in events:
            stream = self.streams.get(getattr(event, "stream_id", None) or 0)
            if isinstance(event, h2.events.RemoteSettingsChanged):
                if not self.got_settings:
                    self.facts.settings = {_setting_name(int(code)): change.new_value
                                           for code, change in event.changed_settings.items()}
                self.got_settings = True
            elif isinstance(event, h2.events.ResponseReceived) and stream is not None:
                self._response(stream, event.headers)
            elif isinstance(event, h2.events.DataReceived) and stream is not None:
                self._data(stream, event)
            elif isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and stream is not None:
                stream.ended = True
            elif isinstance(event, h2.events.StreamReset) and stream is not None:
                stream.reset_code = int(event.error_code)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event.last_stream_id
                self.goaway_detail = (f"GOAWAY {_error_name(int(event.error_code))} "
                                      f"(last stream {event.last_stream_id})")
            if stream is not None and isinstance(event, (h2.events.ResponseReceived, h2.events.DataReceived,
                                                         h2.events.StreamEnded, h2.events.StreamReset,
                                                         h2.events.InformationalResponseReceived,
                                                         h2.events.TrailersReceived)):
                stream.received += 1

    def _response(self, stream: Stream, headers: list[tuple[bytes, bytes]]) -> None:
        decoded = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]
        status = next((v for n, v in decoded if n == ":status"), "")
        stream.status = int(status) if status.isdigit() else None
        stream.response_headers = [(n, v) for n, v in decoded if not n.startswith(":")]
        stream.early = not stream.sent_all

    def _data(self, stream: Stream, event: h2.events.DataReceived) -> None:
        # Keep the windows open (the body is read to its end), keep at most the cap.
        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        room = RESPONSE_BODY_CAP - len(stream.data)
        if len(event.data) > room:
            stream.truncated = True
        stream.data += event.data[: max(room, 0)]

    # --- exchanges -----------------------------------------------------------------
    def exchange(self, streams: list[Stream], deadline: float) -> None:
        """Run these streams to their ends (or the deadline): open them as the server's
        concurrency limit allows and queue the rest, each opened as another closes (as
        OkHttp does); a stream refused unprocessed (REFUSED_STREAM) goes back in the queue.
        Bodies go as the windows allow, answers are read all along, so an early answer is
        seen while the upload is still going."""
        pending = list(streams)
        active: list[Stream] = []
        self.peak_open = 0
        self._open(pending, active)
        for stream in pending:
            stream.waited = True
        while True:
            self._open(pending, active)
            self._push_bodies(active)
            pending[:0] = self._settle(active)
            active = [s for s in active if not s.settled and s.stream_id is not None]
            if not active and not pending:
                break
            if self.closed or (self.error and not self._may_still_answer()):
                self._break_all(pending + active)
                break
            self.outbuf += self.h2.data_to_send()
            left = deadline - time.monotonic()
            if left <= 0:
                self._time_out(pending + active)
                break
            try:
                readable, writable = self._readable(bool(self.outbuf) and not self.write_broken, left)
            except (OSError, ValueError) as exc:
                self.error = f"connection broke: {describe_error(exc)}"
                self.close()
                continue
            if writable:
                self._write_some()
            if readable:
                self._read_some(deadline - time.monotonic())
        self._write_pending(min(deadline, time.monotonic() + 1.0))

    def _may_still_answer(self) -> bool:
        """After a broken write the server may still have sent its answer: keep reading."""
        return self.write_broken and not self.closed

    def _open(self, pending: list[Stream], active: list[Stream]) -> None:
        if not self.usable:
            return
        limit = self.h2.remote_settings.max_concurrent_streams
        while pending and self.h2.open_outbound_streams < limit:
            stream = pending.pop(0)
            stream.stream_id = self.h2.get_next_available_stream_id()
            self.streams[stream.stream_id] = stream
            body = stream.request.body
            self.h2.send_headers(stream.stream_id, stream.headers, end_stream=not body)
            stream.sent_all = not body
            active.append(stream)
        self.peak_open = max(self.peak_open, self.h2.open_outbound_streams)

    def _push_bodies(self, active: list[Stream]) -> None:
        """Send DATA frames, round-robin, as far as the flow-control windows allow."""
        moved = True
        while moved and not self.write_broken and len(self.outbuf) < 4 * WRITE_CHUNK:
            moved = False
            for stream in active:
                if stream.sent_all or stream.settled or stream.ended or stream.reset_code is not None:
                    continue
                body = stream.request.body
                window = min(self.h2.local_flow_control_window(stream.stream_id),
                             self.h2.max_outbound_frame_size, WRITE_CHUNK)
                if window <= 0:
                    continue
                chunk = body[stream.offset: stream.offset + window]
                stream.offset += len(chunk)
                stream.sent_all = stream.offset >= len(body)
                self.h2.send_data(stream.stream_id, chunk, end_stream=stream.sent_all)
                self.outbuf += self.h2.data_to_send()
                moved = True

    def _settle(self, active: list[Stream]) -> list[Stream]:
        """Settle the streams that ended; return those refused unprocessed, to go again."""
        again: list[Stream] = []
        for stream in active:
            if stream.settled:
                continue
            answered = stream.status is not None
            if self._refused_unprocessed(stream):
                self.streams.pop(stream.stream_id or 0, None)
                stream.reopen()
                again.append(stream)
                continue
            if answered and stream.ended:
                if not stream.sent_all:
                    # A complete early answer: the rest of the body is not wanted (RFC 9113 8.1).
                    self._cancel(stream)
                stream.settle("answered")
            elif stream.reset_code is not None:
                code = _error_name(stream.reset_code)
                if answered and stream.reset_code == h2.errors.ErrorCodes.NO_ERROR:
                    stream.settle("answered", "" if stream.ended else
                                  f"stream reset with NO_ERROR after {len(stream.data)} body bytes")
                elif answered:
                    stream.settle("answered", f"response body incomplete after {len(stream.data)} bytes: "
                                              f"stream reset with {code}")
                else:
                    again_note = f" (refused {stream.refusals} times before)" if stream.refusals else ""
                    stream.settle("reset", f"stream {stream.stream_id} reset by the server with {code} "
                                           f"before any response{again_note}")
            elif self.goaway is not None and stream.stream_id is not None and stream.stream_id > self.goaway:
                stream.settle("reset", f"{self.goaway_detail}: the server will not process stream "
                                       f"{stream.stream_id}")
        return again

    def _refused_unprocessed(self, stream: Stream) -> bool:
        return (stream.reset_code == h2.errors.ErrorCodes.REFUSED_STREAM and stream.status is None
                and stream.refusals < MAX_REFUSALS and self.usable)

    def _cancel(self, stream: Stream) -> None:
        try:
            self.h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.StreamClosedError:
            pass

    def _break_all(self, streams: list[Stream]) -> None:
        reason = self.goaway_detail or self.error or "the connection ended"
        for stream in streams:
            if stream.status is not None:
                stream.settle("answered", f"response body incomplete after {len(stream.data)} bytes: {reason}")
            else:
                stream.settle("reset", f"no response: {reason}")

    def _time_out(self, streams: list[Stream]) -> None:
        for stream in streams:
            if stream.status is not None:
                stream.settle("answered", f"timed out reading the response body after {len(stream.data)} bytes")
            elif stream.stream_id is None:
                stream.settle("timeout", "timed out waiting for a free stream (the server's concurrency limit)")
            elif not stream.sent_all:
                stream.settle("timeout", f"timed out sending the request body: {stream.offset} of "
                                         f"{len(stream.request.body)} bytes sent (flow control)")
            else:
                stream.settle("timeout", "no response within the deadline")
            if stream.stream_id is not None:
                self._cancel(stream)
        self.error = "an exchange timed out"  # the connection's state is unknown: not reused


def _show(data: bytes) -> str:
    text = data[:PREFACE_EXCERPT].decode("latin-1")
    return repr(text.split("\r\n", 1)[0] if text.startswith("HTTP/") else text)
