"""Speak an exported voice without torch: numpy, onnxruntime, soundfile and this toolkit's `text/`.

    from voice.runtime import Voice
    audio = Voice("VOICE_DIR").speak("Hello there.")   # float32 waveform at voice.sample_rate

The acoustic model's sampler loop runs here (Grad-TTS's solvers, which work on numpy arrays), so the
number of steps, the solver, the temperature and the length scale are chosen at run time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnxruntime

from grad_tts.samplers import SAMPLERS, Schedule, solve
from text import TextConfig, TextProcessor

from .files import VoiceError, read_voice
from .phase import initial_phase

Noise = Callable[[tuple], np.ndarray]  # shape -> standard normal float32 noise


def session(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # The default order runs some nodes long before their results are needed and holds them meanwhile
    # (the full-size vocoder's peak for 5 s of audio: 0.94 GB, against 0.82 GB in this order).
    options.execution_order = onnxruntime.ExecutionOrder.PRIORITY_BASED
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


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

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.spec = read_voice(self.folder)
        acoustic = self.spec["acoustic"]
        self.text = TextProcessor(TextConfig(**self.spec["text"]))
        self.encoder = session(self.folder / acoustic["encoder"])
        self.decoder = session(self.folder / acoustic["decoder"])
        self.vocoder_session = session(self.folder / self.spec["vocoder"]["file"])
        self.schedule = Schedule(acoustic["beta_min"], acoustic["beta_max"])
        self.speakers = self.spec.get("speakers") or []

    @property
    def sample_rate(self) -> int:
        return int(self.spec["sample_rate"])

    def ids(self, text: str) -> list[int]:
        encoded = self.text.encode(text)
        silent = {self.text.config.blank_id, self.text.config.symbols.index(" ")}
        if all(i in silent for i in encoded.ids):
            raise VoiceError(f"nothing speakable in {text!r}")
        return encoded.ids

    def acoustic(self, ids: list[int], noise: Noise, timesteps: Optional[int] = None,
                 temperature: Optional[float] = None, length_scale: Optional[float] = None,
                 sampler: Optional[str] = None, speaker: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """One sentence's mel (n_feats, frames) and durations (tokens,); settings left at None are the
        voice's own."""
        own = self.spec["acoustic"]
        timesteps = own["timesteps"] if timesteps is None else timesteps
        temperature = own["temperature"] if temperature is None else temperature
        length_scale = own["length_scale"] if length_scale is None else length_scale
        sampler = sampler or own["sampler"]
        if sampler not in SAMPLERS:
            raise VoiceError(f"unknown sampler {sampler!r}; one of {', '.join(SAMPLERS)}")
        mu_x, x_mask, durations = self.encoder.run(None, {
            "ids": np.asarray([ids], dtype=np.int64), "lengths": np.asarray([len(ids)], dtype=np.int64),
            "length_scale": np.asarray(length_scale, dtype=np.float32)})
        mu_y, y_mask, lengths = expand(mu_x, x_mask, durations, own["frame_multiple"])
        if timesteps == 0:
            return mu_y[0, :, :lengths[0]], durations[0]
        feeds = {"mask": y_mask, "mu": mu_y}
        if "speaker" in {i.name for i in self.decoder.get_inputs()}:
            feeds["speaker"] = np.asarray([speaker], dtype=np.int64)

        def score(x: np.ndarray, t: float) -> np.ndarray:
            return self.decoder.run(None, {**feeds, "x": x.astype(np.float32),
                                           "t": np.full(1, t, dtype=np.float32)})[0]

        def frames_noise(like: np.ndarray) -> np.ndarray:
            out = np.zeros_like(like)
            out[:, :, :lengths[0]] = noise((like.shape[1], int(lengths[0])))
            return out

        z = mu_y + frames_noise(mu_y) / temperature
        mel = solve(sampler, z, mu_y, y_mask, score, self.schedule, timesteps, False, frames_noise,
                    tuple(own["denoised_range"]))
        if not np.isfinite(mel).all():
            raise VoiceError(f"the {sampler} sampler diverged at {timesteps} steps; use more steps or euler")
        return mel[0, :, :lengths[0]], durations[0]

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
        wanted = {i.name for i in self.vocoder_session.get_inputs()}
        return self.vocoder_session.run(None, {k: v for k, v in feeds.items() if k in wanted})[0][0]

    def speak(self, text: str, seed: int = 0, **settings) -> np.ndarray:
        """A sentence's waveform; `settings` as `acoustic`'s (timesteps, temperature, length_scale, sampler)."""
        rng = np.random.default_rng(seed)

        def noise(shape: tuple) -> np.ndarray:
            return rng.standard_normal(shape, dtype=np.float32)

        mel, _ = self.acoustic(self.ids(text), noise, **settings)
        return self.vocode(mel, noise, seed)
