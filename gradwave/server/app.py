"""The speech server's HTTP API: OpenAI's `POST /v1/audio/speech` and its companions.

Every text is split at sentence ends; each sentence is one job for the batcher, seeded as
`synthesize.py` seeds the sentences of a one-line file, so an answer does not depend on what else
the server is doing. Errors are OpenAI-shaped: {"error": {"message", "type", "param", "code"}}.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from gradwave.common.audio import pcm16
from gradwave.lines import Line, piece_seed, split_long
from gradwave.synthesizer import BaseSynthesizer, SynthesisError

from .access import AccessControl
from .batcher import Batcher, Job, QueueFull
from .formats import FORMATS, STREAMABLE, encode, output_rate, resample, streaming_wav_header

log = logging.getLogger("server")

MODEL_ID = "gradwave"
MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")  # OpenAI's names, so unchanged clients work
PAGE = Path(__file__).with_name("static") / "index.html"
REQUEST_LINE = 1  # requests are seeded as line 1 of a text file is by synthesize.py


@dataclass
class ServerConfig:
    max_input_chars: int = 4096
    max_batch: int = 8
    batch_window_ms: float = 20.0
    queue_size: int = 64  # sentences waiting, all requests together
    request_timeout_s: float = 120.0
    retry_after_s: int = 2
    max_steps: int = 1000


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    input: str
    voice: Optional[str] = None
    response_format: str = "mp3"
    speed: float = 1.0
    stream: bool = False
    steps: Optional[int] = None
    temperature: Optional[float] = None
    seed: int = 0


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: Optional[str] = None, kind: str = "invalid_request_error",
                 headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.param, self.kind, self.headers = status, message, param, kind, headers


def error_body(message: str, kind: str, param: Optional[str] = None, code: Optional[str] = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class SentenceAudio:
    audio: np.ndarray  # at the model's rate
    words: list[dict]  # word times from the start of the sentence
    seconds: float  # synthesis time spent on it


class SpeechService:
    """What the endpoints share: request checking, jobs, and joining the sentences' audio."""

    def __init__(self, synth: BaseSynthesizer, config: ServerConfig):
        self.synth, self.config = synth, config
        self.batcher = Batcher(self.run_batch, config.max_batch, config.batch_window_ms / 1000, config.queue_size)

    def run_batch(self, jobs: list[Job]) -> list[SentenceAudio]:
        timesteps, temperature, length_scale = jobs[0].settings
        begin = time.perf_counter()
        spoken = self.synth.acoustic([j.text for j in jobs], [j.speaker for j in jobs], [j.seed for j in jobs],
                                     timesteps=timesteps, temperature=temperature, length_scale=length_scale)
        shared = (time.perf_counter() - begin) / len(jobs)
        out = []
        for job, result in zip(jobs, spoken):
            begin = time.perf_counter()
            audio = self.synth.waveform(result.mel, job.seed).numpy()
            out.append(SentenceAudio(audio, result.word_times(self.synth.seconds_per_frame),
                                     shared + time.perf_counter() - begin))
        return out

    def voices(self) -> list[str]:
        return list(self.synth.speakers) or ["default"]

    def parse(self, body: bytes, content_type: str) -> SpeechRequest:
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, f"expected Content-Type application/json, got {content_type or 'none'!r}")
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ApiError(400, f"malformed JSON body: {err}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        try:
            request = SpeechRequest.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            param = ".".join(str(p) for p in first["loc"]) or None
            raise ApiError(400, f"{param}: {first['msg']}", param) from None
        self.check(request)
        return request

    def check(self, request: SpeechRequest) -> None:
        if request.model not in (MODEL_ID, *MODEL_ALIASES):
            raise ApiError(400, f"unknown model {request.model!r}; this server has {MODEL_ID!r} "
                                f"(aliases {', '.join(MODEL_ALIASES)})", "model")
        if not request.input.strip():
            raise ApiError(400, "input is empty", "input")
        if len(request.input) > self.config.max_input_chars:
            raise ApiError(400, f"input has {len(request.input)} characters; the limit is "
                                f"{self.config.max_input_chars}", "input")
        if request.response_format not in FORMATS:
            raise ApiError(400, f"unknown response_format {request.response_format!r}; one of "
                                f"{', '.join(FORMATS)}", "response_format")
        if request.stream and request.response_format not in STREAMABLE:
            raise ApiError(400, f"streaming sends {' or '.join(STREAMABLE)}, not {request.response_format}",
                           "response_format")
        if not 0.25 <= request.speed <= 4.0:
            raise ApiError(400, f"speed must be between 0.25 and 4.0, not {request.speed}", "speed")
        if request.steps is not None and not 0 <= request.steps <= self.config.max_steps:
            raise ApiError(400, f"steps must be between 0 and {self.config.max_steps}", "steps")
        if request.temperature is not None and not 0 < request.temperature <= 10:
            raise ApiError(400, "temperature must be above 0 and at most 10", "temperature")
        if self.synth.speakers and request.voice is not None and request.voice not in self.synth.speakers:
            raise ApiError(400, f"unknown voice {request.voice!r}; this model has {', '.join(self.synth.speakers)}",
                           "voice")

    def jobs(self, request: SpeechRequest) -> list[Job]:
        sentences = split_long(request.input.strip(), 0)
        for sentence in sentences:
            try:
                self.synth.encode(sentence)
            except SynthesisError as err:
                raise ApiError(400, str(err), "input") from None
        speaker = self.synth.speaker_id(request.voice if self.synth.speakers else None)
        settings = (request.steps, request.temperature, 1.0 / request.speed)
        line = Line(REQUEST_LINE, "request", request.input)
        return [Job(text, speaker, piece_seed(request.seed, line, k), settings) for k, text in enumerate(sentences)]

    def submit(self, jobs: list[Job]) -> list[asyncio.Future]:
        try:
            return self.batcher.submit(jobs)
        except QueueFull as err:
            raise ApiError(503, f"the server is busy ({err}); retry later", kind="server_busy",
                           headers={"Retry-After": str(self.config.retry_after_s)}) from None

    def pause(self, rate: int) -> np.ndarray:
        return np.zeros(int(self.synth.pause * rate), dtype=np.float32)

    def chunks(self, sentence: SentenceAudio, k: int, response_format: str) -> np.ndarray:
        """One sentence's samples at the output rate, preceded by the pause when it is not the first."""
        rate = output_rate(response_format, self.synth.sample_rate)
        samples = resample(sentence.audio, self.synth.sample_rate, rate).astype(np.float32)
        return np.concatenate([self.pause(rate), samples]) if k else samples

    async def wait(self, futures: list[asyncio.Future], request: Request) -> list[SentenceAudio]:
        """All results, or an error: 504 past the time limit, nothing (cancelled) when the client left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.request_timeout_s
        try:
            while True:
                _, pending = await asyncio.wait(futures, timeout=0.1)
                if not pending:
                    return [f.result() for f in futures]
                if await request.is_disconnected():
                    raise asyncio.CancelledError("client disconnected")
                if loop.time() > deadline:
                    raise ApiError(504, f"synthesis took longer than {self.config.request_timeout_s:g} s",
                                   kind="timeout")
        finally:
            for future in futures:
                future.cancel()


def create_app(synth: BaseSynthesizer, config: ServerConfig = ServerConfig(),
               access: Optional[AccessControl] = None) -> FastAPI:
    """The app; `access` (gradwave.server.access) guards the `/v1/` routes: keys and a per-client limit."""
    service = SpeechService(synth, config)
    access = access or AccessControl()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.batcher.start()
        yield
        await service.batcher.stop()

    app = FastAPI(title="gradwave speech server", lifespan=lifespan)
    app.state.service = service

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        log.info("%s %s -> %d: %s", request.method, request.url.path, err.status, err.message)
        return JSONResponse(error_body(err.message, err.kind, err.param), err.status, headers=err.headers)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.url.path.startswith("/v1/"):
            refusal = access.admit(request.headers.get("authorization"), request.client.host if request.client else "")
            if refusal is not None:
                log.info("%s %s -> %d: %s", request.method, request.url.path, refusal.status, refusal.message)
                headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else {}
                if refusal.retry_after_s:
                    headers["Retry-After"] = str(refusal.retry_after_s)
                kind = "requests" if refusal.status == 429 else "invalid_request_error"
                return JSONResponse(error_body(refusal.message, kind, code=refusal.code), refusal.status,
                                    headers=headers)
        return await call_next(request)

    @app.exception_handler(Exception)
    async def server_fault(request: Request, err: Exception):
        fault = uuid.uuid4().hex[:12]
        log.error("fault %s on %s %s", fault, request.method, request.url.path, exc_info=err)
        return JSONResponse(error_body(f"internal server error (fault id {fault})", "server_error"), 500)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(PAGE, media_type="text/html")

    @app.get("/health")
    async def health():
        return {"status": "ok", "models_loaded": True, "queue_depth": service.batcher.depth,
                "batches_run": service.batcher.batches_run, "api_key_required": access.key_required}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "gradwave"}
                                           for name in (MODEL_ID, *MODEL_ALIASES)]}

    @app.get("/v1/models/{model_id}")
    async def model(model_id: str):
        if model_id not in (MODEL_ID, *MODEL_ALIASES):
            raise ApiError(404, f"unknown model {model_id!r}", "model_id")
        return {"id": model_id, "object": "model", "created": 0, "owned_by": "gradwave", **synth.description}

    @app.get("/v1/audio/voices")
    async def voices():
        return {"voices": service.voices()}

    async def speak(speech_request: SpeechRequest, request: Request) -> tuple[list[SentenceAudio], float]:
        begin = time.perf_counter()
        return await service.wait(service.submit(service.jobs(speech_request)), request), begin

    def timing(sentences: list[SentenceAudio], audio_seconds: float, begin: float) -> dict:
        elapsed = time.perf_counter() - begin
        return {"audio_seconds": round(audio_seconds, 3), "real_time_factor": round(elapsed / audio_seconds, 4),
                "synthesis_seconds": round(sum(s.seconds for s in sentences), 3)}

    def parse(request: Request, body: bytes) -> SpeechRequest:
        return service.parse(body, request.headers.get("content-type", ""))

    @app.post("/v1/audio/speech")
    async def speech(request: Request):
        speech_request = parse(request, await request.body())
        if speech_request.stream:
            return stream(speech_request, request)
        sentences, begin = await speak(speech_request, request)
        fmt = speech_request.response_format
        rate = output_rate(fmt, synth.sample_rate)
        samples = np.concatenate([service.chunks(s, k, fmt) for k, s in enumerate(sentences)])
        headers = {f"X-{key.replace('_', '-').title()}": str(value)
                   for key, value in timing(sentences, len(samples) / rate, begin).items()}
        return Response(encode(samples, fmt, rate), media_type=FORMATS[fmt][2],
                        headers=headers | {"X-Sample-Rate": str(rate)})

    def stream(speech_request: SpeechRequest, request: Request) -> StreamingResponse:
        fmt = speech_request.response_format
        rate = output_rate(fmt, synth.sample_rate)
        begin = time.perf_counter()
        futures = service.submit(service.jobs(speech_request))

        async def body():
            try:
                if fmt == "wav":
                    yield streaming_wav_header(rate)
                for k, future in enumerate(futures):
                    sentence = await asyncio.wait_for(future, config.request_timeout_s)
                    if k == 0:
                        log.info("first audio after %.3f s", time.perf_counter() - begin)
                    yield pcm16(service.chunks(sentence, k, fmt)).tobytes()
            finally:
                for future in futures:
                    future.cancel()

        return StreamingResponse(body(), media_type=FORMATS[fmt][2], headers={"X-Sample-Rate": str(rate)})

    @app.post("/v1/audio/speech/timed")
    async def timed(request: Request):
        speech_request = parse(request, await request.body())
        sentences, begin = await speak(speech_request, request)
        rate = output_rate(speech_request.response_format, synth.sample_rate)
        words, pieces, offset = [], [], 0.0
        for k, sentence in enumerate(sentences):
            piece = service.chunks(sentence, k, speech_request.response_format)
            start = offset + len(piece) / rate - len(sentence.audio) / synth.sample_rate
            words.extend(w | {"start": round(w["start"] + start, 3), "end": round(w["end"] + start, 3)}
                         for w in sentence.words)
            pieces.append(piece)
            offset += len(piece) / rate
        samples = np.concatenate(pieces)
        audio = encode(samples, speech_request.response_format, rate)
        return {"audio": base64.b64encode(audio).decode("ascii"), "format": speech_request.response_format,
                "sample_rate": rate, "duration": round(len(samples) / rate, 3), "words": words,
                **timing(sentences, len(samples) / rate, begin)}

    return app
