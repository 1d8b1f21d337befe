"""Loss arithmetic that holds across DistributedDataParallel processes.

DDP averages gradients over the processes, so a loss that each process normalises by its own count
(frames, tokens) weighs a short shard's frames more than a long shard's. `global_mean` normalises by
the count summed over all processes instead (one all-reduce of a scalar), which makes a multi-process
step equal a single-process step on the same global batch, whatever the utterance lengths.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def global_mean(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """`total / count` in one process; across N processes, this process's share of the global mean,
    scaled by N so that DDP's gradient average gives the gradient of sum(totals) / sum(counts)."""
    processes = world_size()
    if processes == 1:
        return total / count
    count = count.detach().clone().float()
    dist.all_reduce(count)
    return total * processes / count
