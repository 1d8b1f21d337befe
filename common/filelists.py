"""Reading corpora: LJSpeech `metadata.csv`, `path|text` / `path|speaker|text` filelists, folders of wavs.

Every problem is reported with the file and line it comes from.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    pass


@dataclass(frozen=True)
class Utterance:
    wav: Path
    text: str = ""
    speaker: Optional[str] = None
    source: str = ""  # "file:line" where the entry was read, for error messages
    uid: str = ""


def read_ljspeech(root: str | Path) -> list[Utterance]:
    """LJSpeech-1.1 layout: root/metadata.csv (`id|text|normalized text`) and root/wavs/<id>.wav."""
    root = Path(root)
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise CorpusError(f"{meta}: not found (expected the LJSpeech-1.1 layout: metadata.csv and wavs/)")
    out = []
    with meta.open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="|", quoting=csv.QUOTE_NONE), 1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2:
                raise CorpusError(f"{meta}:{number}: expected 'id|text|normalized text', got {'|'.join(row)!r}")
            text = row[2] if len(row) > 2 and row[2].strip() else row[1]
            out.append(Utterance(root / "wavs" / f"{row[0]}.wav", text, None, f"{meta}:{number}", row[0]))
    return out


def read_filelist(path: str | Path) -> list[Utterance]:
    """`wav|text` or `wav|speaker|text` per line; relative wav paths are relative to the filelist."""
    path = Path(path)
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("|")
        if len(parts) == 2:
            wav, speaker, text = parts[0], None, parts[1]
        elif len(parts) == 3:
            wav, speaker, text = parts
        else:
            raise CorpusError(f"{path}:{number}: expected 'wav|text' or 'wav|speaker|text', got {line!r}")
        wav_path = Path(wav) if Path(wav).is_absolute() else path.parent / wav
        out.append(Utterance(wav_path, text, speaker, f"{path}:{number}", wav_path.stem))
    return out


def read_corpus(source: str | Path) -> list[Utterance]:
    """A directory with metadata.csv, a filelist, or (without texts) a directory of wavs."""
    source = Path(source)
    if source.is_dir():
        if (source / "metadata.csv").is_file():
            return read_ljspeech(source)
        wavs = sorted(source.rglob("*.wav"))
        return [Utterance(w, source=str(w), uid=w.stem) for w in wavs]
    if source.is_file():
        return read_filelist(source)
    raise CorpusError(f"{source}: no such file or directory")
