"""Run an ASGI app with uvicorn in a background thread, on loopback by default."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from conformance.mock._http.protocol import MockHttpToolsProtocol


class _CountRequests:
    """ASGI wrapper counting the HTTP requests that reach the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.count += 1
        await self.app(scope, receive, send)


class MockServer:
    """A running server: ``base_url``, ``started`` and ``request_count``."""

    def __init__(self, server: uvicorn.Server, counter: _CountRequests, host: str, port: int):
        self._server = server
        self._counter = counter
        self.host = host
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"

    @property
    def started(self) -> bool:
        """True once uvicorn accepts connections."""
        return self._server.started

    @property
    def request_count(self) -> int:
        """HTTP requests the app has handled (uvicorn's own protocol-level 400s excluded)."""
        return self._counter.count

    def __repr__(self) -> str:
        return f"MockServer({self.base_url!r})"


def check_host(host: str, *, allow_remote: bool = False) -> str:
    """The IP literal to bind for ``host``; ValueError unless loopback or ``allow_remote``."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be an IP address or 'localhost', got {host!r}") from None
    if not address.is_loopback and not allow_remote:
        raise ValueError(f"refusing non-loopback host {host!r} (needs allow_remote)")
    return str(address)


@contextlib.contextmanager
def serve(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    allow_remote: bool = False,
    startup_timeout: float = 5.0,
) -> Iterator[MockServer]:
    """Serve ``app`` in a background thread for the ``with`` body; port 0 picks a free port.

    The server is accepting connections when the body starts, and is stopped and joined
    on exit. No access log, no ``server`` header; httptools parses requests (see
    ``_protocol``) and uvloop runs the loop when installed. An app may name its own uvicorn
    protocol class in ``app.http_protocol``: the fault layer's wire-level faults do. Raises
    ValueError for a refused host, OSError if the port cannot be bound, RuntimeError if
    uvicorn fails to start.
    """
    bind_host = check_host(host, allow_remote=allow_remote)
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says so; without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind_host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    counter = _CountRequests(app)
    config = uvicorn.Config(
        counter,
        http=getattr(app, "http_protocol", MockHttpToolsProtocol),
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # no proxy in front of the mock: X-Forwarded-* mean nothing
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="dcs-mock", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock server did not start")
            time.sleep(0.002)
        yield MockServer(server, counter, bind_host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
        sock.close()
