"""ONNX voices: export, the torch-free runtime, parity with PyTorch for a fixed noise, and bad input."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="the voice export needs onnx (pip install -e .[onnx])")

from diffwave.checkpoint import load_diffwave  # noqa: E402
from diffwave.inference import vocode  # noqa: E402
from grad_tts.checkpoint import load_grad_tts  # noqa: E402
from tiny_checkpoints import write_tiny_checkpoints  # noqa: E402
from gradwave.voice.export import export_voice, main as export_main  # noqa: E402
from gradwave.voice.files import VoiceError, read_voice  # noqa: E402
from gradwave.voice.runtime import Voice  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEXT = "Dr. Smith paid $3.50 for two books."


@pytest.fixture(scope="module")
def exported(built_once):
    def build(root):
        write_tiny_checkpoints(root)
        assert export_main(["--acoustic", str(root / "acoustic.pt"), "--vocoder", str(root / "vocoder.pt"),
                            "-o", str(root / "voice")]) == 0

    root = built_once("tiny_voice", build)
    return root, root / "voice"


def torch_noise(seed: int):
    generator = torch.Generator().manual_seed(seed)
    return lambda shape: torch.randn(shape, generator=generator).numpy()


def test_the_voice_describes_itself(exported):
    root, out = exported
    voice = json.loads((out / "voice.json").read_text())
    assert set(voice["files"]) == {"encoder.onnx", "decoder.onnx", "vocoder.onnx"}
    assert voice["sample_rate"] == 22050 and voice["mel"]["hop_length"] == 256
    assert voice["text"]["cleaners"] == "english_cleaners" and voice["symbols"][0] == "_"
    assert voice["acoustic"]["timesteps"] == 10 and voice["acoustic"]["sampler"] == "euler"
    assert voice["acoustic"]["shallow_start"] == 1.0
    assert voice["vocoder"]["steps"] == 6 and voice["opset"] == 17
    import hashlib
    assert voice["sources"]["acoustic"] == hashlib.sha256((root / "acoustic.pt").read_bytes()).hexdigest()
    assert not list(root.glob("*.partial"))


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest difference over the largest magnitude."""
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def test_onnx_equals_pytorch_for_a_fixed_noise(exported):
    """Durations identical, encoder and score within 1e-4 relative; the whole mel within 2e-4 relative
    (ml and dpm divide the score's float error by a_t, 0.0067 at t=1) and the waveform within 1e-4."""
    from grad_tts.samplers import Step
    from gradwave.voice.runtime import expand

    root, out = exported
    voice = Voice(out)
    model, _ = load_grad_tts(root / "acoustic.pt")
    ids = voice.ids(TEXT)
    x, lengths = torch.tensor([ids]), torch.tensor([len(ids)])
    denoised_range = tuple(voice.spec["acoustic"]["denoised_range"])
    mean, durations = voice.acoustic(ids, torch_noise(7), timesteps=0, length_scale=1.1)  # fractional durations
    expected = model.synthesise(x, lengths, 0, length_scale=1.1)
    np.testing.assert_array_equal(durations, expected["durations"][0].numpy())
    assert relative_error(mean, expected["mel"][0].numpy()) < 1e-5

    mu_x, x_mask, frames = voice.encoder({"ids": x.numpy(), "lengths": lengths.numpy(),
                                          "length_scale": np.asarray(1.0, dtype=np.float32)})
    mu_y, y_mask, _ = expand(mu_x, x_mask, frames, 4)
    noisy = mu_y + np.random.default_rng(0).standard_normal(mu_y.shape, dtype=np.float32)
    one_evaluation = Step(0.3, 0.0, 0.0, 1.0).row()  # the decoder graph's plan of one row returns the score
    score = voice.decode(noisy, y_mask, mu_y, np.asarray([one_evaluation], np.float32), np.zeros_like(noisy)[None])
    with torch.no_grad():
        reference = model.decoder.estimator(*(torch.from_numpy(a) for a in (noisy, y_mask, mu_y)), torch.tensor([0.3]))
    assert relative_error(score, reference.numpy()) < 1e-4

    for sampler, steps in (("euler", 3), ("ml", 2), ("dpm", 2)):
        mel, _ = voice.acoustic(ids, torch_noise(7), timesteps=steps, sampler=sampler, length_scale=1.1)
        expected = model.synthesise(x, lengths, steps, 1.5, False, 1.1, generators=[torch.Generator().manual_seed(7)],
                                    sampler=sampler, denoised_range=denoised_range)["mel"][0].numpy()
        assert mel.shape == expected.shape and relative_error(mel, expected) < 2e-4, sampler
    voice.t_start = model.decoder.t_start = 0.4  # a shallow start (model.shallow_start): the same steps from 0.4
    for sampler, steps in (("euler", 3), ("dpm", 2)):
        shallow, _ = voice.acoustic(ids, torch_noise(7), timesteps=steps, sampler=sampler)
        expected = model.synthesise(x, lengths, steps, 1.5, generators=[torch.Generator().manual_seed(7)],
                                    sampler=sampler, denoised_range=denoised_range)["mel"][0].numpy()
        assert relative_error(shallow, expected) < 2e-4, sampler
    voice.objective = model.decoder.objective = "flow"  # model.decoder_objective: velocity steps, the same graph
    flow, _ = voice.acoustic(ids, torch_noise(7), timesteps=3)
    expected = model.synthesise(x, lengths, 3, 1.5, generators=[torch.Generator().manual_seed(7)])["mel"][0].numpy()
    assert relative_error(flow, expected) < 2e-4 and relative_error(flow, shallow) > 1e-2
    with pytest.raises(VoiceError, match="flow objective"):
        voice.acoustic(ids, torch_noise(7), timesteps=3, sampler="ml")
    vocoder, _ = load_diffwave(root / "vocoder.pt")
    audio = voice.vocode(mel, torch_noise(3))
    expected = vocode(torch.from_numpy(mel)[None], vocoder, generator=torch.Generator().manual_seed(3))[0]
    np.testing.assert_allclose(audio, expected.numpy(), atol=1e-4)


