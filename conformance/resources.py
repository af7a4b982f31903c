"""Where the data files the suite ships live, installed or not.

The repository's top-level `specs/` and `fixtures/` are the only copies in the source tree. A
wheel carries them inside the package, as `conformance/_data/specs` and
`conformance/_data/fixtures` (hatch_build.py puts them there); a checkout or an
editable install reads them where they are. `data_path` hides the difference.

Public (no underscore) because the mock uses it too: the mock imports none of the suite's
private modules (ARCHITECTURE.md, held by tests/test_architecture.py), and this one holds no
suite code, only where the package's own files are.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The package's data directory in a wheel (absent from the source tree).
PACKAGED = "_data"
#: The source tree's root, as seen from the package in a checkout or an editable install.
CHECKOUT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The directory that holds `specs/` and `fixtures/`: the package's own `_data` when the
    package is installed from a wheel, else the checkout's root."""
    packaged = files("conformance").joinpath(PACKAGED)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged.resolve()
    return CHECKOUT


def data_path(*parts: str) -> Path:
    """A shipped data file, e.g. `data_path("specs", "dcs-openapi-usage.yaml")` (whether it
    exists is for the caller to find out: its error names the path)."""
    return data_root().joinpath(*parts)
