"""The Wyoming service, spoken to by the `wyoming` package's own client (as Home Assistant's integration is)."""
import asyncio
import threading

import numpy as np
import pytest

pytest.importorskip("wyoming", reason="the Wyoming service needs the serve extra (pip install -e .[serve])")

from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncClient  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.tts import (Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop,  # noqa: E402
                         SynthesizeStopped, SynthesizeVoice)

from gradwave.server.background import free_port  # noqa: E402
from gradwave.server.wyoming_service import SentenceStream, serve  # noqa: E402
from gradwave.synthesizer import Synthesizer  # noqa: E402
from tiny_checkpoints import write_tiny_checkpoints  # noqa: E402


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = write_tiny_checkpoints(tmp_path_factory.mktemp("wyoming"))
    return Synthesizer(root / "acoustic.pt", root / "vocoder.pt", timesteps=2, vocoder_steps=2)


def with_service(synth, uri, talk):
    """Run the service on `uri`, then `talk()` against it, then stop it."""
    async def main():
        started = asyncio.Event()
        service = asyncio.create_task(serve(synth, uri, "tiny", started=started))
        try:
            await asyncio.wait_for(started.wait(), 30)
            return await asyncio.wait_for(talk(), 120)
        finally:
            service.cancel()
            await asyncio.gather(service, return_exceptions=True)

    return asyncio.run(main())


async def until(client, *types):
    """Events up to and including the first of one of `types`."""
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, f"the service hung up after {[e.type for e in events]}"
        events.append(event)
        if any(t.is_type(event.type) for t in types):
            return events


def audio_of(events) -> np.ndarray:
    """The samples of one audio stream (start, chunks, stop)."""
    assert AudioStart.is_type(events[0].type) and AudioStop.is_type(events[-1].type)
    start = AudioStart.from_event(events[0])
    assert (start.rate, start.width, start.channels) == (22050, 2, 1)
    chunks = [AudioChunk.from_event(e) for e in events[1:-1]]
    assert chunks and all(AudioChunk.is_type(e.type) for e in events[1:-1])
    return np.frombuffer(b"".join(c.audio for c in chunks), dtype=np.int16)


def test_describe_one_shot_streaming_and_bad_input(synth):
    uri = f"tcp://127.0.0.1:{free_port()}"

    async def talk():
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Describe().event())
            info = Info.from_event((await until(client, Info))[-1])
            [program] = info.tts
            assert program.supports_synthesize_streaming and program.version
            [voice] = program.voices
            assert voice.name == "tiny" and voice.languages == ["en_US"] and "Grad-TTS" in voice.description

            await client.write_event(Synthesize(text="Hello there. How are you?").event())
            both = audio_of(await until(client, AudioStop))
            await client.write_event(Synthesize(text="Hello there.").event())
            first = audio_of(await until(client, AudioStop))
            assert len(both) > len(first) > 0

            # streaming: each sentence is spoken once its end has arrived, the rest at the stop
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="tiny")).event())
            await client.write_event(SynthesizeChunk(text="Hello there. How").event())
            streamed = [audio_of(await until(client, AudioStop))]
            await client.write_event(SynthesizeChunk(text=" are you? It is").event())
            streamed.append(audio_of(await until(client, AudioStop)))
            await client.write_event(SynthesizeChunk(text=" late").event())
            await client.write_event(Synthesize(text="Hello there. How are you? It is late").event())  # ignored
            await client.write_event(SynthesizeStop().event())
            rest = await until(client, SynthesizeStopped)
            streamed.append(audio_of(rest[:-1]))
            assert np.array_equal(streamed[0], first)  # a sentence reads the same however it arrives

            # bad input is an error event, and the connection goes on
            await client.write_event(Synthesize(text="@#$%").event())
            error = Error.from_event((await until(client, Error, AudioStart))[-1])
            assert "nothing speakable" in error.text
            await client.write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(name="other")).event())
            error = Error.from_event((await until(client, Error, AudioStart))[-1])
            assert error.code == "unknown-voice" and "'tiny'" in error.text
            await client.write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(name="tiny", speaker="x")).event())
            assert Error.is_type((await until(client, Error, AudioStart))[-1].type)
            await client.write_event(Synthesize(text="Hello there.").event())
            assert np.array_equal(audio_of(await until(client, AudioStop)), first)

    with_service(synth, uri, talk)


def test_a_one_shot_text_is_heard_sentence_by_sentence(synth, monkeypatch):
    """The first sentence's audio goes out while the second is still being made."""
    uri = f"tcp://127.0.0.1:{free_port()}"
    release, calls = threading.Event(), []
    waveform = synth.waveform

    def held_waveform(mel, seed):
        calls.append(seed)
        if len(calls) == 2:
            assert release.wait(20), "the first sentence's audio never went out"
        return waveform(mel, seed)

    monkeypatch.setattr(synth, "waveform", held_waveform)

    async def talk():
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Synthesize(text="Hello there. How are you?").event())
            first = await until(client, AudioChunk)
            release.set()
            return first + await until(client, AudioStop)

    events = with_service(synth, uri, talk)
    assert len(calls) == 2 and len(audio_of(events)) > 0


def test_two_clients_at_once_over_a_unix_socket(synth, tmp_path):
    uri = f"unix://{tmp_path / 'tts.sock'}"

    async def one(text):
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Synthesize(text=text).event())
            return audio_of(await until(client, AudioStop))

    async def talk():
        return await asyncio.gather(one("Good morning."), one("A somewhat longer sentence than that."))

    short, long = with_service(synth, uri, talk)
    assert 0 < len(short) < len(long)


def test_sentence_stream_waits_for_what_follows_an_end_mark():
    stream = SentenceStream()
    assert stream.feed("It costs 3.") == []
    assert stream.feed("5 dollars. Then") == ["It costs 3.5 dollars."]
    assert stream.feed(" more! And ") == ["Then more!"]
    assert stream.finish() == ["And"] and stream.finish() == []
