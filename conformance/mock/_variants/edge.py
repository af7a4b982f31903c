"""A variant at HTTP's edge: the layer in front of the API (a reverse proxy, or the HTTP
server the API runs in) refuses requests outside the API itself, with its own pages, as stock
nginx, Apache httpd and Python's http.server do. ASGI acts for ``wire.layer``."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from conformance.mock import _layers as layers

SERVER = (b"server", b"edge/1.0")
#: Methods the edge refuses itself with 405 (nginx refuses TRACE; a GET-only gateway refuses
#: every method it does not pass on).
REFUSED = frozenset({"TRACE", "CONNECT", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Fields the edge holds to one line (nginx's "unique" request headers).
ONE_LINE = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"if-match", b"if-none-match",
     b"if-modified-since", b"if-unmodified-since", b"if-range", b"authorization", b"expect"}
)  # fmt: skip
MANY_FIELDS = 100
LONG_LINE = 2048
LARGE_SECTION = 6144

PAGE = b"<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>edge/1.0</center>\r\n</body>\r\n</html>\r\n"  # noqa: E501


def refusal(scope: Scope) -> tuple[int, str] | None:
    """The status and reason with which the edge refuses this request itself, or None."""
    fields = scope["headers"]
    method = scope["method"]
    if len(fields) > MANY_FIELDS:
        return 431, "Request Header Fields Too Large"
    lines = [len(name) + 2 + len(value) for name, value in fields]
    if any(line > LONG_LINE for line in lines) or sum(lines) > LARGE_SECTION:
        return 400, "Request Header Or Cookie Too Large"
    if not method.isupper():
        return 400, "Bad Request"
    if any(not _plain(value) for _, value in fields):
        return 400, "Bad Request"
    names = [name.lower() for name, _ in fields]
    if any(names.count(name) > 1 for name in ONE_LINE & set(names)):
        return 400, "Bad Request"
    if method in REFUSED:
        return 405, "Not Allowed"
    if method not in ("GET", "HEAD"):
        return 501, "Not Implemented"
    if b"expect" in names:
        return 417, ""
    return None


def _plain(value: bytes) -> bool:
    return all(byte == 0x09 or 0x20 <= byte <= 0x7E for byte in value)


async def own_refusals(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Requests outside the API get the edge's HTML page (an empty 417 to Expect, Allow on a
    405); every other request reaches the API."""
    refused = refusal(scope)
    if refused is None:
        await app(scope, receive, send)
        return
    status, reason = refused
    body = PAGE % (status, reason.encode(), status, reason.encode()) if reason else b""
    headers = [SERVER, (b"content-length", b"%d" % len(body))]
    headers += [(b"content-type", b"text/html")] if body else []
    headers += [(b"allow", b"GET, HEAD")] if status == 405 else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send(layers.body_message(b"" if scope["method"] == "HEAD" else body, False))
