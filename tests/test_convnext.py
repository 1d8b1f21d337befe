"""The frame-rate ConvNeXt backbone: its STFT pair, the process contract under the DDPM and the bridge, its
start at the guide, its checks against the mel config, and a tiny model that learns one clip."""
import dataclasses

import pytest
import torch

from gradwave.common.checkpoint import CheckpointError, make_checkpoint, save_checkpoint
from gradwave.common.config import ConfigError, from_dict, to_dict
from gradwave.common.mel import MelConfig, MelSpectrogram
from gradwave.common.stft import ConvSTFT
from diffwave.bridge import guide_waveform
from diffwave.build import build_model
from diffwave.checkpoint import load_diffwave
from diffwave.config import BridgeConfig, ConvNeXtConfig, DiffWaveModelConfig
from diffwave.inference import vocode

MEL = MelConfig(n_fft=256, win_length=256, hop_length=64, n_mels=20, sample_rate=8000, f_max=4000.0)
TINY = ConvNeXtConfig(dim=16, intermediate_dim=32, layers=2, kernel_size=3, n_fft=256)
BRIDGE = dict(process="bridge", bridge=BridgeConfig(guide_iterations=4, guide_residual=True, clean_loss_weight=0.0,
                                                   mel_loss_weight=1.0))


def tiny_config(process: str = "bridge", **fields) -> DiffWaveModelConfig:
    process_fields = BRIDGE if process == "bridge" else {"process": "ddpm"}
    return DiffWaveModelConfig(backbone="convnext", n_mels=MEL.n_mels, hop_samples=MEL.hop_length,
                               sample_rate=MEL.sample_rate, **{"convnext": TINY, **process_fields, **fields})


def clip(frames: int = 16, batch: int = 2) -> torch.Tensor:
    t = torch.arange(frames * MEL.hop_length) / MEL.sample_rate
    rows = [0.4 * torch.sin(2 * torch.pi * (220 + 90 * k) * t) * torch.sin(torch.pi * t / t[-1]) for k in range(batch)]
    return torch.stack(rows)


