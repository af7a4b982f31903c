"""`python -m conformance.drift [OLD] NEW`: report how NEW differs from OLD (the vendored spec).

Exit status: 0 identical, 3 drift found, 4 usage or read error (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from conformance._contract.drift import compare, format_report
from conformance._core.errors import ConfigError, ExitCode
from conformance._run.load import DEFAULT_SPEC, load_raw

EXIT_IDENTICAL = 0
EXIT_DRIFT = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE_ERROR, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m conformance.drift",
        description="Compare two OpenAPI documents (paths or URLs): operations, parameters, "
        "responses and schema fields added, removed or changed. Exit 0 identical, 3 drift, "
        "4 usage or read error.",
    )
    parser.add_argument(
        "specs",
        nargs="+",
        metavar="SPEC",
        help="[OLD] NEW: OLD defaults to the vendored spec",
    )
    args = parser.parse_args(argv)
    if len(args.specs) > 2:
        parser.error("expected [OLD] NEW: at most two specs")
    old, new = args.specs if len(args.specs) == 2 else (None, args.specs[0])
    try:
        changes = compare(load_raw(old), load_raw(new))
    except ConfigError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    sys.stdout.write(format_report(changes, old or _vendored(), new))
    return EXIT_DRIFT if changes else EXIT_IDENTICAL


def _vendored() -> str:
    return f"the vendored {DEFAULT_SPEC.parent.name}/{DEFAULT_SPEC.name}"


if __name__ == "__main__":
    sys.exit(main())
