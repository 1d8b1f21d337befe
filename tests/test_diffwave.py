import json

import numpy as np
import pytest
import soundfile
import torch
from corpus import make_ljspeech, make_wav

from gradwave.common.checkpoint import save_checkpoint
from gradwave.common.config import to_dict
from gradwave.common.filelists import read_corpus
from gradwave.common.mel import MelConfig, MelSpectrogram, preset
from gradwave.common.trainer import Trainer, TrainingTask
from diffwave.checkpoint import load_diffwave
from diffwave.config import BridgeConfig, DiffWaveModelConfig, DiffWaveTrainConfig
from diffwave.data import AudioMelDataset, collate
from diffwave.inference import main as vocode_main
from diffwave.schedules import sampling_schedule
from diffwave.inference import vocode
from diffwave.model import DiffWave, SpectrogramUpsampler
from diffwave.train import main as train_main

TINY = dict(residual_layers=4, residual_channels=8, dilation_cycle_length=2)
TINY_ARGS = ["--set", "model.residual_layers=4", "--set", "model.residual_channels=8", "--set",
             "model.dilation_cycle_length=2", "--set", "train.batch_size=2", "--set", "train.num_workers=0",
             "--set", "train.crop_mel_frames=8"]


def reference_model(ref):
    names = {f for f in DiffWaveModelConfig.__dataclass_fields__}
    model = DiffWave(DiffWaveModelConfig(**{k: v for k, v in ref["config"].items() if k in names})).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    return model


@pytest.mark.parametrize("name", ["conditional", "unconditional"])
def test_reference_outputs(load_reference, name):
    ref = load_reference("diffwave_tiny.pt")[name]
    model = reference_model(ref)
    with torch.no_grad():
        out_int = model(ref["audio"], ref["steps_int"], ref["spectrogram"])
        out_float = model(ref["audio"], ref["steps_float"], ref["spectrogram"])
    torch.testing.assert_close(out_int, ref["out_int"], atol=1e-5, rtol=0)
    torch.testing.assert_close(out_float, ref["out_float"], atol=1e-5, rtol=0)


