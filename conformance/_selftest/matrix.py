"""The kill matrix: the real suite, run as a user runs it, against the mock, every variant (a
correct server that differs where the contract allows: each must pass) and every fault (each
must be caught).

Each run starts ``python -m conformance.mock --port 0 [--variant NAME | --fault NAME]`` on
loopback, then ``pytest <repo>/conformance --base-url ... --api-key ... --org-id ...``, both
forked by one of ``jobs`` pairs of warm starters (`warm.py`), behind a reverse proxy with
``Options.edge`` (`edges.py`), with a request deadline and its
reports in a temporary directory, and reads which checks failed from ``summary.json`` (and the
``[check]`` names in the output). Every wait is bounded.
"""

from __future__ import annotations

import queue
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conformance._selftest.cache import warm_hypothesis_cache
from conformance._selftest.edges import EDGES
from conformance._selftest.plan import BASELINE, Options, Run, variant_label
from conformance._selftest.report import Matrix, Row, VariantRow
from conformance._selftest.runs import suite_env, suite_run
from conformance._selftest.warm import Starters
from conformance.mock import FAULTS, KNOWN_LIMITS, VARIANTS, Fault, Variant


def run_matrix(options: Options, progress: Callable[[str], None] = lambda line: None) -> Matrix:
    """Run the baseline and variant seeds, the faults and the known limits, ``options.jobs``
    at a time."""
    started = time.monotonic()
    seeds = [options.seed + i for i in range(options.seeds)]
    plans: list[tuple[str, Run]] = [("baseline", Run(BASELINE, (), seed)) for seed in seeds]
    plans += [
        ("variant", Run(variant_label(name, seed), (), seed, variants=(name,)))
        for name in options.variants
        for seed in seeds
    ]
    # slow families first, so that the pool does not end waiting on one of them
    ordered = sorted(options.faults, key=lambda n: FAULTS[n].family != "transport")
    plans += [("fault", Run(name, (name,), options.seed)) for name in ordered]
    plans += [("limit", Run(name, (name,), options.seed)) for name in options.limits]

    starters: queue.Queue[Starters] = queue.Queue()

    def execute(plan: tuple[str, Run], unicode_data: Path | None) -> tuple[str, Run]:
        kind, run = plan
        pair = starters.get()  # one pair per job: each runs one mock and one suite at a time
        try:
            suite_run(run, options, unicode_data, pair)
        finally:
            starters.put(pair)
        verdict = "pass" if run.exit == 0 else f"exit {run.exit}"
        checks = ",".join(run.failed_checks) or "-"
        progress(f"{run.label:<34} {verdict:<8} {run.wall_s:6.1f} s  {checks}")
        return kind, run

    with (
        tempfile.TemporaryDirectory(prefix="dcs-killmatrix-cache-") as cache,
        ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool,
    ):
        unicode_data = warm_hypothesis_cache(Path(cache), options.startup_timeout * 6)
        for _ in range(max(1, options.jobs)):
            starters.put(Starters(suite_env()))
        try:
            done = list(pool.map(lambda plan: execute(plan, unicode_data), plans))
        finally:
            while not starters.empty():
                starters.get().close()
    limits = {limit.fault.name: limit for limit in KNOWN_LIMITS}
    hidden = EDGES[options.edge].hidden if options.edge is not None else {}
    broken = EDGES[options.edge].breaks if options.edge is not None else {}
    variant_runs = [run for kind, run in done if kind == "variant"]
    return Matrix(
        options=options,
        baseline=[run for kind, run in done if kind == "baseline"],
        rows=[
            _row(FAULTS[run.label], run, hidden=hidden.get(run.label, ""))
            for kind, run in done
            if kind == "fault"
        ],
        limits=[
            _row(limits[run.label].fault, run, limits[run.label].reason)
            for kind, run in done
            if kind == "limit"
        ],
        wall_s=time.monotonic() - started,
        variants=[
            _variant_row(
                VARIANTS[name],
                [r for r in variant_runs if r.variants == (name,)],
                broken.get(name, ""),
            )
            for name in options.variants
        ],
    )


def _variant_row(variant: Variant, runs: list[Run], broken: str = "") -> VariantRow:
    return VariantRow(variant.name, variant.description, variant.reading, runs, broken)


def _row(fault: Fault, run: Run, reason: str = "", hidden: str = "") -> Row:
    return Row(
        fault.name,
        fault.family,
        fault.description,
        list(fault.expected_checks),
        run,
        reason,
        hidden,
    )


# --- reports ---------------------------------------------------------------------------
