"""A small HTTP/1.1 load generator on raw asyncio streams, for benchmarking a local decision service.

It speaks just enough HTTP for the benchmark: one pre-encoded request, a response read by its
``Content-Length`` (or chunked), keep-alive when the server allows it and a new connection when it
does not (HTTP/1.0, ``Connection: close``). A request's latency runs from the moment it is started,
connect included when a new connection is needed, to the last byte of the response, so that dropped
SYNs (a full listen backlog) show up as latency. Every loop is bounded in time and targets loopback
addresses only; nothing here retries forever.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

#: Seconds one request (connect, send, receive) may take before it counts as a timeout.
REQUEST_TIMEOUT = 10.0


def encode_request(method: str, path: str, host: str, body: bytes = b"", content_type: str = "") -> bytes:
    """The bytes of one HTTP/1.1 request (keep-alive; ``Content-Length`` when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if body or method == "POST":
        lines += [f"Content-Type: {content_type or 'application/json'}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


@dataclass
class Response:
    """Status, lower-cased headers and body of one response, and whether the connection stays open."""

    status: int
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


async def read_response(reader: asyncio.StreamReader) -> Response:
    """Read one response; ``asyncio.IncompleteReadError`` when the server closes mid-way."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:-2]
            if size == 0:
                break
    else:
        body = bytearray(await reader.readexactly(int(headers.get("content-length", "0"))))
    connection = headers.get("connection", "").lower()
    keep = version == "HTTP/1.1" and "close" not in connection or "keep-alive" in connection
    return Response(int(status), headers, bytes(body), keep)


@dataclass
class LoadResult:
    """What closed-loop clients saw: latencies (s) of successful requests and counted failures."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    server_timings_ms: list[float] = field(default_factory=list)

    def error(self, kind: str) -> None:
        """Count one failed request of kind ``kind`` (refused, reset, timeout, ...)."""
        self.errors[kind] = self.errors.get(kind, 0) + 1


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed_mid_response"
    return type(exc).__name__


def server_timing_ms(headers: dict[str, str], metric: str = "decide") -> float | None:
    """The ``dur`` (ms) of ``metric`` in a ``Server-Timing`` header, if the server sent one."""
    for part in headers.get("server-timing", "").split(","):
        name, *params = [p.strip() for p in part.split(";")]
        if name == metric:
            for p in params:
                if p.startswith("dur="):
                    return float(p[4:])
    return None


class _Connection:
    """One client connection, opened on demand and reopened after the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, request: bytes, result: LoadResult) -> Response | None:
        """Send ``request`` and read its response, accounting it in ``result`` (None on failure)."""
        start = time.perf_counter()
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), REQUEST_TIMEOUT
                )
                result.connections += 1
            assert self.reader is not None
            self.writer.write(request)
            response = await asyncio.wait_for(read_response(self.reader), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            result.error(_error_kind(exc))
            self.close()
            return None
        result.latencies.append(time.perf_counter() - start)
        result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
        timing = server_timing_ms(response.headers)
        if timing is not None:
            result.server_timings_ms.append(timing)
        if not response.keep_alive:
            self.close()
        return response


async def _client(host: str, port: int, request: bytes, stop_at: float, result: LoadResult) -> None:
    conn = _Connection(host, port)
    while time.perf_counter() < stop_at:
        await conn.request(request, result)
    conn.close()


async def closed_loop(host: str, port: int, request: bytes, clients: int, seconds: float) -> LoadResult:
    """``clients`` concurrent clients, each sending ``request`` again as soon as it has its answer."""
    result = LoadResult()
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_client(host, port, request, stop_at, result) for _ in range(clients)))
    return result


async def _stall(host: str, port: int, partial: bytes, cut_off: list[float], answered: list[int]) -> None:
    """Open a connection, send ``partial`` (a request without the end of its body) and wait."""
    start = time.perf_counter()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT)
        writer.write(partial)
        data = await reader.read(4096)  # the server's answer (if any) or EOF when it cuts us off
        while data and b"\r\n\r\n" not in data:
            more = await reader.read(4096)
            if not more:
                break
            data += more
        if data.startswith(b"HTTP/"):
            answered.append(int(data.split(b" ", 2)[1]))
        cut_off.append(time.perf_counter() - start)
    except (OSError, asyncio.IncompleteReadError):
        cut_off.append(time.perf_counter() - start)
    except asyncio.CancelledError:
        pass
    finally:
        if writer is not None:
            writer.close()


async def stalled_clients(
    host: str,
    port: int,
    partial: bytes,
    stalled: int,
    request: bytes,
    clients: int,
    seconds: float,
    wait_cut_off: float,
) -> dict[str, Any]:
    """Latency of ``clients`` ordinary clients while ``stalled`` others hold half-sent requests.

    The stalled connections are given ``wait_cut_off`` seconds (from their start) to be cut off by the
    server; those still open then are counted as ``still_open`` and closed by us.
    """
    cut_off: list[float] = []
    answered: list[int] = []
    tasks = [asyncio.ensure_future(_stall(host, port, partial, cut_off, answered)) for _ in range(stalled)]
    await asyncio.sleep(0.5)  # let every stalled connection be accepted before measuring the others
    load = await closed_loop(host, port, request, clients, seconds)
    started = time.perf_counter() - seconds - 0.5
    remaining = max(0.0, wait_cut_off - (time.perf_counter() - started))
    done, pending = await asyncio.wait(tasks, timeout=remaining) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return {
        "load": load,
        "stalled": stalled,
        "cut_off": len(cut_off),
        "still_open": len(pending),
        "answered_status": {str(s): answered.count(s) for s in sorted(set(answered))},
        "cut_off_after_s": cut_off,
    }


async def burst(host: str, port: int, request: bytes, connections: int) -> LoadResult:
    """``connections`` clients that connect at the same instant and send one request each."""
    result = LoadResult()

    async def one() -> None:
        conn = _Connection(host, port)
        await conn.request(request, result)
        conn.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return result


async def timed_requests(host: str, port: int, request: bytes, n: int) -> LoadResult:
    """``n`` requests one after another on one keep-alive connection (for big-batch timings)."""
    result = LoadResult()
    conn = _Connection(host, port)
    for _ in range(n):
        await conn.request(request, result)
    conn.close()
    return result
