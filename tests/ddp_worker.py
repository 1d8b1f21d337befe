"""Run by tests/test_ddp.py under torchrun (2 processes, gloo) and alone.

    python tests/ddp_worker.py ddp|single TEXT_CORPUS WAVS OUT_DIR

Both modes save the gradients of one training step of Grad-TTS and of DiffWave on the same global batch
(dropout off, so that the runs differ only in how the batch is split) as OUT_DIR/MODE_KIND.pt, and of the
second step of an encoder-only Grad-TTS (`train.decoder` off) as OUT_DIR/MODE_grad_tts_encoder_only.pt. Under
torchrun it also runs a time-limited DiffWave training in which rank 1 starts its clock a second after
rank 0 (each rank writes the step it stopped at to OUT_DIR/rankR.txt), and tries a global batch of 3,
which must be refused (rank 0 writes the error to OUT_DIR/indivisible.txt).
"""
import sys
import time
from pathlib import Path

import torch

from gradwave.common.filelists import read_corpus
from gradwave.common.mel import MelConfig
from gradwave.common.trainer import Trainer, TrainingError, TrainingTask


def grad_tts_task(data: str, batch_size: int, train_decoder: bool = True) -> TrainingTask:
    from grad_tts.config import GradTTSModelConfig, GradTTSTrainConfig
    from grad_tts.data import TextMelCollate, TextMelDataset
    from grad_tts.model import GradTTS
    from grad_tts.train import part_settings
    from text import TextConfig, TextProcessor

    model = GradTTS(GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16, n_enc_layers=1,
                                       dec_dim=8, enc_dropout=0.0))
    dataset = TextMelDataset(read_corpus(data), TextProcessor(TextConfig()), MelConfig())
    config = GradTTSTrainConfig(batch_size=batch_size, num_workers=0, segment_frames=24, checkpoint_every=10**6)
    return TrainingTask("grad_tts", model, dataset, TextMelCollate(config.segment_frames), config,
                        {"config": {}, "mel": None}, batch_settings=part_settings(model, True, train_decoder))


def diffwave_task(data: str, batch_size: int) -> TrainingTask:
    from diffwave.config import DiffWaveModelConfig, DiffWaveTrainConfig
    from diffwave.data import AudioMelDataset, collate
    from diffwave.model import DiffWave

    model = DiffWave(DiffWaveModelConfig(residual_layers=4, residual_channels=8, dilation_cycle_length=2))
    dataset = AudioMelDataset(read_corpus(data), MelConfig(), crop_frames=8)
    config = DiffWaveTrainConfig(batch_size=batch_size, num_workers=0, checkpoint_every=10**6)
    return TrainingTask("diffwave", model, dataset, collate, config, {"config": {}, "mel": None})


def save_gradients(task: TrainingTask, out: Path, name: str, steps: int = 1) -> None:
    """The gradients of the last of `steps` steps on one batch (a second step is where DDP would find
    parameters that got no gradient in the first)."""
    for module in task.model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    trainer = Trainer(task, out / f"run_{name}", device="cpu", progress=False)
    batch = next(iter(trainer.loader))
    for _ in range(steps):
        values = trainer.train_step(batch)
    if trainer.dist.is_main:
        grads = {n: p.grad.clone() for n, p in task.model.named_parameters() if p.grad is not None}
        torch.save({"grads": grads, "loss": values["loss"]}, out / f"{name}.pt")


def time_limited(wavs: str, out: Path) -> None:
    task = diffwave_task(wavs, 4)
    task.config.max_minutes = 0.04
    trainer = Trainer(task, out / "run_timed", device="cpu", progress=False)
    if trainer.dist.rank == 1:
        time.sleep(1.0)
    trainer.train(10**6)
    (out / f"rank{trainer.dist.rank}.txt").write_text(str(trainer.step))


def indivisible(wavs: str, out: Path) -> None:
    try:
        Trainer(diffwave_task(wavs, 3), out / "run_indivisible", device="cpu", progress=False)
    except TrainingError as err:
        if torch.distributed.get_rank() == 0:
            (out / "indivisible.txt").write_text(str(err))


def main(mode: str, text_corpus: str, wavs: str, out: str) -> None:
    out = Path(out)
    for kind, task in (("grad_tts", grad_tts_task), ("diffwave", diffwave_task)):
        torch.manual_seed(0)
        save_gradients(task(text_corpus if kind == "grad_tts" else wavs, 4), out, f"{mode}_{kind}")
    torch.manual_seed(0)
    save_gradients(grad_tts_task(text_corpus, 4, train_decoder=False), out, f"{mode}_grad_tts_encoder_only", steps=2)
    if mode == "ddp":
        time_limited(wavs, out)
        indivisible(wavs, out)
        # one process group for every job: Trainer.close() would leave it, and joining again needs a new rendezvous
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:5])
