"""The mock's own HTTP/1.1 protocol with a front and a back, for faults and variants of the
raw wire (``protocol``): the front, a hand-written step, sees each request head's bytes
before the parser, as a lenient or broken HTTP layer would, and may rewrite the head, answer
it at once (``Answer``) or hang up (``Drop``); the back sees every write. A head is
recognised when it arrives whole in one read (as the suite writes its probes); other reads
pass unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from conformance.mock._http.protocol import MockHttpToolsProtocol

Front = Callable[[bytes], bytes]


class _Rewriting:
    """A transport whose every write passes ``back`` first."""

    def __init__(self, transport: asyncio.Transport, back: Front) -> None:
        self._transport, self._back = transport, back

    def write(self, data: bytes) -> None:
        self._transport.write(self._back(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class Answer(Exception):
    """Raised by a front: write ``status`` with a short text body, and close if ``close``
    (else read on: a request after it is answered); ``say_close``: whether the answer says
    `Connection: close` (as ``close`` unless given)."""

    def __init__(self, status: int, *, close: bool = True, say_close: bool | None = None) -> None:
        super().__init__(status)
        self.status, self.close = status, close
        self.say_close = close if say_close is None else say_close

    def response(self) -> bytes:
        body = b"refused\n" if self.status < 500 else b"internal error\n"
        fields = "connection: close\r\n" if self.say_close else ""
        head = (
            f"HTTP/1.1 {self.status} Status\r\ncontent-type: text/plain\r\n"
            f"content-length: {len(body)}\r\n{fields}\r\n"
        )
        return head.encode("ascii") + body


class Drop(Exception):
    """Raised by a front: close the connection without any answer."""


class FrontProtocol(MockHttpToolsProtocol):
    """The mock's protocol; each whole request head passes ``front`` first."""

    front: ClassVar[Front] = staticmethod(lambda head: head)
    #: what every write passes before the socket (the responses as sent)
    back: ClassVar[Front | None] = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        back = type(self).back
        if back is not None:
            transport = _Rewriting(transport, back)  # type: ignore[assignment]
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data and not self._refused:
            head, sep, rest = data.partition(b"\r\n\r\n")
            try:
                head = type(self).front(head + sep)
            except Answer as answer:
                self.transport.write(answer.response())
                if answer.close:
                    self._refused = True
                    self.transport.close()
                elif rest:
                    super().data_received(rest)
                return
            except Drop:
                self._refused = True
                self.transport.close()
                return
            data = head + rest
        super().data_received(data)


def protocol(
    front: Front | None, name: str, back: Front | None = None
) -> type[MockHttpToolsProtocol]:
    """A protocol class whose request heads pass ``front`` first (None: as they came) and
    whose writes pass ``back`` (None: as written)."""
    attributes: dict[str, Any] = {"back": staticmethod(back) if back else None}
    if front is not None:
        attributes["front"] = staticmethod(front)
    return type(name, (FrontProtocol,), attributes)


def head_lines(head: bytes) -> list[bytes]:
    """The lines of a whole request head (request-line first, the empty last line dropped)."""
    return head[: -len(b"\r\n\r\n")].split(b"\r\n")


def join_head(lines: list[bytes]) -> bytes:
    """A request head from its lines."""
    return b"\r\n".join(lines) + b"\r\n\r\n"
