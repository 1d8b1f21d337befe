"""The symbol table of the published Grad-TTS models: 148 symbols, then the blank (id 148).

The order is fixed by the published checkpoints' embedding table and must not change.
"""
from __future__ import annotations

PAD = "_"
SPECIAL = "-"
PUNCTUATION = "!'(),.:;? "
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S",
              "SH", "T", "TH", "V", "W", "Y", "Z", "ZH")
ARPABET = tuple(sorted(CONSONANTS + tuple(v + s for v in VOWELS for s in ("", "0", "1", "2"))))

SYMBOLS = (PAD,) + tuple(SPECIAL) + tuple(PUNCTUATION) + tuple(LETTERS) + tuple("@" + p for p in ARPABET)
BLANK_ID = len(SYMBOLS)
