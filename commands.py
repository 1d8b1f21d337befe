"""The console scripts: one `gradwave-<verb>` family (setup.py installs them from here), and the names
they had before, which still run their command for this release after a one-line notice of the new name."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

COMMANDS = {  # console script -> the module whose main() it runs
    "gradwave-text": "text.__main__",
    "gradwave-synthesize": "synthesize",
    "gradwave-serve": "serve",
    "gradwave-evaluate": "evaluation.evaluate",
    "gradwave-digits": "evaluation.digits",
    "gradwave-train-grad-tts": "grad_tts.train",
    "gradwave-teacher-force": "grad_tts.teacher_force",
    "gradwave-train-diffwave": "diffwave.train",
    "gradwave-vocode": "diffwave.inference",
    "gradwave-export": "voice.export",
    "gradwave-wyoming": "server.wyoming_cli",
}
RENAMED = {  # old name -> new name
    "tts-text": "gradwave-text",
    "tts-synthesize": "gradwave-synthesize",
    "tts-evaluate": "gradwave-evaluate",
    "tts-digits": "gradwave-digits",
    "grad-tts-train": "gradwave-train-grad-tts",
    "grad-tts-teacher-force": "gradwave-teacher-force",
    "diffwave-train": "gradwave-train-diffwave",
    "diffwave-vocode": "gradwave-vocode",
}


def main(argv=None) -> int:
    """The command named by the script's own name (sys.argv[0]), after the notice."""
    old = Path(sys.argv[0]).name
    if old not in RENAMED:
        print(f"{old}: not a renamed command (those are {', '.join(RENAMED)})", file=sys.stderr)
        return 2
    new = RENAMED[old]
    print(f"{old} is deprecated and goes in the next release: use {new}", file=sys.stderr)
    return importlib.import_module(COMMANDS[new]).main(argv)
