"""A plain install works anywhere: build the wheel and the sdist, install the wheel (not
editable) into a fresh venv, and run the suite and the mock from an empty directory.

The new venv gets its dependencies from this environment's site-packages through a `.pth`
file; `.pth` files inside a directory added that way are not processed, so this
environment's editable install of the checkout is not active there (checked)."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from conformance._contract import requirements
from conformance.mock import load_fixtures
from tests._support import REPO

#: the wheel and its venv are built once, on one xdist worker (`pytest -n auto --dist loadgroup`)
pytestmark = pytest.mark.xdist_group("install")

DATA = sorted(
    path.relative_to(REPO).as_posix()
    for top in ("specs", "fixtures")
    for path in (REPO / top).rglob("*")
    if path.is_file()
)


def clean_env() -> dict[str, str]:
    """This environment less what would point Python or the suite elsewhere."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTEST_ADDOPTS")
    return {
        name: value
        for name, value in os.environ.items()
        if name not in dropped and not name.startswith(("DCS_", "PYTEST_"))
    }


def run(args: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and the sdist, built from the checkout by hatchling (no network)."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "hatchling", "build", "-d", out], cwd=REPO, timeout=120)
    return out


@pytest.fixture(scope="module")
def venv_python(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed, its dependencies taken from this environment."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent, timeout=60)
    python = venv / "bin" / "python"
    purelib = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=venv.parent,
        timeout=30,
    ).stdout.strip()
    wheel = only(sorted(dist.glob("*.whl")))
    # installed before the dependencies are visible: pip would otherwise find this
    # environment's (editable) dcs-conformance of the same version and install nothing
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q"]
    run([*pip, "--no-deps", "--no-index", wheel], cwd=venv.parent, timeout=120)
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    Path(purelib, "_project_dependencies.pth").write_text("\n".join(ours) + "\n")
    return python


def test_wheel_and_sdist_carry_specs_and_fixtures(dist: Path, tmp_path: Path) -> None:
    assert {"specs/dcs-openapi-usage.yaml", "specs/overlay.yaml", "fixtures/dcs-mock.yaml"} <= set(
        DATA
    )
    wheel = only(sorted(dist.glob("*.whl")))
    with zipfile.ZipFile(wheel) as archive:
        for name in DATA:
            assert archive.read(f"conformance/_data/{name}") == (REPO / name).read_bytes()
        assert not [n for n in archive.namelist() if n.startswith(("specs/", "fixtures/"))]
    sdist = only(sorted(dist.glob("*.tar.gz")))
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    root = only(sorted(tmp_path.iterdir()))
    for name in [*DATA, "hatch_build.py"]:
        assert (root / name).read_bytes() == (REPO / name).read_bytes(), name
    # a wheel built from the sdist (what `pip install dcs-conformance` may do) has them too
    run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", "out"],
        cwd=root,
        timeout=120,
    )
    with zipfile.ZipFile(only(sorted((root / "out").glob("*.whl")))) as archive:
        assert {f"conformance/_data/{name}" for name in DATA} <= set(archive.namelist())
    print(f"wheel {wheel.stat().st_size:,} bytes, sdist {sdist.stat().st_size:,} bytes")


def test_the_installed_package_is_the_wheel(venv_python: Path, tmp_path: Path) -> None:
    code = (
        "import json, sys, conformance\n"
        "from conformance.resources import data_root\n"
        "print(json.dumps([conformance.__file__, str(data_root()), sys.path]))"
    )
    where, data, path = json.loads(run([venv_python, "-c", code], cwd=tmp_path, timeout=60).stdout)
    venv = venv_python.parent.parent
    assert Path(where).is_relative_to(venv), where
    assert Path(data) == Path(where).parent / "_data"
    assert str(REPO) not in path  # the checkout's editable hook is not active


def test_suite_passes_from_any_directory(venv_python: Path, tmp_path: Path) -> None:
    empty, reports = tmp_path / "empty", tmp_path / "reports"
    empty.mkdir()
    started = time.monotonic()
    suite = ["--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--reports-dir", reports]
    result = run([venv_python, "-m", "pytest", *suite], cwd=empty, timeout=300)
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["exit"]["status"] == 0
    assert Path(summary["spec"]["source"]).is_relative_to(venv_python.parent.parent)
    print(f"installed suite: {time.monotonic() - started:.1f} s")


def test_requirements_table_from_any_directory(venv_python: Path, tmp_path: Path) -> None:
    """The table ships inside the package: `python -m conformance requirements` finds it."""
    out = run(
        [venv_python, "-m", "conformance", "requirements", "--format", "json"],
        cwd=tmp_path,
        timeout=60,
    ).stdout
    assert len(json.loads(out)["requirements"]) == len(requirements.load().rows)


def test_mock_serves_from_any_directory(venv_python: Path, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(venv_python), "-m", "conformance.mock", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
    )
    try:
        line = read_line(process, timeout=30)
        assert line.startswith("dcs mock listening on http://127.0.0.1:"), line
        base_url = line.split()[-1]
        key, _ = load_fixtures().suite_credentials  # the same file, shipped in the wheel
        reply = httpx.get(f"{base_url}/v1/usage", headers={"x-api-key": key}, timeout=10)
        assert reply.status_code == 200 and "plan_slug" in reply.json()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def read_line(process: subprocess.Popen, *, timeout: float) -> str:
    """The first line the process prints, within `timeout` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"no ready line within {timeout} s")
    return process.stdout.readline().strip()
