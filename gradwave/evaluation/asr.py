"""Offline speech recognition for intelligibility scores: pocketsphinx's bundled US-English model."""
from __future__ import annotations

import os
import re

import numpy as np
import torch

from text.cleaners import EnglishCleaner

ASR_RATE = 16000
_NOT_WORD = re.compile(r"[^a-z' ]+")


DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class Recognizer:
    """Callable waveform (at `sample_rate`) -> lower-case transcript."""

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError as err:
            raise RuntimeError("speech recognition needs pocketsphinx: `pip install pocketsphinx` "
                               "(or `pip install -e .[eval]`)") from err
        self._decoder = Decoder(samprate=ASR_RATE, logfn=os.devnull)

    def __call__(self, wav: torch.Tensor | np.ndarray, sample_rate: int) -> str:
        import librosa

        audio = wav.numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
        if sample_rate != ASR_RATE:
            audio = librosa.resample(audio.astype(np.float32), orig_sr=sample_rate, target_sr=ASR_RATE)
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""


class DigitRecognizer(Recognizer):
    """The recognizer restricted to one of the ten digit words (a JSGF grammar): a digit word, or ""
    when no digit fits the audio at all (noise, silence)."""

    def __init__(self):
        super().__init__()
        grammar = "#JSGF V1.0;\ngrammar digits;\npublic <digit> = " + " | ".join(DIGITS) + " ;\n"
        self._decoder.add_jsgf_string("digits", grammar)
        self._decoder.activate_search("digits")


class ScoringNormalizer:
    """Reference text as a recognizer would write it: our cleaners (numbers, abbreviations spelled
    out), then only letters, apostrophes and single spaces."""

    def __init__(self):
        self._clean = EnglishCleaner()

    def __call__(self, text: str) -> str:
        text = _NOT_WORD.sub(" ", self._clean(text).replace("-", " "))
        return " ".join(text.split())
