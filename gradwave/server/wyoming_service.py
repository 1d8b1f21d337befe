"""Speak over the Wyoming protocol, as Home Assistant's local speech services do:
`gradwave-wyoming --uri tcp://0.0.0.0:10200` (or `unix:///run/gradwave.sock`), then add the Wyoming
integration in Home Assistant with this host and port.

`describe` answers with the program and its voice (its speakers, language and what it is made of);
`synthesize` answers audio-start, 16-bit mono chunks and audio-stop; the streaming form
(synthesize-start, -chunk..., -stop, as Home Assistant sends a language model's answer while it is
written) speaks each sentence as soon as its end arrives, one audio stream per sentence, then
synthesize-stopped. Sentences go through the speech server's batcher and seeding, so clients at once
share the model and an answer does not depend on the others. Bad input (nothing speakable, an unknown
voice or speaker) answers an `error` event and the service keeps running.
The protocol is the `wyoming` package's (pip install -e .[serve]); the command is gradwave/server/wyoming_cli.py.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Optional

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from gradwave.common.audio import pcm16
from gradwave.lines import SENTENCE_END
from gradwave.synthesizer import BaseSynthesizer, SynthesisError

from .app import MODEL_ID, ApiError, ServerConfig, SpeechRequest, SpeechService

log = logging.getLogger("server.wyoming")

PROGRAM = "gradwave"
LANGUAGES = ["en_US"]  # the text frontend reads English (CMUdict)
SAMPLES_PER_CHUNK = 1024


class SentenceStream:
    """Text arriving in pieces -> the sentences it completes: a sentence is complete once whitespace
    follows its end mark (so "3." of "3.5" waits for what comes next)."""

    def __init__(self):
        self.pending = ""

    def feed(self, text: str) -> list[str]:
        self.pending += text
        *complete, self.pending = SENTENCE_END.split(self.pending.lstrip())
        return [s for s in complete if s.strip()]

    def finish(self) -> list[str]:
        rest, self.pending = self.pending.strip(), ""
        return [rest] if rest else []


def describe_model(synth: BaseSynthesizer) -> str:
    """One line on what the voice is made of, from the synthesizer's own description."""
    own = synth.description
    if "voice" in own:
        return f"exported voice {Path(own['voice']['path']).name}"
    vocoder = own["vocoder"]
    vocoded = "Griffin-Lim" if vocoder["kind"] != "diffwave" else f"DiffWave {Path(vocoder['path']).name}"
    return f"Grad-TTS {Path(own['acoustic']['path']).name} with {vocoded}"


def toolkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gradwave-tts")
    except PackageNotFoundError:  # run from a clone that pip never installed
        return "unknown"


def program_info(synth: BaseSynthesizer, name: str) -> Info:
    """What `describe` answers: one program with one voice, `name`, and the model's speakers."""
    version = toolkit_version()
    attribution = Attribution(name="gradwave-tts", url="")
    speakers = [TtsVoiceSpeaker(name=s) for s in synth.speakers] or None
    voice = TtsVoice(name=name, attribution=attribution, installed=True, description=describe_model(synth),
                     version=version, languages=LANGUAGES, speakers=speakers)
    return Info(tts=[TtsProgram(name=PROGRAM, attribution=attribution, installed=True, version=version,
                                description="Grad-TTS and DiffWave text to speech", voices=[voice],
                                supports_synthesize_streaming=True)])


class WyomingHandler(AsyncEventHandler):
    """One client connection (the `wyoming` package makes one per connection)."""

    def __init__(self, service: SpeechService, info: Info, voice_name: str, *args):
        super().__init__(*args)
        self.service, self.info, self.voice_name = service, info, voice_name
        self.stream: Optional[SentenceStream] = None
        self.stream_voice = None

    async def handle_event(self, event: Event) -> bool:
        try:
            if Describe.is_type(event.type):
                await self.write(self.info)
            elif Synthesize.is_type(event.type):
                if self.stream is None:  # inside a stream it repeats the chunks, for servers without streaming
                    request = Synthesize.from_event(event)
                    whole = SentenceStream()
                    await self.speak(whole.feed(request.text) + whole.finish(), request.voice)
            elif SynthesizeStart.is_type(event.type):
                self.stream, self.stream_voice = SentenceStream(), SynthesizeStart.from_event(event).voice
            elif SynthesizeChunk.is_type(event.type) and self.stream is not None:
                for sentence in self.stream.feed(SynthesizeChunk.from_event(event).text):
                    await self.speak([sentence], self.stream_voice)
            elif SynthesizeStop.is_type(event.type) and self.stream is not None:
                rest, self.stream = self.stream.finish(), None
                if rest:
                    await self.speak(rest, self.stream_voice)
                await self.write(SynthesizeStopped())
        except SpeakError as err:
            log.info("error answered: %s", err)
            await self.write(Error(text=str(err), code=err.code))
        return True

    async def write(self, eventable) -> None:
        await self.write_event(eventable.event())

    async def speak(self, sentences: list[str], voice) -> None:
        """One audio stream (start, chunks, stop) of `sentences`, with the synthesizer's pause between them;
        each sentence's audio goes out as soon as it is made, so the first is heard while the rest are."""
        if not sentences:
            raise SpeakError("nothing to speak: the text is empty", "empty-text")
        futures = self.submit(" ".join(sentences), voice)
        rate = self.service.synth.sample_rate
        step = 2 * SAMPLES_PER_CHUNK
        started = False
        try:
            for k, future in enumerate(futures):
                sentence = await future
                if not started:
                    await self.write(AudioStart(rate=rate, width=2, channels=1))
                    started = True
                audio = pcm16(self.service.chunks(sentence, k, "wav")).tobytes()
                for start in range(0, len(audio), step):
                    await self.write(AudioChunk(rate=rate, width=2, channels=1, audio=audio[start:start + step]))
        except SynthesisError as err:
            raise SpeakError(str(err), "synthesis-failed") from None
        finally:
            if started:
                await self.write(AudioStop())

    def submit(self, text: str, voice) -> list:
        """The futures of `text`'s sentences, queued on the speech server's batcher (checked first)."""
        try:
            request = SpeechRequest(model=MODEL_ID, input=text, voice=self.speaker(voice), response_format="wav")
            self.service.check(request)
            return self.service.submit(self.service.jobs(request))
        except ApiError as err:
            raise SpeakError(err.message, err.kind) from None

    def speaker(self, voice) -> Optional[str]:
        """The speaker a request's voice names (None: the model's first); an unknown voice is an error."""
        if voice is None:
            return None
        if voice.name is not None and voice.name != self.voice_name:
            raise SpeakError(f"unknown voice {voice.name!r}; this service has {self.voice_name!r}", "unknown-voice")
        speakers = self.service.synth.speakers
        if voice.speaker is not None and voice.speaker not in speakers:
            known = ", ".join(speakers) if speakers else "none (one speaker)"
            raise SpeakError(f"unknown speaker {voice.speaker!r}; this voice has {known}", "unknown-speaker")
        return voice.speaker


class SpeakError(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


async def serve(synth: BaseSynthesizer, uri: str, name: str = PROGRAM, queue_size: int = 64,
                started: Optional[asyncio.Event] = None) -> None:
    """Run the service on `uri` until cancelled; `started` is set once it listens."""
    service = SpeechService(synth, ServerConfig(max_batch=1, queue_size=queue_size))
    info = program_info(synth, name)
    server = AsyncServer.from_uri(uri)
    service.batcher.start()
    try:
        await server.start(lambda reader, writer: WyomingHandler(service, info, name, reader, writer))
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await server.stop()
        await service.batcher.stop()