def test_the_encoder_graph_holds_for_every_length(exported):
    """The encoder is traced at 7 tokens, and the tracer freezes the branches of the relative-position
    window (Python `max` and `if` on the length): shorter and longer texts still equal PyTorch."""
    root, out = exported
    voice = Voice(out)
    model, _ = load_grad_tts(root / "acoustic.pt")
    window = model.config.window_size
    for length in (*range(1, 2 * window + 4), 40):
        ids = np.random.default_rng(length).integers(1, 100, size=(1, length))
        mu, _, durations = voice.encoder({"ids": ids, "lengths": np.asarray([length]),
                                          "length_scale": np.asarray(1.0, dtype=np.float32)})
        with torch.no_grad():
            expected, logw, _ = model.encoder(torch.from_numpy(ids), torch.tensor([length]))
        np.testing.assert_allclose(mu, expected.numpy(), atol=1e-4, err_msg=f"{length} tokens")
        np.testing.assert_array_equal(durations, torch.ceil(torch.exp(logw)).squeeze(1).numpy())


def test_a_sampling_is_one_bound_call_of_the_decoder_graph(exported):
    """Whatever the step count, the runtime hands the decoder graph the whole table of steps in one call
    with its inputs and outputs bound (so on a GPU nothing crosses to the host between steps)."""
    _, out = exported
    voice = Voice(out, providers=["CPUExecutionProvider"])
    calls = []
    runner = voice.decoder.session
    bound = runner.run_with_iobinding
    runner.run_with_iobinding = lambda binding, *rest: calls.append(1) or bound(binding, *rest)
    runner.run = None  # an unbound call would fail
    ids = voice.ids(TEXT)
    for steps in (1, 3):
        calls.clear()
        mel, _ = voice.acoustic(ids, torch_noise(1), timesteps=steps, sampler="dpm")
        assert calls == [1] and np.isfinite(mel).all()


