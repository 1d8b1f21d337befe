"""The SC09 recipe's report: `python local/report.py EVAL_DIR CHECKPOINT` prints a Markdown table of
the digit figures (gradwave.evaluation.digits JSON files in EVAL_DIR) for the generated and the reference clips."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROWS = [("generated", "generated clips"), ("reference_train", "corpus, training clips"),
        ("reference_test", "corpus, held-out clips")]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder, checkpoint = Path(argv[0]), Path(argv[1])
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    config = ckpt["config"]
    print(f"# SC09 digits: {config['backbone']} backbone, {ckpt.get('step', 0)} training steps\n")
    print("| clips | n | recognised as a digit | spread over 10 classes (entropy, 1 = even) | own digit | counts 0-9 |")
    print("|---|---|---|---|---|---|")
    for name, title in ROWS:
        path = folder / f"{name}.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        accuracy = f"{r['accuracy']:.2f}" if "accuracy" in r else "-"
        print(f"| {title} | {r['clips']} | {r['recognised_share']:.2f} | {r['class_entropy']:.2f} | {accuracy} "
              f"| {' '.join(map(str, r['class_counts']))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
