"""Record the behaviour of shipped DiffWave configs for test_shipped_configs: `python
tests/data/record_shipped_behaviour.py NAME...` (names of its CASES) replaces those entries of
shipped_diffwave_behaviour.pt and keeps the others. Only for a config whose behaviour changes on purpose."""
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from test_shipped_configs import CASES, RECORDED, behaviour  # noqa: E402


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in CASES]
    if unknown or not names:
        raise SystemExit(f"name one or more of {', '.join(CASES)} (unknown: {', '.join(unknown) or 'none given'})")
    recorded = dict(RECORDED)
    for name in names:
        loss, audio = behaviour(*CASES[name]())
        recorded[name] = {"loss": loss, "audio": audio}
        print(f"{name}: loss {float(loss):.6f}, audio rms {float(audio.pow(2).mean().sqrt()):.4f}")
    torch.save(recorded, HERE / "shipped_diffwave_behaviour.pt")


if __name__ == "__main__":
    main(sys.argv[1:])
