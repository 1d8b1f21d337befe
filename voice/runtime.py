"""Speak an exported voice without torch: numpy, onnxruntime, soundfile and this toolkit's `text/`.

    from voice.runtime import Voice
    audio = Voice("VOICE_DIR").speak("Hello there.")   # float32 waveform at voice.sample_rate

The sampler's table of steps is made here (grad_tts.samplers) and the decoder graph runs all of them in
one call, so the number of steps, the solver, the temperature and the length scale are chosen at run time
and nothing is copied between the host and the device from one step to the next. ONNX Runtime's CUDA
provider is used where it is installed and sees a GPU, with the inputs and outputs bound once per call
(I/O binding); otherwise the CPU's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnxruntime

from grad_tts.samplers import SAMPLERS, STEP_FIELDS, Schedule, plan_for
from text import TextConfig, TextProcessor

from .files import VoiceError, read_voice
from .phase import initial_phase

Noise = Callable[[tuple], np.ndarray]  # shape -> standard normal float32 noise


def default_providers() -> list[str]:
    """CUDA first where this onnxruntime build has it (ONNX Runtime falls back to the CPU by itself)."""
    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in wanted if p in onnxruntime.get_available_providers()]


def session(path: Path, providers: Optional[list[str]] = None) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # The default order runs some nodes long before their results are needed and holds them meanwhile
    # (the full-size vocoder's peak for 5 s of audio: 0.94 GB, against 0.82 GB in this order).
    options.execution_order = onnxruntime.ExecutionOrder.PRIORITY_BASED
    return onnxruntime.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])


def run_bound(runner: onnxruntime.InferenceSession, feeds: dict) -> list[np.ndarray]:
    """One call with every input copied to the session's device once and every output left there until
    the call is done (I/O binding), then copied back."""
    device = "cuda" if runner.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
    binding = runner.io_binding()
    # inputs with a default (voice.random_inputs) are listed as overridable initializers, not as inputs
    wanted = {i.name for i in runner.get_inputs() + runner.get_overridable_initializers()}
    for name, value in feeds.items():
        if name in wanted:
            binding.bind_ortvalue_input(name, onnxruntime.OrtValue.ortvalue_from_numpy(value, device, 0))
    for output in runner.get_outputs():
        binding.bind_output(output.name, device)
    runner.run_with_iobinding(binding)
    return binding.copy_outputs_to_cpu()


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

    def __init__(self, folder: str | Path, providers: Optional[list[str]] = None):
        """`providers`: ONNX Runtime's execution providers (default: CUDA where available, else CPU)."""
        self.folder = Path(folder)
        self.spec = read_voice(self.folder)
        acoustic = self.spec["acoustic"]
        self.text = TextProcessor(TextConfig(**self.spec["text"]))
        providers = providers or default_providers()
        self.encoder = session(self.folder / acoustic["encoder"], providers)
        self.decoder = session(self.folder / acoustic["decoder"], providers)
        self.vocoder_session = session(self.folder / self.spec["vocoder"]["file"], providers)
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
        mu_x, x_mask, durations = run_bound(self.encoder, {
            "ids": np.asarray([ids], dtype=np.int64), "lengths": np.asarray([len(ids)], dtype=np.int64),
            "length_scale": np.asarray(length_scale, dtype=np.float32)})
        mu_y, y_mask, lengths = expand(mu_x, x_mask, durations, own["frame_multiple"])
        if timesteps == 0:
            return mu_y[0, :, :lengths[0]], durations[0]

        def frames_noise() -> np.ndarray:
            out = np.zeros_like(mu_y)
            out[:, :, :lengths[0]] = noise((mu_y.shape[1], int(lengths[0])))
            return out

        z = mu_y + frames_noise() / temperature
        plan = plan_for(sampler, self.schedule, timesteps)
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
        return run_bound(self.decoder, feeds)[0]

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
        return run_bound(self.vocoder_session, feeds)[0][0]

    def speak(self, text: str, seed: int = 0, **settings) -> np.ndarray:
        """A sentence's waveform; `settings` as `acoustic`'s (timesteps, temperature, length_scale, sampler)."""
        rng = np.random.default_rng(seed)

        def noise(shape: tuple) -> np.ndarray:
            return rng.standard_normal(shape, dtype=np.float32)

        mel, _ = self.acoustic(self.ids(text), noise, **settings)
        return self.vocode(mel, noise, seed)
