"""Real reverse proxies in front of a server: nginx, HAProxy, Apache httpd (mod_proxy) and Caddy,
each with the stock reverse-proxy configuration its documentation gives, plus the documented
lines that fix a MUST of HTTP it breaks out of the box (`Edge.fixes`). `edge` runs one as a
process of our own, in the foreground, in a temporary directory, on a free loopback port, in
front of a loopback upstream port, and stops it: for the project's tests and the kill matrix's
``--edge NAME``. `Edge.hidden` lists the faults of the mock's catalogue that the proxy hides
(normalises away what the fault relies on), each with the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import yaml


class EdgeError(RuntimeError):
    """An edge that cannot run: unknown, not installed, or it did not start (one line, with
    the tail of its log when it has one)."""


@dataclass(frozen=True)
class Fix:
    """A configuration line that fixes a MUST of HTTP the proxy breaks out of the box."""

    line: str
    rule: str  # the MUST, with its source
    breaks: str  # what the proxy does without the line


@dataclass(frozen=True)
class Known:
    """A MUST of HTTP the proxy breaks that no configuration line fixes: a known failure of
    any run behind it, for a baseline (README, "A nightly you can live with")."""

    id: str  # the root cause's id in summary.json
    rule: str  # the MUST, with its source
    reason: str  # what the proxy does, and why no line fixes it


@dataclass(frozen=True)
class Edge:
    """One reverse proxy: its binary, Debian package and configuration."""

    name: str
    title: str
    binary: str
    package: str
    config_name: str
    #: the stock configuration; ``$port``, ``$upstream``, ``$dir`` and ``$fixes`` filled in
    template: str
    argv: Callable[[str, Path], list[str]]  # (binary, config file) -> command line
    docs: str  # where the stock configuration comes from
    fixes: tuple[Fix, ...] = ()
    #: faults of the mock's catalogue the proxy hides, each with the reason
    hidden: Mapping[str, str] = field(default_factory=dict)
    #: variants (correct servers) the proxy breaks, each with the rule it breaks and why no
    #: configuration line fixes it
    breaks: Mapping[str, str] = field(default_factory=dict)
    #: MUSTs of HTTP the proxy breaks that no configuration line fixes
    known: tuple[Known, ...] = ()

    def baseline(self, directory: Path) -> Path | None:
        """A baseline of the proxy's known failures written in ``directory`` (None: it has
        none), each entry expiring a year after today."""
        if not self.known:
            return None
        expires = (dt.date.today() + dt.timedelta(days=365)).isoformat()
        entries = [
            {"id": k.id, "reason": f"{self.title}: {k.reason} ({k.rule})", "expires": expires}
            for k in self.known
        ]
        path = directory / f"{self.name}-baseline.yaml"
        path.write_text(yaml.safe_dump({"known": entries}, sort_keys=False))
        return path

    @property
    def install(self) -> str:
        """The command that installs the proxy (Debian, Ubuntu)."""
        return f"apt-get install -y {self.package}"

    def config(self, port: int, upstream: int, where: Path, fixes: bool = True) -> str:
        """The configuration file's text, with the fix lines unless ``fixes`` is false."""
        lines = "\n".join(fix.line for fix in self.fixes) if fixes else ""
        return Template(self.template).substitute(
            port=port, upstream=upstream, dir=str(where), fixes=lines
        )

    def path(self) -> str | None:
        """The binary, found on PATH or in the sbin folders (None: not installed)."""
        found = shutil.which(self.binary)
        if found is None:
            for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
                candidate = Path(folder) / self.binary
                if os.access(candidate, os.X_OK):
                    return str(candidate)
        return found


#: why faults that keep state per connection do not show behind a proxy
NEW_CONN = (
    "a new upstream connection per request (no keepalive to the upstream in the stock "
    "configuration)"
)


