"""The sherpa-onnx export: sherpa-onnx (from PyPI, a runtime nobody here wrote) speaks our voice with the
token ids and durations of our frontend, and sounds like our runtime; multi-speaker voices take speaker ids
in both runtimes."""

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="the voice export needs onnx (pip install -e .[onnx])")
pytest.importorskip("sherpa_onnx", reason="the round trip needs sherpa-onnx (pip install -e .[test])")

from gradwave.common.mel import MelConfig, MelSpectrogram  # noqa: E402
from text import TextConfig, TextProcessor  # noqa: E402
from tiny_checkpoints import write_tiny_checkpoints  # noqa: E402
from gradwave.voice.export import export_voice, main as export_main  # noqa: E402
from gradwave.voice.files import VoiceError, read_voice  # noqa: E402
from gradwave.voice.engines import session  # noqa: E402
from gradwave.voice.runtime import Voice  # noqa: E402
from gradwave.voice.sherpa import SUBFOLDER, SherpaAcousticGraph, sherpa_tts  # noqa: E402
from gradwave.voice.tracing import export_graph  # noqa: E402

SENTENCES = ["Hello, world. This is a test!", "The birch canoe slid on the smooth planks; glue the sheet to it."]


@pytest.fixture(scope="module")
def exported(built_once):
    """root/two.pt, a tiny Grad-TTS with two speakers (root also has write_tiny_checkpoints' files), exported
    with Griffin-Lim and sherpa-onnx graphs of 0 and 2 steps as root/voice."""
    from gradwave.common.checkpoint import make_checkpoint, save_checkpoint
    from gradwave.common.config import to_dict
    from grad_tts.config import GradTTSModelConfig
    from grad_tts.model import GradTTS

    def build(root):
        write_tiny_checkpoints(root)
        torch.manual_seed(0)
        model = GradTTS(GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16,
                                           n_enc_layers=1, dec_dim=8, n_spks=2, spk_emb_dim=8))
        model.encoder.proj_w.proj.bias.data.fill_(1.4)  # about 4 frames per token
        save_checkpoint(make_checkpoint("grad_tts", model.state_dict(), to_dict(model.config), to_dict(MelConfig()),
                                        text=to_dict(TextConfig()), speakers=["ann", "bob"]), root / "two.pt")
        assert export_main(["--acoustic", str(root / "two.pt"), "--vocoder", "griffin-lim", "-o", str(root / "voice"),
                            "--format", "sherpa-onnx", "--sherpa-steps", "0", "2"]) == 0

    root = built_once("sherpa_voice", build)
    return root, root / "voice"


@pytest.fixture(scope="module")
def sherpa(exported):
    """(steps, noise_scale) -> a sherpa_onnx.OfflineTts of the exported voice, made once."""
    made = {}

    def get(steps: int, noise_scale: float):
        if (steps, noise_scale) not in made:
            made[steps, noise_scale] = sherpa_tts(exported[1] / SUBFOLDER, steps, noise_scale=noise_scale,
                                                  max_num_sentences=100)
        return made[steps, noise_scale]
    return get


def test_the_sherpa_files_are_recorded_and_readable(exported):
    _, out = exported
    voice = read_voice(out)
    assert voice["sherpa_onnx"] == {"folder": SUBFOLDER, "steps": [0, 2]}
    assert {f"{SUBFOLDER}/{name}" for name in ("model-steps-2.onnx", "vocoder.onnx", "tokens.txt", "lexicon.txt")} \
        <= set(voice["files"])
    tokens = (out / SUBFOLDER / "tokens.txt").read_text().splitlines()
    symbols = TextConfig().symbols
    assert len(tokens) == len(symbols) and tokens[symbols.index(" ")] == str(symbols.index(" "))
    assert tokens[symbols.index("@HH")] == f"@HH {symbols.index('@HH')}"
    lexicon = (out / SUBFOLDER / "lexicon.txt").read_text()
    assert "\nhello @HH @AH0 @L @OW1\n" in lexicon and "\ndon't @D @OW1 @N @T\n" in lexicon
    import onnx

    metadata = {p.key: p.value for p in onnx.load(str(out / SUBFOLDER / "model-steps-2.onnx")).metadata_props}
    assert metadata["sample_rate"] == "22050" and metadata["pad_id"] == str(len(symbols))
    assert metadata["num_ode_steps"] == "2" and metadata["has_espeak"] == "0" and metadata["n_speakers"] == "2"


