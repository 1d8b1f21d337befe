"""Reading corpora: LJSpeech `metadata.csv`, `path|text` / `path|speaker|text` filelists, folders of wavs.

Every problem is reported with the file and line it comes from.
"""
from __future__ import annotations

import csv
import re
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

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


def screen(utterances: list[Utterance], problem_of: Callable[[Utterance], Optional[str]],
           noun: str = "entries") -> tuple[list[Utterance], list[str]]:
    """The entries `problem_of` finds nothing wrong with, and its message for each other one; the
    left-out ones are logged together."""
    kept, problems = [], []
    for utt in utterances:
        problem = problem_of(utt)
        if problem is None:
            kept.append(utt)
        else:
            problems.append(problem)
    if problems:
        log.warning("left out %d of %d %s:\n  %s", len(problems), len(utterances), noun, "\n  ".join(problems))
    return kept, problems


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


FILELIST_ORDERS = ("auto", "wav|speaker|text", "wav|text|speaker")


def looks_like_speaker(field: str) -> bool:
    """A speaker field is one token (an id or a name), never words with spaces."""
    return re.fullmatch(r"[\w.-]+", field.strip()) is not None


def speaker_field(path: Path, rows: list[tuple[int, list[str]]], order: str) -> int:
    """Which of the three fields is the speaker: ours (`wav|speaker|text`, 1) or upstream Grad-TTS's
    LibriTTS lists (`wav|text|speaker`, 2). `auto` decides from the whole file and refuses to guess."""
    if order != "auto":
        return order.split("|").index("speaker")
    second = all(looks_like_speaker(parts[1]) for _, parts in rows)
    third = all(looks_like_speaker(parts[2]) for _, parts in rows)
    if second != third:
        return 1 if second else 2
    raise CorpusError(f"{path}: cannot tell whether its lines are 'wav|speaker|text' or 'wav|text|speaker' (upstream "
                      "Grad-TTS's LibriTTS lists); name the order with --filelist-format")


def read_filelist(path: str | Path, order: str = "auto") -> list[Utterance]:
    """`wav|text`, or three fields with the speaker second (ours) or last (upstream Grad-TTS's
    LibriTTS lists; see `speaker_field`). Relative wav paths are relative to the filelist."""
    if order not in FILELIST_ORDERS:
        raise CorpusError(f"filelist format {order!r} is not one of {', '.join(FILELIST_ORDERS)}")
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("|")
        if len(parts) not in (2, 3):
            raise CorpusError(f"{path}:{number}: expected 'wav|text' or 'wav|speaker|text', got {line!r}")
        rows.append((number, parts))
    three = [row for row in rows if len(row[1]) == 3]
    spk_index = speaker_field(path, three, order) if three else 1
    out = []
    for number, parts in rows:
        wav = parts[0]
        if len(parts) == 2:
            speaker, text = None, parts[1]
        else:
            speaker, text = parts[spk_index].strip(), parts[3 - spk_index]
        wav_path = Path(wav) if Path(wav).is_absolute() else path.parent / wav
        out.append(Utterance(wav_path, text, speaker, f"{path}:{number}", wav_path.stem))
    return out


def speaker_order(names: set[str], known: Optional[list[str]] = None) -> list[str]:
    """The speaker list whose positions are the model's speaker ids: `known` (a checkpoint's list,
    e.g. the published LibriTTS model's, whose ids must keep their meaning) when it holds every
    name; else the names sorted as numbers when all are numbers ("2" before "10"), else as text."""
    if known and names <= set(known):
        return list(known)
    if all(name.isdigit() for name in names):
        return sorted(names, key=int)
    return sorted(names)


def read_corpus(source: str | Path, filelist_order: str = "auto") -> list[Utterance]:
    """A directory with metadata.csv, a filelist, or (without texts) a directory of wavs."""
    source = Path(source)
    if source.is_dir():
        if (source / "metadata.csv").is_file():
            return read_ljspeech(source)
        wavs = sorted(source.rglob("*.wav"))
        return [Utterance(w, source=str(w), uid=w.stem) for w in wavs]
    if source.is_file():
        return read_filelist(source, filelist_order)
    raise CorpusError(f"{source}: no such file or directory")
