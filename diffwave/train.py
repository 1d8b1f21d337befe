"""Train the DiffWave vocoder on its own: `python -m diffwave.train DATA --out DIR`.

DATA is any folder of wavs (searched recursively), an LJSpeech-style folder, or a filelist.
The features are the shared mel extractor's, with the config taken from an acoustic-model
checkpoint (`--mel-from grad_tts.pt`, so the vocoder hears exactly what the acoustic model
outputs), a preset (`--mel-preset`), or the JSON config. Multi-GPU: `torchrun ... -m diffwave.train`.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import torch

from gradwave.common.audio import AudioError
from gradwave.common.checkpoint import CheckpointError, read_file
from gradwave.common.cli import add_training_arguments, base_config, run_training
from gradwave.common.config import ConfigError, apply_overrides, from_dict, to_dict
from gradwave.common.dnsmos import log_quality, training_predictor
from gradwave.common.filelists import CorpusError, read_corpus
from gradwave.common.images import to_image
from gradwave.common.mel import PRESETS, MelConfig, MelSpectrogram, preset
from gradwave.common.sampling import seed_everything
from gradwave.common.trainer import TrainingError, TrainingTask

from .base import DiffusionModel
from .build import build_model
from .config import DiffWaveConfig, TrainingStatistics
from .data import AudioMelDataset, check_clips, collate
from .inference import vocode
from .prior import frame_energy_range

log = logging.getLogger("diffwave.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-train-diffwave", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="folder of wavs, LJSpeech-style folder, or filelist")
    add_training_arguments(parser, "DiffWaveConfig")
    features = parser.add_mutually_exclusive_group()
    features.add_argument("--mel-from", help="take the mel config from this (acoustic-model) checkpoint")
    features.add_argument("--mel-preset", choices=sorted(PRESETS), help="a named mel config")
    parser.add_argument("--unconditional", action="store_true", help="train an unconditional model")
    parser.add_argument("--valid", help="a wav whose copy-synthesis is logged to TensorBoard")
    parser.add_argument("--mels", help="read each clip's mel from MELS/<wav stem>.npy (e.g. teacher-forced "
                                       "Grad-TTS mels from `python -m grad_tts.teacher_force`) instead of computing it")
    return parser


def mel_from_checkpoint(path: str) -> MelConfig:
    data = read_file(path)
    if not isinstance(data, dict) or not data.get("mel"):
        raise CheckpointError(f"{path}: holds no mel config")
    return from_dict(MelConfig, data["mel"], f"{path}: mel")


def make_sample_writer(valid_wav: torch.Tensor, mel_config: MelConfig):
    """TensorBoard audio, mel image and DNSMOS of the validation clip vocoded from its mel (the recording
    once, at the first call)."""
    extractor = MelSpectrogram(mel_config)
    truth = extractor(valid_wav)
    written = []
    predictor = training_predictor()

    def write(model: DiffusionModel, writer, step: int) -> None:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        audio = vocode(truth.unsqueeze(0).to(device), model, fast=True,
                       generator=torch.Generator().manual_seed(0))[0].cpu()
        writer.add_audio("valid/vocoded", audio.unsqueeze(0), step, sample_rate=mel_config.sample_rate)
        writer.add_image("valid/vocoded_mel", to_image(extractor(audio)), step)
        log_quality(writer, predictor, [audio], mel_config.sample_rate, step)
        if not written:
            writer.add_audio("valid/ground_truth", valid_wav.unsqueeze(0), step, sample_rate=mel_config.sample_rate)
            writer.add_image("valid/ground_truth_mel", to_image(truth), step)
        written.append(step)
        model.train(was_training)

    return write


def measure_statistics(config: DiffWaveConfig, dataset: AudioMelDataset) -> TrainingStatistics:
    """PriorGrad needs natural-log mels and the training set's smallest frame energy (measured here, stored
    in the checkpoint's `statistics`)."""
    if not config.model.prior.enabled:
        return TrainingStatistics()
    if config.mel.compression != "log":
        raise ConfigError("model.prior.enabled needs natural-log mels (mel compression 'log', e.g. the hifigan preset)")
    low, high = frame_energy_range([dataset.features.mel(u.wav) for u in dataset.utterances])
    log.info("PriorGrad: frame energy %.4f .. %.2f over the training set (energy max %.1f)", low, high,
             config.model.prior.energy_max)
    return TrainingStatistics(prior_energy_min=low)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        config = base_config(DiffWaveConfig, args)
        if args.mel_from:
            config = dataclasses.replace(config, mel=mel_from_checkpoint(args.mel_from))
        elif args.mel_preset:
            config = dataclasses.replace(config, mel=preset(args.mel_preset))
        config = apply_overrides(config, args.overrides)
        if args.unconditional:
            config = apply_overrides(config, ["model.unconditional=true"])
        config = apply_overrides(config, [f"model.n_mels={config.mel.n_mels}",
                                          f"model.hop_samples={config.mel.hop_length}",
                                          f"model.sample_rate={config.mel.sample_rate}"])
        clips = read_corpus(args.data, args.filelist_format)
        if not clips:
            raise CorpusError(f"{args.data}: no wav files found")
        crop = None if config.model.unconditional else config.train.crop_mel_frames
        min_samples = config.model.audio_len if crop is None else (crop + 1) * config.mel.hop_length
        kept, problems = check_clips(clips, config.mel, min_samples)
        if args.mels:
            missing = [u for u in kept if not (Path(args.mels) / f"{Path(u.wav).stem}.npy").is_file()]
            if missing:
                log.warning("left out %d clips without a mel in %s (first: %s)", len(missing), args.mels,
                            missing[0].wav)
            kept = [u for u in kept if u not in missing]
        if not kept:
            raise CorpusError(f"{args.data}: none of the {len(clips)} clips is usable ({len(problems)} left out)")
        log.info("%d clips (%d left out)", len(kept), len(problems))
        dataset = AudioMelDataset(kept, config.mel, crop, config.model.audio_len, args.cache_dir, args.mels,
                                  config.model.bridge.guide_iterations)
        statistics = measure_statistics(config, dataset)
        seed_everything(config.train.seed)
        model = build_model(config.model, None if config.model.unconditional else config.mel, statistics)
        log.info("DiffWave (%s backbone): %.2fM parameters", config.model.backbone,
                 sum(p.numel() for p in model.parameters()) / 1e6)
        writer = None
        if not config.model.unconditional:
            valid_wav = dataset.features.audio(Path(args.valid) if args.valid else kept[0].wav)
            writer = make_sample_writer(valid_wav[: 2 * config.mel.sample_rate], config.mel)
        task = TrainingTask(kind="diffwave", model=model, dataset=dataset, collate=collate, config=config.train,
                            describe={"config": to_dict(config.model),
                                      "mel": None if config.model.unconditional else to_dict(config.mel),
                                      "statistics": to_dict(statistics)},
                            write_samples=writer, compile_targets=[model])
        run_training(task, config, args)
    except (ConfigError, CorpusError, CheckpointError, TrainingError, AudioError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
