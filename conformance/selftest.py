"""`python -m conformance.selftest`: prove the suite bites (the kill matrix).

Runs the suite, as a user would, against the correct mock and against every variant of
`conformance.mock` (correct servers that differ where the contract allows), one run per
hypothesis seed, each of which must pass, and against every fault of its catalogue (each must
be killed: exit 1 with an expected check failing), then writes kill-matrix.md and
kill-matrix.json. With ``--edge NAME`` (nginx, haproxy, apache, caddy) every run goes through that
reverse proxy, started in front of each server; a fault the proxy is known to hide is listed
with the reason, not counted as a survivor. Exit status: 0 all killed and the mock and every
variant pass; 1 otherwise; 4 usage error (an unknown edge, or one not installed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from conformance._core.errors import ExitCode
from conformance._selftest.edges import EDGES, EdgeError, find
from conformance._selftest.matrix import run_matrix
from conformance._selftest.plan import Options, family_faults, split_names, split_variants
from conformance._selftest.report import summary, write_reports

QUICK_EXAMPLES = 10


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: `kind(text)`, refused unless above zero."""

    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
        return value

    parse.__name__ = getattr(kind, "__name__", "number")
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m conformance.selftest",
        description="Run the suite against the correct mock, each variant (a correct server "
        "that differs where the contract allows) and each fault of the catalogue; write "
        "kill-matrix.md/.json. Exit 0 when every fault is killed and the correct mock and "
        "every variant pass, 1 otherwise, 4 on a usage error.",
    )
    parser.add_argument(
        "--faults", help="comma-separated fault names, '' for none [all, with known limits]"
    )
    parser.add_argument(
        "--families", help="comma-separated fault families (added to --faults) [all]"
    )
    parser.add_argument("--variants", help="comma-separated variant names, '' for none [all]")
    parser.add_argument(
        "--edge",
        help=f"run every suite through this reverse proxy ({', '.join(EDGES)}) [none]",
    )
    parser.add_argument("--jobs", type=_positive(int), default=2, help="runs at a time [2]")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="report dir [reports]")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"--max-examples {QUICK_EXAMPLES}, one seed, no known limits",
    )
    parser.add_argument(
        "--seeds",
        type=_positive(int),
        help="runs (seeds) of the mock and of each variant [5; quick 1]",
    )
    parser.add_argument("--seed", type=int, default=1, help="first hypothesis seed [1]")
    parser.add_argument("--max-examples", type=_positive(int), help="per generated test [25]")
    parser.add_argument(
        "--request-deadline", type=_positive(float), default=5.0, help="seconds [5]"
    )
    parser.add_argument(
        "--run-timeout", type=_positive(float), default=300.0, help="seconds per suite run [300]"
    )
    args = parser.parse_args(argv)
    options = Options(jobs=args.jobs, seed=args.seed, deadline=args.request_deadline)
    if args.quick:
        options = replace(options, max_examples=QUICK_EXAMPLES, seeds=1, limits=())
    if args.faults is not None:
        try:
            faults, limits = split_names([n.strip() for n in args.faults.split(",") if n.strip()])
        except KeyError as exc:
            parser.error(exc.args[0])
        options = replace(options, faults=faults, limits=limits)
    if args.families is not None:
        try:
            names = family_faults([n.strip() for n in args.families.split(",") if n.strip()])
        except KeyError as exc:
            parser.error(exc.args[0])
        chosen = options.faults if args.faults is not None else ()
        options = replace(options, faults=(*chosen, *(n for n in names if n not in chosen)))
        if args.faults is None:
            options = replace(options, limits=())
    if args.edge is not None:
        try:
            find(args.edge)
        except EdgeError as exc:
            parser.exit(ExitCode.USAGE_ERROR, f"{parser.prog}: error: {exc}\n")
        options = replace(options, edge=args.edge)
    if args.variants is not None:
        try:
            variants = split_variants([n.strip() for n in args.variants.split(",") if n.strip()])
        except KeyError as exc:
            parser.error(exc.args[0])
        options = replace(options, variants=variants)
    if args.seeds is not None:
        options = replace(options, seeds=args.seeds)
    if args.max_examples is not None:
        options = replace(options, max_examples=args.max_examples)
    options = replace(options, run_timeout=args.run_timeout)

    total = options.seeds * (1 + len(options.variants)) + len(options.faults) + len(options.limits)
    behind = f", behind {options.edge}" if options.edge else ""
    print(f"kill matrix: {total} suite runs, {options.jobs} at a time{behind}", flush=True)
    matrix = run_matrix(options, progress=lambda line: print(line, flush=True))
    md, _ = write_reports(matrix, args.out)
    s = summary(matrix)
    print(
        f"killed {s['killed']}/{s['total']}"
        + (f" ({len(s['hidden_by_edge'])} hidden by {options.edge})" if options.edge else "")
        + "; correct mock "
        f"{'passed' if s['baseline_passed'] else 'FAILED'}; variants passed "
        f"{s['variants_passed']}/{s['variants_total']}; median time to kill "
        f"{s['median_time_to_kill_s']} s, worst {s['worst_time_to_kill_s']} s; "
        f"{s['wall_s']} s in all; report {md}"
    )
    for run in matrix.baseline:
        if run.exit != 0:
            print(f"CORRECT MOCK FAILED: seed {run.seed}: exit {run.exit} {run.evidence}")
    for name in s["survivors"]:
        print(f"SURVIVED: {name}")
    for hidden in matrix.hidden:
        print(f"HIDDEN by {options.edge}: {hidden.name}: {hidden.hidden}")
    for stale in matrix.hidden_but_killed:
        print(f"KILLED, though listed as hidden by {options.edge}: {stale.name}")
    for variant in matrix.variants:
        if variant.broken_by_edge:
            verdict = "PASSED, though listed as" if variant.passed else "variant"
            print(f"{verdict} BROKEN by {options.edge}: {variant.name}: {variant.broken_by_edge}")
    for row in matrix.false_alarms:
        seeds = ", ".join(
            f"seed {run.seed}: exit {run.exit} {','.join(run.failed_checks) or '-'}"
            for run in row.runs
            if run.exit != 0
        )
        print(f"FALSE ALARM: {row.name} ({seeds})")
        for run in row.runs:
            if run.evidence:
                print(f"  seed {run.seed}: {run.evidence}")
    return 0 if matrix.ok else 1


if __name__ == "__main__":
    sys.exit(main())