def _own_framing(proxy: str) -> dict[str, str]:
    """Faults every proxy of the four hides: it keeps its own connection to the client and
    knows where a 304's answer ends."""
    return {
        "connection_close_ignored": f"{proxy} honours the client's Connection: close itself, "
        "whatever the upstream says",
        "not_modified_with_content": f"{proxy} knows a 304 ends with its header section and "
        "drops what follows",
    }


def _own_date(proxy: str) -> dict[str, str]:
    """Faults a proxy that writes its own Date hides."""
    return {
        "no_date": f"{proxy} adds a Date of its own to every answer",
        "date_not_imf_fixdate": f"{proxy} sends a Date of its own, in IMF-fixdate",
    }


#: The HTTP/1.1 layer's faults (`mock/_faults/http1.py`) by the side of the exchange they break.
_REQUEST_PARSING = frozenset(
    {"missing_host_accepted", "double_host_accepted", "invalid_host_accepted",
     "space_before_colon_accepted", "control_bytes_in_field_500", "indented_field_line_taken",
     "garbage_request_line_500", "garbage_request_line_kept_open", "raw_target_autocorrected",
     "long_method_500", "invalid_content_length_ignored", "te_cl_kept_open", "higher_minor_500",
     "unfinished_head_answered"}
)  # fmt: skip
_CLIENT_CONNECTION = frozenset({"close_then_next_answered", "pipelined_answers_swapped"})


def _own_http1(proxy: str, *names: str) -> dict[str, str]:
    """The HTTP/1.1 layer's faults a proxy hides: it parses the client's request and holds
    the client's connection itself, and writes its own status-line, fields and framing."""
    reasons = {}
    for name in names:
        if name in _REQUEST_PARSING:
            why = (
                "parses the client's whole request head itself and refuses or rewrites what is "
                "malformed (and its version)"
            )
        elif name in _CLIENT_CONNECTION:
            why = "holds the client's connection itself: its pipelining and its close"
        else:
            why = "parses the server's answer and writes its own status-line, fields and framing"
        reasons[name] = f"{proxy} {why}: the fault's layer never meets the client"
    return reasons


_EVERY_EDGE_HIDES = (
    "missing_host_accepted", "double_host_accepted", "space_before_colon_accepted",
    "indented_field_line_taken", "garbage_request_line_500", "garbage_request_line_kept_open",
    "invalid_content_length_ignored", "te_cl_kept_open", "close_then_next_answered",
    "pipelined_answers_swapped", "chunked_204", "close_not_echoed", "folded_response_field",
    "higher_minor_500", "unfinished_head_answered",
    "status_line_http2",
)  # fmt: skip


