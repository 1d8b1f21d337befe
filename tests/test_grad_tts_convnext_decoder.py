"""The `convnext` decoder network: the U-Net's call, padding invariance, its config, and that it learns."""
import pytest
import torch

from gradwave.common.config import ConfigError, from_dict, to_dict
from grad_tts.config import DecoderConvNeXtConfig, GradTTSModelConfig
from grad_tts.convnext_decoder import ConvNeXtEstimator
from grad_tts.model import GradTTS

TINY = DecoderConvNeXtConfig(dim=16, intermediate_dim=32, layers=2, kernel_size=5)


def test_shapes_and_padding_do_not_change_an_items_output():
    torch.manual_seed(0)
    estimator = ConvNeXtEstimator(TINY, n_feats=12).eval()
    x, mu = torch.randn(3, 12, 20), torch.randn(3, 12, 20)
    lengths = torch.tensor([20, 14, 9])
    mask = (torch.arange(20) < lengths[:, None]).float().unsqueeze(1)
    t = torch.tensor([0.2, 0.5, 0.9])
    with torch.no_grad():
        batched = estimator(x, mask, mu, t)
        assert batched.shape == x.shape and batched[1, :, 14:].abs().sum() == 0
        for k, n in enumerate(lengths.tolist()):
            alone = estimator(x[k:k + 1, :, :n], mask[k:k + 1, :, :n], mu[k:k + 1, :, :n], t[k:k + 1])
            torch.testing.assert_close(batched[k:k + 1, :, :n], alone, rtol=1e-5, atol=1e-5)


def test_speakers_change_the_output():
    torch.manual_seed(0)
    estimator = ConvNeXtEstimator(TINY, n_feats=12, n_spks=3, spk_emb_dim=8).eval()
    x, mu, mask, t = torch.randn(1, 12, 10), torch.randn(1, 12, 10), torch.ones(1, 1, 10), torch.tensor([0.5])
    with torch.no_grad():
        first, second = (estimator(x, mask, mu, t, torch.randn(1, 8)) for _ in range(2))
    assert not torch.allclose(first, second)


def test_config_selects_the_network_and_round_trips():
    config = GradTTSModelConfig(n_enc_channels=16, filter_channels=32, filter_channels_dp=16, n_enc_layers=1,
                                decoder_network="convnext", decoder_convnext=TINY, decoder_objective="flow")
    assert isinstance(GradTTS(config).decoder.estimator, ConvNeXtEstimator)
    assert from_dict(GradTTSModelConfig, to_dict(config)) == config
    assert from_dict(GradTTSModelConfig, {}).decoder_network == "unet"  # files written before load as the U-Net
    with pytest.raises(ConfigError, match="decoder_network"):
        GradTTSModelConfig(decoder_network="transformer")
    with pytest.raises(ConfigError, match="kernel_size"):
        DecoderConvNeXtConfig(kernel_size=4)


def test_tiny_flow_decoder_learns_one_utterance():
    """Given a piecewise-constant mu, as the encoder's, the flow loss on one mel falls well below its start
    and sampling restores much of the detail that mu lacks."""
    from grad_tts.diffusion import Diffusion

    torch.manual_seed(0)
    decoder = Diffusion(12, 0, objective="flow", network=ConvNeXtEstimator(TINY, n_feats=12))
    frames = torch.linspace(0, 6.28, 24)
    mel = torch.stack([torch.sin(frames * (k + 1) / 4) for k in range(12)])[None]
    mu = mel.unflatten(-1, (6, 4)).mean(-1, keepdim=True).expand(-1, -1, -1, 4).flatten(-2)
    mask = torch.ones(1, 1, 24)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        loss, _ = decoder.compute_loss(mel.expand(8, -1, -1), mask.expand(8, -1, -1), mu.expand(8, -1, -1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert sum(losses[-20:]) / 20 < 0.25 * sum(losses[:20]) / 20
    sample = decoder.reverse_diffusion(mu + torch.randn_like(mel), mask, mu, 10)
    assert float((sample - mel).abs().mean()) < 0.5 * float((mu - mel).abs().mean())


def test_the_demos_decoder_config_differs_from_the_demos_only_in_its_decoder():
    from pathlib import Path

    from gradwave.common.config import load_json
    from grad_tts.config import GradTTSConfig

    conf = Path(__file__).resolve().parents[1] / "recipes" / "ljspeech" / "conf"
    demo, with_decoder = (load_json(GradTTSConfig, conf / name) for name in
                          ("demo_grad_tts.json", "demo_grad_tts_decoder.json"))
    assert with_decoder.model.decoder_network == "convnext" and with_decoder.model.decoder_objective == "flow"
    assert with_decoder.train.decoder and with_decoder.train.encoder and with_decoder.inference.timesteps == 10
    changed = {"decoder_network", "decoder_objective"}
    assert {k: v for k, v in vars(demo.model).items() if k not in changed} == \
        {k: v for k, v in vars(with_decoder.model).items() if k not in changed}
    assert (demo.train.batch_size, demo.train.seed, demo.train.max_minutes) == \
        (with_decoder.train.batch_size, with_decoder.train.seed, with_decoder.train.max_minutes)
