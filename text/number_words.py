"""English number words as the `inflect` package writes them (which upstream's cleaners call): "one
thousand, two hundred thirty-four", years read in pairs, ordinals. Written here because importing inflect
takes about 2 s, which every command that reads a digit would pay; tests pin its outputs."""
from __future__ import annotations

UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
MAGNITUDES = ["", " thousand", " million", " billion", " trillion", " quadrillion", " quintillion", " sextillion",
              " septillion", " octillion", " nonillion", " decillion"]
IRREGULAR_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                      "nine": "ninth", "twelve": "twelfth"}


def below_hundred(n: int) -> str:
    if n < 20:
        return UNITS[n]
    tens, units = divmod(n, 10)
    return TENS[tens] + (f"-{UNITS[units]}" if units else "")


def below_thousand(n: int, andword: str) -> str:
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return below_hundred(rest)
    words = f"{UNITS[hundreds]} hundred"
    return words + (f" {andword}{' ' if andword else ''}{below_hundred(rest)}" if rest else "")


def cardinal(n: int, andword: str = "") -> str:
    """`n` >= 0 in words: groups of three digits joined by commas, except that a last group below a
    hundred joins with a space (and `andword`): "one thousand one", "one thousand, one hundred"."""
    if n == 0:
        return "zero"
    groups = []
    while n:
        n, group = divmod(n, 1000)
        groups.append(group)
    if len(groups) > len(MAGNITUDES):
        return " ".join(UNITS[int(d)] for d in str(n))
    words = [below_thousand(g, andword) + MAGNITUDES[k] for k, g in reversed(list(enumerate(groups))) if g]
    if len(words) > 1 and 0 < groups[0] < 100:
        tail = words.pop()
        return ", ".join(words) + f" {andword}{' ' if andword else ''}{tail}"
    return ", ".join(words)


def year(n: int) -> str:
    """A four-digit number read in pairs, "nineteen oh five", "twenty-one fifty"."""
    high, low = divmod(n, 100)
    if low >= 10:
        return f"{below_hundred(high)} {below_hundred(low)}"
    return f"{below_hundred(high)} oh {UNITS[low] if low else 'oh'}"


def ordinal(n: int) -> str:
    """"twenty-first", "one hundred and tenth" (ordinals take "and", as inflect's do)."""
    words = cardinal(n, andword="and")
    cut = max(words.rfind(" "), words.rfind("-")) + 1
    head, last = words[:cut], words[cut:]
    if last in IRREGULAR_ORDINALS:
        return head + IRREGULAR_ORDINALS[last]
    return head + (last[:-1] + "ieth" if last.endswith("y") else last + "th")
