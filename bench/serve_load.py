"""Load test of the speech server: N concurrent clients for T seconds.

    python bench/serve_load.py --acoustic exp/grad_tts/last.pt --vocoder exp/diffwave/last.pt \\
        --clients 4 --seconds 60 [--max-batch 1] [--stream]
    python bench/serve_load.py --full-size-random --clients 2 --seconds 60
    python bench/serve_load.py --url http://127.0.0.1:8000 --clients 8 --seconds 30

Without --url the server is started here (uvicorn on a free 127.0.0.1 port, in this process, with
the given checkpoints or full-size random-weight models). Each client sends one sentence at a time
from a fixed list, waiting for each answer. Reports throughput (seconds of audio per wall-clock
second), latency percentiles, time to first audio when streaming, and how many requests were
answered, refused with 503 or failed.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

# Run as a script, bench/ would come first on sys.path and this file would shadow the package.
if Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "A rainbow is a division of white light into many beautiful colors.",
    "She sells sea shells by the sea shore.",
    "We will meet at the station at half past nine tomorrow morning.",
    "The museum keeps an old map of the coast in a glass case.",
]
PCM_BYTES_PER_SECOND = 24000 * 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="a running server (default: start one here)")
    target.add_argument("--full-size-random", action="store_true",
                        help="start a server with full-size Grad-TTS and DiffWave of random weights")
    parser.add_argument("--acoustic", help="Grad-TTS checkpoint for the server started here")
    parser.add_argument("--vocoder", default="griffin-lim", help="DiffWave checkpoint or griffin-lim")
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--max-batch", type=int, help="as serve.py's (default: 8 on a GPU, 1 on CPU)")
    parser.add_argument("--batch-window-ms", type=float, default=20.0)
    parser.add_argument("--queue-size", type=int, default=64)
    parser.add_argument("--threads", type=int, help="torch threads of the server started here")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long clients keep sending (at most 3600)")
    parser.add_argument("--stream", action="store_true", help="ask for streamed pcm and time the first audio")
    parser.add_argument("--out", help="write the figures as JSON here")
    return parser


@contextlib.contextmanager
def server_for(args):
    if args.url:
        yield args.url.rstrip("/")
        return
    import torch

    from bench.util import write_random_checkpoints
    from serve import default_max_batch
    from gradwave.server.app import ServerConfig, create_app
    from gradwave.server.background import BackgroundServer
    from gradwave.synthesizer import Synthesizer

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.full_size_random:
            acoustic, vocoder = write_random_checkpoints(Path(tmp))
        elif args.acoustic:
            acoustic, vocoder = args.acoustic, args.vocoder
        else:
            raise SystemExit("give --url, --acoustic CKPT or --full-size-random")
        synth = Synthesizer(acoustic, vocoder, timesteps=args.timesteps)
        args.max_batch = args.max_batch or default_max_batch(synth.device)
        config = ServerConfig(max_batch=args.max_batch, batch_window_ms=args.batch_window_ms,
                              queue_size=args.queue_size)
        with BackgroundServer(create_app(synth, config)) as server:
            yield server.url


def client(url: str, index: int, deadline: float, stream: bool, records: list, lock: threading.Lock) -> None:
    import httpx

    with httpx.Client(timeout=600) as http:
        n = index
        while time.monotonic() < deadline:
            body = {"model": "gradwave", "input": SENTENCES[n % len(SENTENCES)], "seed": n,
                    "response_format": "pcm", "stream": stream}
            n += 1
            start = time.monotonic()
            record = {"status": None, "latency": None, "first_audio": None, "audio_seconds": 0.0}
            try:
                with http.stream("POST", f"{url}/v1/audio/speech", json=body) as answer:
                    record["status"] = answer.status_code
                    size = 0
                    for chunk in answer.iter_raw():
                        if chunk and record["first_audio"] is None:
                            record["first_audio"] = time.monotonic() - start
                        size += len(chunk)
                record["latency"] = time.monotonic() - start
                if record["status"] == 200:
                    record["audio_seconds"] = size / PCM_BYTES_PER_SECOND
                elif record["status"] == 503:
                    time.sleep(float(answer.headers.get("Retry-After", 1)))
            except httpx.HTTPError as err:
                record["status"] = f"error: {type(err).__name__}"
            with lock:
                records.append(record)


def summarize(records: list[dict], wall: float, args) -> dict:
    answered = [r for r in records if r["status"] == 200]
    latencies = np.array([r["latency"] for r in answered]) if answered else np.array([np.nan])
    firsts = np.array([r["first_audio"] for r in answered if r["first_audio"] is not None]) if answered else None
    audio = sum(r["audio_seconds"] for r in answered)
    result = {"clients": args.clients, "seconds": round(wall, 1), "max_batch": args.max_batch, "stream": args.stream,
              "answered": len(answered), "rejected_503": sum(r["status"] == 503 for r in records),
              "failed": sum(r["status"] not in (200, 503) for r in records),
              "audio_seconds_per_second": round(audio / wall, 3),
              "latency_p50_s": round(float(np.percentile(latencies, 50)), 3),
              "latency_p95_s": round(float(np.percentile(latencies, 95)), 3)}
    if args.stream and firsts is not None and len(firsts):
        result["first_audio_p50_s"] = round(float(np.percentile(firsts, 50)), 3)
        result["first_audio_p95_s"] = round(float(np.percentile(firsts, 95)), 3)
    return result


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.seconds <= 3600 or not 0 < args.clients <= 256:
        raise SystemExit("--seconds must be in (0, 3600] and --clients in (0, 256]")
    with server_for(args) as url:
        records, lock = [], threading.Lock()
        start = time.monotonic()
        deadline = start + args.seconds
        threads = [threading.Thread(target=client, args=(url, k, deadline, args.stream, records, lock))
                   for k in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = summarize(records, time.monotonic() - start, args)
    from bench.util import cpu_description
    result["cpu"] = cpu_description()
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
