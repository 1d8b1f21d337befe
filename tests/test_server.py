"""The speech server started for real (uvicorn on a free 127.0.0.1 port) and called over HTTP."""
import base64
import io
import json
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile
import torch

httpx = pytest.importorskip("httpx", reason="the server tests need httpx (pip install -e .[test])")
uvicorn = pytest.importorskip("uvicorn", reason="the server needs uvicorn (pip install -e .[serve])")
pytest.importorskip("fastapi", reason="the server needs fastapi (pip install -e .[serve])")

from serve import default_max_batch, main as serve_main  # noqa: E402
from gradwave.server.app import ServerConfig, create_app  # noqa: E402
from gradwave.server.background import BackgroundServer  # noqa: E402
from gradwave.synthesizer import Synthesizer  # noqa: E402
from tiny_checkpoints import write_tiny_checkpoints  # noqa: E402

RATE = 22050


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return write_tiny_checkpoints(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def synth(checkpoints):
    return Synthesizer(checkpoints / "acoustic.pt", checkpoints / "vocoder.pt", timesteps=2)


@pytest.fixture(scope="module")
def server(synth):
    with BackgroundServer(create_app(synth, ServerConfig(batch_window_ms=50))) as running:
        yield running


def speak(server, timeout=60, **fields):
    body = {"model": "gradwave", "input": "Hello there. How are you?", "voice": "alloy"} | fields
    return httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=timeout)


def decode_wav_stream(data: bytes) -> np.ndarray:
    assert data[:4] == b"RIFF" and data[36:40] == b"data"
    assert struct.unpack("<I", data[24:28])[0] == RATE
    return np.frombuffer(data[44:], dtype="<i2")


@pytest.mark.parametrize("fmt,rate", [("wav", RATE), ("flac", RATE), ("mp3", RATE), ("opus", 24000), ("pcm", 24000)])
def test_each_format_decodes_to_the_stated_length_and_rate(server, fmt, rate):
    answer = speak(server, response_format=fmt)
    assert answer.status_code == 200, answer.text
    seconds = float(answer.headers["X-Audio-Seconds"])
    assert int(answer.headers["X-Sample-Rate"]) == rate and float(answer.headers["X-Real-Time-Factor"]) > 0
    if fmt == "pcm":
        samples, got_rate = np.frombuffer(answer.content, dtype="<i2"), rate
    else:
        samples, got_rate = soundfile.read(io.BytesIO(answer.content))
    assert got_rate == rate
    assert seconds > 0.5  # two sentences and a pause
    # lossy codecs pad by up to a frame or two
    assert abs(len(samples) / got_rate - seconds) < (0.1 if fmt in ("mp3", "opus") else 1e-3)


def test_streamed_bytes_equal_the_whole_answer(server):
    text = "One sentence here. Another one follows! And a third?"
    whole = speak(server, input=text, response_format="pcm", seed=7).content
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", timeout=60,
                      json={"model": "tts-1", "input": text, "response_format": "pcm", "stream": True, "seed": 7}) as r:
        assert r.status_code == 200
        pieces = list(r.iter_raw())
    assert b"".join(pieces) == whole
    wav_whole, _ = soundfile.read(io.BytesIO(speak(server, input=text, response_format="wav", seed=7).content),
                                  dtype="int16")
    streamed = httpx.post(f"{server.url}/v1/audio/speech", timeout=60,
                          json={"model": "tts-1", "input": text, "response_format": "wav", "stream": True, "seed": 7})
    np.testing.assert_array_equal(decode_wav_stream(streamed.content), wav_whole)
    assert speak(server, input=text, response_format="pcm", seed=8).content != whole


def test_word_timings_increase_and_end_within_the_audio(server):
    answer = httpx.post(f"{server.url}/v1/audio/speech/timed", timeout=60,
                        json={"model": "gradwave", "input": "Good morning, world. Speak twice!", "response_format": "wav"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(result["audio"])))
    assert rate == result["sample_rate"] == RATE
    assert result["duration"] == pytest.approx(len(samples) / rate, abs=1e-3)
    words = result["words"]
    assert [w["word"] for w in words] == ["good", "morning", "world", "speak", "twice"]
    edges = [x for w in words for x in (w["start"], w["end"])]
    assert all(a <= b for a, b in zip(edges, edges[1:])) and all(w["end"] > w["start"] for w in words)
    assert 0 < edges[-1] <= result["duration"] + 1e-3
    # the second sentence starts after the first one's audio and the pause
    assert words[3]["start"] >= words[2]["end"] + 0.25 - 1e-3


BAD = [
    ({"input": ""}, 400, "input"),
    ({"input": "   \n"}, 400, "input"),
    ({"input": "a" * 5000}, 400, "input"),
    ({"input": "@#$%"}, 400, "input"),
    ({"response_format": "aiff"}, 400, "response_format"),
    ({"response_format": "mp3", "stream": True}, 400, "response_format"),
    ({"speed": 9.0}, 400, "speed"),
    ({"speed": "fast"}, 400, "speed"),
    ({"steps": -1}, 400, "steps"),
    ({"temperature": 0}, 400, "temperature"),
    ({"model": "whisper-1"}, 400, "model"),
    ({"input": None}, 400, "input"),
]