def test_openvino_runs_the_same_voice(exported):
    """OpenVINO reads the same files: in fp32 it gives ONNX Runtime's durations, mel and audio; in bf16 (its
    `auto` where the CPU computes bf16 natively) it stays close. ONNX Runtime refuses bf16 in one line."""
    openvino = pytest.importorskip("openvino", reason="the OpenVINO engine needs openvino (pip install openvino)")
    from gradwave.voice.engines import graph_opener, native_bf16

    _, out = exported
    ours, theirs = Voice(out), Voice(out, "openvino", "fp32", "fp32")
    ids = ours.ids(TEXT)
    for sampler in ("euler", "ml"):
        mel, durations = ours.acoustic(ids, torch_noise(7), timesteps=3, sampler=sampler)
        other, other_durations = theirs.acoustic(ids, torch_noise(7), timesteps=3, sampler=sampler)
        np.testing.assert_array_equal(other_durations, durations)
        assert relative_error(other, mel) < 1e-4, sampler
    audio = ours.vocode(mel, torch_noise(3))
    np.testing.assert_allclose(theirs.vocode(mel, torch_noise(3)), audio, atol=1e-4)
    half = Voice(out, "openvino", "bf16", "bf16")  # bf16 in the decoder; the encoder stays fp32
    (mel, durations), (other, other_durations) = (voice.acoustic(ids, torch_noise(7), timesteps=3)
                                                  for voice in (ours, half))
    np.testing.assert_array_equal(other_durations, durations)
    assert np.abs(other - mel).mean() < 0.05 * np.abs(mel).mean()  # measured: 2.5%
    native = native_bf16(openvino.Core())
    assert graph_opener("openvino")(out / "vocoder.onnx", "auto").precision == ("bf16" if native else "fp32")
    with pytest.raises(VoiceError, match="bf16 needs --engine openvino"):
        Voice(out, "onnxruntime", "fp32", "bf16")
    with pytest.raises(VoiceError, match="unknown engine 'tensorrt'"):
        Voice(out, "tensorrt")


def test_the_runtime_speaks_without_torch(exported):
    """On ONNX Runtime and, where installed, on OpenVINO."""
    _, out = exported
    blocker = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'torch' or name.startswith('torch.'):\n"
               "            raise ImportError('torch is blocked in this test')\n"
               "sys.meta_path.insert(0, Block())\n"
               "from gradwave.voice.runtime import Voice\n"
               f"audio = Voice({str(out)!r}).speak({TEXT!r}, timesteps=2)\n"
               "assert audio.ndim == 1 and len(audio) > 0 and abs(audio).max() <= 1.0\n"
               "import importlib.util\n"
               "if importlib.util.find_spec('openvino'):\n"
               f"    assert len(Voice({str(out)!r}, 'openvino').speak({TEXT!r}, timesteps=2)) == len(audio)\n"
               "print(len(audio), 'torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", blocker], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[1] == "False"


