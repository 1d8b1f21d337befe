"""Spelling out numbers, ordinals, decimals, years and money the way LJSpeech models were trained.

Plain numbers, years, ordinals, decimals and dollar amounts follow the upstream (keithito) rules so
the published Grad-TTS weights hear what they were trained on. Where upstream was wrong, this
module does better: pound and euro amounts (upstream read '£' as 'ps'), one-digit cents ('$2.5'
is two dollars fifty), and malformed amounts such as '$1.2.3' (read digit group by digit group).
"""
from __future__ import annotations

import re

from .number_words import cardinal, ordinal, year

_COMMA_NUMBER = re.compile(r"([0-9][0-9,]+[0-9])")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")
_CURRENCY = re.compile(r"([$£€])\s?([0-9][0-9.,]*[0-9]|[0-9])")

_UNITS = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}


class NumberNormalizer:
    """Rewrites digits as words (number_words.py writes them as upstream's `inflect` does)."""

    def number(self, num: int) -> str:
        if 1000 < num < 3000:
            if num == 2000:
                return "two thousand"
            if 2000 < num < 2010:
                return "two thousand " + cardinal(num % 100)
            if num % 100 == 0:
                return cardinal(num // 100) + " hundred"
            return year(num)
        return cardinal(num)

    def currency(self, match: re.Match) -> str:
        one, many, sub_one, sub_many = _UNITS[match.group(1)]
        amount = match.group(2).replace(",", "")
        parts = amount.split(".")
        if len(parts) > 2:
            return " point ".join(p for p in parts if p) + " " + many
        whole = int(parts[0]) if parts[0] else 0
        fraction = parts[1] if len(parts) > 1 else ""
        cents = int((fraction + "0")[:2]) if fraction else 0
        whole_words = f"{whole} {one if whole == 1 else many}"
        cent_words = f"{cents} {sub_one if cents == 1 else sub_many}"
        if whole and cents:
            return f"{whole_words}, {cent_words}"
        if whole:
            return whole_words
        if cents:
            return cent_words
        return f"zero {many}"

    def expand_currency(self, text: str) -> str:
        return _CURRENCY.sub(self.currency, text)

    def __call__(self, text: str) -> str:
        if not _NUMBER.search(text):
            return text
        text = _COMMA_NUMBER.sub(lambda m: m.group(1).replace(",", ""), text)
        text = self.expand_currency(text)
        text = _DECIMAL.sub(lambda m: m.group(1).replace(".", " point "), text)
        text = _ORDINAL.sub(lambda m: ordinal(int(m.group(0)[:-2])), text)
        return _NUMBER.sub(lambda m: self.number(int(m.group(0))), text)
