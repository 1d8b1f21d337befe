import numpy as np
import pytest
import torch
from corpus import make_ljspeech, make_wav

from gradwave.common.checkpoint import load_checkpoint
from gradwave.common.config import ConfigError
from gradwave.common.filelists import read_corpus
from gradwave.common.audio import load_wav
from gradwave.common.mel import MelConfig, MelSpectrogram
from diffwave.train import main as dw_train_main
from gradwave.common.trainer import Trainer, TrainingTask
from grad_tts.checkpoint import load_grad_tts
from grad_tts.config import GradTTSConfig, GradTTSInferenceConfig, GradTTSModelConfig, GradTTSTrainConfig
from grad_tts.data import TextMelCollate, TextMelDataset, check_utterances
from grad_tts.model import GradTTS
from grad_tts.teacher_force import main as teacher_force_main
from grad_tts.train import main as train_main
from text import TextConfig, TextProcessor

TINY = ["--set", "model.n_enc_channels=16", "--set", "model.filter_channels=32", "--set",
        "model.filter_channels_dp=16", "--set", "model.n_enc_layers=1", "--set", "model.dec_dim=8"]


def tiny_model():
    return GradTTS(GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16, n_enc_layers=1,
                                      dec_dim=8))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_ljspeech(tmp_path_factory.mktemp("lj"), n=10)


def make_task(corpus, model, **train):
    processor = TextProcessor(TextConfig())
    dataset = TextMelDataset(read_corpus(corpus), processor, MelConfig())
    config = GradTTSTrainConfig(**{"batch_size": 2, "num_workers": 0, "segment_frames": 40,
                                   "checkpoint_every": 10**6, **train})
    return TrainingTask("grad_tts", model, dataset, TextMelCollate(config.segment_frames), config,
                        {"config": {}, "mel": None},
                        clip_groups={"encoder": list(model.encoder.parameters()),
                                     "decoder": list(model.decoder.parameters())},
                        compile_targets=[model.decoder.estimator])


@pytest.mark.parametrize("shallow_start, objective", [(1.0, "score"), (0.4, "flow")])  # both share the t range code
def test_tiny_model_overfits_fixed_batch(corpus, shallow_start, objective):
    torch.manual_seed(0)
    model = GradTTS(GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16, n_enc_layers=1,
                                       dec_dim=8, shallow_start=shallow_start, decoder_objective=objective))
    for module in model.modules():  # dropout is there to stop memorisation, which is the point here
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    task = make_task(corpus, model, learning_rate=3e-3)
    trainer = Trainer(task, corpus.parent / "overfit", device="cpu", progress=False)
    batch = next(iter(trainer.loader))
    history = [trainer.train_step(batch) for _ in range(100)]

    def mean(key, part):
        return sum(h[key] for h in part) / len(part)

    for key in ("dur_loss", "prior_loss", "diff_loss"):
        start, end = mean(key, history[:10]), mean(key, history[-20:])
        assert end < 0.3 * start, f"{key} went from {start:.3f} to {end:.3f}"


def test_resume_is_exact(corpus, tmp_path):
    def run(out, steps, resume=None):
        torch.manual_seed(0)
        task = make_task(corpus, tiny_model(), checkpoint_every=2)
        trainer = Trainer(task, out, device="cpu", resume=resume, progress=False)
        values = trainer.train(steps)
        return trainer, values

    straight, values_straight = run(tmp_path / "straight", 6)
    run(tmp_path / "halves", 3)
    resumed, values_resumed = run(tmp_path / "halves", 6, resume=tmp_path / "halves" / "last.pt")
    assert resumed.step == 6
    assert values_resumed["loss"] == pytest.approx(values_straight["loss"], rel=1e-5)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_nan_guard_names_step(corpus, tmp_path):
    model = tiny_model()
    trainer = Trainer(make_task(corpus, model), tmp_path, device="cpu", progress=False)
    batch = next(iter(trainer.loader))
    trainer.train_step(batch)
    with torch.no_grad():
        model.encoder.proj_m.bias.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="step 2: the loss is not finite"):
        trainer.train_step(batch)