def test_bad_voices_and_texts_are_one_line_errors(exported, tmp_path):
    import shutil

    root, out = exported
    copy = tmp_path / "voice"
    shutil.copytree(out, copy)
    with open(copy / "vocoder.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(VoiceError, match="vocoder.onnx: its sha256 differs"):
        read_voice(copy)
    (copy / "vocoder.onnx").unlink()
    with pytest.raises(VoiceError, match="vocoder.onnx: missing"):
        read_voice(copy)
    manifest = json.loads((out / "voice.json").read_text())
    (copy / "voice.json").write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(VoiceError, match="format 99 is newer"):
        read_voice(copy)
    (copy / "voice.json").write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(VoiceError, match="format 1 is older .* export the voice again"):
        read_voice(copy)
    with pytest.raises(VoiceError, match="nothing speakable"):
        Voice(out).ids("   ")
    assert export_main(["--acoustic", str(root / "acoustic.pt"), "--vocoder", str(root / "vocoder.pt"),
                        "-o", str(out)]) == 1  # not empty
    assert export_main(["--acoustic", str(root / "acoustic.pt"), "--vocoder", str(root / "other_vocoder.pt"),
                        "-o", str(tmp_path / "mismatch")]) == 1
    assert not (tmp_path / "mismatch").exists() and not (tmp_path / "mismatch.partial").exists()


def test_the_bridge_and_griffin_lim_vocoders_equal_pytorch(exported, tmp_path):
    """The bridge vocoder (the demo's kind: 8 bands, PriorGrad's banded prior, its Griffin-Lim guide computed
    in the graph) and Griffin-Lim alone: within 1e-3 of PyTorch (32 Griffin-Lim iterations carry the
    convolutional STFT's float error, about 3e-4)."""
    from gradwave.common.checkpoint import make_checkpoint, save_checkpoint
    from gradwave.common.config import to_dict
    from gradwave.common.griffin_lim import griffin_lim
    from gradwave.common.mel import MelConfig, MelSpectrogram
    from diffwave.config import BridgeConfig, DiffWaveModelConfig, PriorConfig, TrainingStatistics
    from diffwave.model import DiffWave

    root, _ = exported
    torch.manual_seed(0)
    model = DiffWave(DiffWaveModelConfig(residual_layers=2, residual_channels=8, dilation_cycle_length=1, bands=8,
                                         prior=PriorConfig(enabled=True, bands=32), process="bridge",
                                         bridge=BridgeConfig(guide_iterations=8, guide_residual=True)),
                     MelConfig(), TrainingStatistics(prior_energy_min=0.01))
    torch.nn.init.normal_(model.output_projection.weight, std=0.05)
    save_checkpoint(make_checkpoint("diffwave", model.state_dict(), to_dict(model.config), to_dict(MelConfig()),
                                    statistics={"prior_energy_min": 0.01}), tmp_path / "bridge.pt")
    export_voice(root / "acoustic.pt", tmp_path / "bridge.pt", tmp_path / "bridge_voice")
    voice = Voice(tmp_path / "bridge_voice")
    assert voice.spec["vocoder"]["process"] == "bridge" and voice.spec["vocoder"]["noise_draws"] == 4
    audio = 0.3 * torch.sin(torch.arange(12000) * 0.05) * torch.linspace(0, 1, 12000)
    mel = MelSpectrogram(MelConfig())(audio)
    expected = vocode(mel[None], model.eval(), generator=torch.Generator().manual_seed(3))[0].numpy()
    np.testing.assert_allclose(voice.vocode(mel.numpy(), torch_noise(3)), expected, atol=1e-3)
    if importlib.util.find_spec("openvino"):  # the guide's If, Loop-free STFT and draws in OpenVINO too
        on_openvino = Voice(tmp_path / "bridge_voice", "openvino")
        assert on_openvino.vocoder_graph.precision == "fp32"  # `auto`: Griffin-Lim's guide is faster in fp32
        np.testing.assert_allclose(on_openvino.vocode(mel.numpy(), torch_noise(3)), expected, atol=1e-3)
        half = Voice(tmp_path / "bridge_voice", "openvino", vocoder_precision="bf16").vocode(mel.numpy(), torch_noise(3))
        assert np.abs(half - expected).mean() < 0.05 * np.abs(expected).mean()  # measured: 2.2%

    export_voice(root / "acoustic.pt", "griffin-lim", tmp_path / "griffin_lim_voice")
    voice = Voice(tmp_path / "griffin_lim_voice")
    # the two DFT bases (8.4 MB) once, not once per unrolled iteration
    assert (tmp_path / "griffin_lim_voice" / "vocoder.onnx").stat().st_size < 10e6
    expected = griffin_lim(mel, MelSpectrogram(MelConfig()), generator=torch.Generator().manual_seed(5)).numpy()
    np.testing.assert_allclose(voice.vocode(mel.numpy(), torch_noise(0), seed=5), expected, atol=1e-3)


def test_synthesize_speaks_a_voice_on_onnxruntime(exported, tmp_path):
    import soundfile

    from synthesize import main as synthesize_main

    _, out = exported
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there.\nA second, longer line of text to speak.\n")
    assert synthesize_main(["-f", str(lines), "-o", str(tmp_path / "wavs"), "--voice", str(out),
                            "--timesteps", "2"]) == 0
    first, second = (soundfile.info(str(tmp_path / "wavs" / f"000{k}.wav")) for k in (1, 2))
    assert first.samplerate == 22050 and 0 < first.frames < second.frames
    assert synthesize_main(["-f", str(lines), "-o", str(tmp_path / "x"), "--voice", str(out),
                            "--acoustic", "a.pt"]) == 2
    if importlib.util.find_spec("openvino"):
        assert synthesize_main(["-f", str(lines), "-o", str(tmp_path / "ov"), "--voice", str(out), "--engine",
                                "openvino", "--timesteps", "2"]) == 0
        assert soundfile.info(str(tmp_path / "ov" / "0002.wav")).frames == second.frames


@pytest.mark.slow
def test_full_size_layouts_export_and_equal_pytorch(tmp_path):
    """The published configs' layouts (random weights): about 30 s of export, so not in the quick suite
    (`pytest -m slow tests/test_voice.py`)."""
    sys.path.append(str(REPO / "bench"))
    from util import write_random_checkpoints

    acoustic, vocoder = write_random_checkpoints(tmp_path / "ckpt")
    export_voice(acoustic, vocoder, tmp_path / "voice")
    voice = Voice(tmp_path / "voice")
    model, _ = load_grad_tts(acoustic)
    ids = voice.ids(TEXT)
    mel, durations = voice.acoustic(ids, torch_noise(7), timesteps=2)
    expected = model.synthesise(torch.tensor([ids]), torch.tensor([len(ids)]), 2, 1.5,
                                generators=[torch.Generator().manual_seed(7)])
    np.testing.assert_array_equal(durations, expected["durations"][0].numpy())
    assert relative_error(mel, expected["mel"][0].numpy()) < 2e-4
    mel = mel[:, :40]
    network, _ = load_diffwave(vocoder)
    reference = vocode(torch.from_numpy(mel)[None], network, generator=torch.Generator().manual_seed(3))[0]
    np.testing.assert_allclose(voice.vocode(mel, torch_noise(3)), reference.numpy(), atol=1e-4)


def test_the_server_speaks_a_voice(exported):
    pytest.importorskip("uvicorn", reason="the server needs uvicorn (pip install -e .[serve])")
    import httpx

    from gradwave.server.app import ServerConfig, create_app
    from gradwave.server.background import BackgroundServer
    from gradwave.synthesizer import VoiceSynthesizer

    _, out = exported
    with BackgroundServer(create_app(VoiceSynthesizer(out, timesteps=2), ServerConfig())) as server:
        answer = httpx.post(f"{server.url}/v1/audio/speech/timed", timeout=60,
                            json={"model": "gradwave", "input": "Hello there. How are you?", "voice": "alloy"})
        assert answer.status_code == 200, answer.text
        timed = answer.json()
        assert [w["word"] for w in timed["words"]][:2] == ["hello", "there"]
        models = httpx.get(f"{server.url}/v1/models/gradwave", timeout=10).json()
        assert models["voice"]["files"] == json.loads((out / "voice.json").read_text())["files"]


def test_the_frame_rate_vocoder_equals_pytorch(exported, tmp_path):
    """The convnext backbone under the bridge (its STFT pair as DFT convolutions, the complex gain on the
    guide's spectrum) on ONNX Runtime and OpenVINO: within Griffin-Lim's 1e-3 of PyTorch."""
    from gradwave.common.checkpoint import make_checkpoint, save_checkpoint
    from gradwave.common.config import to_dict
    from gradwave.common.mel import MelConfig, MelSpectrogram
    from diffwave.build import build_model
    from diffwave.config import BridgeConfig, ConvNeXtConfig, DiffWaveModelConfig, PriorConfig, TrainingStatistics

    root, _ = exported
    torch.manual_seed(0)
    config = DiffWaveModelConfig(backbone="convnext", convnext=ConvNeXtConfig(dim=16, intermediate_dim=32, layers=2),
                                 prior=PriorConfig(enabled=True, bands=32), process="bridge",
                                 bridge=BridgeConfig(guide_iterations=8, sampling_guide_iterations=12,
                                                     guide_residual=True))
    model = build_model(config, MelConfig(), TrainingStatistics(prior_energy_min=0.01))
    torch.nn.init.normal_(model.output.weight, std=0.05)
    save_checkpoint(make_checkpoint("diffwave", model.state_dict(), to_dict(config), to_dict(MelConfig()),
                                    statistics={"prior_energy_min": 0.01}), tmp_path / "convnext.pt")
    export_voice(root / "acoustic.pt", tmp_path / "convnext.pt", tmp_path / "convnext_voice")
    audio = 0.3 * torch.sin(torch.arange(12000) * 0.05) * torch.linspace(0, 1, 12000)
    mel = MelSpectrogram(MelConfig())(audio)
    expected = vocode(mel[None], model.eval(), generator=torch.Generator().manual_seed(3))[0].numpy()
    other_noise = vocode(mel[None], model, generator=torch.Generator().manual_seed(4))[0].numpy()
    assert np.abs(expected - other_noise).max() > 1e-2
    engines = ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
    for engine in engines:
        voice = Voice(tmp_path / "convnext_voice", engine)
        np.testing.assert_allclose(voice.vocode(mel.numpy(), torch_noise(3)), expected, atol=1e-3)


def test_the_convnext_decoder_equals_pytorch(exported, tmp_path):
    """Grad-TTS with the frame-rate decoder network (flow objective) in decoder.onnx: the same mel as PyTorch."""
    from gradwave.common.checkpoint import make_checkpoint, save_checkpoint
    from gradwave.common.config import to_dict
    from gradwave.common.mel import MelConfig
    from grad_tts.config import DecoderConvNeXtConfig, GradTTSModelConfig
    from grad_tts.model import GradTTS
    from text import TextConfig

    root, _ = exported
    torch.manual_seed(0)
    config = GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16, n_enc_layers=1,
                                decoder_network="convnext", decoder_objective="flow",
                                decoder_convnext=DecoderConvNeXtConfig(dim=16, intermediate_dim=32, layers=2))
    model = GradTTS(config)
    for p in model.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    model.encoder.proj_w.proj.bias.data.fill_(1.4)
    save_checkpoint(make_checkpoint("grad_tts", model.state_dict(), to_dict(config), to_dict(MelConfig()),
                                    text=to_dict(TextConfig())), tmp_path / "acoustic.pt")
    export_voice(tmp_path / "acoustic.pt", root / "vocoder.pt", tmp_path / "voice")
    voice, model = Voice(tmp_path / "voice"), model.eval()
    ids = voice.ids(TEXT)
    mel, _ = voice.acoustic(ids, torch_noise(7), timesteps=3)
    expected = model.synthesise(torch.tensor([ids]), torch.tensor([len(ids)]), 3, 1.5,
                                generators=[torch.Generator().manual_seed(7)])["mel"][0].numpy()
    mean = model.synthesise(torch.tensor([ids]), torch.tensor([len(ids)]), 0)["mel"][0].numpy()
    assert relative_error(mel, expected) < 2e-4 and relative_error(mel, mean) > 1e-2