def test_the_graph_turns_sherpa_ids_into_ours():
    """sherpa-onnx's blanks (doubled where pieces meet), a leading space and the spaces it drops after
    , . ! ? ; : are mended into exactly our frontend's ids."""
    symbols = list(TextConfig().symbols)
    blank = len(symbols)
    ours = TextProcessor(TextConfig())("Hello, world. This is a test!")
    words = [i for i in ours if i != blank]
    space = symbols.index(" ")
    theirs = [space] + [i for k, i in enumerate(words) if not (i == space and symbols[words[k - 1]] in ",.")]
    pieces = [theirs[:6], theirs[6:]]  # two pieces, each with its own blanks, as sherpa-onnx splits a text
    sherpa_ids = [j for piece in pieces for i in piece for j in (blank, i)] + [blank]
    graph = SherpaAcousticGraph(None, 2, "euler", 1.0, (0.0, 1.0), symbols, blank)
    mended = graph.tokens(torch.tensor([sherpa_ids + [blank, 5]]), torch.tensor([len(sherpa_ids)]))
    assert mended.tolist() == ours


def log_mel(audio: np.ndarray) -> np.ndarray:
    return MelSpectrogram(MelConfig())(torch.from_numpy(np.asarray(audio, np.float32))[None])[0].numpy()


class FixedPhase(torch.nn.Module):
    """Griffin-Lim from a zero initial phase, mel in and audio out: a sherpa-onnx vocoder without randomness."""

    def __init__(self, griffin_lim: torch.nn.Module, bins: int):
        super().__init__()
        self.griffin_lim, self.bins = griffin_lim, bins

    def forward(self, mel):
        return self.griffin_lim(mel, torch.zeros_like(mel[0, :1].expand(self.bins, -1)))