NGINX = Edge(
    name="nginx",
    title="nginx",
    binary="nginx",
    package="nginx",
    config_name="nginx.conf",
    docs="nginx's reverse proxy guide: proxy_pass, proxy_http_version 1.1",
    fixes=(
        Fix(
            line="        error_page 405 @not_allowed;\n"
            '        location @not_allowed { add_header Allow "GET, HEAD" always; return 405; }',
            rule='RFC 9110 15.5.6: "The origin server MUST generate an Allow header field in a '
            '405 response"',
            breaks="nginx refuses TRACE itself, 405 without Allow, before any location",
        ),
    ),
    hidden={
        "auth_sticky_connection": f"nginx opens {NEW_CONN}: no state kept on the upstream's "
        "connection reaches a later request",
        "previous_request_org": f"nginx opens {NEW_CONN}: no request follows another on the "
        "upstream's connection",
        "not_modified_unconditional": f"nginx opens {NEW_CONN}: no ETag was last sent on it",
        "fresh_connection_stale_replica": f"nginx opens {NEW_CONN}: every answer is a "
        "connection's first, all equally stale, so equivalent requests agree (the canary's "
        "figures still catch it: canary_closed_period_exact)",
        "trace_echoes_request": "nginx refuses TRACE itself (405): it never reaches the server",
        "head_with_body": "nginx knows a HEAD's answer ends with its header section and drops "
        "what follows",
        "expect_continue_hang": "nginx answers Expect: 100-continue itself and does not pass "
        "the field on",
        "absolute_form_500": "nginx sends the upstream an origin-form request-target",
        "foreign_authority_500": "nginx sends the upstream an origin-form request-target "
        "(or refuses the empty host or userinfo itself)",
        "http10_legacy_backend": "nginx speaks HTTP/1.1 to the upstream whatever the client's "
        "version (proxy_http_version 1.1)",
        "chunked_to_http10": "nginx takes the upstream's chunked framing apart and frames the "
        "answer for the client's version itself",
        "content_length_beside_chunked": "nginx reads the upstream's chunked framing, drops its "
        "Content-Length and frames the answer itself",
        **_own_framing("nginx"),
        **_own_http1(
            "nginx", *_EVERY_EDGE_HIDES, "invalid_host_accepted", "control_bytes_in_field_500"
        ),
        **_own_date("nginx"),
    },
    breaks={
        "early_hints_103": "nginx 1.22 takes an upstream's 103 Early Hints for the final answer "
        "(RFC 9110 15.2: a 1xx is interim, the final answer follows): a HEAD gets a 103 and "
        "no final answer, a GET the real answer as the 103's content. nginx handles 103 from "
        "1.29 on (early_hints); before, the server behind it must not send 1xx",
    },
    template="""\
worker_processes 1;
daemon off;
user root;
pid $dir/nginx.pid;
error_log $dir/error.log notice;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
$fixes
        location / {
            proxy_pass http://127.0.0.1:$upstream;
            proxy_http_version 1.1;
        }
    }
}
""",
    argv=lambda binary, config: [
        *(binary, "-p", str(config.parent), "-c", str(config)),
        *("-e", str(config.parent / "error.log")),
    ],
)

HAPROXY = Edge(
    name="haproxy",
    title="HAProxy",
    binary="haproxy",
    package="haproxy",
    config_name="haproxy.cfg",
    docs="HAProxy's configuration manual: a frontend in mode http, a backend with one server",
    template="""\
global
    maxconn 512
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
$fixes
frontend edge
    bind 127.0.0.1:$port
    default_backend dcs
backend dcs
    server dcs 127.0.0.1:$upstream
""",
    argv=lambda binary, config: [binary, "-db", "-f", str(config)],
    hidden={
        "header_names_case_sensitive": "HAProxy passes every header field name on in lower case",
        "length_in_204": "HAProxy drops the Content-Length of a 204 it passes on",
        "head_with_body": "HAProxy knows a HEAD's answer ends with its header section and "
        "drops what follows",
        **_own_framing("HAProxy"),
        **_own_http1(
            "HAProxy",
            *_EVERY_EDGE_HIDES,
            "raw_target_autocorrected",
            "status_line_without_reason_sp",
        ),
    },
    breaks={
        "early_hints_103": "HAProxy 2.6 now and then loses the final answer after an "
        "upstream's 103 Early Hints (a 401 without its content, or no answer within the "
        "deadline; RFC 9110 15.2: the final answer follows the 1xx), a few requests in a run; "
        "the same server passes directly and behind Apache and Caddy; no configuration line "
        "found that fixes it",
    },
)

