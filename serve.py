"""Serve speech over HTTP: `python serve.py` (or `gradwave-serve`), then open http://127.0.0.1:8000/.

OpenAI-compatible `POST /v1/audio/speech` (the `openai` client works unchanged with
base_url=http://HOST:PORT/v1), `POST /v1/audio/speech/timed` (audio plus each word's start and end),
`GET /v1/models`, `/v1/audio/voices`, `/health`, and a page with a text box at `/`. The models load
once at start, with the same checkpoints and settings as synthesize.py.
Needs the serve extra: `pip install -e .[serve]`.
"""
from __future__ import annotations

import argparse
import logging
import sys

import torch

from gradwave.common.checkpoint import CheckpointError
from gradwave.model_args import add_model_arguments, synthesizer_from_args
from gradwave.synthesizer import SynthesisError

log = logging.getLogger("serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch", type=int, metavar="N",
                        help="sentences per batch at most (default: 8 on a GPU, 1 on CPU)")
    parser.add_argument("--batch-window-ms", type=float, default=20.0, metavar="MS",
                        help="how long a waiting sentence waits for others to share its batch")
    parser.add_argument("--queue-size", type=int, default=64, metavar="N", help="sentences waiting at most (then 503)")
    parser.add_argument("--request-timeout", type=float, default=120.0, metavar="S", help="seconds per request")
    parser.add_argument("--max-input-chars", type=int, default=4096, metavar="N")
    parser.add_argument("--api-key", action="append", default=[], metavar="KEY",
                        help="/v1/ needs 'Authorization: Bearer KEY' (repeatable; $GRADWAVE_API_KEY)")
    parser.add_argument("--api-key-file", metavar="FILE", help="keys, one per line (# starts a comment)")
    parser.add_argument("--rate-limit", type=int, default=0, metavar="N",
                        help="requests a minute per client (key, else address); then 429")
    return parser


def default_max_batch(device: torch.device | str) -> int:
    return 8 if torch.device(device).type == "cuda" else 1


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        import uvicorn

        from gradwave.server.access import AccessControl, exposed_without_key, read_keys
        from gradwave.server.app import ServerConfig, create_app
    except ImportError as err:
        log.error("the server needs FastAPI and uvicorn (%s): pip install -e .[serve]", err)
        return 2
    try:
        keys = read_keys(args.api_key, args.api_key_file)
        access = AccessControl(keys, args.rate_limit)
        synth = synthesizer_from_args(args)
    except (SynthesisError, CheckpointError, OSError, ValueError) as err:
        log.error("%s", err)
        return 2
    if exposed_without_key(args.host, keys):
        log.warning("listening on %s without an API key: anyone who reaches this port can use it "
                    "(--api-key KEY)", args.host)
    max_batch = args.max_batch or default_max_batch(synth.device)
    config = ServerConfig(max_input_chars=args.max_input_chars, max_batch=max_batch,
                          batch_window_ms=args.batch_window_ms, queue_size=args.queue_size,
                          request_timeout_s=args.request_timeout)
    app = create_app(synth, config, access)
    log.info("serving on http://%s:%d/ (batches of up to %d sentences)", args.host, args.port, max_batch)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
