"""Run by tests under torchrun (2 processes, gloo) and alone: one training step on the same global
batch, saving the gradients that the optimizer would see. Dropout is switched off so the two runs
differ only in how the batch is split.

    python tests/ddp_worker.py grad_tts|diffwave DATA OUT.pt BATCH_SIZE
"""
import sys
from pathlib import Path

import torch

from common.filelists import read_corpus
from common.mel import MelConfig
from common.trainer import Trainer, TrainingTask


def grad_tts_task(data: str, batch_size: int) -> TrainingTask:
    from grad_tts.config import GradTTSModelConfig, GradTTSTrainConfig
    from grad_tts.data import TextMelCollate, TextMelDataset
    from grad_tts.model import GradTTS
    from text import TextConfig, TextProcessor

    model = GradTTS(GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16, n_enc_layers=1,
                                       dec_dim=8, enc_dropout=0.0))
    dataset = TextMelDataset(read_corpus(data), TextProcessor(TextConfig()), MelConfig())
    config = GradTTSTrainConfig(batch_size=batch_size, num_workers=0, segment_frames=24, checkpoint_every=10**6)
    return TrainingTask("grad_tts", model, dataset, TextMelCollate(config.segment_frames), config,
                        {"config": {}, "mel": None})


def diffwave_task(data: str, batch_size: int) -> TrainingTask:
    from diffwave.config import DiffWaveModelConfig, DiffWaveTrainConfig
    from diffwave.data import AudioMelDataset, collate
    from diffwave.model import DiffWave

    model = DiffWave(DiffWaveModelConfig(residual_layers=4, residual_channels=8, dilation_cycle_length=2))
    dataset = AudioMelDataset(read_corpus(data), MelConfig(), crop_frames=8)
    config = DiffWaveTrainConfig(batch_size=batch_size, num_workers=0, checkpoint_every=10**6)
    return TrainingTask("diffwave", model, dataset, collate, config, {"config": {}, "mel": None})


def main(kind: str, data: str, out: str, batch_size: int) -> None:
    torch.manual_seed(0)
    task = {"grad_tts": grad_tts_task, "diffwave": diffwave_task}[kind](data, batch_size)
    for module in task.model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    trainer = Trainer(task, Path(out).parent / f"run_{kind}", device="cpu", progress=False)
    values = trainer.train_step(next(iter(trainer.loader)))
    if trainer.dist.is_main:
        grads = {n: p.grad.clone() for n, p in task.model.named_parameters() if p.grad is not None}
        torch.save({"grads": grads, "loss": values["loss"]}, out)
    trainer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