def test_fast_schedule(load_reference):
    ref = load_reference("diffwave_tiny.pt")["fast_schedule"]
    schedule = sampling_schedule(ref["train_noise_schedule"], ref["inference_noise_schedule"])
    np.testing.assert_allclose(schedule.steps, ref["T"], atol=1e-6, rtol=0)
    np.testing.assert_allclose([schedule.sigma(n) for n in range(1, len(schedule.beta))], ref["sigma"],
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["diffwave_lmnt_base", "diffwave_lmnt_unconditional"])
def test_full_size_layout(reference_dir, name):
    layout = json.loads((reference_dir / "checkpoint_layouts.json").read_text())[name]
    names = {f for f in DiffWaveModelConfig.__dataclass_fields__}
    model = DiffWave(DiffWaveModelConfig(**{k: v for k, v in layout["config"].items() if k in names}))
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == layout["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == layout["n_params"]


def test_hoisted_conditioner_matches_per_step():
    torch.manual_seed(0)
    model = DiffWave(DiffWaveModelConfig(n_mels=16, **TINY)).eval()
    mel = torch.randn(2, 16, 6)
    audio = torch.randn(2, 6 * 256)
    step = torch.tensor([3.5, 20.0])
    with torch.no_grad():
        plain = model(audio, step, mel)
        hoisted = model.denoise(audio, step, model.condition(mel, hoist=True))
    torch.testing.assert_close(hoisted, plain, atol=1e-6, rtol=1e-5)
    a = vocode(mel, model, generator=torch.Generator().manual_seed(1), hoist=True)
    b = vocode(mel, model, generator=torch.Generator().manual_seed(1), hoist=False)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hop", [256, 200, 300, 512])
def test_upsampler_follows_hop(hop):
    upsampler = SpectrogramUpsampler(hop)
    assert upsampler(torch.randn(2, 80, 7)).shape == (2, 80, 7 * hop)
    if hop == 256:
        assert upsampler.conv1.stride == (1, 16) and upsampler.conv2.stride == (1, 16)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_ljspeech(tmp_path_factory.mktemp("dw"), n=10)


def make_task(corpus, model, **train):
    config = DiffWaveTrainConfig(**{"batch_size": 2, "num_workers": 0, "checkpoint_every": 10**6, **train})
    dataset = AudioMelDataset(read_corpus(corpus / "wavs"), MelConfig(n_mels=80), crop_frames=8)
    return TrainingTask("diffwave", model, dataset, collate, config, {"config": {}, "mel": None},
                        compile_targets=[model])


def test_overfits_one_clip(corpus):
    torch.manual_seed(0)
    model = DiffWave(DiffWaveModelConfig(**TINY))
    trainer = Trainer(make_task(corpus, model, learning_rate=2e-3), corpus.parent / "of", device="cpu",
                      progress=False)
    batch = next(iter(trainer.loader))
    losses = [trainer.train_step(batch)["loss"] for _ in range(120)]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


def test_resume_is_exact(corpus, tmp_path):
    def run(out, steps, resume=None):
        torch.manual_seed(0)
        trainer = Trainer(make_task(corpus, DiffWave(DiffWaveModelConfig(**TINY)), checkpoint_every=2), out,
                          device="cpu", resume=resume, progress=False)
        return trainer, trainer.train(steps)

    straight, v1 = run(tmp_path / "a", 6)
    run(tmp_path / "b", 3)
    resumed, v2 = run(tmp_path / "b", 6, resume=tmp_path / "b" / "last.pt")
    assert v1["loss"] == pytest.approx(v2["loss"], rel=1e-5)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_train_then_vocode_cli(corpus, tmp_path):
    out = tmp_path / "exp"
    assert train_main([str(corpus / "wavs"), "--out", str(out), *TINY_ARGS, "--set", "train.sample_every=2",
                       "--max-steps", "3", "--no-progress"]) == 0
    assert list((out / "logs").glob("events.out.tfevents.*"))
    wav = corpus / "wavs" / "LJ000-0001.wav"
    assert vocode_main([str(out / "last.pt"), str(wav), "-o", str(tmp_path / "copy.wav")]) == 0
    info = soundfile.info(str(tmp_path / "copy.wav"))
    frames = MelConfig().n_frames(soundfile.info(str(wav)).frames)
    assert info.samplerate == 22050 and info.frames == frames * 256
    mel = MelSpectrogram(MelConfig())(torch.zeros(22050)).numpy()
    np.save(tmp_path / "m.npy", mel)
    assert vocode_main([str(out / "last.pt"), str(tmp_path / "m.npy"), "-o", str(tmp_path / "m.wav"),
                        "--steps", "3"]) == 0
    assert soundfile.info(str(tmp_path / "m.wav")).frames == mel.shape[1] * 256


def test_training_stores_the_banded_priors_statistics_apart_from_the_config_and_vocodes(corpus, tmp_path):
    from diffwave.prior import frame_energy_range, mel_band_map

    out = tmp_path / "exp"
    assert train_main([str(corpus / "wavs"), "--out", str(out), *TINY_ARGS, "--mel-preset", "hifigan",
                       "--set", "model.prior.enabled=true", "--set", "model.prior.bands=32",
                       "--max-steps", "2", "--no-progress"]) == 0
    model, ckpt = load_diffwave(out / "last.pt")
    features = MelSpectrogram(preset("hifigan"))
    mels = [features(torch.from_numpy(soundfile.read(str(w), dtype="float32")[0]))
            for w in sorted((corpus / "wavs").glob("*.wav"))]
    assert ckpt["statistics"]["prior_energy_min"] == pytest.approx(frame_energy_range(mels)[0], rel=1e-5)
    assert model.statistics.prior_energy_min == ckpt["statistics"]["prior_energy_min"] > 0
    assert not {"prior_energy_min", "prior_mel_band"} & set(ckpt["config"])
    assert json.loads((out / "config.json").read_text())["model"] == ckpt["config"]
    assert model.prior.mel_band == mel_band_map(preset("hifigan"), 32)
    wav, _ = soundfile.read(str(corpus / "wavs" / "LJ000-0001.wav"), dtype="float32")
    mel = MelSpectrogram(preset("hifigan"))(torch.from_numpy(wav))
    audio = vocode(mel.unsqueeze(0), model)
    assert audio.shape == (1, mel.shape[-1] * 256) and torch.isfinite(audio).all() and audio.abs().max() <= 1.0


def test_bridge_trains_on_crops_of_the_clips_guide_and_vocodes(corpus, tmp_path):
    """The bridge's guide inverts the checkpoint's own mel; each training crop's guide is its part of the
    whole clip's Griffin-Lim audio (what the vocoder computes from the whole mel), and the trained file
    vocodes."""
    from gradwave.common.griffin_lim import griffin_lim

    out = tmp_path / "exp"
    assert train_main([str(corpus / "wavs"), "--out", str(out), *TINY_ARGS, "--set", "model.bands=4",
                       "--set", "model.process=bridge", "--set", "model.bridge.guide_iterations=4",
                       "--max-steps", "2", "--no-progress"]) == 0
    model, ckpt = load_diffwave(out / "last.pt")
    assert model.guide_extractor.config == MelConfig(**ckpt["mel"]) and model.input_projection.in_channels == 8

    dataset = AudioMelDataset(read_corpus(corpus / "wavs"), MelConfig(), 8, guide_iterations=4)
    item = dataset[(0, 5)]
    audio = dataset.features.audio(dataset.utterances[0].wav)
    whole = griffin_lim(dataset.features.mel(dataset.utterances[0].wav, audio), dataset.features.extractor,
                        n_iter=4, generator=torch.Generator().manual_seed(0))
    start = int(np.argmax([torch.equal(item["audio"], audio[k:k + 8 * 256]) for k in range(0, len(audio), 256)]))
    torch.testing.assert_close(item["guide"], whole[start * 256:(start + 8) * 256])
    assert collate([item, dataset[(1, 2)]])["guide"].shape == (2, 8 * 256)

    mel = dataset.features.mel(dataset.utterances[0].wav, audio).unsqueeze(0)
    computed = model.condition(mel).guide
    torch.testing.assert_close(computed, model.to_bands(whole.unsqueeze(0)))
    vocoded = vocode(mel, model)
    assert vocoded.shape == (1, mel.shape[-1] * 256) and torch.isfinite(vocoded).all()


def test_mel_from_acoustic_checkpoint(corpus, tmp_path):
    mel = MelConfig(f_max=7600.0)
    save_checkpoint({"format": 1, "kind": "grad_tts", "mel": mel.__dict__}, tmp_path / "acoustic.pt")
    out = tmp_path / "exp"
    assert train_main([str(corpus / "wavs"), "--out", str(out), "--mel-from", str(tmp_path / "acoustic.pt"),
                       *TINY_ARGS, "--max-steps", "1", "--no-progress"]) == 0
    _, ckpt = load_diffwave(out / "last.pt")
    assert ckpt["mel"]["f_max"] == 7600.0


def test_unconditional_generation(corpus, tmp_path):
    out = tmp_path / "exp"
    assert train_main([str(corpus / "wavs"), "--out", str(out), "--unconditional", *TINY_ARGS,
                       "--set", "model.audio_len=4096", "--set", "mel.sample_rate=16000", "--max-steps", "1",
                       "--no-progress"]) == 0
    assert vocode_main([str(out / "last.pt"), "--unconditional", "-n", "2", "-o", str(tmp_path / "gen")]) == 0
    clips = sorted((tmp_path / "gen").glob("*.wav"))
    assert len(clips) == 2 and soundfile.info(str(clips[0])).frames == 4096
    assert soundfile.info(str(clips[0])).samplerate == 16000  # the rate it was trained at, not 22050


def test_lmnt_checkpoint_loads(load_reference, tmp_path):
    ref = load_reference("diffwave_tiny.pt")["conditional"]
    torch.save({"step": 7, "model": ref["state_dict"], "params": ref["config"], "optimizer": {}},
               tmp_path / "lmnt.pt")
    model, ckpt = load_diffwave(tmp_path / "lmnt.pt")
    assert ckpt["mel"]["compression"] == "lmnt" and ckpt["mel"]["n_mels"] == 16 and ckpt["step"] == 7
    with torch.no_grad():
        torch.testing.assert_close(model(ref["audio"], ref["steps_int"], ref["spectrogram"]), ref["out_int"],
                                   atol=1e-5, rtol=0)


def test_bad_inputs(corpus, tmp_path, caplog):
    model = DiffWave(DiffWaveModelConfig(**TINY))
    with pytest.raises(ValueError, match="mel has 40 bands, the model expects 80"):
        vocode(torch.zeros(1, 40, 5), model)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train_main([str(empty), "--out", str(tmp_path / "e"), *TINY_ARGS]) == 1
    assert "no wav files" in caplog.text
    short = tmp_path / "short"
    make_wav(short / "a.wav", 0.05, seed=0)
    make_wav(short / "b.wav", 0.05, seed=1)
    assert train_main([str(short), "--out", str(tmp_path / "s"), *TINY_ARGS]) == 1
    assert "shorter than one crop" in caplog.text and "a.wav" in caplog.text
    np.save(tmp_path / "bands.npy", np.zeros((40, 5), dtype=np.float32))
    save_checkpoint({"format": 1, "kind": "diffwave", "config": to_dict(DiffWaveModelConfig(**TINY)),
                     "mel": preset("hifigan").__dict__, "model": model.state_dict(), "step": 0},
                    tmp_path / "tiny.pt")
    assert vocode_main([str(tmp_path / "tiny.pt"), str(tmp_path / "bands.npy"), "-o", str(tmp_path / "x.wav")]) == 1
    assert "expected (80, frames)" in caplog.text


def test_bf16_vocoding_matches_fp32_within_tolerance():
    """The bf16 path (which `auto` takes where the CPU has native bf16 and it measures faster) changes the
    output by less than 1e-2 of full scale."""
    from diffwave.inference import resolve_precision

    torch.manual_seed(0)
    model = DiffWave(DiffWaveModelConfig(residual_layers=4, residual_channels=16, dilation_cycle_length=2)).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.02)
    mel = torch.randn(1, 80, 20)
    full = vocode(mel, model, generator=torch.Generator().manual_seed(1))
    half = vocode(mel, model, generator=torch.Generator().manual_seed(1), precision="bf16")
    assert half.dtype == torch.float32
    assert float((half - full).abs().max()) < 1e-2
    assert resolve_precision("auto", model) in ("fp32", "bf16") and resolve_precision("fp32", model) == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp16", model)


