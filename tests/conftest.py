from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference vectors not found at {REFERENCE} (they live in ../shared/reference "
                    "beside the repository)")
    return REFERENCE


@pytest.fixture(scope="session")
def load_reference(reference_dir):
    def load(name):
        return torch.load(reference_dir / name, weights_only=True)

    return load


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
