"""Train Grad-TTS: `python -m grad_tts.train DATA --out DIR [--config conf.json] [--set key=value ...]`.

DATA is an LJSpeech-style folder (metadata.csv + wavs/) or a `wav|text` / `wav|speaker|text`
filelist. Multi-GPU / multi-node: `torchrun --nproc_per_node N -m grad_tts.train ...`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

import torch

from gradwave.common.checkpoint import CheckpointError, load_checkpoint
from gradwave.common.cli import add_training_arguments, base_config, run_training
from gradwave.common.config import ConfigError, apply_overrides, to_dict
from gradwave.common.dnsmos import log_quality, training_predictor
from gradwave.common.filelists import CorpusError, read_corpus, speaker_order
from gradwave.common.griffin_lim import griffin_lim
from gradwave.common.images import to_image
from gradwave.common.mel import MelConfig, MelSpectrogram
from gradwave.common.sampling import seed_everything
from gradwave.common.trainer import TrainingError, TrainingTask
from text import TextProcessor

from .checkpoint import adapt_upstream
from .config import GradTTSConfig, GradTTSInferenceConfig
from .data import TextMelCollate, TextMelDataset, check_utterances
from .model import GradTTS

log = logging.getLogger("grad_tts.train")


def part_settings(model: GradTTS, train_encoder: bool, train_decoder: bool) -> dict:
    """What every training batch carries for `train.encoder` and `train.decoder`. A part that does not train
    is frozen (and the decoder skipped), so that DistributedDataParallel does not wait for gradients it
    never gets."""
    settings = {}
    if not train_encoder:
        model.encoder.requires_grad_(False)
        settings["train_encoder"] = False
    if not train_decoder:
        model.decoder.requires_grad_(False)
        settings["train_decoder"] = False
    return settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-train-grad-tts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="LJSpeech-style folder or filelist of the training set")
    parser.add_argument("--valid", help="folder or filelist of validation sentences (TensorBoard samples)")
    add_training_arguments(parser, "GradTTSConfig")
    return parser


def make_sample_writer(model_valid: list, inference: GradTTSInferenceConfig, mel_config: MelConfig):
    """TensorBoard images of the mel and alignment of a few fixed validation sentences, sampled as the
    config's `inference` says (the ground-truth mels once, at the first call), their Griffin-Lim audio and
    its DNSMOS."""
    truth_written = []
    extractor = MelSpectrogram(mel_config)
    predictor = training_predictor()

    def write(model: GradTTS, writer, step: int) -> None:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        clips = []
        for k, (ids, mel, spk) in enumerate(model_valid):
            x = torch.tensor([ids], device=device)
            spk_tensor = torch.tensor([spk], device=device) if spk is not None else None
            out = model.synthesise(x, torch.tensor([len(ids)], device=device), n_timesteps=inference.timesteps,
                                   temperature=inference.temperature, length_scale=inference.length_scale,
                                   spk=spk_tensor, sampler=inference.sampler)
            writer.add_image(f"sample_{k}/generated_mel", to_image(out["mel"][0]), step)
            writer.add_image(f"sample_{k}/alignment", to_image(out["attn"][0, 0]), step)
            clips.append(griffin_lim(out["mel"][0].float().cpu(), extractor,
                                     generator=torch.Generator().manual_seed(0)))
            writer.add_audio(f"sample_{k}/griffin_lim", clips[-1].unsqueeze(0), step,
                             sample_rate=mel_config.sample_rate)
            if not truth_written:
                writer.add_image(f"sample_{k}/ground_truth_mel", to_image(mel), step)
        log_quality(writer, predictor, clips, mel_config.sample_rate, step)
        truth_written.append(step)
        model.train(was_training)

    return write


def checkpoint_speakers(path: Optional[str]) -> Optional[list[str]]:
    """The speaker list of the checkpoint that `--init-from` names (a published multi-speaker file
    lists "0".."N-1"), so that its speaker ids keep their meaning; None without one."""
    if not path:
        return None
    return load_checkpoint(path, "grad_tts", adapt=adapt_upstream).get("speakers")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        config = base_config(GradTTSConfig, args)
        config = apply_overrides(config, args.overrides)
        processor = TextProcessor(config.text)
        utterances = read_corpus(args.data, args.filelist_format)
        names = speaker_order({u.speaker for u in utterances if u.speaker is not None},
                              checkpoint_speakers(args.init_from)) if any(u.speaker for u in utterances) else []
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
        valid_source = read_corpus(args.valid, args.filelist_format) if args.valid else kept[:2]
        valid_items = []
        for utt in valid_source[:2]:
            if speakers and utt.speaker not in speakers:
                raise CorpusError(f"{utt.source}: validation speaker {utt.speaker!r} is not among the "
                                  f"{len(speakers)} training speakers")
            spk = speakers.get(utt.speaker) if speakers else None
            valid_items.append((processor(utt.text), dataset.mel(utt), spk))
        if not config.train.encoder and not (args.init_from or args.resume):
            raise ConfigError("train.encoder is false: give the trained encoder with --init-from CKPT")
        seed_everything(config.train.seed)
        model = GradTTS(config.model)
        log.info("Grad-TTS: %.2fM parameters", sum(p.numel() for p in model.parameters()) / 1e6)
        task = TrainingTask(
            kind="grad_tts", model=model, dataset=dataset, collate=TextMelCollate(config.train.segment_frames),
            config=config.train,
            describe={"config": to_dict(config.model), "mel": to_dict(config.mel), "text": to_dict(config.text),
                      "speakers": names or None, "inference": to_dict(config.inference)},
            clip_groups={"encoder": list(model.encoder.parameters()),
                         "decoder": [p for n, p in model.named_parameters() if not n.startswith("encoder.")]},
            write_samples=make_sample_writer(valid_items, config.inference, config.mel),
            batch_settings=part_settings(model, config.train.encoder, config.train.decoder),
            compile_targets=[model.decoder.estimator],
        )
        run_training(task, config, args)
    except (ConfigError, CorpusError, CheckpointError, TrainingError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
