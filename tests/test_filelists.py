"""Filelists users already have: ours (wav|speaker|text) and upstream Grad-TTS's LibriTTS lists
(wav|text|speaker), told apart or refused; speaker ids in an order that keeps their meaning."""
import pytest

from gradwave.common.filelists import CorpusError, read_filelist, speaker_order


def write(tmp_path, lines):
    path = tmp_path / "list.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_both_field_orders_are_read_the_same(tmp_path):
    ours = read_filelist(write(tmp_path, ["a.wav|19|Hello there, world.", "b.wav|1034|Second line here."]))
    upstream = read_filelist(write(tmp_path, ["a.wav|Hello there, world.|19", "b.wav|Second line here.|1034"]))
    for utterances in (ours, upstream):
        assert [(u.speaker, u.text) for u in utterances] == [("19", "Hello there, world."),
                                                            ("1034", "Second line here.")]


def test_ambiguous_lists_are_refused_unless_the_order_is_named(tmp_path):
    path = write(tmp_path, ["a.wav|alice|Yes.", "b.wav|bob|No."])  # one-word texts: either field could be it
    with pytest.raises(CorpusError, match="cannot tell whether.*--filelist-format"):
        read_filelist(path)
    assert [u.speaker for u in read_filelist(path, "wav|speaker|text")] == ["alice", "bob"]
    assert [u.speaker for u in read_filelist(path, "wav|text|speaker")] == ["Yes.", "No."]
    with pytest.raises(CorpusError, match="not one of"):
        read_filelist(path, "speaker|wav|text")


def test_speaker_ids_sort_as_numbers_and_keep_a_known_mapping():
    assert speaker_order({"10", "2", "1"}) == ["1", "2", "10"]
    assert speaker_order({"bob", "alice"}) == ["alice", "bob"]
    published = [str(i) for i in range(12)]
    assert speaker_order({"10", "3"}, published) == published  # ids keep the published model's meaning
    assert speaker_order({"10", "99"}, published) == ["10", "99"]  # not all known: the data's own order
