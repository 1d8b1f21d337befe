"""The demo corpus's text: phonetic coverage above a floor, deterministic for a seed, and none of
the held-out new_sentences' content words."""
import re
import sys
from pathlib import Path

import pytest

from text.cleaners import EnglishCleaner

LOCAL = Path(__file__).resolve().parents[1] / "recipes" / "ljspeech" / "local"
NEW_SENTENCES = LOCAL / "new_sentences.txt"

sys.path.insert(0, str(LOCAL))  # the recipe's local scripts are not a package
import demo_text  # noqa: E402


@pytest.fixture(scope="module")
def lexicon():
    return demo_text.Lexicon.load()


@pytest.fixture(scope="module")
def corpus_1500(lexicon):
    """Half the demo's 3000 sentences (the coverage floor holds already), seed 1."""
    return demo_text.build(1500, 1, [NEW_SENTENCES], lexicon=lexicon)


def test_coverage_is_above_its_floor(corpus_1500):
    sentences, stats = corpus_1500
    # measured: 1500 sentences, ~6,700 distinct words, every diphone type of the ~21,000-word
    # vocabulary but one or two seen (0.999), 0.98 of them three times or more
    assert stats["sentences"] == len(sentences) == 1500
    assert stats["distinct_words"] >= 5000
    assert stats["type_coverage"] >= 0.99 and stats["type_coverage_3"] >= 0.95
    assert stats["token_coverage"] >= 0.999


def test_the_corpus_has_every_sentence_shape(corpus_1500):
    sentences, _ = corpus_1500
    assert sum(s.endswith("?") for s in sentences) >= 100
    assert sum(bool(re.search(r"\d", s)) for s in sentences) >= 100
    assert sum(any(m.capitalize() in s for m in demo_text.MONTHS) for s in sentences) >= 50
    assert sum(s.count(",") >= 2 for s in sentences) >= 100
    assert sum(any(f" {n} " in f" {s} " for n in demo_text.FIRST_NAMES) for s in sentences) >= 50
    lengths = [len(s.split()) for s in sentences]
    assert min(lengths) <= 2 and max(lengths) >= 25


def test_no_content_word_of_the_new_sentences_is_in_the_corpus(corpus_1500):
    sentences, _ = corpus_1500
    cleaner = EnglishCleaner()
    held_out = demo_text.content_words(NEW_SENTENCES.read_text().splitlines(), cleaner)
    assert {"bicycle", "umbrella", "pancakes", "museum", "tomorrow"} <= held_out
    assert not held_out & {"the", "you", "twelve", "march"}  # closed-class words may be shared
    training = {w for s in sentences for w in re.findall(r"[a-z']+", cleaner(s))}
    assert not training & demo_text.excluded_forms(held_out)


def test_one_seed_gives_one_corpus(lexicon):
    first, first_stats = demo_text.build(120, 3, [NEW_SENTENCES], lexicon=lexicon)
    again, again_stats = demo_text.build(120, 3, [NEW_SENTENCES], lexicon=lexicon)
    other, _ = demo_text.build(120, 4, [NEW_SENTENCES], lexicon=lexicon)
    assert first == again and first_stats == again_stats
    assert first != other


def test_greedy_selection_prefers_new_units():
    candidates = [("a", ["x", "x", "x"]), ("b", ["x", "y"]), ("c", ["z"]), ("d", ["x"])]
    assert demo_text.select(candidates, 3) == [1, 2, 3]  # "d" repeats "x" less than "a" does


def test_diphones_within_and_across_words():
    assert demo_text.diphones(["#", "HH", "AY", "#", "DH", "EH", "R", "#"]) == ["HH-AY", "AY#DH", "DH-EH", "EH-R"]