def test_cli_end_to_end(corpus, tmp_path):
    out = tmp_path / "exp"
    rc = train_main([str(corpus), "--out", str(out), *TINY, "--set", "train.batch_size=2", "--set",
                     "train.num_workers=0", "--set", "train.sample_every=2", "--set", "train.log_every=1",
                     "--set", "train.segment_frames=40", "--max-steps", "3", "--no-progress"])
    assert rc == 0
    assert list((out / "logs").glob("events.out.tfevents.*"))
    model, ckpt = load_grad_tts(out / "last.pt")
    assert ckpt["step"] == 3 and ckpt["text"]["g2p"] == "cmudict"
    x = torch.tensor([TextProcessor()("hello there")])
    assert model.synthesise(x, torch.tensor([x.shape[1]]), n_timesteps=2)["mel"].shape[1] == 80
    rc = train_main([str(corpus), "--out", str(out), *TINY, "--set", "train.batch_size=2", "--set",
                     "train.num_workers=0", "--resume", "--max-steps", "4", "--no-progress"])
    assert rc == 0 and load_checkpoint(out / "last.pt", "grad_tts")["step"] == 4

    # teacher-forced mels for vocoder fine-tuning: one per utterance, the recording's frame count
    mels = tmp_path / "tf"
    assert teacher_force_main([str(out / "last.pt"), str(corpus), "--out", str(mels), "--timesteps", "2"]) == 0
    utterances = read_corpus(corpus)
    assert len(list(mels.glob("*.npy"))) == len(utterances)
    extractor = MelSpectrogram(MelConfig())
    for utt in utterances:
        mel = np.load(mels / f"{utt.wav.stem}.npy")
        assert mel.shape == tuple(extractor(load_wav(utt.wav, 22050)).shape)
        assert np.isfinite(mel).all()
    assert dw_train_main([str(corpus), "--out", str(tmp_path / "voc"), "--mels", str(mels), "--set",
                          "model.residual_layers=2", "--set", "model.residual_channels=4", "--set",
                          "train.batch_size=2", "--set", "train.num_workers=0", "--set", "train.crop_mel_frames=8",
                          "--max-steps", "1", "--no-progress"]) == 0


def test_bad_entries_are_reported(corpus, tmp_path, caplog):
    good = read_corpus(corpus)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    short = tmp_path / "short.wav"
    make_wav(short, 0.05, seed=1)
    entries = good[:2] + [good[0].__class__(tmp_path / "missing.wav", "hi", source="list:3"),
                          good[0].__class__(broken, "hi", source="list:4"),
                          good[0].__class__(short, "a rather long sentence for so little audio", source="list:5")]
    kept, problems = check_utterances(entries, TextProcessor(), MelConfig())
    assert kept == good[:2]
    assert len(problems) == 3
    assert "missing.wav" in problems[0] and "missing" in problems[0]
    assert "broken.wav" in problems[1] and "unreadable" in problems[1]
    assert "short.wav" in problems[2] and "too few" in problems[2]


def test_published_state_dict_loads(load_reference, tmp_path):
    ref = load_reference("grad_tts_tiny.pt")["multi"]
    torch.save(ref["state_dict"], tmp_path / "grad-tts-like.pt")
    model, ckpt = load_grad_tts(tmp_path / "grad-tts-like.pt")
    for key, value in ref["config"].items():
        assert getattr(model.config, key) == value, key
    assert ckpt["speakers"] == ["0", "1", "2"]


