"""`python -m conformance requirements [--format text|md|json] [--open] [--source NAME]
[--check NAME]`: print the requirements table (conformance/_contract/requirements.yaml). The
suite's other commands keep their own modules: `python -m conformance.drift`, `.replay`,
`.selftest`, `.mock`.

Exit status: 0 printed, 4 usage error, 3 the shipped table is malformed.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from conformance._contract import requirements
from conformance._core.errors import ExitCode

RENDER = {
    "text": requirements.render_text,
    "md": requirements.render_markdown,
    "json": requirements.render_json,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE_ERROR, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m conformance")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    table = commands.add_parser(
        "requirements",
        help="print the requirements table",
        description="Every requirement that binds an origin server answering the API (RFC "
        "9112, 9110, 9111, Fetch's CORS protocol, RFC 9457, OWASP API Top 10 2023, the spec), "
        "with the checks that cover it, why it does not apply (n/a), why it is not enforced "
        "(waived), or what a check still has to do (OPEN).",
    )
    table.add_argument("--format", choices=sorted(RENDER), default="text")
    table.add_argument("--open", action="store_true", help="only the rows no check covers yet")
    table.add_argument("--source", action="append", metavar="NAME", help="only this source")
    table.add_argument(
        "--check", action="append", metavar="NAME", help="only rows naming this check"
    )
    args = parser.parse_args(argv)
    try:
        loaded = requirements.load()
    except requirements.TableError as exc:
        print(f"{parser.prog}: {requirements.FILE}: {exc}", file=sys.stderr)
        return ExitCode.INTERNAL_ERROR
    unknown = sorted(set(args.source or ()) - set(loaded.sources))
    if unknown:
        table.error(f"unknown source {unknown[0]!r}; one of: {', '.join(loaded.sources)}")
    rows = [
        row
        for row in loaded.rows
        if (not args.open or row.status == requirements.OPEN)
        and (not args.source or row.source in args.source)
        and (not args.check or set(args.check) & set(row.checks))
    ]
    sys.stdout.write(RENDER[args.format](loaded, rows))
    return ExitCode.CONFORMANT


if __name__ == "__main__":
    sys.exit(main())
