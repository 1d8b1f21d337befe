"""Export a Grad-TTS and a DiffWave checkpoint as an ONNX voice that speaks without torch:
`gradwave-export --acoustic CKPT --vocoder CKPT -o VOICE_DIR`.

The folder holds `encoder.onnx` (ids, lengths, length scale -> the encoder's mean, its mask and the
durations), `decoder.onnx` (the decoder's score network in a loop over a table of sampler steps
that the runtime writes, so the step count and the solver remain a run-time choice), `vocoder.onnx` (mel, Griffin-Lim's
initial phase and the sampler's noise -> waveform: the whole reverse process in one graph, lmnt's DDPM or
the bridge with its Griffin-Lim guide, or Griffin-Lim alone) and `voice.json`, which describes all
of it and records the sha256 of every file and of the source checkpoints.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

import onnx
import torch
from torch import nn

from gradwave.common.checkpoint import CheckpointError, load_checkpoint
from gradwave.common.config import to_dict
from gradwave.common.griffin_lim import GRIFFIN_LIM, ITERATIONS, GriffinLim
from gradwave.common.mel import MelConfig, MelSpectrogram
from diffwave import bridge, ddpm
from diffwave.checkpoint import adapt_published, load_diffwave
from diffwave.checkpoint import mel_config as vocoder_mel_config
from diffwave.config import KIND as DIFFWAVE
from diffwave.schedules import schedule_for
from grad_tts.checkpoint import inference_config, load_grad_tts, mel_config, text_config
from grad_tts.samplers import widened

from .files import FORMAT, MANIFEST, VoiceError, sha256
from .phase import initial_phase
from .random_inputs import draw_when_missing
from .sampler_graph import sampler_graph
from .sherpa import SUBFOLDER, check_text, export_sherpa
from .tracing import OPSET, export_graph

log = logging.getLogger("gradwave.voice.export")
VERSION = "0.1.0"


class EncoderGraph(nn.Module):
    """ids (B, T_text), lengths (B,), length scale () -> mu_x (B, n_feats, T_text), x_mask (B, 1, T_text),
    durations (B, T_text): Grad-TTS's own arithmetic, frames possibly fractional for a length scale != 1."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, lengths, length_scale):
        mu_x, logw, x_mask = self.model.encoder(ids, lengths)
        durations = torch.ceil(torch.exp(logw) * x_mask) * length_scale
        return mu_x, x_mask, durations.squeeze(1)


