"""The torch minimum is stated once and checked where set-up reuses an installed torch."""
import subprocess
import sys
from pathlib import Path

import pytest

from gradwave.common.requirements import MIN_TORCH, release, torch_too_old

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("version, ok", [("2.1.2", False), ("2.2.0+cu121", False), ("1.13.1", False),
                                         ("2.3.0", True), ("2.4.0a0+git1234", True), ("2.13.0+cpu", True),
                                         ("3.0", True)])
def test_version_check(version, ok):
    message = torch_too_old(version)
    assert (message is None) == ok
    if not ok:
        assert version in message and MIN_TORCH in message


def test_check_refuses_an_old_installed_torch(tmp_path):
    fake = tmp_path / "torch-2.1.0.dist-info"  # an installed torch 2.1.0, as pip records it
    fake.mkdir()
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.1.0\n")
    run = subprocess.run([sys.executable, "-m", "gradwave.common.requirements"], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1 and "torch 2.1.0 is too old" in run.stderr
    assert subprocess.run([sys.executable, "-m", "gradwave.common.requirements"], cwd=REPO).returncode == 0


def test_setup_states_the_same_minimum():
    assert release(MIN_TORCH) >= (2, 3)
    assert 'f"torch>={MIN_TORCH}"' in (REPO / "setup.py").read_text()
    assert "python -m gradwave.common.requirements" in (REPO / "scripts" / "setup.sh").read_text()
    with pytest.raises(ValueError, match="not a torch version"):
        release("nightly")
