"""Run by tests under torchrun (2 processes, gloo) and alone: one Grad-TTS training step on the same
global batch, saving the gradients that the optimizer would see. Dropout is switched off so the
two runs differ only in how the batch is split."""
import sys
from pathlib import Path

import torch

from common.filelists import read_corpus
from common.trainer import Trainer, TrainingTask
from grad_tts.config import GradTTSModelConfig, GradTTSTrainConfig
from common.mel import MelConfig
from grad_tts.data import TextMelCollate, TextMelDataset
from grad_tts.model import GradTTS
from text import TextConfig, TextProcessor


def main(data: str, out: str, batch_size: int) -> None:
    torch.manual_seed(0)
    model = GradTTS(GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16, n_enc_layers=1,
                                       dec_dim=8, enc_dropout=0.0))
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    processor = TextProcessor(TextConfig())
    dataset = TextMelDataset(read_corpus(data), processor, MelConfig())
    config = GradTTSTrainConfig(batch_size=batch_size, num_workers=0, segment_frames=24, checkpoint_every=10**6)
    task = TrainingTask("grad_tts", model, dataset, TextMelCollate(config.segment_frames), config,
                        {"config": {}, "mel": None})
    trainer = Trainer(task, Path(out).parent / "run", device="cpu", progress=False)
    batch = next(iter(trainer.loader))
    values = trainer.train_step(batch)
    if trainer.dist.is_main:
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        torch.save({"grads": grads, "loss": values["loss"]}, out)
    trainer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
