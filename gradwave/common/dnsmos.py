"""Non-intrusive quality: Microsoft's DNSMOS predictors (P.808 MOS and P.835 SIG/BAK/OVRL).

The `speechmos` wheel ships the ONNX models and runs them with onnxruntime at 16 kHz. Each score is a
predicted mean opinion score on a 1-5 scale: P.808 the overall impression, SIG the speech itself,
BAK the background (noise), OVRL both together. No reference recording is needed. The evaluation scores
test sentences with it, and the trainers their validation samples (TensorBoard's `valid/dnsmos_*`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
import torch

log = logging.getLogger("gradwave.common.dnsmos")

DNSMOS_RATE = 16000
SCORES = {"p808_mos": "p808", "sig_mos": "sig", "bak_mos": "bak", "ovrl_mos": "ovrl"}


class QualityPredictor:
    """Callable waveform (at `sample_rate`) -> {"p808", "sig", "bak", "ovrl"}, running the models on
    `threads` threads (torch's count when not given) that sleep rather than spin while they wait:
    onnxruntime's default, a spinning thread per core, slowed two evaluations at once by a third (stage 5
    of the recipe runs two; the trainers score their samples beside the other model's training)."""

    def __init__(self, threads: Optional[int] = None):
        try:
            import onnxruntime
            from speechmos import dnsmos
        except ImportError as err:
            raise RuntimeError("DNSMOS needs speechmos, onnxruntime and requests: "
                               "`pip install speechmos onnxruntime requests` (or `pip install -e .[eval]`)") from err
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        models = Path(dnsmos.__file__).parent / "dnsmos_models"
        # speechmos's own sessions take no options: its scorer (which reads only these two), given ours
        self._model = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
        self._model.onnx_sess = onnxruntime.InferenceSession(str(models / "sig_bak_ovr.onnx"), options)
        self._model.p808_onnx_sess = onnxruntime.InferenceSession(str(models / "model_v8.onnx"), options)

    def __call__(self, wav: torch.Tensor | np.ndarray, sample_rate: int) -> dict[str, float]:
        import librosa

        audio = wav.numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
        audio = audio.astype(np.float32)
        if sample_rate != DNSMOS_RATE:
            audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=DNSMOS_RATE)
        if not len(audio) or not np.isfinite(audio).all():
            raise ValueError("DNSMOS: the audio is empty or not finite")
        scores = self._model(np.clip(audio, -1.0, 1.0), DNSMOS_RATE, False)  # not the personalised model
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
