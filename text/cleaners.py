"""Text normalisation before G2P: the upstream `english_cleaners` with its defects fixed.

Order: currency symbols (before transliteration, which would turn '£' into 'PS'), context-sensitive
abbreviations that need the original capitals ('St.'), ASCII transliteration, lowercase, numbers,
abbreviations, whitespace.
"""
from __future__ import annotations

import re

from unidecode import unidecode

from .numbers import NumberNormalizer

_WHITESPACE = re.compile(r"\s+")

ABBREVIATIONS = [
    (re.compile(rf"\b{short}\.", re.IGNORECASE), long)
    for short, long in [
        ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"),
        ("jr", "junior"), ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"),
        ("lt", "lieutenant"), ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"),
        ("esq", "esquire"), ("ltd", "limited"), ("col", "colonel"), ("ft", "fort"),
    ]
]

MONTHS = [
    (re.compile(rf"\b{short}\.", re.IGNORECASE), long)
    for short, long in [
        ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("jun", "june"),
        ("jul", "july"), ("aug", "august"), ("sept", "september"), ("sep", "september"),
        ("oct", "october"), ("nov", "november"), ("dec", "december"),
    ]
]

# 'St.' after a capitalised word is a street ("Elm St."); otherwise, before a name, a saint.
_STREET_AFTER_NAME = re.compile(r"\b([A-Z][a-z]+ +)St\.")
_SAINT_BEFORE_NAME = re.compile(r"\bSt\.(?= +[A-Z])")
_STREET = re.compile(r"\bst\.", re.IGNORECASE)


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text)


def expand_street_and_saint(text: str) -> str:
    text = _STREET_AFTER_NAME.sub(r"\1street", text)
    text = _SAINT_BEFORE_NAME.sub("saint", text)
    return _STREET.sub("street", text)


def expand_abbreviations(text: str) -> str:
    for pattern, replacement in MONTHS + ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text


class EnglishCleaner:
    """Callable text -> normalised lowercase ASCII text."""

    def __init__(self):
        self._numbers = NumberNormalizer()

    def __call__(self, text: str) -> str:
        text = self._numbers.expand_currency(text)
        text = expand_street_and_saint(text)
        text = unidecode(text)
        text = text.lower()
        text = self._numbers(text)
        text = expand_abbreviations(text)
        return collapse_whitespace(text)


class BasicCleaner:
    """Transliteration, lowercase and whitespace only (for IPA, where espeak reads numbers itself)."""

    def __call__(self, text: str) -> str:
        return collapse_whitespace(unidecode(text).lower())


CLEANERS = {"english_cleaners": EnglishCleaner, "basic_cleaners": BasicCleaner}
