"""Progress bars that suit where they are written: redrawn in place on a terminal, and one plain
line every few seconds in a log file or CI output (not thousands of carriage-return redraws)."""
from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL_S = 10.0


class _Lines:
    """A stream that writes each of tqdm's redraws as one line of its own."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """`tqdm(iterable, **kwargs)`, redrawn at most every 10 s, a line each, when not on a terminal."""
    stream = kwargs.pop("file", None) or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        kwargs.update(file=_Lines(stream), mininterval=max(kwargs.get("mininterval", 0), LOG_INTERVAL_S),
                      dynamic_ncols=False, ncols=kwargs.get("ncols") or 100)
    else:
        kwargs["file"] = stream
    return tqdm(iterable, **kwargs)
