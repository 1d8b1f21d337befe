"""Choices that depend on the CPU in hand (bf16 or fp32, one kernel form or another), decided by timing the
real work the first time it runs on a CPU and remembered per CPU model and torch version in the user's cache
folder ($GRADWAVE_CACHE_DIR, else $XDG_CACHE_HOME/gradwave, else ~/.cache/gradwave): a CPU flag alone
never decides, since a trick measured on one CPU family was a slowdown on another."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

log = logging.getLogger("gradwave.common.autotune")
CACHE_FILE = "autotune.json"


def cache_dir() -> Path:
    if os.environ.get("GRADWAVE_CACHE_DIR"):
        return Path(os.environ["GRADWAVE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gradwave"


def cpu_model() -> tuple[str, set[str]]:
    """The CPU's model name and its feature flags (from /proc/cpuinfo; elsewhere the platform's name)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return model, flags


def machine_key() -> str:
    """What a timing is valid for: the CPU model, torch's kernel set on it and torch's version."""
    return f"{cpu_model()[0]} | {torch.backends.cpu.get_cpu_capability()} | torch {torch.__version__}"


def digest(value) -> str:
    """A short name for a JSON-able value (a model config, a batch's shapes) in a cache key."""
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def read_cache() -> dict:
    try:
        return json.loads((cache_dir() / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def write_choice(key: str, choice: str) -> None:
    """Add one choice to the cache file, atomically; a cache that cannot be written costs a timing next time."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        cache = read_cache()
        cache[key] = choice
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{CACHE_FILE}.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(cache, handle, indent=1, sort_keys=True)
        os.replace(tmp, folder / CACHE_FILE)
    except OSError as err:
        log.warning("could not remember the choice in %s: %s", folder, err)


def best_time(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: first calls pay for allocation and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def fastest(name: str, candidates: dict[str, Callable[[], object]], repeats: int = 3) -> str:
    """The label of the fastest of `candidates` (label -> a run of the real work) for the work called `name`
    on this machine: read from the cache, or timed now and remembered."""
    key = f"{machine_key()} | {name}"
    known = read_cache().get(key)
    if known in candidates:
        return known
    times = {label: best_time(run, repeats) for label, run in candidates.items()}
    choice = min(times, key=times.get)
    log.info("%s on this CPU: %s (%s)", name, choice, ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in times.items()))
    write_choice(key, choice)
    return choice
