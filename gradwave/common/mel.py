"""The one log-mel extractor of the toolkit, with the two feature definitions it must reproduce.

`hifigan` is what Grad-TTS (and HiFi-GAN) train on; `diffwave_lmnt` is what the published lmnt
DiffWave weights were trained on. Both share the STFT and the filterbank code; the fields of
`MelConfig` say where they differ.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import librosa
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 22050
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    f_min: float = 0.0
    f_max: Optional[float] = 8000.0  # None means sample_rate / 2
    mel_scale: str = "slaney"  # "slaney" or "htk"
    mel_norm: Optional[str] = "slaney"  # librosa filter normalisation, or None
    padding: str = "hifigan"  # "hifigan": reflect (n_fft-hop)/2 each side, no centring; "center": reflect n_fft/2
    stft_normalized: bool = False  # divide by sqrt(sum(window^2)), as torchaudio's normalized=True
    magnitude_eps: float = 1e-9  # added under the square root of the magnitude
    log_floor: float = 1e-5
    compression: str = "log"  # "log": natural log; "lmnt": 20*log10 - 20, then clip((x+100)/100, 0, 1)

    def __post_init__(self):
        checks = {
            "mel_scale": self.mel_scale in ("slaney", "htk"),
            "mel_norm": self.mel_norm in ("slaney", None),
            "padding": self.padding in ("hifigan", "center"),
            "compression": self.compression in ("log", "lmnt"),
            "win_length": 0 < self.win_length <= self.n_fft,
            "hop_length": self.hop_length > 0,
            "n_mels": self.n_mels > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"MelConfig: invalid value for {', '.join(bad)}: {self}")

    @property
    def upper_frequency(self) -> float:
        return self.sample_rate / 2 if self.f_max is None else float(self.f_max)

    def differences(self, other: "MelConfig") -> list[str]:
        """Human-readable list of the fields where two configs disagree."""
        out = []
        for field in dataclasses.fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if mine != theirs:
                out.append(f"{field.name}: {mine!r} != {theirs!r}")
        return out

    def n_frames(self, n_samples: int) -> int:
        if self.padding == "center":
            return 1 + n_samples // self.hop_length
        padded = n_samples + 2 * ((self.n_fft - self.hop_length) // 2)
        return 1 + (padded - self.n_fft) // self.hop_length


PRESETS = {
    "hifigan": MelConfig(),
    "diffwave_lmnt": MelConfig(
        f_min=20.0,
        f_max=None,
        mel_scale="htk",
        mel_norm=None,
        padding="center",
        stft_normalized=True,
        magnitude_eps=0.0,
        compression="lmnt",
    ),
    # Tacotron 2 / WaveGlow's STFT (the SaShiMi+DiffWave code's LJSpeech mels): frames centred with
    # reflect padding, plain magnitude, otherwise as HiFi-GAN's.
    "tacotron": MelConfig(padding="center", magnitude_eps=0.0),
}


def preset(name: str) -> MelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown mel preset {name!r}; choose from {', '.join(PRESETS)}") from None


class MelSpectrogram(torch.nn.Module):
    """Waveform (B, T) or (T,) in [-1, 1] -> log-mel (B, n_mels, frames) or (n_mels, frames)."""

    def __init__(self, config: MelConfig = MelConfig()):
        super().__init__()
        self.config = config
        basis = librosa.filters.mel(
            sr=config.sample_rate,
            n_fft=config.n_fft,
            n_mels=config.n_mels,
            fmin=config.f_min,
            fmax=config.upper_frequency,
            htk=config.mel_scale == "htk",
            norm=config.mel_norm,
        )
        self.register_buffer("mel_basis", torch.from_numpy(basis).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)

    def magnitude(self, wav: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.padding == "hifigan":
            pad = (cfg.n_fft - cfg.hop_length) // 2
        else:
            pad = cfg.n_fft // 2
        wav = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            wav.float(),
            cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window=self.window,
            center=False,
            return_complex=True,
        )
        if cfg.stft_normalized:
            spec = spec / self.window.pow(2).sum().sqrt()
        return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + cfg.magnitude_eps)

    def compress(self, mel: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.compression == "log":
            return torch.log(torch.clamp(mel, min=cfg.log_floor))
        db = 20 * torch.log10(torch.clamp(mel, min=cfg.log_floor)) - 20
        return torch.clamp((db + 100) / 100, 0.0, 1.0)

    def value_range(self) -> tuple[float, float]:
        """The least and greatest features any waveform in [-1, 1] can give: the floor, and the
        compressed magnitude of a full-scale signal filling the widest mel filter's band."""
        window_gain = self.window.sum()
        if self.config.stft_normalized:
            window_gain = window_gain / self.window.pow(2).sum().sqrt()
        loudest = window_gain * self.mel_basis.sum(dim=1).max()
        bounds = self.compress(torch.stack([torch.zeros(()), loudest]))
        return float(bounds[0]), float(bounds[1])

    def decompress(self, features: torch.Tensor) -> torch.Tensor:
        """Inverse of `compress` (up to the floor and clipping): linear mel magnitudes."""
        if self.config.compression == "log":
            return torch.exp(features)
        db = features * 100 - 100 + 20
        return torch.pow(10.0, db / 20)

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.differentiable(wav)

    def differentiable(self, wav: torch.Tensor) -> torch.Tensor:
        """The features with autograd (for a loss on them); calling the extractor itself gives no gradient."""
        single = wav.dim() == 1
        if single:
            wav = wav.unsqueeze(0)
        if wav.shape[-1] <= self.config.n_fft // 2:
            raise ValueError(
                f"audio of {wav.shape[-1]} samples is too short for a mel frame (n_fft {self.config.n_fft})"
            )
        mel = torch.matmul(self.mel_basis, self.magnitude(wav))
        mel = self.compress(mel)
        return mel[0] if single else mel

