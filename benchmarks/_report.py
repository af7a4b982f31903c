"""Printing for the benchmark: the machine, one line per run, medians, verdicts."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from _suite import Run


def median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "MISSED")


def machine() -> None:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpus = len(os.sched_getaffinity(0))
    print(f"machine: {model}, {cpus} CPUs, {platform.system()} {platform.release()}")
    packages = ["schemathesis", "hypothesis", "pytest-xdist", "uvicorn", "httptools", "uvloop"]
    found = []
    for name in packages:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} -")
    print(f"python {platform.python_version()}; " + ", ".join(found))
    busy()


def busy() -> None:
    """The load average, with a warning when other work shares the CPUs."""
    load1 = os.getloadavg()[0]
    note = "  (other work is running: figures will be low and noisy)" if load1 > 0.5 else ""
    print(f"load average (1 min): {load1:.2f}{note}", flush=True)


def show(part: str, label: str, index: int, repeat: int, run: Run) -> None:
    m = run.measured
    print(
        f"[{part}] {index}/{repeat} {label:<22} {m.wall:6.2f} s  {fmt(run.requests, 'd'):>6} req "
        f"{fmt(run.per_second(run.requests)):>7} req/s  {fmt(run.cases, 'd'):>6} cases  "
        f"rss {m.maxrss_kib / 1024:6.1f} MiB  exit {m.returncode}  ({run.outcome})",
        flush=True,
    )
    if not run.ok:
        print("    " + "\n    ".join(m.output.strip().splitlines()[-8:]))


def measure(part: str, runs: dict[str, Callable[[int], Run]], repeat: int) -> dict[str, list[Run]]:
    """Each labelled run ``repeat`` times, interleaved (so drift hits all alike)."""
    results: dict[str, list[Run]] = {label: [] for label in runs}
    for index in range(1, repeat + 1):
        for label, run in runs.items():
            results[label].append(run(index))
            show(part, label, index, repeat, results[label][-1])
    return results


def summary(results: dict[str, list[Run]]) -> dict[str, dict[str, float | None]]:
    table = {}
    print(
        f"  {'median':<22} {'wall s':>7} {'requests':>8} {'req/s':>7} {'cases':>6} {'cases/s':>7}"
    )
    for label, runs in results.items():
        row = {
            "wall": median([r.measured.wall for r in runs]),
            "requests": median([r.requests for r in runs]),
            "rps": median([r.per_second(r.requests) for r in runs]),
            "cases": median([r.cases for r in runs]),
            "cps": median([r.per_second(r.cases) for r in runs]),
            "rss": median([r.measured.maxrss_kib / 1024 for r in runs]),
        }
        table[label] = row
        print(
            f"  {label:<22} {fmt(row['wall'], '.2f'):>7} {fmt(row['requests'], '.0f'):>8} "
            f"{fmt(row['rps']):>7} {fmt(row['cases'], '.0f'):>6} {fmt(row['cps']):>7}"
        )
    return table


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b
