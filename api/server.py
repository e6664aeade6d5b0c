"""Limits uvicorn does not enforce on its own, applied to every connection before the app runs.

Found by the attack of issue 13, all on uvicorn's fast `httptools` protocol:
- header size and count: a 120 MB header was read into memory (the body limit does not cover
  headers) and stalled every prediction alongside it for 41 s. Here the request head (request
  line and headers) may be at most `max_header_bytes` and `max_headers` fields; past either, the
  answer is a JSON 431 and the connection closes. (uvicorn's `h11_max_incomplete_event_size`
  only applies to its slower h11 protocol.)
- read time: a half-sent request was still held after 200 s. A request must arrive whole
  (head and body) within `read_timeout` seconds of its first byte, and a new connection must
  send its first byte within the same time; else a JSON 408 and the connection closes.
  (uvicorn's `timeout_keep_alive` only covers the idle time after a response.)
- idle connections: when `max_connections` are open, a new connection closes the connection
  that has waited longest without a request in the app (idle, or still sending its request),
  so idle or slow sockets cannot lock honest clients out.

A subclass of uvicorn's `HttpToolsProtocol` is the smallest place that sees the bytes of a head
before it is parsed: it reuses uvicorn's parser, flow control and ASGI cycle unchanged.
"""

from __future__ import annotations

import time

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_HEADERS = 100
DEFAULT_READ_TIMEOUT = 15.0
DEFAULT_MAX_CONNECTIONS = 1000

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}


def error_bytes(status: int, kind: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response in the API's error format, closing the connection."""
    body = orjson.dumps({"error": kind, "detail": detail})
    return b"".join([b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
                     b"content-type: application/json\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body])


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with head size/count limits, a request read deadline and a cap on
    open connections. The limits are class attributes, set by `limited_protocol`."""

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES
    max_headers = DEFAULT_MAX_HEADERS
    read_timeout = DEFAULT_READ_TIMEOUT
    max_connections = DEFAULT_MAX_CONNECTIONS

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._in_head = False
        self._in_body = False
        self._reading = True  # a new connection owes its first request within read_timeout
        self._waiting_since = time.monotonic()
        self._deadline = self.loop.call_later(self.read_timeout, self._read_timed_out)
        if len(self.connections) > self.max_connections:
            self._evict_one()

    def connection_lost(self, exc) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _cancel_deadline(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _evict_one(self) -> None:
        """Close the connection that has waited longest with no request in the app."""
        waiting = [c for c in self.connections
                   if c is not self and isinstance(c, LimitedHttpToolsProtocol)
                   and (c.cycle is None or c.cycle.response_complete) and not c.transport.is_closing()]
        if waiting:
            oldest = min(waiting, key=lambda c: c._waiting_since)
            oldest.transport.close()

    def _refuse(self, status: int, kind: str, detail: str) -> None:
        self._cancel_deadline()
        if not self.transport.is_closing():
            self.transport.write(error_bytes(status, kind, detail))
            self.transport.close()

    def _read_timed_out(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete and self.cycle.response_started:
            self.transport.close()  # cannot happen while reading; be safe
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The app holds a request whose body never finished: it sees a disconnect.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self._refuse(408, "request_timeout",
                     f"the request did not arrive whole within {self.read_timeout:g} s")

    # --- bytes in ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if not self._reading:
            # First byte after an idle keep-alive: the next request starts its clock.
            self._reading = True
            self._waiting_since = time.monotonic()
            self._cancel_deadline()
            self._deadline = self.loop.call_later(self.read_timeout, self._read_timed_out)
        if not self._in_body:
            self._head_bytes += len(data)  # reset once the head is parsed
        super().data_received(data)
        # Checked after each chunk, so at most one read (asyncio reads up to 256 KiB) more than
        # the limit is ever held.
        if self._in_head and self._head_bytes > self.max_header_bytes:
            self._refuse(431, "headers_too_large",
                         f"request line and headers larger than {self.max_header_bytes} bytes")

    def send_400_response(self, msg: str) -> None:
        if self.transport.is_closing():  # already answered (431) and closing
            return
        super().send_400_response(msg)

    # --- parser callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > self.max_headers:
            # Raised inside the parser's callback: uvicorn answers 400 and closes; answer first.
            self._refuse(431, "too_many_headers", f"more than {self.max_headers} header fields")
            raise ValueError("too many header fields")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._in_body = True
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_body = False
        self._cancel_deadline()
        self._reading = False
        self._waiting_since = time.monotonic()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._waiting_since = time.monotonic()


def configure(*, max_header_bytes: int, max_headers: int, read_timeout: float,
              max_connections: int) -> None:
    """Set the limits. Called by `create_app`, so each uvicorn worker process (which imports
    this class by name) applies the settings it was started with."""
    cls = LimitedHttpToolsProtocol
    cls.max_header_bytes, cls.max_headers = max_header_bytes, max_headers
    cls.read_timeout, cls.max_connections = read_timeout, max_connections
