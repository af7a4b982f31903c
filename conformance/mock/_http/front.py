"""The mock's own HTTP/1.1 protocol with a front: a hand-written step that sees each request
head's bytes before the parser, as a lenient or broken HTTP layer would, for faults and
variants of the raw wire (``protocol(front)``). The front may rewrite the head, answer it at
once (``Answer``) or hang up (``Drop``). A head is recognised when it arrives whole in one
read (as the suite writes its probes); other reads pass unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from conformance.mock._http.protocol import MockHttpToolsProtocol

Front = Callable[[bytes], bytes]


class Answer(Exception):
    """Raised by a front: write ``status`` with a short text body, and close if ``close``."""

    def __init__(self, status: int, *, close: bool = True) -> None:
        super().__init__(status)
        self.status, self.close = status, close

    def response(self) -> bytes:
        body = b"refused\n" if self.status < 500 else b"internal error\n"
        fields = "connection: close\r\n" if self.close else ""
        head = (
            f"HTTP/1.1 {self.status} Status\r\ncontent-type: text/plain\r\n"
            f"content-length: {len(body)}\r\n{fields}\r\n"
        )
        return head.encode("ascii") + body


class Drop(Exception):
    """Raised by a front: close the connection without any answer."""


class FrontProtocol(MockHttpToolsProtocol):
    """The mock's protocol; each whole request head passes ``front`` first."""

    front: ClassVar[Front]

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
                return
            except Drop:
                self._refused = True
                self.transport.close()
                return
            data = head + rest
        super().data_received(data)


def protocol(front: Front, name: str, **attributes: Any) -> type[MockHttpToolsProtocol]:
    """A protocol class whose request heads pass ``front`` first."""
    return type(name, (FrontProtocol,), {"front": staticmethod(front), **attributes})


def head_lines(head: bytes) -> list[bytes]:
    """The lines of a whole request head (request-line first, the empty last line dropped)."""
    return head[: -len(b"\r\n\r\n")].split(b"\r\n")


def join_head(lines: list[bytes]) -> bytes:
    """A request head from its lines."""
    return b"\r\n".join(lines) + b"\r\n\r\n"