class ScoreGraph(nn.Module):
    """The decoder's score network: x_t, mask, mu (B, n_feats, T; T a multiple of 4), t (B,) [, speaker (B,)]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, mask, mu, t, speaker=None):
        return self.model.decoder.estimator(x, mask, mu, t, self.model.speaker_embedding(speaker))


class VocoderGraph(nn.Module):
    """mel (B, n_mels, frames), the Griffin-Lim phase (bins, frames; the bridge's guide) and the sampler's
    white noise (draws, B, frames * hop) -> audio (B, frames * hop): the whole reverse process, lmnt's
    DDPM or the bridge (PriorGrad's prior included), fed the noise in the order the sampler draws it. The
    conditioning is not hoisted: in ONNX Runtime the hoisted projections would all be alive at once."""

    def __init__(self, model, steps: Optional[int]):
        super().__init__()
        self.model = model
        if model.config.process == "bridge":
            # not the model's own Griffin-Lim: this one's bases are persistent, so the graph holds each once
            self.guide = GriffinLim(model.guide_extractor, bridge.sampling_iterations(model.config))
            self.steps = bridge.step_count(model.config, fast=steps is None, steps=steps)
        else:
            self.schedule = schedule_for(model.config, fast=steps is None, steps=steps)
            self.steps = len(self.schedule.alpha)

    @property
    def draws(self) -> int:
        """White-noise draws of one sampling: the DDPM's start and every step but the last; the bridge's
        steps but the last."""
        return self.steps if self.model.config.process == "ddpm" else self.steps - 1

    def forward(self, mel, phase, noise):
        draws = iter(noise.unbind(0))
        shape = (mel.shape[0], mel.shape[-1] * self.model.config.hop_samples)
        prior = self.model.noise_prior(mel)
        if self.model.config.process == "ddpm":
            conditioning = self.model.condition(mel, hoist=False)
            return ddpm.reverse(self.model, conditioning, prior, self.schedule, shape, lambda: next(draws),
                                contextlib.nullcontext())
        guide = self.guide(mel, phase)
        conditioning = self.model.condition(mel, hoist=False, guide=guide)
        return bridge.reverse(self.model, conditioning, prior, guide, self.steps, lambda: next(draws),
                              contextlib.nullcontext())


def export_acoustic(model, ckpt: dict, out: Path) -> dict:
    """encoder.onnx and decoder.onnx of a Grad-TTS model (fp32, eval) and its checkpoint, and what voice.json
    says of them."""
    ids, lengths = torch.ones(1, 7, dtype=torch.long), torch.tensor([7])
    export_graph(EncoderGraph(model), (ids, lengths, torch.tensor(1.0)), out / "encoder.onnx",
                 ["ids", "lengths", "length_scale"], ["mu", "mask", "durations"],
                 {"ids": {0: "batch", 1: "tokens"}, "lengths": {0: "batch"}, "mu": {0: "batch", 2: "tokens"},
                  "mask": {0: "batch", 2: "tokens"}, "durations": {0: "batch", 1: "tokens"}})
    c = model.config
    frames = torch.ones(1, 1, 8)
    frames[..., -1] = 0  # a padded item, so that the padding-invariant U-Net's masked branch is the one traced
    inputs = [torch.randn(1, c.n_feats, 8), frames, torch.randn(1, c.n_feats, 8), torch.tensor([0.5])]
    names = ["x", "mask", "mu", "t"]
    axes = {"x": {0: "batch", 2: "frames"}, "mask": {0: "batch", 2: "frames"}, "mu": {0: "batch", 2: "frames"},
            "t": {0: "batch"}, "score": {0: "batch", 2: "frames"}}
    if c.n_spks > 1:
        inputs.append(torch.zeros(1, dtype=torch.long))
        names.append("speaker")
        axes["speaker"] = {0: "batch"}
    export_graph(ScoreGraph(model), tuple(inputs), out / "score.onnx", names, ["score"], axes)
    mel = mel_config(ckpt)
    denoised_range = MelSpectrogram(mel).value_range()
    onnx.save(sampler_graph(onnx.load(str(out / "score.onnx")), *widened(denoised_range)), str(out / "decoder.onnx"))
    (out / "score.onnx").unlink()
    own = inference_config(ckpt)
    text = text_config(ckpt)
    return {"mel": to_dict(mel), "text": to_dict(text), "symbols": list(text.symbols),
            "speakers": ckpt.get("speakers") or None,
            "acoustic": {"encoder": "encoder.onnx", "decoder": "decoder.onnx", "n_feats": c.n_feats,
                         "beta_min": c.beta_min, "beta_max": c.beta_max, "shallow_start": c.shallow_start,
                         "decoder_objective": c.decoder_objective, "frame_multiple": 4,
                         "denoised_range": list(denoised_range), **to_dict(own)}}


def vocoder_graph(vocoder: str, mel: dict, steps: Optional[int]) -> tuple[nn.Module, dict]:
    """The vocoder as a module that exports (a DiffWave checkpoint, either process, or "griffin-lim":
    mel and phase [and noise] in, audio out) and what voice.json says of it."""
    if vocoder == GRIFFIN_LIM:
        graph = GriffinLim(MelSpectrogram(MelConfig(**mel)), ITERATIONS)
        return graph, {"kind": GRIFFIN_LIM, "file": "vocoder.onnx", "iterations": ITERATIONS,
                       "hop_length": mel["hop_length"], "phase_seed": None, "noise_draws": 0}
    model, _ = load_diffwave(vocoder)
    graph = VocoderGraph(model.float().eval(), steps)
    bridged = model.config.process == "bridge"
    return graph, {"kind": "diffwave", "process": model.config.process, "file": "vocoder.onnx",
                   "steps": graph.steps, "noise_draws": graph.draws, "hop_length": model.config.hop_samples,
                   "phase_seed": 0 if bridged else None}


def export_vocoder(graph: nn.Module, spec: dict, out: Path, mel: dict) -> None:
    """vocoder.onnx: mel, Griffin-Lim's initial phase [and the sampler's noise] -> audio; the graph draws the
    phase and the noise itself when they are left out."""
    frames = 4
    inputs = [torch.randn(1, mel["n_mels"], frames) - 5, torch.from_numpy(initial_phase(mel["n_fft"] // 2 + 1, frames))]
    names = ["mel", "phase"]
    axes = {"mel": {0: "batch", 2: "frames"}, "phase": {1: "frames"}, "audio": {0: "batch", 1: "samples"}}
    if spec["kind"] == "diffwave":
        inputs.append(torch.randn(max(spec["noise_draws"], 1), 1, frames * spec["hop_length"]))
        names.append("noise")
        axes["noise"] = {1: "batch", 2: "samples"}
    export_graph(graph, tuple(inputs), out / spec["file"], names, ["audio"], axes)
    onnx.save(draw_when_missing(onnx.load(str(out / spec["file"])), spec["hop_length"]), str(out / spec["file"]))


def check_mels(acoustic_mel: MelConfig, vocoder: str | Path) -> None:
    """A DiffWave vocoder must hear the acoustic model's mel features."""
    if str(vocoder) == GRIFFIN_LIM:
        return
    theirs = vocoder_mel_config(load_checkpoint(vocoder, DIFFWAVE, adapt=adapt_published))
    if theirs is None or theirs != acoustic_mel:
        raise VoiceError(f"{vocoder}: its mel features differ from the acoustic model's (or it has none)")


def export_voice(acoustic: str | Path, vocoder: str | Path, out: str | Path, vocoder_steps: int | None = None,
                 sherpa: bool = False, sherpa_steps: Sequence[int] = ()) -> dict:
    """Write the voice folder `out` (into a temporary folder first, so a failed export leaves nothing
    half-written) and return its voice.json. `sherpa` also writes the files sherpa-onnx loads (gradwave.voice.sherpa),
    one acoustic graph per count of `sherpa_steps` (default: the acoustic model's own step count)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise VoiceError(f"{out}: exists and is not empty")
    work = out.with_name(out.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    try:
        model, ckpt = load_grad_tts(acoustic)
        model = model.float().eval()
        check_mels(mel_config(ckpt), vocoder)  # before any export, so that a mismatch costs nothing
        if sherpa:
            check_text(text_config(ckpt), Path(acoustic))
        voice = {"format": FORMAT, "toolkit": VERSION, "opset": OPSET}
        voice.update(export_acoustic(model, ckpt, work))
        voice["sample_rate"] = voice["mel"]["sample_rate"]
        graph, voice["vocoder"] = vocoder_graph(str(vocoder), voice["mel"], vocoder_steps)
        export_vocoder(graph, voice["vocoder"], work, voice["mel"])
        voice["sources"] = {"acoustic": sha256(Path(acoustic)),
                            "vocoder": None if str(vocoder) == GRIFFIN_LIM else sha256(Path(vocoder))}
        names = ["encoder.onnx", "decoder.onnx", "vocoder.onnx"]
        if sherpa:
            steps = list(sherpa_steps) or [voice["acoustic"]["timesteps"]]
            names += export_sherpa(model, voice, work, steps)
            voice["sherpa_onnx"] = {"folder": SUBFOLDER, "steps": steps}
        voice["files"] = {name: sha256(work / name) for name in names}
        (work / MANIFEST).write_text(json.dumps(voice, indent=1) + "\n")
        if out.exists():
            out.rmdir()
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return voice


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--acoustic", required=True, metavar="CKPT", help="Grad-TTS checkpoint")
    parser.add_argument("--vocoder", required=True, metavar="CKPT", help="DiffWave checkpoint or 'griffin-lim'")
    parser.add_argument("--vocoder-steps", type=int, metavar="N", help="vocoder steps (default: its fast schedule)")
    parser.add_argument("-o", "--out", required=True, metavar="VOICE_DIR", help="the voice folder to write")
    parser.add_argument("--format", choices=("gradwave", "sherpa-onnx"), default="gradwave",
                        help="sherpa-onnx: also write VOICE_DIR/sherpa-onnx/, what sherpa-onnx's offline TTS loads")
    parser.add_argument("--sherpa-steps", type=int, nargs="+", default=[], metavar="N",
                        help="sampler steps of the sherpa-onnx acoustic graphs, one file each "
                             "(default: the acoustic model's own)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        voice = export_voice(args.acoustic, args.vocoder, args.out, args.vocoder_steps,
                             args.format == "sherpa-onnx", args.sherpa_steps)
    except (CheckpointError, VoiceError, ValueError) as err:
        log.error("%s", err)
        return 1
    log.info("wrote %s: %s", args.out, ", ".join(voice["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
