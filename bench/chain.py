"""Speed of the whole chain (Grad-TTS, then DiffWave) as synthesize.py runs it.

    python bench/chain.py [--size full|demo] [--sampler euler] [--steps 10] [--vocoder-steps 6]
                          [--threads 2] [--repeats 3] [--lines 20]
                          [--acoustic-precision fp32] [--vocoder-precision auto]
    python bench/chain.py --acoustic exp/grad_tts/last.pt --vocoder exp/diffwave/last.pt
    python bench/chain.py --vocoder-config recipes/ljspeech/conf/convnext.json   # another vocoder
    python bench/chain.py --backend onnx ...       # the same checkpoints exported as an ONNX voice
    python bench/chain.py --backend openvino ...   # that voice on OpenVINO

Seconds of compute per second of audio (real-time factor) of each stage and of the chain, best of
--repeats, on one sentence of about 150 input ids at batch 1; the process's peak memory; and the
real-time factor that synthesize.py reports for a file of --lines sentences with the same settings.
Random weights of the full-size (published LJSpeech) or demo configs unless checkpoints are given.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

if Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.util import cpu_description, peak_rss_mib, timed, write_random_checkpoints  # noqa: E402
from gradwave.common.precision import PRECISIONS  # noqa: E402
from grad_tts.samplers import SAMPLERS  # noqa: E402
from gradwave.synthesizer import Synthesizer, VoiceSynthesizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIGS = (REPO / "recipes/ljspeech/conf/demo_grad_tts.json", REPO / "recipes/ljspeech/conf/demo_diffwave.json")
SENTENCE = ("The quick brown fox jumps over the lazy dog while the museum keeps an old map of the coast "
            "in a glass case near the door.")
FILE_SENTENCES = [
    "Please call Stella and ask her to bring these things with her from the store.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "We will meet at the station at half past nine tomorrow morning.",
    "A rainbow is a division of white light into many beautiful colors.",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["full", "demo"], default="full", help="random-weight model sizes")
    parser.add_argument("--backend", choices=["torch", "onnx", "openvino"], default="torch",
                        help="onnx: export the checkpoints as a voice and run it on onnxruntime (fp32); "
                             "openvino: the same voice on OpenVINO (the precision options apply)")
    parser.add_argument("--acoustic", help="a Grad-TTS checkpoint instead of random weights")
    parser.add_argument("--vocoder", help="a DiffWave checkpoint instead of random weights")
    parser.add_argument("--vocoder-config", metavar="JSON",
                        help="random weights of this DiffWave config instead of --size's (e.g. conf/convnext.json)")
    parser.add_argument("--sampler", choices=SAMPLERS, default="euler")
    parser.add_argument("--steps", type=int, default=10, help="Grad-TTS steps")
    parser.add_argument("--vocoder-steps", type=int, help="DiffWave N-step schedule (default: the fast 6-step one)")
    parser.add_argument("--acoustic-precision", choices=PRECISIONS, default="fp32", help="as synthesize.py's")
    parser.add_argument("--vocoder-precision", choices=PRECISIONS, default="auto", help="as synthesize.py's")
    parser.add_argument("--compile", action="store_true", help="torch.compile DiffWave's network (as synthesize.py's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lines", type=int, default=20, help="sentences in the synthesize.py file (0: skip)")
    parser.add_argument("--out", help="write the figures as JSON here")
    return parser


def through_synthesize(models: list[str], args, folder: Path) -> float:
    """synthesize.py's own real-time factor on a file of --lines sentences; `models`: its model arguments."""
    lines = folder / "lines.txt"
    lines.write_text("\n".join(FILE_SENTENCES[k % len(FILE_SENTENCES)] for k in range(args.lines)) + "\n",
                     encoding="utf-8")
    command = [sys.executable, str(REPO / "synthesize.py"), "-f", str(lines), "-o", str(folder / "out"), *models,
               "--timesteps", str(args.steps), "--sampler", args.sampler, "--device", "cpu",
               "--acoustic-precision", args.acoustic_precision, "--vocoder-precision", args.vocoder_precision]
    command += ["--compile"] if args.compile else []
    if args.vocoder_steps and "--voice" not in models:
        command += ["--vocoder-steps", str(args.vocoder_steps)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return float(re.search(r"real-time factor ([0-9.]+)", done.stdout).group(1))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.acoustic and args.vocoder:
            acoustic, vocoder = Path(args.acoustic), Path(args.vocoder)
        else:
            acoustic_config, vocoder_config = DEMO_CONFIGS if args.size == "demo" else (None, None)
            acoustic, vocoder = write_random_checkpoints(folder / "models", acoustic_config,
                                                         args.vocoder_config or vocoder_config)
        if args.backend in ("onnx", "openvino"):
            # exported in another process, so that the peak memory is the runtime's, not the tracer's
            steps = ["--vocoder-steps", str(args.vocoder_steps)] if args.vocoder_steps else []
            subprocess.run([sys.executable, "-m", "gradwave.voice.export", "--acoustic", str(acoustic), "--vocoder",
                            str(vocoder), "-o", str(folder / "voice"), *steps], check=True, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            engine = "onnxruntime" if args.backend == "onnx" else "openvino"
            synth = VoiceSynthesizer(folder / "voice", timesteps=args.steps, sampler=args.sampler, engine=engine,
                                     acoustic_precision=args.acoustic_precision,
                                     vocoder_precision=args.vocoder_precision)
            models = ["--voice", str(folder / "voice"), "--engine", engine]
        else:
            synth = Synthesizer(acoustic, vocoder, timesteps=args.steps, vocoder_steps=args.vocoder_steps,
                                sampler=args.sampler, acoustic_precision=args.acoustic_precision,
                                vocoder_precision=args.vocoder_precision, compile_vocoder=args.compile)
            models = ["--acoustic", str(acoustic), "--vocoder", str(vocoder)]
        speaker = [synth.speaker_id(None)]
        mel = synth.acoustic([SENTENCE], speaker, [0])[0].mel
        seconds = mel.shape[-1] * synth.mel_config.hop_length / synth.sample_rate
        acoustic_time = min(timed(lambda: synth.acoustic([SENTENCE], speaker, [0]), args.repeats))
        vocoder_time = min(timed(lambda: synth.waveform(mel, 0), args.repeats))
        precisions = ((synth.voice.decoder.precision, synth.voice.vocoder_graph.precision) if args.backend != "torch"
                      else (synth.acoustic_precision, synth.vocoder_precision))
        models_used = f"{args.size} (random weights)"
        if args.vocoder_config:
            models_used += f", vocoder {args.vocoder_config}"
        result = {"cpu": cpu_description(), "models": "checkpoints" if args.acoustic else models_used,
                  "backend": args.backend,
                  "sampler": args.sampler, "steps": args.steps, "vocoder_steps": args.vocoder_steps or "fast",
                  "acoustic_precision": precisions[0], "vocoder_precision": precisions[1],
                  "compiled_vocoder": args.compile,
                  "threads": args.threads, "ids": len(synth.encode(SENTENCE).ids), "audio_seconds": round(seconds, 2),
                  "rtf_acoustic": round(acoustic_time / seconds, 3), "rtf_vocoder": round(vocoder_time / seconds, 3),
                  "rtf_chain": round((acoustic_time + vocoder_time) / seconds, 3),
                  "peak_rss_mib": round(peak_rss_mib())}
        if args.lines:
            result["rtf_synthesize_py"] = through_synthesize(models, args, folder)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
