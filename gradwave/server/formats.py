"""Audio encodings of the speech endpoint, as OpenAI's API names them (soundfile only, no ffmpeg).

`pcm` is raw 16-bit little-endian mono at 24 kHz, as OpenAI documents it, so clients that play it
unchanged hear the right pitch; `opus` is Ogg Opus at 24 kHz (Opus has no 22.05 kHz mode). The
other formats keep the model's own rate. Streaming sends `pcm` or `wav` sentence by sentence.
"""
from __future__ import annotations

import io
import struct

import numpy as np
import soundfile

from gradwave.common.audio import pcm16

PCM_RATE = 24000
FORMATS = {  # name: (soundfile format, subtype, content type)
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
    "opus": ("OGG", "OPUS", "audio/ogg"),
    "pcm": (None, None, "audio/pcm"),
}
STREAMABLE = ("pcm", "wav")


def output_rate(response_format: str, model_rate: int) -> int:
    return PCM_RATE if response_format in ("pcm", "opus") else model_rate


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples
    import librosa

    return librosa.resample(samples, orig_sr=rate, target_sr=target)


def encode(samples: np.ndarray, response_format: str, rate: int) -> bytes:
    """A whole answer, already at `output_rate`, in the requested format."""
    if response_format == "pcm":
        return pcm16(samples).tobytes()
    container, subtype, _ = FORMATS[response_format]
    if subtype == "PCM_16":  # the same integer samples that `pcm` and the wav stream send
        samples = pcm16(samples)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def streaming_wav_header(rate: int) -> bytes:
    """A 16-bit mono WAV header whose sizes say 'unknown' (the largest value), for a stream whose
    length is not known when it starts; players read until the connection ends."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", unknown))
