"""Text to speak, as lines of a file and as the sentence-sized pieces the acoustic model takes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")  # where a text may be split between sentences


@dataclass
class Line:
    number: int  # 1-based line number in the file
    uid: str
    text: str
    speaker: Optional[str] = None


@dataclass
class Piece:
    """One sentence-sized part of a line, and what the acoustic model made of it."""
    line: int  # index of its line
    chunk: int  # its place in the line
    text: str
    seed: int
    mel: Optional[torch.Tensor] = None
    seconds: float = 0.0  # acoustic-model time spent on it


def parse_lines(path: Path) -> tuple[list[Line], int, dict[int, str]]:
    """Non-empty lines of `path` as `Line`s, the number of blank lines skipped, and the lines that
    are not UTF-8 text (line number -> why), which the caller reports while it speaks the others."""
    lines, blank, undecodable = [], 0, {}
    for number, raw_bytes in enumerate(path.read_bytes().splitlines(), 1):
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as err:
            undecodable[number] = (f"not UTF-8 text (byte 0x{raw_bytes[err.start]:02x} at column {err.start + 1}); "
                                   "save the file as UTF-8, e.g. iconv -f latin1 -t utf-8")
            continue
        if not raw.strip():
            blank += 1
            continue
        parts = raw.split("|")
        if len(parts) == 2:
            lines.append(Line(number, parts[0].strip(), parts[1]))
        elif len(parts) == 3:
            lines.append(Line(number, parts[0].strip(), parts[2], parts[1].strip()))
        else:
            lines.append(Line(number, f"{number:04d}", raw))
    return lines, blank, undecodable


def split_long(text: str, max_chars: int) -> list[str]:
    """Sentences of `text`, merged while they stay under `max_chars`."""
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    for sentence in SENTENCE_END.split(text.strip()):
        if chunks and len(chunks[-1]) + 1 + len(sentence) <= max_chars:
            chunks[-1] += " " + sentence
        else:
            chunks.append(sentence)
    return chunks


def piece_seed(seed: int, line: Line, chunk: int) -> int:
    """The noise seed of one sentence of one line: fixed by the run's seed, the line number and the
    chunk, so batching and line order change nothing."""
    return seed * 1_000_003 + line.number * 101 + chunk


def pieces_of(lines: list[Line], max_chars: int, seed: int) -> list[Piece]:
    """Every line's sentence-sized pieces, in order."""
    return [Piece(index, k, chunk, piece_seed(seed, line, k))
            for index, line in enumerate(lines) for k, chunk in enumerate(split_long(line.text, max_chars))]
