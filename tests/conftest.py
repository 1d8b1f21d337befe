import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The upstream reference vectors. Without them the parity tests skip, except where
    GRADWAVE_REQUIRE_REFERENCE=1 (CI sets it) makes their absence a failure."""
    if not REFERENCE.is_dir():
        message = (f"reference vectors not found at {REFERENCE} (they live in ../shared/reference "
                   "beside the repository)")
        if os.environ.get("GRADWAVE_REQUIRE_REFERENCE") == "1":
            pytest.fail(message + "; GRADWAVE_REQUIRE_REFERENCE=1 asks for them", pytrace=False)
        pytest.skip(message)
    return REFERENCE


@pytest.fixture(scope="session")
def load_reference(reference_dir):
    def load(name):
        return torch.load(reference_dir / name, weights_only=True)

    return load


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _autotune_cache(tmp_path_factory):
    """The measured CPU choices (gradwave.common.autotune) go to a folder of the test run, not the user's cache."""
    os.environ["GRADWAVE_CACHE_DIR"] = str(tmp_path_factory.mktemp("autotune"))


@pytest.fixture(scope="session")
def built_once(tmp_path_factory):
    """(name, build) -> a folder that `build(folder)` fills once per test run and pytest-xdist's workers
    share (a module-scoped fixture is made again in every worker that runs one of the module's tests)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base

    def get(name: str, build) -> Path:
        folder = shared / name
        with FileLock(str(folder) + ".lock"):
            if not (folder / ".built").exists():
                folder.mkdir(exist_ok=True)
                build(folder)
                (folder / ".built").touch()
        return folder
    return get