APACHE = Edge(
    name="apache",
    title="Apache httpd (mod_proxy)",
    binary="apache2",
    package="apache2",
    config_name="httpd.conf",
    docs="mod_proxy's reverse proxy guide: ProxyPass and ProxyPassReverse",
    template="""\
ServerRoot $dir
DefaultRuntimeDir $dir
PidFile $dir/httpd.pid
ErrorLog $dir/error.log
LogLevel warn
ServerName 127.0.0.1
Listen 127.0.0.1:$port
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so
User nobody
Group nogroup
$fixes
ProxyPass "/" "http://127.0.0.1:$upstream/"
ProxyPassReverse "/" "http://127.0.0.1:$upstream/"
""",
    fixes=(
        Fix(
            line="LoadModule setenvif_module /usr/lib/apache2/modules/mod_setenvif.so\n"
            'SetEnvIf Transfer-Encoding "." nokeepalive',
            rule='RFC 9112 6.1: "Regardless, the server MUST close the connection after '
            'responding to such a request" (Transfer-Encoding beside Content-Length, or in '
            "HTTP/1.0)",
            breaks="Apache keeps the connection of an HTTP/1.0 request with Transfer-Encoding",
        ),
    ),
    argv=lambda binary, config: [binary, "-f", str(config), "-DFOREGROUND"],
    hidden={
        "dot_segments_unauthenticated": "Apache resolves dot segments and merges doubled "
        "slashes before ProxyPass maps the path: the server sees /v1/usage",
        "path_variant_crash": "Apache merges doubled slashes before ProxyPass maps the path",
        "early_hints_to_http10": "Apache speaks HTTP/1.1 to the server and passes no 1xx on "
        "to an HTTP/1.0 client",
        "length_in_204": "Apache drops the Content-Length of a 204 it passes on",
        "not_modified_zero_length": "Apache writes a 304's fields itself, from a list without "
        "Content-Length",
        "encoded_path_unauthenticated": "mod_proxy decodes percent-encoded unreserved "
        "characters of the path: the server sees /v1/usage",
        "repeated_field_500": "Apache joins repeated field lines into one before passing them on",
        "unknown_field_canary_pool": "mod_proxy adds X-Forwarded-For, -Host and -Server to "
        "every request: every answer comes from the fault's canary pool, so equivalent "
        "requests agree (the canary's figures still catch it: canary_cpu_within_bounds)",
        "head_with_body": "Apache knows a HEAD's answer ends with its header section and "
        "drops what follows",
        "head_length_zero": "Apache does not pass on the upstream's Content-Length to a HEAD",
        "absolute_form_500": "Apache sends the upstream an origin-form request-target",
        "foreign_authority_500": "Apache sends the upstream an origin-form request-target "
        "(or refuses the empty host or userinfo itself)",
        "http10_legacy_backend": "mod_proxy_http speaks HTTP/1.1 to the upstream whatever "
        "the client's version",
        "chunked_to_http10": "Apache takes the upstream's chunked framing apart and frames "
        "the answer for the client's version itself",
        "content_length_beside_chunked": "Apache reads the upstream's chunked framing, drops "
        "its Content-Length and frames the answer itself",
        **_own_framing("Apache"),
        **_own_http1(
            "Apache",
            *_EVERY_EDGE_HIDES,
            "invalid_host_accepted",
            "control_bytes_in_field_500",
            "status_line_without_reason_sp",
        ),
        **_own_date("Apache"),
    },
)

CADDY = Edge(
    name="caddy",
    title="Caddy",
    binary="caddy",
    package="caddy",
    config_name="Caddyfile",
    docs="Caddy's reverse proxy quick-start: a site block with reverse_proxy",
    template="""\
{
	admin off
	auto_https off
}
http://127.0.0.1:$port {
$fixes
	reverse_proxy 127.0.0.1:$upstream
}
""",
    argv=lambda binary, config: [binary, "run", "--config", str(config), "--adapter", "caddyfile"],
    hidden={
        "head_with_body": "Caddy knows a HEAD's answer ends with its header section and drops "
        "what follows",
        "absolute_form_500": "Caddy sends the upstream an origin-form request-target",
        "foreign_authority_500": "Caddy sends the upstream an origin-form request-target "
        "(or refuses the empty host or userinfo itself)",
        "length_in_204": "Caddy frames a 204 itself and drops its Content-Length",
        "not_modified_zero_length": "Caddy frames a 304 itself and drops its Content-Length",
        "http10_legacy_backend": "Caddy speaks HTTP/1.1 to the upstream whatever the "
        "client's version",
        "chunked_to_http10": "Caddy takes the upstream's chunked framing apart and frames the "
        "answer for the client's version itself",
        "content_length_beside_chunked": "Caddy reads the upstream's chunked framing, drops "
        "its Content-Length and frames the answer itself",
        **_own_framing("Caddy"),
        **_own_http1(
            "Caddy",
            *_EVERY_EDGE_HIDES,
            "invalid_host_accepted",
            "control_bytes_in_field_500",
            "long_method_500",
            "status_line_without_reason_sp",
        ),
        "no_date": "Caddy adds a Date of its own to an answer without one",
    },
    breaks={
        "early_hints_103": "Caddy 2.6 (Go's net/http) passes an upstream's 103 Early Hints on "
        "to an HTTP/1.0 client (RFC 9110 15.2: a server MUST NOT send a 1xx to one), since it "
        "speaks HTTP/1.1 to the upstream, which then may send it; no configuration line found",
    },
    known=(
        Known(
            id="framing_conflict_closed: connection text",
            rule='RFC 9112 6.1: "Regardless, the server MUST close the connection after '
            'responding to such a request"',
            reason="Go's net/http answers a request with both Transfer-Encoding and "
            "Content-Length and keeps the connection; it drops Content-Length before any "
            "Caddyfile matcher sees the request, so no line closes it",
        ),
    ),
)

