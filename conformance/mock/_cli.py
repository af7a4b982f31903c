"""Command line of the standalone mock server."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from typing import NoReturn

from starlette.types import ASGIApp

from conformance.mock._app import create_app
from conformance.mock._faults.catalogue import apply_fault, catalogue_text, get_fault
from conformance.mock._fixtures import load_fixtures
from conformance.mock._http.server import check_host, serve
from conformance.mock._variants.catalogue import apply_variant, get_variant, variants_text

PROG = "python -m conformance.mock"
#: Exit status of an operator mistake (bad option, unreadable or invalid --fixtures, a port in
#: use): 4, like the suite's, conformance.drift's and conformance.selftest's usage errors.
USAGE_ERROR = 4


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 4."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Mock Dedalus Cloud Services server (GET /v1/usage).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    parser.add_argument("--fixtures", help="fixtures YAML file (default: fixtures/dcs-mock.yaml)")
    parser.add_argument("--api-key", help="extra API key to accept (needs --org-id)")
    parser.add_argument("--org-id", help="org of --api-key (an unknown org becomes a demo org)")
    parser.add_argument(
        "--ledger-unavailable", action="store_true", help="answer 502 to authenticated requests"
    )
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    _catalogue_options(
        parser, "fault", "serve a broken server: install this fault (repeatable; 'list' lists them)"
    )
    _catalogue_options(
        parser,
        "variant",
        "serve a correct server that differs from the mock where the contract allows: "
        "install this variant (repeatable, before any --fault; 'list' lists them)",
    )
    return parser


def _catalogue_options(parser: argparse.ArgumentParser, kind: str, install_help: str) -> None:
    """``--KIND NAME`` (repeatable) to install one of a catalogue, ``--list-KINDs`` to print it."""
    parser.add_argument(f"--{kind}", action="append", default=[], metavar="NAME", help=install_help)
    parser.add_argument(f"--list-{kind}s", action="store_true", help=f"print the {kind} catalogue")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; print one ready line with the base URL (never keys)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_faults or "list" in args.fault:
        print(catalogue_text(), end="")
        return 0
    if args.list_variants or "list" in args.variant:
        print(variants_text(), end="")
        return 0
    if (args.api_key is None) != (args.org_id is None):
        parser.error("--api-key and --org-id go together")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    try:
        check_host(args.host, allow_remote=args.allow_remote)
        fixtures = load_fixtures(args.fixtures)
        if args.api_key is not None:
            fixtures = fixtures.add_key(args.api_key, args.org_id)
        for name in args.variant:
            get_variant(name)
        for name in args.fault:
            get_fault(name)
    except ValueError as exc:  # FixturesError, refused host, malformed --api-key/--org-id
        parser.error(str(exc))
    except KeyError as exc:  # unknown --variant or --fault
        parser.error(exc.args[0])
    app: ASGIApp = create_app(fixtures, ledger_unavailable=args.ledger_unavailable)
    for name in args.variant:
        app = apply_variant(app, name)
    for name in args.fault:
        app = apply_fault(app, name)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with serve(app, args.host, args.port, allow_remote=args.allow_remote) as server:
            print(f"dcs mock listening on {server.base_url}", flush=True)
            while not stop.wait(0.5):
                if not server.started:
                    return 1
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    return 0
