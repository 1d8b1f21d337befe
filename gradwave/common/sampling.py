"""Deterministic, resumable batching shared by every dataset.

The batch sampler yields lists of `(index, seed)` keys. The order depends only on (seed, epoch),
each rank takes its own slice, and every item carries its own seed for whatever randomness it
needs (crops, segments, diffusion noise). So training randomness does not depend on the number
of processes or workers, and a run resumed at step N sees exactly the batches it would have seen.
"""
from __future__ import annotations

import random
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch.utils.data import Sampler


def seed_everything(seed: int) -> None:
    """Seeds every generator a run draws from without its own seed: torch (the initial weights,
    dropout), numpy and Python's `random`. Training calls it before building the model, so that
    one seed gives one model."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class SeededBatchSampler(Sampler):
    def __init__(self, n_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True):
        if n_items < batch_size * world_size:
            raise ValueError(f"{n_items} training items cannot fill one batch of {batch_size} on "
                             f"{world_size} process(es); lower the batch size or add data")
        self.n_items = n_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.epoch = 0
        self.skip = 0

    def __len__(self) -> int:
        return self.n_items // (self.batch_size * self.world_size) - self.skip

    @property
    def batches_per_epoch(self) -> int:
        return self.n_items // (self.batch_size * self.world_size)

    def set_position(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch = epoch
        self.skip = skip_batches

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n_items, generator=gen) if self.shuffle else torch.arange(self.n_items)
        seeds = torch.randint(0, 2**62, (self.n_items,), generator=gen)
        global_batch = self.batch_size * self.world_size
        for b in range(self.skip, self.batches_per_epoch):
            chunk = order[b * global_batch:(b + 1) * global_batch]
            mine = chunk[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
            yield [(int(i), int(seeds[b * global_batch + self.rank * self.batch_size + k]))
                   for k, i in enumerate(mine)]


def generators_from_seeds(seeds: torch.Tensor) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def host_to_device(values: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """CPU-drawn values onto `device`: on CUDA through pinned memory and a non-blocking copy, so the
    host goes on queueing work instead of waiting for each transfer. (Values are drawn on the CPU from
    per-item or per-call generators so that a seed gives the same numbers on every device.)"""
    if torch.device(device).type == "cuda":
        return values.pin_memory().to(device=device, dtype=dtype, non_blocking=True)
    return values.to(device=device, dtype=dtype)


Draw = Callable[[], torch.Tensor]  # the next white noise of a sampler, on its device


def generator_draws(shape: tuple, generator: Optional[torch.Generator], device: torch.device) -> Draw:
    """White noise of `shape` drawn on the CPU from `generator` (so a seed gives the same numbers on every
    device), reaching the device without blocking."""
    return lambda: host_to_device(torch.randn(shape, generator=generator), device)


def per_item_randn(shape_per_item: tuple, generators: list[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    draws = torch.stack([torch.randn(shape_per_item, generator=g) for g in generators])
    return host_to_device(draws, like.device, like.dtype)


def per_item_rand(generators: list[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    return host_to_device(torch.cat([torch.rand(1, generator=g) for g in generators]), like.device, like.dtype)


def per_item_randint(high: int, generators: list[torch.Generator], device: torch.device) -> torch.Tensor:
    return host_to_device(torch.cat([torch.randint(0, high, (1,), generator=g) for g in generators]), device)
