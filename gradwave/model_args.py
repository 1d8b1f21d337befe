"""The command-line options that choose and set up a synthesizer, shared by synthesize.py, serve.py and
gradwave-wyoming."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from gradwave.common.griffin_lim import GRIFFIN_LIM
from gradwave.common.precision import PRECISIONS
from grad_tts.samplers import SAMPLERS
from gradwave.voice.engines import ENGINES

from .synthesizer import BaseSynthesizer, SynthesisError, Synthesizer, VoiceSynthesizer

log = logging.getLogger("synthesize")

DEFAULT_ACOUSTIC = Path("exp/grad_tts/last.pt")
DEFAULT_VOCODER = Path("exp/diffwave/last.pt")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--voice", metavar="DIR", help="an exported ONNX voice (gradwave-export), run on --engine")
    parser.add_argument("--engine", choices=ENGINES, default="onnxruntime",
                        help="runs a --voice; openvino: bf16 as the precision options say")
    parser.add_argument("--acoustic", metavar="CKPT", help=f"Grad-TTS checkpoint (default: {DEFAULT_ACOUSTIC})")
    parser.add_argument("--vocoder", metavar="CKPT", help=f"DiffWave checkpoint or '{GRIFFIN_LIM}' (default: "
                                                          f"{DEFAULT_VOCODER} if it exists, else {GRIFFIN_LIM})")
    parser.add_argument("--timesteps", type=int, metavar="N",
                        help="Grad-TTS decoder steps, 0: the encoder's mean (default: the checkpoint's, else 10)")
    parser.add_argument("--sampler", choices=SAMPLERS,
                        help="Grad-TTS solver: euler (upstream), ml (max.-likelihood SDE), dpm (DPM-Solver++ 2M)")
    parser.add_argument("--temperature", type=float, metavar="T", help="default: the checkpoint's (1.5)")
    parser.add_argument("--length-scale", type=float, metavar="X",
                        help=">1 speaks slower (default: the checkpoint's, 1.0)")
    parser.add_argument("--vocoder-steps", type=int, metavar="N",
                        help="DiffWave steps (default: its fast schedule, lmnt's 6 or the bridge's own)")
    parser.add_argument("--vocoder-precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 on a CPU with native bf16 (about 2x faster), else fp32")
    parser.add_argument("--acoustic-precision", choices=PRECISIONS, default="fp32",
                        help="Grad-TTS decoder arithmetic (bf16: ~1.8x faster, mel within ~0.1)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile DiffWave (first sentence ~25 s slower, then ~1.5x faster)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: torch's, one per core)")


def resolve_checkpoints(args) -> tuple[Path, str]:
    acoustic = Path(args.acoustic) if args.acoustic else DEFAULT_ACOUSTIC
    if not acoustic.is_file():
        raise SynthesisError(f"no acoustic model at {acoustic}: train one with `bash recipes/ljspeech/run.sh` "
                             "(or --demo), or pass --acoustic PATH (a published grad-tts.pt works too)")
    if args.acoustic is None:
        log.info("acoustic model: %s (the recipe's latest)", acoustic)
    vocoder = args.vocoder or (str(DEFAULT_VOCODER) if DEFAULT_VOCODER.is_file() else GRIFFIN_LIM)
    if args.vocoder is None:
        log.info("vocoder: %s", vocoder)
    return acoustic, vocoder


def synthesizer_from_args(args) -> BaseSynthesizer:
    """The synthesizer that `add_model_arguments`' options describe (SynthesisError/CheckpointError/OSError)."""
    if args.threads is not None:
        if args.threads < 1:
            raise SynthesisError(f"--threads must be at least 1, not {args.threads}")
        torch.set_num_threads(args.threads)
    if args.voice:
        if args.acoustic or args.vocoder:
            raise SynthesisError("--voice speaks an exported voice: give it without --acoustic and --vocoder")
        return VoiceSynthesizer(args.voice, args.timesteps, args.temperature, args.length_scale, args.sampler,
                                engine=args.engine, acoustic_precision=args.acoustic_precision,
                                vocoder_precision=args.vocoder_precision)
    acoustic, vocoder = resolve_checkpoints(args)
    return Synthesizer(acoustic, vocoder, args.device, args.timesteps, args.temperature, args.length_scale,
                       vocoder_steps=args.vocoder_steps, sampler=args.sampler,
                       vocoder_precision=args.vocoder_precision, acoustic_precision=args.acoustic_precision,
                       compile_vocoder=args.compile)
