import pytest
import torch

from gradwave.evaluation.metrics import detail_ratios, detail_statistics


def speech_like_mels(count=3, frames=120, seed=0):
    """Log-mels with harmonic ripple along frequency and syllable-rate change along time."""
    gen = torch.Generator().manual_seed(seed)
    band = torch.arange(80, dtype=torch.float64)[:, None]
    mels = []
    for _ in range(count):
        time = torch.arange(frames, dtype=torch.float64)[None, :]
        pitch = 2.5 + torch.rand(1, generator=gen, dtype=torch.float64)
        envelope = -4 - band / 20 + 2 * torch.sin(time / 6)
        ripple = 1.5 * torch.cos(2 * torch.pi * band / pitch + time / 3)
        mels.append((envelope + ripple + 0.1 * torch.randn(80, frames, generator=gen, dtype=torch.float64)).float())
    return mels


def blur(mel, bands=5, frames=5):
    kernel = torch.ones(1, 1, bands, frames) / (bands * frames)
    padded = torch.nn.functional.pad(mel[None, None], (frames // 2, frames // 2, bands // 2, bands // 2),
                                     mode="replicate")
    return torch.nn.functional.conv2d(padded, kernel)[0, 0]


def test_detail_ratios_are_one_for_the_recordings_themselves_and_fall_for_a_smoothed_copy():
    mels = speech_like_mels()
    assert detail_ratios(mels, mels) == {"fine_structure": pytest.approx(1.0), "frame_change": pytest.approx(1.0)}
    smoothed = detail_ratios([blur(m) for m in mels], mels)
    assert smoothed["fine_structure"] < 0.3 and smoothed["frame_change"] < 0.7
    # a level shift (louder or quieter speech) is not detail
    assert detail_ratios([m + 1.0 for m in mels], mels)["fine_structure"] == pytest.approx(1.0)


def test_detail_statistics_pool_over_utterances_and_refuse_empty_input():
    mels = speech_like_mels()
    pooled = detail_statistics(mels)
    each = [detail_statistics([m]) for m in mels]
    assert min(e["frame_change"] for e in each) <= pooled["frame_change"] <= max(e["frame_change"] for e in each)
    with pytest.raises(ValueError, match="two frames"):
        detail_statistics([torch.zeros(80, 1)])