@pytest.fixture(scope="module")
def fixed_phase(exported, tmp_path_factory):
    """(steps) -> a sherpa_onnx.OfflineTts of the exported voice whose vocoder starts from a zero phase."""
    import shutil

    from gradwave.voice.export import vocoder_graph
    from gradwave.voice.tracing import add_metadata

    out = exported[1]
    spec = read_voice(out)
    folder = tmp_path_factory.mktemp("fixed") / SUBFOLDER
    shutil.copytree(out / SUBFOLDER, folder)
    griffin_lim, _ = vocoder_graph("griffin-lim", spec["mel"], None)
    graph = FixedPhase(griffin_lim, spec["mel"]["n_fft"] // 2 + 1)
    export_graph(graph, (torch.randn(1, spec["mel"]["n_mels"], 4) - 5,), folder / "vocoder.onnx", ["mel"], ["audio"],
                 {"mel": {2: "frames"}, "audio": {1: "samples"}})
    add_metadata(folder / "vocoder.onnx", {"model_type": "hifigan", "sample_rate": spec["sample_rate"]})
    return lambda steps: sherpa_tts(folder, steps, noise_scale=0.0, max_num_sentences=100)


@pytest.mark.parametrize("steps", [0, 2])
def test_sherpa_onnx_speaks_our_audio(exported, fixed_phase, sherpa, steps):
    """Without the prior's noise (noise_scale 0) and from the same initial phase, sherpa-onnx speaks exactly
    our runtime's audio: its frontend, our graph's id mending, the durations and the sampler agree. (With
    the shipped vocoder's random phase, two runs of Griffin-Lim differ by 0.05-0.3 in log-mel L1, too
    widely to compare.) The shipped vocoder speaks the same length, and `speed` scales it."""
    _, out = exported
    voice = Voice(out)
    tts = fixed_phase(steps)
    quiet = lambda shape: np.zeros(shape, np.float32)  # noqa: E731
    for text in SENTENCES:
        mel, durations = voice.acoustic(voice.ids(text), quiet, timesteps=steps)
        generated = tts.generate(text, sid=0, speed=1.0)
        theirs = np.asarray(generated.samples, np.float32)
        assert generated.sample_rate == 22050 and len(theirs) == int(durations.sum()) * 256
        ours = voice.vocoder_graph({"mel": mel[None], "phase": np.zeros((513, mel.shape[-1]), np.float32)})[0][0]
        np.testing.assert_allclose(theirs, ours, atol=1e-2)
        assert np.abs(log_mel(theirs) - log_mel(ours)).mean() < 1e-2
    shipped = sherpa(steps, 0.0)
    audio = np.asarray(shipped.generate(SENTENCES[-1], sid=0, speed=1.0).samples)
    assert np.isfinite(audio).all() and len(audio) == len(theirs)
    if steps == 0:
        assert len(np.asarray(shipped.generate(SENTENCES[-1], sid=0, speed=0.5).samples)) > 1.8 * len(audio)


def test_the_prior_noise_is_drawn_in_the_graph(sherpa):
    tts = sherpa(2, 1.0)
    first, second = (np.asarray(tts.generate(SENTENCES[0]).samples) for _ in range(2))
    assert first.shape == second.shape and not np.allclose(first, second)


def test_the_vocoder_draws_what_it_is_not_given(exported, tmp_path):
    """A DiffWave vocoder.onnx fed the mel alone (as sherpa-onnx feeds it) draws its phase and noise, anew
    each call; fed them, it is exact, as our runtime runs it."""
    root, _ = exported
    voice = export_voice(root / "acoustic.pt", root / "vocoder.pt", tmp_path / "voice")
    runner = session(tmp_path / "voice" / "vocoder.onnx")
    mel = np.random.default_rng(0).standard_normal((1, 80, 9)).astype(np.float32) - 5
    first, second = (runner.run(None, {"mel": mel})[0] for _ in range(2))
    assert first.shape == (1, 9 * 256) and np.isfinite(first).all() and not np.allclose(first, second)
    noise = np.random.default_rng(1).standard_normal((voice["vocoder"]["noise_draws"], 1, 9 * 256), np.float32)
    given = {"mel": mel, "noise": noise}  # lmnt's DDPM has no Griffin-Lim phase
    np.testing.assert_array_equal(runner.run(None, given)[0], runner.run(None, given)[0])


def test_an_ipa_voice_is_refused_before_anything_is_written(exported, tmp_path):
    from gradwave.common.checkpoint import read_file, save_checkpoint

    root, _ = exported
    ckpt = read_file(root / "acoustic.pt")
    ckpt["text"] = {**ckpt["text"], "g2p": "ipa"}
    save_checkpoint(ckpt, tmp_path / "ipa.pt")
    with pytest.raises(VoiceError, match="text G2P is cmudict, not 'ipa'"):
        export_voice(tmp_path / "ipa.pt", "griffin-lim", tmp_path / "voice", sherpa=True)
    assert not (tmp_path / "voice").exists() and not (tmp_path / "voice.partial").exists()


def test_a_multi_speaker_voice_takes_speaker_ids(exported, sherpa):
    """Our runtime's mel for speaker 1 equals PyTorch's for a fixed noise and differs from speaker 0's; the
    sherpa-onnx graph takes `sid` and speaks with it."""
    from grad_tts.checkpoint import load_grad_tts

    root, out = exported
    model, _ = load_grad_tts(root / "two.pt")
    voice = Voice(out)
    ids = voice.ids(SENTENCES[0])
    quiet = lambda shape: np.zeros(shape, np.float32)  # noqa: E731
    mels = [voice.acoustic(ids, quiet, timesteps=2, speaker=s)[0] for s in (0, 1)]
    # PyTorch's prior noise divided by an enormous temperature: zero, as `quiet` gives our runtime
    expected = model.eval().synthesise(torch.tensor([ids]), torch.tensor([len(ids)]), 2, spk=torch.tensor([1]),
                                       generators=[torch.Generator().manual_seed(0)], temperature=1e9)["mel"][0]
    # the graph masks its GroupNorm statistics where PyTorch's batch of one normalises its valid frames with the
    # fused kernel: other summation orders, 1.0e-4 apart at most here
    np.testing.assert_allclose(mels[1], expected.detach().numpy(), atol=4e-4)
    assert np.abs(mels[0] - mels[1]).max() > 1e-3
    tts = sherpa(2, 0.0)
    assert tts.num_speakers == 2
    audio = np.asarray(tts.generate(SENTENCES[0], sid=1).samples)
    durations = voice.acoustic(ids, quiet, timesteps=0)[1]
    assert np.isfinite(audio).all() and len(audio) == int(durations.sum()) * 256
