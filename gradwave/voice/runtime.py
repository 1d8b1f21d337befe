"""Speak an exported voice without torch: numpy, onnxruntime (or openvino), soundfile and this toolkit's
`text/`.

    from gradwave.voice.runtime import Voice
    audio = Voice("VOICE_DIR").speak("Hello there.")   # float32 waveform at voice.sample_rate
    fast = Voice("VOICE_DIR", engine="openvino")         # bf16 vocoder where the CPU has it natively

The sampler's table of steps is made here (grad_tts.samplers) and the decoder graph runs all of them in
one call, so the number of steps, the solver, the temperature and the length scale are chosen at run time
and nothing is copied between the host and the device from one step to the next. The graphs run on
ONNX Runtime (CUDA where present, else the CPU) or OpenVINO (gradwave.voice.engines).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from grad_tts.samplers import STEP_FIELDS, Schedule, plan_for, sampling_settings, start_scale
from text import TextConfig, TextProcessor

from .engines import PRECISIONS, graph_opener
from .files import VoiceError, read_voice
from .phase import initial_phase

Noise = Callable[[tuple], np.ndarray]  # shape -> standard normal float32 noise


def expand(mu_x: np.ndarray, x_mask: np.ndarray, durations: np.ndarray, multiple: int):
    """Grad-TTS's hard alignment: each token's mean repeated over its frames (durations possibly
    fractional: frame j belongs to the token whose cumulative end first exceeds j). Returns mu_y
    (B, n_feats, T), y_mask (B, 1, T), lengths (B,), with T a multiple of `multiple`."""
    lengths = np.maximum(durations.sum(1), 1).astype(np.int64)
    frames = int(-(-int(lengths.max()) // multiple) * multiple)
    grid = np.arange(frames, dtype=np.float32)
    ends = np.cumsum(durations.astype(np.float64), 1).astype(np.float32)  # as torch.cumsum accumulates
    y_mask = (grid[None, :] < lengths[:, None]).astype(np.float32)
    inside = (grid[None, None, :] < ends[:, :, None]).astype(np.float32)
    path = inside - np.concatenate([np.zeros_like(inside[:, :1]), inside[:, :-1]], 1)
    path = path * x_mask.transpose(0, 2, 1) * y_mask[:, None, :]
    return np.einsum("bct,btf->bcf", mu_x, path).astype(np.float32), y_mask[:, None, :], lengths


class Voice:
    """An exported voice folder, checked against its recorded hashes when opened."""

    def __init__(self, folder: str | Path, engine: str = "onnxruntime", acoustic_precision: str = "fp32",
                 vocoder_precision: str = "auto", providers: Optional[list[str]] = None):
        """`engine` and the precisions: see gradwave.voice.engines (the acoustic precision is the decoder's, as
        synthesize.py's: the encoder stays fp32); `providers`: ONNX Runtime's execution providers (default:
        CUDA where available, else the CPU)."""
        for precision in (acoustic_precision, vocoder_precision):
            if precision not in PRECISIONS:
                raise VoiceError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
        self.folder = Path(folder)
        self.spec = read_voice(self.folder)
        acoustic = self.spec["acoustic"]
        self.text = TextProcessor(TextConfig(**self.spec["text"]))
        open_graph = graph_opener(engine, providers)
        self.encoder = open_graph(self.folder / acoustic["encoder"], "fp32")  # durations must not move
        self.decoder = open_graph(self.folder / acoustic["decoder"], acoustic_precision)
        vocoder = self.spec["vocoder"]
        if vocoder_precision == "auto" and vocoder.get("process") != "ddpm":
            # Griffin-Lim (alone, or the bridge's guide) ran 6x slower in OpenVINO's bf16 than in fp32, on
            # the demo's bridge; lmnt's DDPM runs about twice as fast
            vocoder_precision = "fp32"
        self.vocoder_graph = open_graph(self.folder / vocoder["file"], vocoder_precision)
        self.schedule = Schedule(acoustic["beta_min"], acoustic["beta_max"])
        self.t_start = acoustic.get("shallow_start", 1.0)  # voices exported before these start at 1
        self.objective = acoustic.get("decoder_objective", "score")  # and learnt the score
        self.speakers = self.spec.get("speakers") or []

    @property
    def sample_rate(self) -> int:
        return int(self.spec["sample_rate"])

    def ids(self, text: str) -> list[int]:
        try:
            return self.text.encode_speakable(text).ids
        except ValueError as err:
            raise VoiceError(str(err)) from None

    def acoustic(self, ids: list[int], noise: Noise, timesteps: Optional[int] = None,
                 temperature: Optional[float] = None, length_scale: Optional[float] = None,
                 sampler: Optional[str] = None, speaker: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """One sentence's mel (n_feats, frames) and durations (tokens,); settings left at None are the
        voice's own."""
        own = self.spec["acoustic"]
        try:
            settings = sampling_settings(own, timesteps=timesteps, temperature=temperature,
                                         length_scale=length_scale, sampler=sampler)
        except ValueError as err:
            raise VoiceError(str(err)) from None
        timesteps, temperature, sampler = settings["timesteps"], settings["temperature"], settings["sampler"]
        length_scale = settings["length_scale"]
        mu_x, x_mask, durations = self.encoder({
            "ids": np.asarray([ids], dtype=np.int64), "lengths": np.asarray([len(ids)], dtype=np.int64),
            "length_scale": np.asarray(length_scale, dtype=np.float32)})
        mu_y, y_mask, lengths = expand(mu_x, x_mask, durations, own["frame_multiple"])
        if timesteps == 0:
            return mu_y[0, :, :lengths[0]], durations[0]

        def frames_noise() -> np.ndarray:
            out = np.zeros_like(mu_y)
            out[:, :, :lengths[0]] = noise((mu_y.shape[1], int(lengths[0])))
            return out

        try:
            plan = plan_for(sampler, self.schedule, timesteps, t_start=self.t_start, objective=self.objective)
        except ValueError as error:
            raise VoiceError(str(error)) from None
        z = mu_y + frames_noise() * start_scale(self.schedule, self.t_start, self.objective) / temperature
        # drawn in the order the steps use them, as grad_tts.samplers.run draws them
        step_noise = np.stack([frames_noise() if step.noise else np.zeros_like(mu_y) for step in plan])
        mel = self.decode(z, y_mask, mu_y, np.asarray([step.row() for step in plan], np.float32), step_noise,
                          speaker)
        if not np.isfinite(mel).all():
            raise VoiceError(f"the {sampler} sampler diverged at {timesteps} steps; use more steps or euler")
        return mel[0, :, :lengths[0]], durations[0]

    def decode(self, x: np.ndarray, mask: np.ndarray, mu: np.ndarray, plan: np.ndarray, noise: np.ndarray,
               speaker: int = 0) -> np.ndarray:
        """The decoder graph: the sampler's steps (`plan`: a row of grad_tts.samplers.STEP_FIELDS each) from
        x_1 (B, n_feats, T) on, `noise` (steps, B, n_feats, T) for the stochastic ones."""
        feeds = {"x": x, "mask": mask, "mu": mu, "plan": plan.reshape(-1, len(STEP_FIELDS)), "noise": noise,
                 "speaker": np.full(x.shape[0], speaker, dtype=np.int64)}
        return self.decoder(feeds)[0]

    def vocode(self, mel: np.ndarray, noise: Noise, seed: int = 0) -> np.ndarray:
        """A mel (n_feats, frames) -> waveform (frames * hop,). `noise` feeds a diffusion vocoder's sampler;
        Griffin-Lim's initial phase comes from `seed` (the bridge's guide always uses its own seed, 0)."""
        vocoder = self.spec["vocoder"]
        frames = mel.shape[-1]
        phase_seed = seed if vocoder["phase_seed"] is None else vocoder["phase_seed"]
        feeds = {"mel": mel[None].astype(np.float32),
                 "phase": initial_phase(self.spec["mel"]["n_fft"] // 2 + 1, frames, phase_seed)}
        if vocoder["kind"] == "diffwave":
            samples = frames * vocoder["hop_length"]
            feeds["noise"] = np.stack([noise((1, samples)) for _ in range(max(vocoder["noise_draws"], 1))])
        return self.vocoder_graph(feeds)[0][0]

    def speak(self, text: str, seed: int = 0, **settings) -> np.ndarray:
        """A sentence's waveform; `settings` as `acoustic`'s (timesteps, temperature, length_scale, sampler)."""
        rng = np.random.default_rng(seed)

        def noise(shape: tuple) -> np.ndarray:
            return rng.standard_normal(shape, dtype=np.float32)

        mel, _ = self.acoustic(self.ids(text), noise, **settings)
        return self.vocode(mel, noise, seed)
