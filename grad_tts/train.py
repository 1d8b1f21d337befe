"""Train Grad-TTS: `python -m grad_tts.train DATA --out DIR [--config conf.json] [--set key=value ...]`.

DATA is an LJSpeech-style folder (metadata.csv + wavs/) or a `wav|text` / `wav|speaker|text`
filelist. Multi-GPU / multi-node: `torchrun --nproc_per_node N -m grad_tts.train ...`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
import torch

from common.checkpoint import CheckpointError, find_resume_point
from common.config import ConfigError, apply_overrides, load_json, save_json, to_dict
from common.filelists import CorpusError, read_corpus
from common.images import to_image
from common.trainer import Trainer, TrainingError, TrainingTask
from text import TextProcessor

from .config import GradTTSConfig
from .data import TextMelCollate, TextMelDataset, check_utterances
from .model import GradTTS

log = logging.getLogger("grad_tts.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grad-tts-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="LJSpeech-style folder or filelist of the training set")
    parser.add_argument("--out", required=True, help="output folder: checkpoints, config.json, logs/")
    parser.add_argument("--valid", help="folder or filelist of validation sentences (TensorBoard samples)")
    parser.add_argument("--config", help="JSON config (GradTTSConfig); default: the upstream LJSpeech setup")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set train.batch_size=8 --set model.dec_dim=32")
    parser.add_argument("--resume", nargs="?", const="auto",
                        help="continue a run (full state); without a path: OUT/last.pt")
    parser.add_argument("--init-from", help="start from the weights of a checkpoint (shape mismatches are reported)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps in total")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU when there is one)")
    parser.add_argument("--cache-dir", help="keep computed mels here (keyed by the mel config)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def make_sample_writer(model_valid: list):
    """TensorBoard images of the mel and alignment of a few fixed validation sentences
    (the ground-truth mels once, at the first call)."""
    truth_written = []

    def write(model: GradTTS, writer, step: int) -> None:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        for k, (ids, mel, spk) in enumerate(model_valid):
            x = torch.tensor([ids], device=device)
            spk_tensor = torch.tensor([spk], device=device) if spk is not None else None
            out = model.synthesise(x, torch.tensor([len(ids)], device=device), n_timesteps=10, temperature=1.5,
                                   spk=spk_tensor)
            writer.add_image(f"sample_{k}/generated_mel", to_image(out["mel"][0]), step)
            writer.add_image(f"sample_{k}/alignment", to_image(out["attn"][0, 0]), step)
            if not truth_written:
                writer.add_image(f"sample_{k}/ground_truth_mel", to_image(mel), step)
        truth_written.append(step)
        model.train(was_training)

    return write


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out)
    try:
        config = load_json(GradTTSConfig, args.config) if args.config else GradTTSConfig()
        config = apply_overrides(config, args.overrides)
        resume = None
        if args.resume == "auto":
            resume = find_resume_point(out)
            if resume is None:
                log.info("no %s/last.pt yet: starting a new run", out)
        elif args.resume:
            resume = Path(args.resume)
        processor = TextProcessor(config.text)
        utterances = read_corpus(args.data)
        names = sorted({u.speaker for u in utterances if u.speaker is not None})
        speakers = {name: i for i, name in enumerate(names)} if names else None
        if speakers and config.model.n_spks != len(speakers):
            log.info("%d speakers in the data: setting model.n_spks", len(speakers))
            config = apply_overrides(config, [f"model.n_spks={len(speakers)}"])
        if config.model.n_vocab != config.text.n_vocab:
            raise ConfigError(f"model.n_vocab is {config.model.n_vocab} but the text config has "
                              f"{config.text.n_vocab} symbols")
        kept, problems = check_utterances(utterances, processor, config.mel, speakers)
        if not kept:
            raise CorpusError(f"{args.data}: no usable utterances ({len(problems)} left out)")
        log.info("%d utterances (%d left out)", len(kept), len(problems))
        dataset = TextMelDataset(kept, processor, config.mel, speakers, args.cache_dir)
        valid_source = read_corpus(args.valid) if args.valid else kept[:2]
        valid_items = []
        for utt in valid_source[:2]:
            spk = speakers.get(utt.speaker) if speakers else None
            valid_items.append((processor(utt.text), dataset.mel(utt), spk))
        model = GradTTS(config.model)
        log.info("Grad-TTS: %.2fM parameters", sum(p.numel() for p in model.parameters()) / 1e6)
        task = TrainingTask(
            kind="grad_tts", model=model, dataset=dataset, collate=TextMelCollate(config.train.segment_frames),
            config=config.train,
            describe={"config": to_dict(config.model), "mel": to_dict(config.mel), "text": to_dict(config.text),
                      "speakers": names or None},
            clip_groups={"encoder": list(model.encoder.parameters()),
                         "decoder": [p for n, p in model.named_parameters() if not n.startswith("encoder.")]},
            write_samples=make_sample_writer(valid_items),
        )
        trainer = Trainer(task, out, device=args.device, resume=resume, init_from=args.init_from,
                          progress=not args.no_progress)
        if trainer.dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
            save_json(config, out / "config.json")
        trainer.train(args.max_steps)
        trainer.close()
    except (ConfigError, CorpusError, CheckpointError, TrainingError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
