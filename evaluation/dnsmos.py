"""Non-intrusive quality: Microsoft's DNSMOS predictors (P.808 MOS and P.835 SIG/BAK/OVRL).

The `speechmos` wheel ships the ONNX models and runs them with onnxruntime at 16 kHz. Each score is a
predicted mean opinion score on a 1-5 scale: P.808 the overall impression, SIG the speech itself,
BAK the background (noise), OVRL both together. No reference recording is needed.
"""
from __future__ import annotations

import numpy as np
import torch

DNSMOS_RATE = 16000
SCORES = {"p808_mos": "p808", "sig_mos": "sig", "bak_mos": "bak", "ovrl_mos": "ovrl"}


class QualityPredictor:
    """Callable waveform (at `sample_rate`) -> {"p808", "sig", "bak", "ovrl"}."""

    def __init__(self):
        try:
            from speechmos import dnsmos
        except ImportError as err:
            raise RuntimeError("DNSMOS needs speechmos, onnxruntime and requests: "
                               "`pip install speechmos onnxruntime requests` (or `pip install -e .[eval]`)") from err
        self._run = dnsmos.run

    def __call__(self, wav: torch.Tensor | np.ndarray, sample_rate: int) -> dict[str, float]:
        import librosa

        audio = wav.numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
        audio = audio.astype(np.float32)
        if sample_rate != DNSMOS_RATE:
            audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=DNSMOS_RATE)
        if not len(audio) or not np.isfinite(audio).all():
            raise ValueError("DNSMOS: the audio is empty or not finite")
        scores = self._run(np.clip(audio, -1.0, 1.0), DNSMOS_RATE)
        return {name: float(scores[key]) for key, name in SCORES.items()}
