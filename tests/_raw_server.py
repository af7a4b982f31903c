"""A loopback HTTP server whose every byte the test decides: for answers no framework sends
(truncated, mislabelled, reset, silent), so that the suite's outcome on each can be shown."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

#: (request head, writer) -> None. The handler writes what it likes and may close or reset.
Handler = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]
HANDLER_LIMIT_S = 30.0  # no handler runs longer than this


@dataclass
class Request:
    """The head of one request as received: method, target and lower-cased header names."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    head: bytes = b""  # as received, up to the blank line

    @property
    def has_credentials(self) -> bool:
        return "x-api-key" in self.headers or "authorization" in self.headers


@dataclass
class RawServer:
    base_url: str
    requests: list[Request] = field(default_factory=list)


def response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with a TCP reset (RST), not an orderly close."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _read_head(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = [*line.split(" "), "", ""][:3]
    headers = {}
    for item in lines:
        name, sep, value = item.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Request(method, target, headers, bytes(head))


@contextlib.contextmanager
def raw_server(handler: Handler) -> Iterator[RawServer]:
    """Serve `handler` on a free loopback port in a background thread for the `with` body.

    One request per connection: after the handler returns, the connection is closed."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    server_box: list[asyncio.AbstractServer] = []
    state = RawServer(base_url="")

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _read_head(reader)
        if request is not None:
            state.requests.append(request)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(handler(request, writer), HANDLER_LIMIT_S)
        if not writer.transport.is_closing():
            writer.close()

    async def start() -> None:
        server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
        server_box.append(server)
        state.base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="raw-server", daemon=True)
    thread.start()
    if not ready.wait(5):
        raise RuntimeError("the raw server did not start")

    async def stop() -> None:
        server_box[0].close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        loop.stop()

    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop)
        thread.join(5)
        loop.close()
