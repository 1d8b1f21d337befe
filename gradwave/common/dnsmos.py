"""Non-intrusive quality: Microsoft's DNSMOS predictors (P.808 MOS and P.835 SIG/BAK/OVRL).

The `speechmos` wheel ships the ONNX models and runs them with onnxruntime at 16 kHz. Each score is a
predicted mean opinion score on a 1-5 scale: P.808 the overall impression, SIG the speech itself,
BAK the background (noise), OVRL both together. No reference recording is needed. The evaluation scores
test sentences with it, and the trainers their validation samples (TensorBoard's `valid/dnsmos_*`).
"""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import torch

log = logging.getLogger("gradwave.common.dnsmos")

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


def training_predictor() -> Optional[QualityPredictor]:
    """A predictor for the trainers' validation samples, or None (with a note) where speechmos is missing."""
    try:
        return QualityPredictor()
    except RuntimeError as err:
        log.info("no DNSMOS of the validation samples: %s", err)
        return None


def log_quality(writer, predictor: Optional[QualityPredictor], clips: list[torch.Tensor], sample_rate: int,
                step: int) -> None:
    """TensorBoard scalars `valid/dnsmos_p808` and `valid/dnsmos_ovrl`: the mean over `clips`, a training
    run's naturalness curve without a separate evaluation."""
    if predictor is None or not clips:
        return
    scores = [predictor(clip.float().cpu(), sample_rate) for clip in clips]
    for name in ("p808", "ovrl"):
        writer.add_scalar(f"valid/dnsmos_{name}", sum(s[name] for s in scores) / len(scores), step)