EDGES: dict[str, Edge] = {edge.name: edge for edge in (NGINX, HAPROXY, APACHE, CADDY)}


def find(name: str) -> Edge:
    """The edge called ``name``, installed; EdgeError (one line) if unknown or missing."""
    if name not in EDGES:
        raise EdgeError(f"unknown edge {name!r} (known: {', '.join(EDGES)})")
    found = EDGES[name]
    if found.path() is None:
        raise EdgeError(
            f"{found.title} is not installed ({found.binary} not found): sudo {found.install}"
        )
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def edge(
    name: str, upstream: int, work: Path | None = None, timeout: float = 15.0, fixes: bool = True
) -> Iterator[str]:
    """Run the edge ``name`` in front of ``127.0.0.1:upstream`` (with its fix lines unless
    ``fixes`` is false), in a directory of its own under ``work`` (a temporary one if none):
    its base URL, until the block ends. EdgeError when it does not start."""
    found = find(name)
    with contextlib.ExitStack() as stack:
        parent = work if work is not None else Path(stack.enter_context(_tmp()))
        where = parent / f"edge-{found.name}"
        where.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a free port can be taken before the proxy binds it
            port = free_port()
            config = where / found.config_name
            config.write_text(found.config(port, upstream, where, fixes), encoding="utf-8")
            process = _start(found, config, where)
            try:
                if _answers(process, port, timeout):
                    yield f"http://127.0.0.1:{port}"
                    return
                log = _log(where)
                if attempt == 2 or "in use" not in log.lower():
                    raise EdgeError(f"{found.title} did not start: {log or 'no log'}")
            finally:
                _stop(process)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _tmp() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dcs-edge-") as tmp:
        os.chmod(tmp, 0o755)  # a proxy's workers may run as another user
        yield tmp


def _start(found: Edge, config: Path, where: Path) -> subprocess.Popen[bytes]:
    binary = found.path()
    assert binary is not None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(where),  # Caddy keeps its state under HOME and XDG's folders
        "XDG_DATA_HOME": str(where),
        "XDG_CONFIG_HOME": str(where),
    }
    with (where / "output.log").open("ab") as log:
        return subprocess.Popen(
            found.argv(binary, config),
            cwd=where,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _answers(process: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Whether the proxy answers HTTP on ``port`` within ``timeout`` (False: it ended)."""
    due = time.monotonic() + timeout
    while time.monotonic() < due:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.settimeout(2)
            s.sendall(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            if s.recv(5) == b"HTTP/":
                return True
        time.sleep(0.05)
    return False


def _log(where: Path) -> str:
    """The last lines of the proxy's logs, in one line."""
    text = ""
    for name in ("output.log", "error.log"):
        with contextlib.suppress(OSError):
            text += (where / name).read_text(encoding="utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-3:])[:600]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    else:
        # a proxy that ended may have left workers in its session
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
