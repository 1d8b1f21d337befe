"""Objective measures of synthesized speech: error rates, spectral distances, STOI and PESQ."""
from __future__ import annotations

import math

import numpy as np
import torch

from gradwave.common.mel import MelSpectrogram


def error_rates(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    """Corpus-level word and character error rates (jiwer); empty hypotheses count as all deletions."""
    import jiwer

    refs = [r if r.strip() else "<empty>" for r in references]
    hyps = [h if h.strip() else "" for h in hypotheses]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {"wer": float(words.wer), "cer": float(chars.cer)}


def log_mel_l1(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """Mean absolute difference of two log-mels over their common frames."""
    frames = min(reference.shape[-1], estimate.shape[-1])
    return float((reference[..., :frames] - estimate[..., :frames]).abs().mean())


def mel_cepstra(log_mel: torch.Tensor, n_coefficients: int = 13) -> np.ndarray:
    """Cepstra (DCT-II of the log-mel), without c0: (frames, n_coefficients - 1)."""
    from scipy.fft import dct

    cepstra = dct(log_mel.numpy().T, type=2, norm="ortho", axis=1)
    return cepstra[:, 1:n_coefficients]


def mel_cepstral_distortion(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """MCD in dB between two time-aligned log-mels (copy-synthesis keeps the timing).

    The cepstra are the orthonormal DCT of the 80-band natural-log mel (c1..c12), not SPTK
    mel-cepstra, so the values compare between systems measured here, not with papers' MCD figures."""
    frames = min(reference.shape[-1], estimate.shape[-1])
    a, b = mel_cepstra(reference[..., :frames]), mel_cepstra(estimate[..., :frames])
    return float(np.mean(10.0 / math.log(10) * np.sqrt(2 * ((a - b) ** 2).sum(axis=1))))


def dtw_log_mel_distance(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """Mean L1 distance between log-mel frames along the best DTW alignment (per frame and band)."""
    import librosa

    a, b = reference.numpy(), estimate.numpy()
    cost = np.abs(a[:, :, None] - b[:, None, :]).mean(axis=0)
    accumulated, path = librosa.sequence.dtw(C=cost)
    return float(accumulated[-1, -1] / len(path))


def stoi(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    from pystoi import stoi as _stoi

    n = min(len(reference), len(estimate))
    return float(_stoi(reference[:n], estimate[:n], sample_rate, extended=False))


def pesq_wideband(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """PESQ wide-band, computed at 16 kHz."""
    import librosa
    from pesq import pesq

    if sample_rate != 16000:
        reference = librosa.resample(reference, orig_sr=sample_rate, target_sr=16000)
        estimate = librosa.resample(estimate, orig_sr=sample_rate, target_sr=16000)
    n = min(len(reference), len(estimate))
    return float(pesq(16000, reference[:n], estimate[:n], "wb"))


def copy_synthesis_scores(reference: torch.Tensor, estimate: torch.Tensor, extractor: MelSpectrogram) -> dict:
    """Every fidelity measure of `estimate` (audio) against `reference` (audio), same rate."""
    rate = extractor.config.sample_rate
    n = min(len(reference), len(estimate))
    ref, est = reference[:n], estimate[:n]
    ref_mel, est_mel = extractor(ref), extractor(est)
    return {
        "log_mel_l1": log_mel_l1(ref_mel, est_mel),
        "mcd_db": mel_cepstral_distortion(ref_mel, est_mel),
        "stoi": stoi(ref.numpy(), est.numpy(), rate),
        "pesq_wb": pesq_wideband(ref.numpy(), est.numpy(), rate),
    }


def average_spectrum(clips: list[torch.Tensor], n_fft: int = 4096) -> torch.Tensor:
    """Mean power spectrum in dB (n_fft / 2 + 1 bins) over every frame of `clips` (Hann window, hop n_fft / 4)."""
    window = torch.hann_window(n_fft)
    total, frames = torch.zeros(n_fft // 2 + 1, dtype=torch.float64), 0
    for clip in clips:
        if len(clip) < n_fft:
            continue
        power = torch.stft(clip.float(), n_fft, n_fft // 4, window=window, center=False, return_complex=True).abs() ** 2
        total += power.sum(-1).double()
        frames += power.shape[-1]
    return 10 * torch.log10(total / max(frames, 1) + 1e-20)


def tones(spectrum_db: torch.Tensor, sample_rate: int, width_hz: float = 300.0,
          threshold_db: float = 20.0) -> list[tuple[float, float]]:
    """Steady tones of an averaged spectrum: (frequency in Hz, dB above the median of the surrounding
    +-`width_hz`) of each local maximum standing more than `threshold_db` above its neighbourhood."""
    bins = len(spectrum_db)
    hz_per_bin = sample_rate / 2 / (bins - 1)
    half = max(2, round(width_hz / hz_per_bin))
    padded = torch.nn.functional.pad(spectrum_db[None, None], (half, half), mode="replicate")[0, 0]
    neighbourhood = padded.unfold(0, 2 * half + 1, 1).median(-1).values
    excess = spectrum_db - neighbourhood
    found = []
    for k in range(1, bins - 1):
        if excess[k] > threshold_db and spectrum_db[k] >= spectrum_db[k - 1] and spectrum_db[k] >= spectrum_db[k + 1]:
            found.append((round(k * hz_per_bin, 1), round(float(excess[k]), 1)))
    return found


def new_tones(system: list[tuple[float, float]], recordings_db: torch.Tensor, sample_rate: int,
              width_hz: float = 300.0, threshold_db: float = 20.0) -> list[tuple[float, float]]:
    """The tones of `system` that the recordings' averaged spectrum lacks (no tone within 50 Hz of it)."""
    theirs = [f for f, _ in tones(recordings_db, sample_rate, width_hz, threshold_db)]
    return [(f, db) for f, db in system if all(abs(f - g) > 50 for g in theirs)]


def detail_statistics(log_mels: list[torch.Tensor], bands: int = 7, loud_share: float = 0.6) -> dict[str, float]:
    """How much detail a set of log-mels (n_mels x frames each) carries, pooled over all of them:

    - `fine_structure`: the variance of each frame minus its `bands`-band moving average along frequency
      (harmonics, formant edges), over the louder `loud_share` of each mel's frames;
    - `frame_change`: the mean absolute difference of consecutive frames.

    Global statistics, so two sets of the same sentences compare without aligning them (`detail_ratios`)."""
    smoothing = torch.ones(1, 1, bands, dtype=torch.float64) / bands
    residual_sum, residual_count, change_sum, change_count = 0.0, 0, 0.0, 0
    for mel in log_mels:
        mel = mel.double()
        if mel.shape[-1] < 2:
            continue
        energy = mel.mean(0)
        loud = mel[:, energy >= torch.quantile(energy, 1.0 - loud_share)]
        padded = torch.nn.functional.pad(loud.T[:, None], (bands // 2, bands // 2), mode="replicate")
        residual = loud.T - torch.nn.functional.conv1d(padded, smoothing)[:, 0]
        residual_sum += float((residual - residual.mean(1, keepdim=True)).pow(2).sum())
        residual_count += residual.numel()
        change = (mel[:, 1:] - mel[:, :-1]).abs()
        change_sum += float(change.sum())
        change_count += change.numel()
    if not residual_count:
        raise ValueError("detail_statistics: no mel with two frames or more")
    return {"fine_structure": residual_sum / residual_count, "frame_change": change_sum / change_count}


def detail_ratios(system: list[torch.Tensor], recordings: list[torch.Tensor]) -> dict[str, float]:
    """`detail_statistics` of a system's log-mels over those of the recordings of the same sentences:
    1 keeps the recordings' detail, below 1 is smoother."""
    ours, theirs = detail_statistics(system), detail_statistics(recordings)
    return {key: ours[key] / theirs[key] for key in ours}
