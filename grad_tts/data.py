"""Text-mel pairs for Grad-TTS: checked up front, features computed on the fly (optionally cached)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import Dataset

from gradwave.common.audio import AudioError, audio_info
from gradwave.common.features import FeatureLoader
from gradwave.common.filelists import Utterance, screen
from gradwave.common.mel import MelConfig
from text import TextProcessor

from .model import round_up_frames

log = logging.getLogger(__name__)


def check_utterances(utterances: list[Utterance], processor: TextProcessor, mel: MelConfig,
                     speakers: Optional[dict[str, int]] = None) -> tuple[list[Utterance], list[str]]:
    """Keep the usable entries; return them and one message per entry left out (with its path)."""

    def problem_of(utt: Utterance) -> Optional[str]:
        where = f"{utt.wav} ({utt.source})" if utt.source else str(utt.wav)
        try:
            info = audio_info(utt.wav) if utt.wav.is_file() else None
        except AudioError as err:
            return f"{where}: unreadable: {err}"
        if info is None:
            return f"{where}: missing"
        if info.frames == 0:
            return f"{where}: no samples"
        if info.samplerate != mel.sample_rate:
            log.warning("%s: %d Hz, will be resampled to %d Hz", where, info.samplerate, mel.sample_rate)
        n_samples = int(info.frames * mel.sample_rate / info.samplerate)
        n_frames = mel.n_frames(n_samples) if n_samples > mel.n_fft // 2 else 0
        n_tokens = len(processor(utt.text))
        if not utt.text.strip():
            return f"{where}: empty text"
        if n_frames < n_tokens:
            return f"{where}: {n_frames} mel frames are too few for {n_tokens} tokens"
        if speakers is not None and utt.speaker not in speakers:
            return f"{where}: unknown speaker {utt.speaker!r}"
        return None

    return screen(utterances, problem_of)


class TextMelDataset(Dataset):
    """Items are `(index, seed)` keys from `SeededBatchSampler` (or plain indices)."""

    def __init__(self, utterances: list[Utterance], processor: TextProcessor, mel: MelConfig,
                 speakers: Optional[dict[str, int]] = None, cache_dir: Optional[str | Path] = None):
        self.utterances = utterances
        self.processor = processor
        self.speakers = speakers
        self.features = FeatureLoader(mel, cache_dir)

    def __len__(self) -> int:
        return len(self.utterances)

    def mel(self, utt: Utterance) -> torch.Tensor:
        return self.features.mel(utt.wav)

    def __getitem__(self, key) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        utt = self.utterances[index]
        item = {"x": torch.tensor(self.processor(utt.text), dtype=torch.long), "y": self.mel(utt), "seed": seed}
        if self.speakers is not None:
            item["spk"] = self.speakers[utt.speaker]
        return item


class TextMelCollate:
    """Pads texts and mels (mels to a multiple of 4 frames for the U-Net)."""

    def __init__(self, segment_frames: int = 0):
        self.segment_frames = segment_frames

    def __call__(self, items: list[dict]) -> dict:
        x_lengths = torch.tensor([len(i["x"]) for i in items])
        y_lengths = torch.tensor([i["y"].shape[-1] for i in items])
        n_feats = items[0]["y"].shape[0]
        x = torch.zeros(len(items), int(x_lengths.max()), dtype=torch.long)
        y = torch.zeros(len(items), n_feats, round_up_frames(int(y_lengths.max())))
        for k, item in enumerate(items):
            x[k, :len(item["x"])] = item["x"]
            y[k, :, :item["y"].shape[-1]] = item["y"]
        batch = {"x": x, "x_lengths": x_lengths, "y": y, "y_lengths": y_lengths,
                 "seeds": torch.tensor([i["seed"] for i in items], dtype=torch.long)}
        if self.segment_frames > 0:
            batch["out_size"] = round_up_frames(self.segment_frames) if self.segment_frames % 4 else self.segment_frames
        if "spk" in items[0]:
            batch["spk"] = torch.tensor([i["spk"] for i in items], dtype=torch.long)
        return batch
