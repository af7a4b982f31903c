"""Load on one mock server from wrk: the embedded mock's CLI next to Prism's mock.

Both servers are single-threaded; each runs pinned to CPU 0 and wrk (one thread) to CPU 1,
so the load generator never competes with the server for a core.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from _procs import REPO, Servers, clean_env, free_port, pinned, wait_until

BENCH_DIR = Path(__file__).resolve().parent
NODE_DIR = BENCH_DIR / ".node"  # git-ignored
PRISM = NODE_DIR / "node_modules" / ".bin" / "prism"
PRISM_PACKAGE = "@stoplight/prism-cli@5"
SERVER_CPU, LOAD_CPU = "0", "1"
_READY = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
_SOCKET_ERRORS = r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """What wrk measured: throughput, latency percentiles (ms), errors."""

    rps: float
    p50: float
    p90: float
    p99: float
    requests: int
    non_2xx: int
    socket_errors: int


def wrk_missing() -> str | None:
    """None if wrk is installed, else how to install it."""
    if shutil.which("wrk"):
        return None
    return "wrk not found; install it with: apt-get update && apt-get install -y wrk"


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def parse_wrk(output: str) -> Load:
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.M))
    if len(latency) != 3:
        raise RuntimeError("wrk measured no latency (every request failed?):\n" + output)
    errors = re.search(_SOCKET_ERRORS, output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),  # type: ignore[index]
        p50=_ms(latency["50"]),
        p90=_ms(latency["90"]),
        p99=_ms(latency["99"]),
        requests=int(re.search(r"(\d+) requests in", output)[1]),  # type: ignore[index]
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def wrk(url: str, headers: dict[str, str], *, seconds: int, connections: int) -> str:
    """One wrk run (one thread, pinned to the load CPU), bounded by a timeout."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "2s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        pinned([*cmd, url], LOAD_CPU),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {(done.stderr or done.stdout).strip()[:300]}")
    return done.stdout


def start_mock(servers: Servers, logs: Path) -> str:
    """``python -m conformance.mock`` on a free loopback port; its base URL."""
    cmd = [sys.executable, "-m", "conformance.mock", "--host", "127.0.0.1", "--port", "0"]
    process = servers.start(pinned(cmd, SERVER_CPU), log=logs / "mock.log")
    match = _READY.search(servers.read_line(process, timeout=30))
    if match is None:
        raise RuntimeError(f"the mock did not start (see {logs / 'mock.log'})")
    return match[1]


def prism_install_hint() -> str | None:
    """Install Prism into benchmarks/.node if needed; None when ready, else why not."""
    if PRISM.exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "Prism not installed and npm not found; install Node.js and npm, then rerun"
    print(f"installing {PRISM_PACKAGE} into {NODE_DIR.relative_to(REPO)}/ (npm) ...", flush=True)
    NODE_DIR.mkdir(exist_ok=True)
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", PRISM_PACKAGE],
            capture_output=True,
            timeout=600,
            check=True,
            stdin=subprocess.DEVNULL,
            env=clean_env(),
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        return f"npm install {PRISM_PACKAGE} failed: {exc}"
    return None if PRISM.exists() else "npm ran but installed no prism binary"


def prism_version() -> str:
    done = subprocess.run(
        [str(PRISM), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout.strip() or "unknown"


def start_prism(servers: Servers, spec: Path, logs: Path) -> str:
    """``prism mock SPEC`` on a free loopback port, logging warnings only; its base URL."""
    port = free_port()
    cmd = [str(PRISM), "mock", str(spec), "-p", str(port), "-h", "127.0.0.1", "-v", "warn"]
    process = servers.start(pinned(cmd, SERVER_CPU), log=logs / "prism.log", pipe_stdout=False)
    base_url = f"http://127.0.0.1:{port}"
    if not wait_until(lambda: answers(base_url), 90, lambda: process.poll() is None):
        raise RuntimeError(f"Prism did not start (see {logs / 'prism.log'})")
    return base_url


def answers(base_url: str) -> bool:
    """True once ``GET /v1/usage`` gets any HTTP answer within 5 s."""
    try:
        httpx.get(f"{base_url}/v1/usage", timeout=5, trust_env=False)
    except httpx.HTTPError:
        return False
    return True