def test_init_from_reports_mismatched_tensors(corpus, tmp_path, caplog):
    source = GradTTS(GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16,
                                        n_enc_layers=1, dec_dim=8, n_feats=80))
    torch.save({"format": 1, "kind": "grad_tts", "model": source.state_dict()}, tmp_path / "src.pt")
    target = GradTTS(GradTTSModelConfig(n_enc_channels=24, filter_channels=32, filter_channels_dp=16,
                                        n_enc_layers=1, dec_dim=8))
    with caplog.at_level("WARNING"):
        trainer = Trainer(make_task(corpus, target), tmp_path / "run", device="cpu", init_from=tmp_path / "src.pt",
                          progress=False)
    report = trainer.init_report
    assert any(m.startswith("encoder.emb.weight") for m in report["mismatched"])
    assert report["loaded"] > 0
    torch.testing.assert_close(target.decoder.estimator.final_conv.weight, source.decoder.estimator.final_conv.weight)
    assert trainer.step == 0 and "mismatched shapes" in caplog.text


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_step(corpus, tmp_path, amp):
    torch.manual_seed(0)
    model = tiny_model()
    trainer = Trainer(make_task(corpus, model, amp=amp), tmp_path, device="cpu", progress=False)
    batch = next(iter(trainer.loader))
    seen = []
    model.decoder.estimator.final_conv.register_forward_hook(lambda module, inputs, out: seen.append(out.dtype))
    values = trainer.train_step(batch)
    assert seen == [{"bf16": torch.bfloat16, "fp16": torch.float16}[amp]]  # autocast really ran in it
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_encoder_only_training_leaves_the_decoder_and_synthesizes_its_mean(corpus, tmp_path):
    """`train.decoder=false`: the decoder never trains, whatever the step or budget, and the config
    insists that synthesis speak the encoder's mean (inference.timesteps 0), which the checkpoint keeps."""
    with pytest.raises(ConfigError, match="inference.timesteps to 0"):
        GradTTSConfig(train=GradTTSTrainConfig(decoder=False))
    out = tmp_path / "encoder_only"
    rc = train_main([str(corpus), "--out", str(out), *TINY, "--set", "train.batch_size=2", "--set",
                     "train.num_workers=0", "--set", "train.decoder=false", "--set", "inference.timesteps=0",
                     "--set", "train.sample_every=2", "--max-steps", "2", "--no-progress"])
    assert rc == 0
    ckpt = load_checkpoint(out / "last.pt", "grad_tts")
    assert ckpt["inference"]["timesteps"] == 0
    torch.manual_seed(1234)  # train.seed: the weights the run started from
    initial = tiny_model().state_dict()
    decoder = [k for k in initial if k.startswith("decoder.")]
    assert decoder and all(torch.equal(ckpt["model"][k], initial[k]) for k in decoder)
    assert not all(torch.equal(ckpt["model"][k], initial[k]) for k in initial if k.startswith("encoder."))


def test_decoder_only_training_from_a_trained_encoder_with_a_shallow_start(corpus, tmp_path):
    """`train.encoder=false` keeps the encoder that --init-from gives and trains the decoder alone; the
    checkpoint keeps `model.shallow_start`, which synthesis then starts from."""
    from tiny_checkpoints import write_tiny_checkpoints

    with pytest.raises(ConfigError, match="nothing would train"):
        GradTTSConfig(train=GradTTSTrainConfig(decoder=False, encoder=False), inference={"timesteps": 0})
    common = [str(corpus), *TINY, "--set", "train.batch_size=2", "--set", "train.num_workers=0", "--set",
              "train.encoder=false", "--set", "model.shallow_start=0.4", "--max-steps", "2", "--no-progress"]
    assert train_main([*common, "--out", str(tmp_path / "refused")]) == 1  # no encoder to start from
    initial = load_checkpoint(write_tiny_checkpoints(tmp_path / "tiny") / "acoustic.pt", "grad_tts")["model"]
    out = tmp_path / "decoder_only"
    assert train_main([*common, "--out", str(out), "--init-from", str(tmp_path / "tiny" / "acoustic.pt")]) == 0
    ckpt = load_checkpoint(out / "last.pt", "grad_tts")
    assert ckpt["config"]["shallow_start"] == 0.4
    encoder = [k for k in initial if k.startswith("encoder.")]
    assert encoder and all(torch.equal(ckpt["model"][k], initial[k]) for k in encoder)
    assert not all(torch.equal(ckpt["model"][k], initial[k]) for k in initial if k.startswith("decoder."))
    model, _ = load_grad_tts(out / "last.pt")
    assert model.decoder.t_start == 0.4


def test_the_flow_objective_learns_the_straight_paths_velocity():
    """x_t runs from the mel at t=0 to mu + z at t=1, and an estimator that returns mu + z - x0 has no loss."""
    from grad_tts.diffusion import Diffusion

    torch.manual_seed(0)
    decoder = Diffusion(8, 8, objective="flow")
    x0, mu, z = torch.randn(3, 8, 12), torch.randn(3, 8, 12), torch.randn(3, 8, 12)
    mask = torch.ones(3, 1, 12)
    mask[1, :, 9:] = 0
    _, at_zero = decoder.flow_loss_t(x0, mask, mu, torch.zeros(3), z=z)
    _, at_one = decoder.flow_loss_t(x0, mask, mu, torch.ones(3), z=z)
    torch.testing.assert_close(at_zero, x0 * mask)
    torch.testing.assert_close(at_one, (mu + z) * mask)
    with torch.no_grad():
        learnt, _ = decoder.flow_loss_t(x0, mask, mu, torch.rand(3), z=z)
        decoder.estimator.forward = lambda x, m, mean, t, spk=None: (mu + z - x0) * m
        oracle, _ = decoder.flow_loss_t(x0, mask, mu, torch.rand(3), z=z)
    assert float(oracle) == 0.0 < float(learnt)
    with pytest.raises(ConfigError, match="decoder_objective"):
        GradTTSModelConfig(decoder_objective="edm")
    with pytest.raises(ConfigError, match="euler steps"):
        GradTTSConfig(model=GradTTSModelConfig(decoder_objective="flow"), inference=GradTTSInferenceConfig(sampler="ml"))