@pytest.mark.parametrize("pad", [None, (1024 - 256) // 2])
def test_stft_round_trip_is_exact(pad):
    """Forward and inverse DFT convolutions give the audio back to float32 rounding (centred and HiFi-GAN
    framing), and the forward one is torch.stft's."""
    transform = ConvSTFT(1024, 256, torch.hann_window(1024), pad=pad)
    audio = torch.randn(2, 256 * 20)
    real, imag = transform.stft(audio)
    torch.testing.assert_close(transform.istft(real, imag, audio.shape[-1]), audio, rtol=0, atol=1e-5)
    padded = torch.nn.functional.pad(audio.unsqueeze(1), (transform.pad,) * 2, mode="reflect").squeeze(1)
    expected = torch.stft(padded, 1024, 256, window=torch.hann_window(1024), center=False, return_complex=True)
    torch.testing.assert_close(torch.complex(real, imag), expected, rtol=0, atol=1e-3)  # bins up to ~100


@pytest.mark.parametrize("process, input_kernel", [("ddpm", None), ("bridge", None), ("bridge", 1)])
def test_process_contract(process, input_kernel):
    """lmnt's forward signature, one prediction per sample, a finite loss with gradients everywhere, and
    audio of the mel's length from the sampler (also with the input convolution one frame wide)."""
    torch.manual_seed(0)
    model = build_model(tiny_config(process, convnext=dataclasses.replace(TINY, input_kernel_size=input_kernel)), MEL)
    assert model.input_conv.kernel_size == (input_kernel or TINY.kernel_size,)
    audio = clip()
    mel = MelSpectrogram(MEL)(audio)
    assert mel.shape[-1] * MEL.hop_length == audio.shape[-1]
    with torch.no_grad():
        out = model(audio, torch.tensor([3, 40]), mel)
    assert out.shape == (2, 1, audio.shape[-1])
    loss = model.compute_loss({"audio": audio, "spectrogram": mel})["loss"]
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert vocode(mel, model.eval(), generator=torch.Generator().manual_seed(0)).shape == audio.shape


def test_untrained_residual_bridge_returns_the_guide():
    """The zero output layer is a gain of 1 on the guide's spectrum: the fresh model's clean estimate is
    the guide, to the STFT round trip's rounding."""
    model = build_model(tiny_config(), MEL).eval()
    mel = MelSpectrogram(MEL)(clip())
    guide = guide_waveform(model, mel)
    with torch.no_grad():
        estimate = model(guide, torch.tensor([49, 49]), mel, guide=guide).squeeze(1)
    torch.testing.assert_close(estimate, guide, rtol=0, atol=1e-5)
    assert guide.abs().max() > 0.1


def test_unconditional_ddpm_takes_any_length():
    model = build_model(dataclasses.replace(tiny_config("ddpm"), unconditional=True, audio_len=1000))
    with torch.no_grad():
        assert model(torch.randn(1, 1000), torch.tensor([5])).shape == (1, 1, 1000)


def test_stft_that_disagrees_with_the_mel_is_refused(tmp_path):
    """In one line naming both: a model built against another mel, and a checkpoint whose mel was edited."""
    other = dataclasses.replace(MEL, n_fft=512, win_length=512)
    with pytest.raises(ValueError, match=r"STFT \(n_fft 256, hop 64\) disagrees with the mel config \(n_fft 512"):
        build_model(tiny_config(), other)
    config = tiny_config()
    model = build_model(config, MEL)
    path = tmp_path / "vocoder.pt"
    save_checkpoint(make_checkpoint("diffwave", model.state_dict(), to_dict(config), to_dict(other)), path)
    with pytest.raises(CheckpointError) as caught:
        load_diffwave(path)
    assert "vocoder.pt" in str(caught.value) and "n_fft 512" in str(caught.value) and "\n" not in str(caught.value)


def test_an_even_input_width_is_refused():
    with pytest.raises(ConfigError, match="input_kernel_size: 2 is not an odd width"):
        ConvNeXtConfig(input_kernel_size=2)


def test_configs_without_the_section_load():
    """Files written before the backbone existed have no `convnext` section: they load with its defaults."""
    data = to_dict(DiffWaveModelConfig())
    del data["convnext"]
    assert from_dict(DiffWaveModelConfig, data).convnext == ConvNeXtConfig()


def test_tiny_model_learns_one_clip():
    """The regression twin (one bridge step: from the guide straight to the clip) on one clip: the log-mel
    loss falls from the guide's to below 0.15 of it in 150 steps (0.065 measured)."""
    torch.manual_seed(0)
    config = tiny_config(noise_schedule={"start": 0.5, "end": 0.5, "count": 1})
    config = dataclasses.replace(config, bridge=dataclasses.replace(config.bridge, steps=1))
    model = build_model(config, MEL)
    audio = clip(batch=1)
    batch = {"audio": audio, "spectrogram": MelSpectrogram(MEL)(audio)}
    batch["guide"] = guide_waveform(model, batch["spectrogram"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss = model.compute_loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.15 * losses[0], (losses[0], losses[-1])



def test_stft_in_a_graph_is_the_stft_in_torch(monkeypatch):
    """The DFT convolutions an exported graph runs and the FFTs torch runs give the same spectra and audio; a
    transform built for torch alone keeps its bases out of the state dict."""
    transform = ConvSTFT(256, 64, torch.hann_window(256), pad=96)
    assert set(transform.state_dict()) == {"forward_basis", "inverse_basis", "window_power"}
    assert not ConvSTFT(256, 64, torch.hann_window(256), persistent=False).state_dict()
    audio = torch.randn(2, 64 * 12)
    spectrum = transform.stft(audio)
    rebuilt = transform.istft(*spectrum, audio.shape[-1])
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    graph_spectrum = transform.stft(audio)
    torch.testing.assert_close(torch.stack(graph_spectrum), torch.stack(spectrum), atol=1e-4, rtol=0)
    torch.testing.assert_close(transform.istft(*spectrum, audio.shape[-1]), rebuilt, atol=1e-5, rtol=0)
