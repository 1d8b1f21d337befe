"""Helpers shared by the benchmarks: timing, peak memory, profiles, the CPU they ran on."""
from __future__ import annotations

import argparse
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

import torch

from gradwave.common.autotune import cpu_model


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX-512-BF16", "amx_tile": "AMX"}


def cpu_description() -> str:
    """The CPU model and the instruction sets that decide its speed here, e.g. "AMD EPYC (AVX2, AVX-512,
    AVX-512-BF16; torch kernels AVX512)": every benchmark prints it beside its figures."""
    model, flags = cpu_model()
    found = [name for flag, name in ISA_FLAGS.items() if flag in flags]
    return f"{model} ({', '.join(found) or 'no AVX2'}; torch kernels {torch.backends.cpu.get_cpu_capability()})"


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def best_in_turn(systems: dict[str, Callable[[], object]], repeats: int, warmup: bool = True) -> dict[str, float]:
    """The best time of each system over `repeats` rounds, each round running every system once in turn, so
    that all see the machine in the same state (after one warm-up call each unless the caller made it)."""
    for run in systems.values() if warmup else ():
        run()
    times = {name: [] for name in systems}
    for _ in range(repeats):
        for name, run in systems.items():
            times[name] += timed(run, 1, warmup=0)
    return {name: min(values) for name, values in times.items()}


def profile_table(fn: Callable[[], object], rows: int = 12) -> str:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def report_train_step(step: Callable[[], object], args, setting: str,
                      rate: Optional[Callable[[float], str]] = None) -> None:
    """Time a training step `args.repeats` times and print the best and mean (with `rate` of the best),
    the peak memory and, with `args.profile`, where the time went."""
    times = timed(step, args.repeats)
    best, mean = min(times), sum(times) / len(times)
    extra = f"; {rate(best)}" if rate else ""
    print(f"train step ({setting}, {args.threads} threads): best {best:.3f} s, mean {mean:.3f} s{extra}")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")
    if args.profile:
        print(profile_table(step))


def mode_parser(doc: str, modes: list[str]) -> argparse.ArgumentParser:
    """The arguments every mode-based benchmark takes: the mode, threads, repeats and --profile."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=modes)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top operators of one run")
    return parser


def run_mode(args, modes: dict[str, Callable]) -> None:
    """The chosen mode on `args.threads` threads, from torch seed 0, after a line naming the CPU."""
    print(f"CPU: {cpu_description()}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    modes[args.mode](args)


def write_random_checkpoints(folder: Path, grad_tts_config: Optional[str] = None,
                             diffwave_config: Optional[str] = None, seed: int = 0) -> tuple[Path, Path]:
    """Grad-TTS and DiffWave checkpoints of random weights: full size, or the models of the given
    JSON configs (e.g. the demo's). For speed measurements and load tests, never for listening."""
    from gradwave.common.checkpoint import make_checkpoint, save_checkpoint
    from gradwave.common.config import load_json, to_dict
    from diffwave.build import build_model
    from diffwave.config import DiffWaveConfig
    from grad_tts.config import GradTTSConfig
    from grad_tts.model import GradTTS

    torch.manual_seed(seed)
    acoustic_config = load_json(GradTTSConfig, grad_tts_config) if grad_tts_config else GradTTSConfig()
    vocoder_config = load_json(DiffWaveConfig, diffwave_config) if diffwave_config else DiffWaveConfig()
    vocoder_config = replace(vocoder_config, mel=acoustic_config.mel)
    acoustic, vocoder = GradTTS(acoustic_config.model), build_model(vocoder_config.model, acoustic_config.mel)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(make_checkpoint("grad_tts", acoustic.state_dict(), to_dict(acoustic.config),
                                    to_dict(acoustic_config.mel), text=to_dict(acoustic_config.text)),
                    folder / "acoustic.pt")
    save_checkpoint(make_checkpoint("diffwave", vocoder.state_dict(), to_dict(vocoder.config),
                                    to_dict(acoustic_config.mel)), folder / "vocoder.pt")
    return folder / "acoustic.pt", folder / "vocoder.pt"
