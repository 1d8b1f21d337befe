"""`python -m text "some text"`: show what the frontend makes of a sentence (a dry run)."""
from __future__ import annotations

import argparse
import sys

from .frontend import TextConfig, TextProcessor


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-text", description=__doc__)
    parser.add_argument("text", nargs="+", help="the sentence (several arguments are joined with spaces)")
    parser.add_argument("--g2p", default="cmudict", choices=["cmudict", "ipa", "none"])
    parser.add_argument("--no-blank", action="store_true", help="do not intersperse the blank id")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    processor = TextProcessor(TextConfig(g2p=args.g2p, add_blank=not args.no_blank))
    try:
        encoded = processor.encode(" ".join(args.text))
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"normalized: {encoded.normalized}")
    print(f"phonemes:   {encoded.phonemes}")
    print(f"ids:        {' '.join(map(str, encoded.ids))}")
    if encoded.unspeakable:
        print(f"left out:   {', '.join(encoded.unspeakable)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
