"""The oldest torch this toolkit runs on, in one place for setup.py, scripts/setup.sh and the code.

2.3 is the first release with `torch.amp.GradScaler(device_type)`, which the trainer uses.
Run as `python -m gradwave.common.requirements` it checks the installed torch (exit status 1 when too old).
"""
from __future__ import annotations

import re
import sys
from typing import Optional

MIN_TORCH = "2.3"


def release(version: str) -> tuple[int, int]:
    """(major, minor) of a version string such as '2.13.0+cpu' or '2.4.0a0+git1234'."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"not a torch version: {version!r}")
    return int(match.group(1)), int(match.group(2))


def torch_too_old(version: str) -> Optional[str]:
    """What to tell the user when `version` is older than MIN_TORCH; None when it will do."""
    if release(version) >= release(MIN_TORCH):
        return None
    return (f"torch {version} is too old: this toolkit needs torch >= {MIN_TORCH} (torch.amp.GradScaler "
            f"with a device type); upgrade it (pip install 'torch>={MIN_TORCH}') or remove it and re-run "
            "scripts/setup.sh")


def installed_torch() -> str:
    """The installed torch's version, read from its metadata (importing torch would be slow, and
    warns when numpy is not installed yet)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        import torch  # a torch without metadata (a source build on the path)

        return torch.__version__


def main() -> int:
    message = torch_too_old(installed_torch())
    if message:
        print(message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