@pytest.mark.parametrize("fields,status,param", BAD)
def test_bad_input_gets_an_openai_shaped_error(server, fields, status, param, caplog):
    with caplog.at_level("INFO"):
        answer = speak(server, **fields)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"


def test_malformed_bodies(server):
    url = f"{server.url}/v1/audio/speech"
    broken = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]["message"]
    form = httpx.post(url, content=b"input=hello", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert httpx.post(url, json=["a list"]).status_code == 400
    assert httpx.post(url, json={"input": "no model"}).json()["error"]["param"] == "model"
    assert speak(server).status_code == 200


def test_discovery_endpoints(server):
    models = httpx.get(f"{server.url}/v1/models").json()
    assert {"gradwave", "tts-1", "tts-1-hd"} <= {m["id"] for m in models["data"]}
    detail = httpx.get(f"{server.url}/v1/models/gradwave").json()
    assert detail["acoustic"]["kind"] == "grad_tts" and detail["vocoder"]["mel_matches_acoustic"] is True
    assert httpx.get(f"{server.url}/v1/models/nope").status_code == 404
    assert httpx.get(f"{server.url}/v1/audio/voices").json() == {"voices": ["default"]}
    health = httpx.get(f"{server.url}/health").json()
    assert health["models_loaded"] is True and health["queue_depth"] == 0
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="speak"' in page.text and "/v1/audio/speech" in page.text


def test_concurrent_requests_are_batched_and_equal_their_one_by_one_answers(server):
    texts = [f"Request number {n}." for n in range(20)]
    alone = [speak(server, input=t, response_format="pcm", seed=n).content for n, t in enumerate(texts)]
    before = server.service.batcher.batches_run
    with ThreadPoolExecutor(20) as pool:
        together = list(pool.map(lambda n: speak(server, input=texts[n], response_format="pcm", seed=n), range(20)))
    assert all(r.status_code == 200 for r in together)
    assert [r.content for r in together] == alone
    assert server.service.batcher.batches_run - before < 20  # some requests shared a batch


def test_openai_client_works_unchanged(server):
    openai = pytest.importorskip("openai", reason="the official client is not installed (pip install openai)")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-needed")
    answer = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the client.",
                                        response_format="wav")
    samples, rate = soundfile.read(io.BytesIO(answer.content))
    assert rate == RATE and len(samples) > RATE // 4
    with pytest.raises(openai.BadRequestError, match="speed"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.", speed=10)


def test_full_queue_answers_503_with_retry_after(synth):
    with BackgroundServer(create_app(synth, ServerConfig(queue_size=2))) as small:
        answer = speak(small, input="One. Two. Three.")
        assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
        assert answer.json()["error"]["type"] == "server_busy"
        assert speak(small, input="One. Two.").status_code == 200


def test_a_dropped_client_cancels_its_work(synth):
    with BackgroundServer(create_app(synth)) as running:
        batcher = running.service.batcher
        real, started, release, spoken = batcher.run_batch, threading.Event(), threading.Event(), []

        def held(jobs):
            spoken.extend(job.text for job in jobs)
            started.set()
            release.wait(30)
            return real(jobs)

        batcher.run_batch = held
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(speak, running, input="Alpha.")
            assert started.wait(30)
            with pytest.raises(httpx.ReadTimeout):
                speak(running, input="Bravo.", timeout=0.5)
            time.sleep(1.0)  # the server polls for the disconnect every 0.1 s
            release.set()
            assert first.result().status_code == 200
        assert spoken == ["Alpha."]
        assert speak(running, input="Charlie.").status_code == 200 and spoken[-1] == "Charlie."


def test_serve_refuses_to_start_without_a_model(tmp_path, caplog):
    assert serve_main(["--acoustic", str(tmp_path / "missing.pt")]) == 2
    assert "no acoustic model" in caplog.text


def test_batching_is_on_by_default_only_on_a_gpu():
    # On CPU a padded batch measured no faster than one sentence after another (README, serve_load).
    assert default_max_batch("cpu") == 1
    assert default_max_batch(torch.device("cuda", 0)) == 8


def test_load_benchmark_reports_its_figures(checkpoints, tmp_path):
    from bench.serve_load import main as load_main

    out = tmp_path / "load.json"
    assert load_main(["--acoustic", str(checkpoints / "acoustic.pt"), "--vocoder", str(checkpoints / "vocoder.pt"),
                      "--timesteps", "2", "--clients", "3", "--seconds", "2", "--stream", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["answered"] >= 3 and result["failed"] == 0 and result["audio_seconds_per_second"] > 0
    assert 0 < result["first_audio_p50_s"] <= result["latency_p95_s"]


def test_a_request_past_its_time_limit_gets_504(synth):
    with BackgroundServer(create_app(synth, ServerConfig(request_timeout_s=0.3))) as running:
        batcher = running.service.batcher
        real = batcher.run_batch
        batcher.run_batch = lambda jobs: (time.sleep(1.0), real(jobs))[1]
        answer = speak(running, input="Slow.")
        assert answer.status_code == 504 and answer.json()["error"]["type"] == "timeout"
        batcher.run_batch = real
        running.service.config.request_timeout_s = 60  # the held batch still runs; the next request waits for it
        assert speak(running, input="Fast again.").status_code == 200


def test_a_server_fault_is_a_500_with_an_id_in_the_log(synth, caplog):
    with BackgroundServer(create_app(synth)) as running:
        batcher = running.service.batcher
        real = batcher.run_batch

        def broken(jobs):
            raise RuntimeError("a fault inside synthesis")

        batcher.run_batch = broken
        with caplog.at_level("ERROR", logger="server"):
            answer = speak(running, input="Boom.")
        assert answer.status_code == 500 and answer.json()["error"]["type"] == "server_error"
        fault = answer.json()["error"]["message"].split("fault id ")[1].rstrip(")")
        assert any(fault in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
        batcher.run_batch = real
        assert speak(running, input="Fine again.").status_code == 200


def test_keys_guard_every_v1_route_and_openai_clients_with_the_key_get_in(synth):
    from gradwave.server.access import AccessControl

    openai = pytest.importorskip("openai", reason="the official client is not installed (pip install openai)")
    with BackgroundServer(create_app(synth, access=AccessControl(("first-key", "second-key")))) as guarded:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic first-key"}):
            answer = httpx.get(f"{guarded.url}/v1/models", headers=headers)
            assert answer.status_code == 401 and answer.json()["error"]["type"] == "invalid_request_error"
            assert speak(guarded, input="Hi.").status_code == 401
        assert httpx.get(f"{guarded.url}/v1/models", headers={"Authorization": "Bearer wrong"}
                         ).json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(f"{guarded.url}/v1/models", headers={"Authorization": "Bearer second-key"}).status_code == 200
        assert httpx.get(f"{guarded.url}/health").json()["api_key_required"] is True
        assert httpx.get(f"{guarded.url}/").status_code == 200
        client = openai.OpenAI(base_url=f"{guarded.url}/v1", api_key="first-key")
        answer = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", response_format="wav")
        assert soundfile.read(io.BytesIO(answer.content))[1] == RATE
        with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
            openai.OpenAI(base_url=f"{guarded.url}/v1", api_key="nope").models.list()


def test_a_client_past_its_limit_gets_429_with_retry_after(synth):
    from gradwave.server.access import AccessControl

    with BackgroundServer(create_app(synth, access=AccessControl(requests_per_minute=2))) as limited:
        assert [httpx.get(f"{limited.url}/v1/models").status_code for _ in range(2)] == [200, 200]
        answer = httpx.get(f"{limited.url}/v1/models")
        assert answer.status_code == 429 and 1 <= int(answer.headers["Retry-After"]) <= 60
        assert answer.json()["error"]["code"] == "rate_limit_exceeded"
        assert httpx.get(f"{limited.url}/health").status_code == 200  # not counted, not limited


def test_the_limit_window_slides_and_counts_each_key_apart():
    from gradwave.server.access import AccessControl

    now = [0.0]
    access = AccessControl(("a", "b"), requests_per_minute=1, clock=lambda: now[0])
    assert access.admit("Bearer a", "host") is None and access.admit("Bearer b", "host") is None
    refusal = access.admit("Bearer a", "host")
    assert refusal.status == 429 and refusal.retry_after_s == 60
    now[0] = 59.5
    assert access.admit("Bearer a", "host").retry_after_s == 1
    now[0] = 60.0
    assert access.admit("Bearer a", "host") is None


def test_keys_come_from_options_a_file_and_the_environment(tmp_path):
    from gradwave.server.access import exposed_without_key, read_keys

    key_file = tmp_path / "keys.txt"
    key_file.write_text("# the house\nkitchen\n\n  hall  \nkitchen\n")
    assert read_keys(["cli"], str(key_file), {"GRADWAVE_API_KEY": "env"}) == ("cli", "kitchen", "hall", "env")
    assert read_keys([], None, {}) == ()
    assert exposed_without_key("0.0.0.0", ()) and not exposed_without_key("0.0.0.0", ("k",))
    assert not exposed_without_key("127.0.0.1", ())


def test_serve_warns_when_it_listens_beyond_this_machine_without_a_key(checkpoints, monkeypatch, caplog):
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    models = ["--acoustic", str(checkpoints / "acoustic.pt"), "--vocoder", "griffin-lim"]
    assert serve_main([*models, "--host", "0.0.0.0"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("without an API key" in w for w in warnings)
    caplog.clear()
    assert serve_main([*models, "--host", "0.0.0.0", "--api-key", "k"]) == 0
    assert not any("without an API key" in r.getMessage() for r in caplog.records)