def test_learning_rate_schedules(corpus):
    constant = GradTTSTrainConfig(learning_rate=1e-3, warmup_steps=4)
    assert [constant.learning_rate_at(s) for s in range(5)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
    noam = GradTTSTrainConfig(learning_rate=1e-3, warmup_steps=4, lr_schedule="noam")
    assert noam.learning_rate_at(3) == pytest.approx(1e-3)
    assert noam.learning_rate_at(15) == pytest.approx(1e-3 * 0.5)
    with pytest.raises(ValueError, match="noam"):
        GradTTSTrainConfig(lr_schedule="noam")
    trainer = Trainer(make_task(corpus, tiny_model(), learning_rate=1e-3, warmup_steps=4), corpus.parent / "lr",
                      device="cpu", progress=False)
    batch = next(iter(trainer.loader))
    trainer.train_step(batch)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-4)


def test_upstream_libritts_filelist_and_unknown_validation_speaker(corpus, tmp_path, caplog):
    wavs = sorted((corpus / "wavs").glob("*.wav"))
    texts = [line.split("|")[1] for line in (corpus / "metadata.csv").read_text().splitlines()]
    # upstream Grad-TTS's LibriTTS order, speaker ids that sort differently as text and as numbers
    train = tmp_path / "train.txt"
    train.write_text("".join(f"{w}|{t}|{['2', '10'][k % 2]}\n" for k, (w, t) in enumerate(zip(wavs[:8], texts))))
    valid = tmp_path / "valid.txt"
    valid.write_text(f"{wavs[8]}|{texts[8]}|7\n")
    common = [str(train), *TINY, "--set", "train.batch_size=2", "--set", "train.num_workers=0",
              "--set", "train.segment_frames=40", "--max-steps", "1", "--no-progress"]
    assert train_main(common + ["--out", str(tmp_path / "a"), "--valid", str(valid)]) == 1
    assert "valid.txt:1: validation speaker '7' is not among the 2 training speakers" in caplog.text
    assert train_main(common + ["--out", str(tmp_path / "b")]) == 0
    ckpt = load_checkpoint(tmp_path / "b" / "last.pt", "grad_tts")
    assert ckpt["speakers"] == ["2", "10"] and ckpt["config"]["n_spks"] == 2
    from synthesize import main as synthesize_main

    (tmp_path / "lines.txt").write_text("Hello.\n")
    caplog.clear()
    caplog.set_level("INFO")
    assert synthesize_main(["-f", str(tmp_path / "lines.txt"), "-o", str(tmp_path / "out"), "--acoustic",
                            str(tmp_path / "b" / "last.pt"), "--vocoder", "griffin-lim", "--timesteps", "1"]) == 0
    assert "lines without a speaker get '2', the first of this model's 2" in caplog.text


@pytest.mark.slow  # compiling the U-Net takes a minute or two on 2 cores; DiffWave's compile test runs in CI
def test_compiled_estimator_gives_the_eager_loss(corpus, tmp_path):
    losses = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = tiny_model()
        trainer = Trainer(make_task(corpus, model, compile=compiled), tmp_path / str(compiled), device="cpu",
                          progress=False)
        losses.append(trainer.train_step(next(iter(trainer.loader)))["loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_a_non_finite_loss_between_log_steps_is_caught_before_any_checkpoint(corpus, tmp_path):
    model = tiny_model()
    trainer = Trainer(make_task(corpus, model, log_every=5, checkpoint_every=4), tmp_path, device="cpu",
                      progress=False)
    trainer.train(2)  # step 1 unchecked (not a log step), 2 the last: finite, saved
    assert (tmp_path / "last.pt").is_file()
    with torch.no_grad():
        model.encoder.proj_m.bias.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="a step between 3 and 4: the loss was not finite, so this state is not"):
        trainer.train(10)  # steps 3 and 4 are not log steps; 4 is a checkpoint step: the save refuses
    assert load_checkpoint(tmp_path / "last.pt", "grad_tts")["step"] == 2
