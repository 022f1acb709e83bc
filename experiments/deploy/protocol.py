"""uvicorn's httptools protocol with the read-side limits a public-facing HTTP server needs.

uvicorn closes idle keep-alive connections, but it has no deadline for reading a request: a client
that connects and sends nothing, or half a header, or half a body, holds its connection for ever
(slowloris). This protocol adds, per connection:

- a **header deadline**: the request head (request line and headers) must be complete within
  ``header_timeout`` seconds of the connection (or of the first byte of the next keep-alive request);
- a **body deadline**: the body must be complete within ``body_timeout`` seconds of the head (the
  decision endpoint answers 408 itself at that time; this is the backstop for every other route);
- a **head size limit** (``max_head_bytes``): larger heads get 431;
- JSON error bodies for what the parser refuses (400 naming the parser's complaint, e.g. a
  non-numeric ``Content-Length``), so a malformed request always gets an HTTP answer.

On a deadline the connection gets ``408 Request Timeout`` (unless a response has started) and is
closed; the application's lifespan state may hold a callback ``stocklab_on_timeout(phase)`` that
counts it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState


@dataclass(frozen=True)
class ReadLimits:
    """Deadlines (s) and sizes (bytes) of reading one request."""

    header_timeout: float = 5.0
    body_timeout: float = 5.0
    max_head_bytes: int = 64 * 1024
    #: Extra seconds the backstop gives the application to answer a body timeout itself.
    grace: float = 0.5


def error_response(status: int, reason: str, message: str) -> bytes:
    """The bytes of a complete JSON error response that closes the connection."""
    body = json.dumps({"error": message, "fields": []}).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with header/body deadlines, a head size limit and JSON parser errors."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ReadLimits = ReadLimits(),
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0
        self._heads = 0  # request heads completed on this connection
        self._head_exact = 0  # bytes of the current head's request line and headers
        self._oversized = False

    # ------------------------------------------------------------------ deadlines
    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        notify = self.app_state.get("stocklab_on_timeout")
        if notify is not None:
            notify(phase)
        cycle = self.cycle
        if phase == "header" or cycle is None or not cycle.response_started:
            seconds = self.limits.header_timeout if phase == "header" else self.limits.body_timeout
            what = "request head (request line and headers)" if phase == "header" else "request body"
            self.transport.write(
                error_response(408, "Request Timeout", f"the {what} did not arrive within {seconds:g} s")
            )
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    # ------------------------------------------------------------ protocol hooks
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline as soon as the connection exists."""
        super().connection_made(transport)
        self._arm("header", self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the pending deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, enforcing the head size limit and answering parser errors in JSON."""
        if self._reading_head and self._deadline is None:
            self._arm(
                "header", self.limits.header_timeout
            )  # first byte of a kept-alive connection's next request
        heads = self._heads
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._refuse(400, "Bad Request", f"malformed HTTP request: {exc}")
            return
        except httptools.HttpParserUpgrade:
            pass  # no protocol upgrades here (no websockets): the request is answered as plain HTTP
        if self._reading_head and self._heads == heads:  # the head is still incomplete: all of it is head
            self._head_bytes += len(data)
        if self._oversized or self._head_bytes > self.limits.max_head_bytes:
            self._refuse(431, "Request Header Fields Too Large",
                         f"request head larger than {self.limits.max_head_bytes} bytes")  # fmt: skip

    def on_url(self, url: bytes) -> None:
        """Count the request line towards the head size."""
        self._head_exact += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each header towards the head size."""
        self._head_exact += len(name) + len(value) + 4
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        """Answer what uvicorn itself refuses as a bad request with a JSON body."""
        self._refuse(400, "Bad Request", msg)

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._disarm()
        if not self.transport.is_closing():
            if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
                self.transport.write(error_response(status, reason, message))
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            self.transport.close()

    def on_headers_complete(self) -> None:
        """Switch from the header deadline to the body deadline (or refuse an oversized head)."""
        self._reading_head = False
        self._head_bytes = 0
        self._heads += 1
        if self._head_exact > self.limits.max_head_bytes:
            self._oversized = True  # answered by data_received once the parser returns
            self._disarm()
            return
        self._head_exact = 0
        self._arm("body", self.limits.body_timeout + self.limits.grace)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Hand the body on, unless the request was refused."""
        if not self._oversized:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The whole request is in: no read deadline until the next request starts."""
        self._disarm()
        self._reading_head = True
        if not self._oversized:
            super().on_message_complete()
