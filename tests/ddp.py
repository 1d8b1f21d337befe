"""Launch tests/ddp_worker.py with torchrun (2 processes) and alone, and return both results."""
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def ddp_and_single(kind: str, data: Path, tmp: Path, batch_size: int, port: int):
    """The same global batch of `batch_size` on 2 processes and on one."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", "OMP_NUM_THREADS": "1"}
    worker = str(REPO / "tests" / "ddp_worker.py")
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                    str(port), worker, kind, str(data), str(tmp / "ddp.pt"), str(batch_size)],
                   check=True, env=env, timeout=300)
    subprocess.run([sys.executable, worker, kind, str(data), str(tmp / "single.pt"), str(batch_size)],
                   check=True, env=env, timeout=300)
    return torch.load(tmp / "ddp.pt", weights_only=True), torch.load(tmp / "single.pt", weights_only=True)


def assert_same_gradients(ddp, single):
    assert ddp["grads"].keys() == single["grads"].keys()
    for name, grad in single["grads"].items():
        torch.testing.assert_close(ddp["grads"][name], grad, atol=1e-6, rtol=1e-4, msg=name)
