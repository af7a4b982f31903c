"""How faults and variants are layered on the correct mock: both catalogues are built on this.

Two kinds of layer, each an ``Apply`` (``app -> app``) that ``layered_app`` installs in order:

- a **step** layer replaces one step of the app's ``Pipeline`` (``on_step``): what the server
  decides (who is authenticated, which period, what body);
- a **wire** layer wraps the app in ASGI (``wire(hit, act)``): requests ``hit`` selects get
  ``act``, which may call the app for the real answer (``answer``) and change how it travels.
  Its server protocol (``WireProtocol``, uvicorn's h11) hands the connection's transport and a
  per-connection dict to the acts. Every act is bounded in time (``ACT_LIMIT``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from email.utils import formatdate
from typing import Any, ClassVar

import anyio
import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from conformance.mock._app import create_app, mock_state
from conformance.mock._model import Fixtures
from conformance.mock._query import valid_host
from conformance.mock._replies import INVALID_REQUEST, Reply
from conformance.mock._state import Clock

#: A layer: takes the app (perhaps already layered) and returns the app to serve.
Apply = Callable[[ASGIApp], ASGIApp]
#: A step of the pipeline (see ``_steps.Pipeline``), as a layer sees it.
Step = Callable[..., Any]
Hit = Callable[[Scope], bool]
Act = Callable[[ASGIApp, Scope, Receive, Send], Awaitable[None]]
TRANSPORT = "dcs.transport"  # scope["extensions"] key: the connection's asyncio transport
CONNECTION = "dcs.connection"  # scope["extensions"] key: a dict kept as long as the connection
TARGET = "dcs.target"  # scope["extensions"] key: the request-target as sent (bytes)
ACT_LIMIT = 60.0  # no act runs longer than this, client or not


def layered_app(
    fixtures: Fixtures | None, applies: Iterable[Apply], *, clock: Clock | None
) -> ASGIApp:
    """A ``create_app`` app with each of ``applies`` (faults, variants) installed, in order."""
    app: ASGIApp = create_app(fixtures, clock=clock)
    for apply in applies:
        app = apply(app)
    return app


def base_app(app: ASGIApp) -> ASGIApp:
    """The ``create_app`` app under any fault wrappers (each keeps it as ``.app``)."""
    while not hasattr(getattr(app, "state", None), "mock"):
        app = app.app  # type: ignore[attr-defined]
    return app


def on_step(step: str, wrap: Callable[[Step], Step]) -> Apply:
    """Replace pipeline step ``step`` with ``wrap(current step)``."""

    def apply(app: ASGIApp) -> ASGIApp:
        state = mock_state(base_app(app))  # type: ignore[arg-type]
        current = getattr(state.pipeline, step)
        state.pipeline = dataclasses.replace(state.pipeline, **{step: wrap(current)})
        return app

    return apply


def error_reply(change: Callable[[Reply], Reply]) -> Apply:
    """Every error reply through ``change`` before it is rendered."""

    def wrap(render: Step) -> Step:
        return lambda reply: render(change(reply))

    return on_step("render_error", wrap)


class WireProtocol(H11Protocol):
    """uvicorn's h11 protocol, exposing to the app the transport (``TRANSPORT``), a dict that
    lives as long as the connection (``CONNECTION``: what a server wrongly remembers between
    requests) and the request-target as sent (``TARGET``); and, when ``lowercase_only`` names
    headers, hiding those sent with any upper-case letter.

    Otherwise it serves like the mock's own protocol: an absolute-form target
    (``GET http://host/v1/usage``) is routed on its path, which RFC 9112 3.2.2 requires of a
    server (uvicorn's h11 protocol alone would route on the whole URL: 404), and a request h11
    rejects (malformed, or a head over h11's 16 KiB limit), or one with an invalid Host or
    with both Transfer-Encoding and Content-Length (h11 takes both and keeps the connection
    open, RFC 9112 3.2 and 6.1), gets the spec's JSON 400 and the close."""

    lowercase_only: ClassVar[frozenset[bytes]] = frozenset()

    def _unsupported_upgrade_warning(self) -> None:
        """Say nothing of an Upgrade not taken, as the mock's own protocol does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_memo: dict[str, Any] = {}
        self._target: bytes | None = None  # of the request whose scope is not yet extended
        next_event = self.conn.next_event

        def reading() -> Any:
            self._extend_scope()  # the scope made for the request read last, if any
            event = next_event()
            if isinstance(event, h11.Request):
                _well_formed(event)
                self._target = event.target
                event = _origin_form(event)
                if self.lowercase_only:
                    event = _lowercase_only(event, self.lowercase_only)
            return event

        self.conn.next_event = reading  # type: ignore[method-assign]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._extend_scope()  # the request task has been created but has not run yet

    def _extend_scope(self) -> None:
        scope = getattr(self, "scope", None)
        if scope is None:
            return
        extensions = scope.setdefault("extensions", {})
        extensions[TRANSPORT] = self.transport
        extensions[CONNECTION] = self.connection_memo
        if self._target is not None:
            extensions[TARGET] = self._target
            self._target = None

    def send_400_response(self, msg: str) -> None:
        """The spec's JSON 400 ``INVALID_REQUEST`` (uvicorn's is text/plain), then close."""
        reply = INVALID_REQUEST
        headers = [
            (b"date", formatdate(usegmt=True).encode()),  # RFC 9110 6.6.1, as the mock's own
            (b"content-type", reply.media_type.encode()),
            (b"content-length", b"%d" % len(reply.body)),
            (b"connection", b"close"),
        ]
        try:
            for event in (
                h11.Response(status_code=reply.status, headers=headers, reason=b"Bad Request"),
                h11.Data(data=reply.body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:  # a response had already started: just hang up
            pass
        self.transport.close()


def request_target(scope: Scope) -> bytes:
    """The request-target as the client sent it (served through ``WireProtocol``), else as
    rebuilt from the scope (origin-form)."""
    sent = scope.get("extensions", {}).get(TARGET)
    if sent is not None:
        return bytes(sent)
    query = scope.get("query_string", b"")
    path = scope.get("raw_path") or scope["path"].encode()
    return bytes(path) + (b"?" + query if query else b"")


def _well_formed(event: Any) -> None:
    """Raise h11's error (uvicorn answers 400) for what h11 takes but a server must refuse."""
    names = [name.lower() for name, _ in event.headers.raw_items()]
    hosts = [value for name, value in event.headers.raw_items() if name.lower() == b"host"]
    if hosts and not valid_host(hosts[0]):
        raise h11.RemoteProtocolError("invalid Host")
    if b"transfer-encoding" in names and b"content-length" in names:
        raise h11.RemoteProtocolError("Transfer-Encoding and Content-Length")


def _origin_form(event: Any) -> Any:
    """An absolute-form request (``http://host/path?query``) as origin-form (``/path?query``)."""
    target = event.target
    scheme, sep, rest = target.partition(b"://")
    if not sep or not scheme.isalpha():
        return event
    start = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
    path = rest[start:]
    origin = path if path.startswith(b"/") else b"/" + path
    return h11.Request(
        method=event.method,
        target=origin,
        headers=list(event.headers.raw_items()),
        http_version=event.http_version,
    )


def _lowercase_only(event: Any, names: frozenset[bytes]) -> Any:
    kept = [(n, v) for n, v in event.headers.raw_items() if n.lower() not in names or n.islower()]
    return h11.Request(
        method=event.method, target=event.target, headers=kept, http_version=event.http_version
    )


class WireLayer:
    """ASGI wrapper: requests ``hit`` selects get ``act``, the others the wrapped app."""

    def __init__(
        self, app: ASGIApp, hit: Hit, act: Act, protocol: type[asyncio.Protocol] | None = None
    ) -> None:
        self.app = app
        self.hit = hit
        self.act = act
        self.http_protocol = protocol or getattr(app, "http_protocol", WireProtocol)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.hit(scope):
            await self.app(scope, receive, send)
            return
        with anyio.move_on_after(ACT_LIMIT):
            await self.act(self.app, scope, receive, send)


def wire(hit: Hit, act: Act, protocol: type[asyncio.Protocol] | None = None) -> Apply:
    return lambda app: WireLayer(app, hit, act, protocol)


async def passthrough(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    await app(scope, receive, send)


async def answer(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    """The mock's own response, captured: its start message and its whole body."""
    start: Message = {}
    body = bytearray()

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, keep)
    return start, bytes(body)


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def body_message(chunk: bytes, more: bool) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": more}


async def streamed(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, pieces: int = 4
) -> None:
    """The answer without Content-Length, its body in ``pieces``, each sent on its own turn
    of the event loop: uvicorn's httptools protocol frames it ``Transfer-Encoding: chunked``,
    whatever the request's HTTP version."""
    start, body = await answer(app, scope, receive)
    headers = [(n, v) for n, v in start.get("headers", []) if n.lower() != b"content-length"]
    await send({**start, "headers": headers})
    size = max(1, -(-len(body) // pieces))
    for offset in range(0, len(body), size):
        await send(body_message(body[offset : offset + size], True))
        await anyio.sleep(0)
    await send(body_message(b"", False))


async def send_reply(reply: Reply, send: Send) -> None:
    """An error reply of the mock (``_replies``), as it renders it."""
    headers = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    headers += [
        (b"content-type", reply.media_type.encode()),
        (b"content-length", b"%d" % len(reply.body)),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send(body_message(reply.body, False))
