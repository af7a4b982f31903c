"""Benchmark of the suite and its mock; prints every run, the medians, and each target's verdict.

    .venv/bin/python benchmarks/bench.py [--repeat 3] [--parts compare,default,load,xdist,far]
                                         [--delays 0,10,50,100]

compare  the suite and its schemathesis-generated test against ``st run`` (same overlaid
         spec, same mock served here, same examples and checks; requests counted by the server)
default  a default ``pytest conformance`` run: wall time, peak RSS, requests
load     the mock under wrk next to Prism's mock (server on CPU 0, wrk on CPU 1)
xdist    ``-n 2`` against serial, on the embedded mock and on a ``--base-url`` mock
far      the default run against a loopback mock that answers every request 0, 10, 50 and
         100 ms late, as by default (tests run ahead in threads) and strictly serial

Not part of the tests. Every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load
from _procs import Servers
from _report import busy, fmt, machine, measure, median, ratio, summary, verdict
from _suite import Run, Target, default_run, st_run, suite, write_overlaid_spec

from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start
from conformance._run.settings import PROFILES
from conformance.mock import create_app, load_fixtures, serve

PARTS = ("compare", "default", "load", "xdist", "far")
FAR_DELAYS_MS = (0, 10, 50, 100)
SERIAL = ("--concurrency", "1")
WARM_UP = 5  # seconds of load before measuring (Node JIT-compiles Prism meanwhile)


def compare(target: Target, spec: Path, examples: int, repeat: int) -> None:
    print(
        f"\n== compare: {examples} examples per generated test, seed = run number, one worker; "
        "both read the vendored spec with our overlay applied (one JSON file)"
    )
    results = measure(
        "compare",
        {
            "suite (all tests)": lambda i: suite(target, spec, examples, i, whole=True),
            "suite (generated test)": lambda i: suite(target, spec, examples, i, whole=False),
            "st run": lambda i: st_run(target, spec, examples, i),
        },
        repeat,
    )
    table = summary(results)
    st = table["st run"]["rps"]
    whole = ratio(table["suite (all tests)"]["rps"], st)
    alike = ratio(table["suite (generated test)"]["rps"], st)
    print(
        f"  requests per second of wall time, suite / st run: {fmt(whole)}x "
        f"(target >= 3x: {verdict(None if whole is None else whole >= 3)})"
    )
    print(f"  like for like, the suite's generated test / st run: {fmt(alike)}x")
    print(
        "  cases: hypothesis's passing+failing test cases (the suite; schemathesis's coverage-"
        "phase cases are not in hypothesis's statistics) or st run's 'N generated'"
    )


def default(repeat: int) -> None:
    print("\n== default run: pytest conformance (embedded mock), reports to a temporary dir")
    results = measure("default", {"pytest conformance": lambda i: default_run()}, repeat)
    row = summary(results)["pytest conformance"]
    wall, requests = row["wall"], row["requests"]
    print(f"  peak RSS (largest process): {fmt(row['rss'])} MiB")
    met = None if wall is None or requests is None else wall < 15 and requests >= 1000
    print(
        f"  target under 15 s wall with >= 1000 requests: {verdict(met)} "
        f"({fmt(wall, '.2f')} s, {fmt(requests, '.0f')} requests)"
    )


def load(spec: Path, logs: Path, repeat: int, seconds: int, connections: int) -> None:
    print(
        f"\n== load: wrk -t1 -c{connections} -d{seconds}s --latency (after a {WARM_UP} s warm-up), "
        f"server pinned to CPU {_load.SERVER_CPU}, wrk to CPU {_load.LOAD_CPU}"
    )
    missing = _load.wrk_missing()
    if missing:
        print(f"  skipped: {missing}")
        return
    fx = load_fixtures()
    headers = {"x-api-key": fx.suite_credentials[0]}
    path = f"/v1/usage?period_start={month_start(-CLOSED_PERIOD_OFFSET).isoformat()}"
    servers = {"mock": _load.start_mock}
    prism_problem = _load.prism_install_hint()
    if prism_problem:
        print(f"  Prism skipped: {prism_problem}")
    else:
        print(f"  Prism {_load.prism_version()}: prism mock SPEC -v warn (no per-request log)")
        servers["prism"] = lambda s, logs: _load.start_prism(s, spec, logs)
    medians = {}
    for name, start in servers.items():
        with Servers() as running:
            url = start(running, logs) + path
            _load.wrk(url, headers, seconds=WARM_UP, connections=connections)
            loads = []
            for index in range(1, repeat + 1):
                output = _load.wrk(url, headers, seconds=seconds, connections=connections)
                result = _load.parse_wrk(output)
                loads.append(result)
                print(
                    f"[load] {index}/{repeat} {name:<6} {result.rps:9.1f} req/s  p50 "
                    f"{result.p50:.2f} ms  p90 {result.p90:.2f} ms  p99 {result.p99:.2f} ms  "
                    f"{result.requests} requests, non-2xx {result.non_2xx}, "
                    f"socket errors {result.socket_errors}",
                    flush=True,
                )
        medians[name] = {
            k: median([getattr(x, k) for x in loads]) for k in ("rps", "p50", "p90", "p99")
        }
        m = medians[name]
        print(
            f"  median {name}: {fmt(m['rps'])} req/s, p50 {fmt(m['p50'], '.2f')} ms, "
            f"p90 {fmt(m['p90'], '.2f')} ms, p99 {fmt(m['p99'], '.2f')} ms"
        )
    p99 = medians["mock"]["p99"]
    print(f"  target mock p99 under 10 ms: {verdict(None if p99 is None else p99 < 10)}")
    if "prism" in medians:
        times = ratio(medians["mock"]["rps"], medians["prism"]["rps"])
        met = None if times is None else times >= 4
        print(f"  mock / Prism requests per second: {fmt(times)}x (target >= 4x: {verdict(met)})")


def xdist(target: Target, repeat: int) -> None:
    cpus = len(os.sched_getaffinity(0))
    print(f"\n== xdist: -n 2 against serial, interleaved (-n auto = {cpus} workers here)")
    runs: dict[str, Callable[[int], Run]] = {
        "embedded serial": lambda i: default_run(),
        "embedded -n 2": lambda i: default_run("-n", "2"),
        "base-url serial": lambda i: default_run(target=target),
        "base-url -n 2": lambda i: default_run("-n", "2", target=target),
    }
    table = summary(measure("xdist", runs, repeat))
    for where in ("embedded", "base-url"):
        gain = ratio(table[f"{where} serial"]["wall"], table[f"{where} -n 2"]["wall"])
        print(f"  speed-up of -n 2 over serial, {where} mock (wall time): {fmt(gain, '.2f')}x")


def delayed(app: Any, seconds: float) -> Any:
    """``app``, answering every HTTP request ``seconds`` late (a target far away)."""

    async def late(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and seconds:
            await anyio.sleep(seconds)
        await app(scope, receive, send)

    return late


def far(repeat: int, delays: Sequence[int]) -> None:
    print(
        "\n== far: the default run (--base-url) against a loopback mock whose every answer is "
        "D ms late; default (--concurrency auto) next to strictly serial (--concurrency 1, "
        "measured once)"
    )
    fx = load_fixtures()
    key, org = fx.suite_credentials
    rows = []
    for delay in delays:
        with serve(delayed(create_app(fx), delay / 1000)) as server:
            target = Target(server, key, org)
            default_runs = measure(
                "far", {f"{delay} ms default": lambda i, t=target: default_run(target=t)}, repeat
            )
            serial = {f"{delay} ms serial": lambda i, t=target: default_run(*SERIAL, target=t)}
            serial_runs = measure("far", serial, 1)
            table = summary({**default_runs, **serial_runs})
            rows.append((delay, table[f"{delay} ms default"], table[f"{delay} ms serial"]))
    print(f"  {'delay':>6} {'default s':>10} {'requests':>9} {'req/s':>7} {'serial s':>9} {'x':>6}")
    for delay, fast, slow in rows:
        gain = ratio(slow["wall"], fast["wall"])
        print(
            f"  {delay:>4} ms {fmt(fast['wall'], '.2f'):>10} {fmt(fast['requests'], '.0f'):>9} "
            f"{fmt(fast['rps']):>7} {fmt(slow['wall'], '.2f'):>9} {fmt(gain, '.1f'):>5}x"
        )
    at_50 = next((fast for delay, fast, _ in rows if delay == 50), None)
    if at_50 is not None:
        wall, requests = at_50["wall"], at_50["requests"]
        met = None if wall is None or requests is None else wall <= 20 and requests >= 1000
        print(f"  target at 50 ms: <= 20 s with >= 1000 requests: {verdict(met)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/bench.py", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement [3]")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument(
        "--examples",
        type=int,
        default=PROFILES["quick"].max_examples,
        help="examples per generated test in compare [the quick profile's]",
    )
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run [10]")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections [32]")
    parser.add_argument(
        "--delays",
        default=",".join(map(str, FAR_DELAYS_MS)),
        help=f"far: the mock's delays in ms [{','.join(map(str, FAR_DELAYS_MS))}]",
    )
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown or not 1 <= args.repeat <= 20:
        parser.error(f"unknown part(s) {sorted(unknown)}" if unknown else "--repeat: 1..20")
    try:
        delays = [int(d) for d in args.delays.split(",") if d.strip()]
    except ValueError:
        parser.error(f"--delays: whole milliseconds separated by commas, not {args.delays!r}")
    if not delays or not all(0 <= d <= 1000 for d in delays):
        parser.error("--delays: one to several delays of 0..1000 ms")
    machine()
    # st run's capability probe sends a NUL byte in a header: the mock's 400 is expected
    logging.getLogger("uvicorn.error").addFilter(lambda r: "Invalid HTTP" not in r.getMessage())
    fx = load_fixtures()
    key, org = fx.suite_credentials
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, serve(create_app(fx)) as server:
        target = Target(server, key, org)
        spec = write_overlaid_spec(Path(tmp))
        if "compare" in parts:
            compare(target, spec, args.examples, args.repeat)
        if "default" in parts:
            default(args.repeat)
        if "load" in parts:
            load(spec, Path(tmp), args.repeat, args.seconds, args.connections)
        if "xdist" in parts:
            xdist(target, args.repeat)
        if "far" in parts:
            far(args.repeat, delays)
    print()
    busy()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
