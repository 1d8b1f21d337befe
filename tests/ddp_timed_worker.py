"""Run by tests under torchrun (2 processes, gloo): a time-limited run in which rank 1 starts its
clock a second after rank 0; each rank writes the step it stopped at.

    python tests/ddp_timed_worker.py DATA OUT_DIR BATCH_SIZE
"""
import sys
import time
from pathlib import Path

import torch

from common.trainer import Trainer
from ddp_worker import diffwave_task


def main(data: str, out: str, batch_size: int) -> None:
    torch.manual_seed(0)
    task = diffwave_task(data, batch_size)
    task.config.max_minutes = 0.04
    trainer = Trainer(task, Path(out) / "run", device="cpu", progress=False)
    if trainer.dist.rank == 1:
        time.sleep(1.0)
    trainer.train(10**6)
    (Path(out) / f"rank{trainer.dist.rank}.txt").write_text(str(trainer.step))
    trainer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
