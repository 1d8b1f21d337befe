"""The voice folder: `voice.json` describes it and records the sha256 of every file it names. Read here
without torch, so every runtime checks a voice the same way."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

FORMAT = 2  # 2: decoder.onnx runs a sampler's table of steps (1: one evaluation of the score)
MANIFEST = "voice.json"


class VoiceError(ValueError):
    """A voice folder cannot be used; the message names the file and the reason."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_voice(folder: str | Path) -> dict:
    """voice.json of `folder`, after checking its format version and every file's presence and hash."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise VoiceError(f"{folder}: no {MANIFEST}; export a voice with gradwave-export")
    try:
        voice = json.loads(manifest.read_text())
    except json.JSONDecodeError as err:
        raise VoiceError(f"{manifest}: not valid JSON (line {err.lineno}): {err.msg}") from err
    if not isinstance(voice, dict) or not isinstance(voice.get("format"), int):
        raise VoiceError(f"{manifest}: no format version; not a voice of this toolkit")
    if voice["format"] > FORMAT:
        raise VoiceError(f"{manifest}: format {voice['format']} is newer than this runtime's {FORMAT}; "
                         "update the toolkit")
    if voice["format"] < FORMAT:
        raise VoiceError(f"{manifest}: format {voice['format']} is older than this runtime's {FORMAT}; "
                         "export the voice again with gradwave-export")
    for name, recorded in voice.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise VoiceError(f"{path}: missing (voice.json names it)")
        if sha256(path) != recorded:
            raise VoiceError(f"{path}: its sha256 differs from the one voice.json records (changed or damaged)")
    return voice
