"""Teacher-forced Grad-TTS mels, for fine-tuning a vocoder on what the acoustic model outputs:

    python -m grad_tts.teacher_force CKPT DATA --out DIR
    python -m diffwave.train DATA --mels DIR --init-from exp/diffwave/last.pt --out exp/diffwave_ft

For every utterance of DATA (a filelist or LJSpeech folder), the text is aligned to its recording's
mel by monotonic alignment search, as in training, and the decoder generates the mel along that
alignment: the result has exactly the recording's frame count and timing, so it pairs with the
recording's samples. Writes DIR/<wav stem>.npy (n_mels x frames, float32).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from gradwave.common.checkpoint import CheckpointError
from gradwave.common.features import FeatureLoader
from gradwave.common.filelists import CorpusError, read_corpus
from gradwave.common.progress import progress_bar
from text import TextProcessor

from .checkpoint import inference_config, load_grad_tts, mel_config, text_config
from .samplers import sampling_settings

log = logging.getLogger("grad_tts.teacher_force")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-teacher-force", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="Grad-TTS checkpoint")
    parser.add_argument("data", help="filelist or LJSpeech-style folder of the recordings and their texts")
    parser.add_argument("--out", required=True, help="folder for the .npy mels")
    parser.add_argument("--timesteps", type=int, help="decoder steps, 0: the encoder's mean (default: the checkpoint's)")
    parser.add_argument("--temperature", type=float, help="default: the checkpoint's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", help="mel cache of the recordings (keyed by the mel config)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        model, ckpt = load_grad_tts(args.checkpoint, args.device)
        utterances = read_corpus(args.data)
    except (CheckpointError, CorpusError) as err:
        log.error("%s", err)
        return 1
    if model.config.n_spks > 1:
        log.error("%s: multi-speaker models are not supported here yet", args.checkpoint)
        return 1
    settings = sampling_settings(inference_config(ckpt), timesteps=args.timesteps, temperature=args.temperature)
    timesteps, temperature = settings["timesteps"], settings["temperature"]
    processor = TextProcessor(text_config(ckpt))
    features = FeatureLoader(mel_config(ckpt), args.cache_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    for index, utt in enumerate(progress_bar(utterances, desc="teacher-forced mels", unit="utt")):
        y = features.mel(utt.wav).to(device)
        ids = processor(utt.text)
        if y.shape[-1] < len(ids):
            log.warning("%s: %d frames are too few for %d tokens; skipped", utt.wav, y.shape[-1], len(ids))
            continue
        x = torch.tensor([ids], device=device)
        mel = model.teacher_forced(x, torch.tensor([len(ids)], device=device), y[None],
                                   torch.tensor([y.shape[-1]], device=device), timesteps, temperature,
                                   generators=[torch.Generator().manual_seed(args.seed + index)])
        np.save(out / f"{Path(utt.wav).stem}.npy", mel[0].cpu().numpy().astype(np.float32))
    log.info("wrote %d mels to %s", len(list(out.glob("*.npy"))), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