def test_bf16_training_autocast_and_auto_choice():
    from gradwave.common.trainer import autocast_dtype

    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is None  # until the trainer has timed both (where bf16 is native)
    assert autocast_dtype("none", cpu) is None and autocast_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="train.amp"):
        autocast_dtype("int8", cpu)
    torch.manual_seed(0)
    model = DiffWave(DiffWaveModelConfig(residual_layers=2, residual_channels=8, dilation_cycle_length=2, bands=4,
                                         process="bridge",
                                         bridge=BridgeConfig(guide_iterations=2, mel_loss_weight=1.0)),
                     MelConfig())
    batch = {"audio": torch.randn(2, 16 * 256) * 0.1, "spectrogram": torch.randn(2, 80, 16)}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.compute_loss(batch)["loss"]
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("as_2d", [True, False])
def test_cpu_convolution_tricks_equal_the_convolutions_other_devices_run(as_2d):
    from diffwave.fast_convolutions import Dilated, Pointwise

    torch.manual_seed(0)
    one = torch.nn.Conv1d(8, 16, 1)
    wide = torch.nn.Conv1d(8, 8, 3, padding=4, dilation=4)
    fast_one = Pointwise(8, 16, 1)
    fast_wide = Dilated(8, 8, 3, padding=4, dilation=4)
    fast_one.load_state_dict(one.state_dict())  # the same parameters under the same names
    fast_wide.load_state_dict(wide.state_dict())
    fast_wide.as_2d = as_2d
    x = torch.randn(3, 8, 50)
    torch.testing.assert_close(fast_one(x), one(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_wide(x), wide(x), atol=1e-5, rtol=1e-5)
    # off the CPU (here the shape-only meta device) the modules' own convolutions run
    meta = x.to("meta")
    assert fast_one.to("meta")(meta).shape == (3, 16, 50)
    assert fast_wide.to("meta")(meta).shape == (3, 8, 50)
    model = DiffWave(DiffWaveModelConfig(**TINY))
    mel = torch.randn(1, 80, 4)
    hoisted = [p.shape for p in model.condition(mel).projected]
    assert [p.shape for p in model.to("meta").condition(mel.to("meta")).projected] == hoisted


def test_the_dilated_convolutions_cpu_form_is_timed_once_and_remembered(monkeypatch, tmp_path):
    import json

    from gradwave.common import autotune

    monkeypatch.setenv("GRADWAVE_CACHE_DIR", str(tmp_path))
    model = DiffWave(DiffWaveModelConfig(residual_layers=4, residual_channels=8, dilation_cycle_length=2)).eval()
    mel = torch.randn(1, 80, 10)
    vocode(mel, model, steps=1)
    (choice,) = json.loads((tmp_path / autotune.CACHE_FILE).read_text()).values()
    assert [block.dilated_conv.as_2d for block in model.residual_layers] == [choice == "conv2d"] * 4
    monkeypatch.setattr(autotune, "best_time", lambda *args: pytest.fail("timed again"))
    again = DiffWave(model.config).eval()
    vocode(mel, again, steps=1)
    assert again.residual_layers[0].dilated_conv.as_2d == (choice == "conv2d")


def test_compiled_training_equals_eager(corpus, tmp_path):
    results = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = DiffWave(DiffWaveModelConfig(**TINY))
        trainer = Trainer(make_task(corpus, model, compile=compiled), tmp_path / str(compiled), device="cpu",
                          progress=False)
        batch = next(iter(trainer.loader))
        losses = [trainer.train_step(batch)["loss"] for _ in range(2)]
        results.append((losses, model.output_projection.bias.detach().clone()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1], atol=1e-6, rtol=1e-5)


def test_a_batch_larger_than_the_data_is_a_one_line_error(corpus, tmp_path, caplog):
    assert train_main([str(corpus / "wavs"), "--out", str(tmp_path / "exp"), *TINY_ARGS,
                       "--set", "train.batch_size=64", "--max-steps", "1", "--no-progress"]) == 1
    assert "cannot fill one batch of 64" in caplog.text and "train.batch_size" in caplog.text
