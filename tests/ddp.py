"""Launch tests/ddp_worker.py with torchrun (2 processes) and alone, and return both results."""
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def ddp_and_single(kind: str, data: Path, tmp: Path, per_rank_batch: int, port: int):
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", "OMP_NUM_THREADS": "1"}
    worker = str(REPO / "tests" / "ddp_worker.py")
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                    str(port), worker, kind, str(data), str(tmp / "ddp.pt"), str(per_rank_batch)],
                   check=True, env=env, timeout=300)
    subprocess.run([sys.executable, worker, kind, str(data), str(tmp / "single.pt"), str(2 * per_rank_batch)],
                   check=True, env=env, timeout=300)
    return torch.load(tmp / "ddp.pt", weights_only=True), torch.load(tmp / "single.pt", weights_only=True)


def assert_same_gradients(ddp, single):
    assert ddp["grads"].keys() == single["grads"].keys()
    for name, grad in single["grads"].items():
        torch.testing.assert_close(ddp["grads"][name], grad, atol=1e-6, rtol=1e-4, msg=name)
