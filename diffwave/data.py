"""Audio (and mel) crops for DiffWave training, from any folder of wavs or a filelist."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from gradwave.common.audio import AudioError, audio_info
from gradwave.common.features import FeatureLoader
from gradwave.common.filelists import Utterance, screen
from gradwave.common.griffin_lim import GriffinLim
from gradwave.common.mel import MelConfig

from .guide import guide_audio

def check_clips(utterances: list[Utterance], mel: MelConfig, min_samples: int) -> tuple[list[Utterance], list[str]]:
    """Keep readable clips of at least `min_samples` (at the mel's rate); report the others by path."""

    def problem_of(utt: Utterance) -> Optional[str]:
        try:
            info = audio_info(utt.wav)
        except AudioError as err:
            return f"{utt.wav}: unreadable: {err}"
        samples = int(info.frames * mel.sample_rate / info.samplerate)
        if samples < min_samples:
            return f"{utt.wav}: {samples} samples, shorter than one crop ({min_samples})"
        return None

    return screen(utterances, problem_of, "clips")


class AudioMelDataset(Dataset):
    """Random crops of `crop_frames` mel frames and the matching `crop_frames * hop` samples; the crop
    position comes from the item's seed. Unconditional training (crop_frames=None) crops
    `audio_len` samples and returns no mel. With `mel_dir`, each clip's mel is read from
    `mel_dir/<wav stem>.npy` (e.g. an acoustic model's teacher-forced output) instead of computed.
    With `guide_iterations` (a bridge model's `bridge.guide_iterations`), each crop also has its part of the Griffin-Lim
    audio of the whole clip's mel, as the vocoder computes it at inference (kept in memory once made)."""

    def __init__(self, utterances: list[Utterance], mel: MelConfig, crop_frames: Optional[int],
                 audio_len: int = 0, cache_dir: Optional[str | Path] = None, mel_dir: Optional[str | Path] = None,
                 guide_iterations: int = 0):
        self.utterances = utterances
        self.guides: dict[int, torch.Tensor] = {}
        self.hop = mel.hop_length
        self.crop_frames = crop_frames
        self.audio_len = audio_len
        self.features = FeatureLoader(mel, cache_dir)
        self.griffin_lim = (GriffinLim(self.features.extractor, guide_iterations, persistent=False)
                            if guide_iterations else None)
        self.mel_dir = Path(mel_dir) if mel_dir else None

    def mel(self, utt: Utterance, audio: torch.Tensor) -> torch.Tensor:
        if self.mel_dir is None:
            return self.features.mel(utt.wav, audio)
        path = self.mel_dir / f"{Path(utt.wav).stem}.npy"
        mel = torch.from_numpy(np.load(path))
        expected = self.features.config.n_frames(len(audio))
        if mel.shape[-1] != expected:
            raise AudioError(f"{path}: {mel.shape[-1]} frames, but {utt.wav} has {expected}")
        return mel

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, key) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        utt = self.utterances[index]
        audio = self.features.audio(utt.wav)
        gen = torch.Generator().manual_seed(seed)
        if self.crop_frames is None:
            start = int(torch.randint(0, max(1, len(audio) - self.audio_len + 1), (1,), generator=gen))
            clip = audio[start:start + self.audio_len]
            return {"audio": torch.nn.functional.pad(clip, (0, self.audio_len - len(clip))), "seed": seed}
        mel = self.mel(utt, audio)
        start = int(torch.randint(0, mel.shape[-1] - self.crop_frames + 1, (1,), generator=gen))
        clip = audio[start * self.hop:(start + self.crop_frames) * self.hop]
        clip = torch.nn.functional.pad(clip, (0, self.crop_frames * self.hop - len(clip)))
        item = {"audio": clip, "spectrogram": mel[:, start:start + self.crop_frames], "seed": seed}
        if self.griffin_lim is not None:
            item["guide"] = self.guide(index, mel)[start * self.hop:(start + self.crop_frames) * self.hop]
        return item

    def guide(self, index: int, mel: torch.Tensor) -> torch.Tensor:
        """The guide audio of clip `index`'s whole mel, as the vocoder makes it."""
        if index not in self.guides:
            self.guides[index] = guide_audio(mel, self.griffin_lim)
        return self.guides[index]


def collate(items: list[dict]) -> dict:
    batch = {"audio": torch.stack([i["audio"] for i in items]),
             "seeds": torch.tensor([i["seed"] for i in items], dtype=torch.long)}
    for key in ("spectrogram", "guide"):
        if key in items[0]:
            batch[key] = torch.stack([i[key] for i in items])
    return batch
