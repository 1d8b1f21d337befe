"""gradwave-wyoming: a voice for Home Assistant over the Wyoming protocol.

    gradwave-wyoming --uri tcp://0.0.0.0:10200 [--acoustic CKPT --vocoder CKPT | --voice DIR]

Then, in Home Assistant: Settings > Devices & services > Add integration > Wyoming Protocol, with this
machine's address and the port. See gradwave/server/wyoming_service.py for what the service answers.
Needs the serve extra: `pip install -e .[serve]`.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from gradwave.common.checkpoint import CheckpointError
from gradwave.model_args import add_model_arguments, synthesizer_from_args
from gradwave.synthesizer import SynthesisError

log = logging.getLogger("server.wyoming")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-wyoming", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--uri", default="tcp://127.0.0.1:10200",
                        help="where to listen: tcp://HOST:PORT (tcp://0.0.0.0:10200: every interface) or unix://PATH")
    parser.add_argument("--name", default="gradwave", help="the voice's name, as Home Assistant lists it")
    parser.add_argument("--queue-size", type=int, default=64, metavar="N", help="sentences waiting at most")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        from gradwave.server.wyoming_service import describe_model, serve
    except ImportError as err:
        log.error("the Wyoming service needs the wyoming package and FastAPI (%s): pip install -e .[serve]", err)
        return 2
    try:
        synth = synthesizer_from_args(args)
    except (SynthesisError, CheckpointError, OSError) as err:
        log.error("%s", err)
        return 2
    log.info("Wyoming service on %s: voice %r (%s)", args.uri, args.name, describe_model(synth))
    try:
        asyncio.run(serve(synth, args.uri, args.name, args.queue_size))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
