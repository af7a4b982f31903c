"""`python -m conformance.replay reports/failures.har`: re-send the failing exchanges of a run,
with the real keys, and say for each root cause whether it is still failing or fixed.

Exit status: 0 every root cause fixed, 1 one still failing (or one that could not be
replayed), 4 an operator mistake (one line on stderr), 75 the target gives no answer at all.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from conformance._client.transport import Limits, Transport
from conformance._contract.expect import load_canary
from conformance._core.errors import ConfigError, ExitCode, TargetUnavailable
from conformance._core.exchange import Masker
from conformance._run.load import load_contract
from conformance._run.replay import (
    FIXED,
    STILL_FAILING,
    Failures,
    Outcome,
    read_failures,
    replay,
)
from conformance._run.session import read_only_guard
from conformance._run.settings import SECRET_NAMES, check_url, header_value

PROG = "python -m conformance.replay"
PREFIX = "dcs-conformance replay:"
#: The option of each key, by the variable that also holds it.
KEY_OPTIONS = dict(
    zip(SECRET_NAMES, ("--api-key", "--empty-org-key", "--second-api-key"), strict=True)
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE_ERROR, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog=PROG,
        description="Re-send the failing exchanges a run wrote to failures.har (the first "
        "test of each root cause) with the real keys, re-apply the checks that failed, and "
        "print one line per root cause: still failing or fixed. Exit 0 all fixed, 1 any "
        "still failing, 4 an operator mistake, 75 no answer at all.",
    )
    parser.add_argument("har", metavar="FAILURES_HAR", help="failures.har of a run's reports")
    parser.add_argument(
        "--base-url",
        help="the target to re-send to (env DCS_BASE_URL) [the run's, recorded in the file]",
    )
    for name, option in KEY_OPTIONS.items():
        parser.add_argument(option, help=f"the key the run used as {option} (env {name})")
    parser.add_argument("--spec", help="OpenAPI document (env DCS_SPEC) [the vendored spec]")
    parser.add_argument(
        "--expect", help="the canary's file, for its checks (env DCS_EXPECT) [not needed else]"
    )
    parser.add_argument(
        "--request-deadline", type=float, default=15.0, help="total seconds per request [15]"
    )
    args = parser.parse_args(argv)
    try:
        failures = read_failures(args.har)
        base_url = _option(args.base_url, "DCS_BASE_URL") or failures.base_url
        if not base_url:
            raise ConfigError("--base-url (or DCS_BASE_URL) is needed: the file names no target")
        check_url(base_url)
        keys = _keys(args, failures)
        contract = load_contract(_option(args.spec, "DCS_SPEC"))
        expect = _option(args.expect, "DCS_EXPECT")
        canary = load_canary(expect) if expect else None
        if args.request_deadline <= 0:
            raise ConfigError(f"--request-deadline {args.request_deadline:g}: must be above 0")
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    masker = Masker(secret_headers=contract.secret_headers, names=keys)
    limits = Limits(deadline=args.request_deadline, max_retries=0)
    transport = Transport(base_url, limits=limits, masker=masker, guard=read_only_guard(contract))
    print(masker.text(f"{PREFIX} {_causes(len(failures.causes))} of {args.har} against {base_url}"))
    if failures.spec_sha256 and failures.spec_sha256 != contract.sha256:
        print(f"{PREFIX} note: the run read another spec (sha256 {failures.spec_sha256[:12]})")
    try:
        outcomes = replay(failures, transport, contract, keys, canary)
    except TargetUnavailable as exc:
        print(masker.text(f"{PREFIX} target unavailable: {exc}"), file=sys.stderr)
        return ExitCode.TARGET_UNAVAILABLE
    finally:
        transport.close()
    for outcome in outcomes:
        print(masker.text(_line(outcome)))
    return _verdict(outcomes, masker)


def _option(value: str | None, variable: str) -> str | None:
    return value if value is not None else os.environ.get(variable) or None


def _keys(args: argparse.Namespace, failures: Failures) -> dict[str, str]:
    """The keys the file's requests and checks need, from their options or variables."""
    keys = {}
    for name, option in KEY_OPTIONS.items():
        value = _option(getattr(args, option[2:].replace("-", "_")), name)
        if value is None:
            continue
        if not header_value(value):
            raise ConfigError(f"{option} (or {name}): not usable in an HTTP header")
        keys[name] = value
    for name in sorted(failures.secrets()):
        if name not in keys:
            option = KEY_OPTIONS.get(name, name)
            raise ConfigError(
                f"{option} (or {name}) is needed: the requests to replay carry that key "
                "(the file holds it masked, never written)"
            )
    return keys


def _line(outcome: Outcome) -> str:
    cause = outcome.cause
    head = f"  {cause.rank}. [{cause.category}] {cause.key}: {outcome.verdict}"
    return f"{head}: {outcome.detail}" if outcome.detail else head


def _verdict(outcomes: Sequence[Outcome], masker: Masker) -> int:
    failing = sum(o.verdict == STILL_FAILING for o in outcomes)
    fixed = sum(o.verdict == FIXED for o in outcomes)
    other = len(outcomes) - failing - fixed
    status = ExitCode.CONFORMANT if fixed == len(outcomes) else ExitCode.VIOLATIONS
    parts = [f"{failing} still failing", f"{fixed} fixed"]
    parts += [f"{other} not replayed"] if other else []
    print(masker.text(f"{PREFIX} {', '.join(parts)} (exit {int(status)})"))
    return status


def _causes(count: int) -> str:
    return f"{count} root cause{'' if count == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(main())
