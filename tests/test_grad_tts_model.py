import json

import pytest
import torch

from grad_tts.config import GradTTSModelConfig
from grad_tts.model import GradTTS

TOL = dict(atol=1e-5, rtol=1e-5)


def assert_close_to_scale(actual, expected):
    """Reverse-diffusion outputs reach ~100 in magnitude and pass through 4 U-Net evaluations, where
    float32 summation order alone moves values by a few 1e-6 of that scale: compare the largest
    error with 1e-5 of the largest value (an error in the model gives errors of order 1 or more)."""
    assert actual.shape == expected.shape
    error = (actual - expected).abs().max().item()
    assert error <= 1e-5 * max(1.0, expected.abs().max().item()), error


def reference_model(ref, **overrides):
    """Upstream arithmetic: no padding masks in the U-Net, and its convolutions in the default
    (contiguous) layout; channels-last sums in another order (see test_channels_last_layout)."""
    model = GradTTS(GradTTSModelConfig(**ref["config"], padding_invariant=False, **overrides)).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    return model.to(memory_format=torch.contiguous_format)


@pytest.fixture(scope="module", params=["single", "multi"])
def case(request, load_reference):
    ref = load_reference("grad_tts_tiny.pt")[request.param]
    return ref, reference_model(ref)


def test_encoder(case):
    ref, model = case
    mu, logw, x_mask = model.encoder(ref["x"], ref["x_lengths"])
    torch.testing.assert_close(mu, ref["encoder"]["mu_x"], **TOL)
    torch.testing.assert_close(logw, ref["encoder"]["logw"], **TOL)
    torch.testing.assert_close(x_mask, ref["encoder"]["x_mask"])


def test_score_network(case):
    ref, model = case
    est = ref["estimator"]
    out = model.decoder.estimator(est["xt"], est["mask"], est["mu"], est["t"], model.speaker_embedding(ref["spk"]))
    torch.testing.assert_close(out, est["out"], **TOL)


def test_reverse_diffusion(case):
    ref, model = case
    rd = ref["reverse_diffusion"]
    out = model.decoder.reverse_diffusion(rd["z"], rd["mask"], rd["mu"], rd["n_timesteps"], False,
                                          model.speaker_embedding(ref["spk"]))
    assert_close_to_scale(out, rd["out"])


def test_losses(case):
    ref, model = case
    loss = ref["losses"]
    dur, prior, diff = model.losses(ref["x"], ref["x_lengths"], loss["y"], loss["y_lengths"], ref["spk"])
    torch.testing.assert_close(dur, loss["dur_loss"], **TOL)
    torch.testing.assert_close(prior, loss["prior_loss"], **TOL)
    assert torch.isfinite(diff)


def test_diffusion_loss_is_the_forward_process(case):
    """The diffusion loss at a fixed t and noise, computed by hand from Grad-TTS's forward process:
    x_t = x0 e^{-B/2} + mu (1 - e^{-B/2}) + z sqrt(1 - e^{-B}), B = beta_min t + (beta_max - beta_min) t^2 / 2,
    loss = |score(x_t) sqrt(1 - e^{-B}) + z|^2 over the masked frames and features."""
    _, model = case
    decoder = model.decoder
    g = torch.Generator().manual_seed(3)
    x0, mu, z = (torch.randn(2, 80, 16, generator=g) for _ in range(3))
    mask = torch.ones(2, 1, 16)
    mask[1, :, 12:] = 0
    t = torch.tensor([0.3, 0.8])
    spk = model.speaker_embedding(torch.tensor([0, 1]) if model.config.n_spks > 1 else None)
    big_b = decoder.beta_min * t + 0.5 * (decoder.beta_max - decoder.beta_min) * t ** 2
    keep, noise_std = torch.exp(-0.5 * big_b)[:, None, None], torch.sqrt(1 - torch.exp(-big_b))[:, None, None]
    xt = (x0 * keep + mu * (1 - keep) + z * noise_std) * mask
    score = decoder.estimator(xt, mask, mu, t, spk)
    expected = ((score * noise_std + z * mask) ** 2).sum() / (mask.sum() * 80)
    loss, xt_model = decoder.loss_t(x0, mask, mu, t, spk, z)
    torch.testing.assert_close(xt_model, xt, **TOL)
    torch.testing.assert_close(loss, expected, **TOL)


def test_seeded_inference(case):
    ref, model = case
    inf = ref["inference"]
    torch.manual_seed(inf["seed"])
    out = model.synthesise(ref["x"], ref["x_lengths"], inf["n_timesteps"], inf["temperature"], False,
                           inf["length_scale"], ref["spk"])
    frames = out["mel"].shape[-1]
    torch.testing.assert_close(out["encoder"], inf["encoder_outputs"], **TOL)
    assert_close_to_scale(out["mel"], inf["decoder_outputs"])
    # upstream returns the alignment padded to a multiple of 4 frames; ours is trimmed
    torch.testing.assert_close(out["attn"], inf["attn"][..., :frames])
    assert inf["attn"][..., frames:].abs().sum() == 0


def test_channels_last_layout(load_reference):
    ref = load_reference("grad_tts_tiny.pt")["multi"]
    contiguous = reference_model(ref)
    channels_last = reference_model(ref).to(memory_format=torch.channels_last)
    inf = ref["inference"]
    outputs = []
    for model in (contiguous, channels_last):
        torch.manual_seed(inf["seed"])
        outputs.append(model.synthesise(ref["x"], ref["x_lengths"], inf["n_timesteps"], inf["temperature"], False,
                                        inf["length_scale"], ref["spk"])["mel"])
    error = (outputs[0] - outputs[1]).abs().max().item()
    assert error <= 1e-4 * outputs[0].abs().max().item()


@pytest.mark.parametrize("name", ["grad_tts_ljspeech", "grad_tts_libritts"])
def test_full_size_layout(reference_dir, name):
    layout = json.loads((reference_dir / "checkpoint_layouts.json").read_text())[name]
    model = GradTTS(GradTTSModelConfig(**layout["config"]))
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == layout["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == layout["n_params"]


def test_speaker_mlp_follows_n_feats():
    model = GradTTS(GradTTSModelConfig(n_spks=3, spk_emb_dim=8, n_enc_channels=16, filter_channels=32,
                                       filter_channels_dp=16, n_enc_layers=1, n_feats=40, dec_dim=8))
    assert model.decoder.estimator.spk_mlp[2].out_features == 40
    x = torch.randint(0, 149, (2, 9))
    out = model.synthesise(x, torch.tensor([9, 5]), n_timesteps=2, spk=torch.tensor([0, 2]))
    assert out["mel"].shape[1] == 40


def tiny_config(**overrides):
    base = dict(n_enc_channels=16, filter_channels=32, filter_channels_dp=16, n_enc_layers=2, dec_dim=8,
                n_feats=80)
    base.update(overrides)
    return GradTTSModelConfig(**base)


@pytest.mark.parametrize("stoc,sampler", [(False, "euler"), (True, "euler"), (False, "ml"), (False, "dpm")])
def test_batched_equals_item_by_item(stoc, sampler):
    torch.manual_seed(3)
    model = GradTTS(tiny_config(n_spks=2, spk_emb_dim=8)).eval()
    for p in model.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    lengths = torch.tensor([17, 6, 11])
    x = torch.randint(0, 149, (3, 17)) * (torch.arange(17)[None] < lengths[:, None])
    spk = torch.tensor([1, 0, 1])

    def gens():
        return [torch.Generator().manual_seed(100 + i) for i in range(3)]

    batched = model.synthesise(x, lengths, n_timesteps=3, temperature=1.5, stoc=stoc, spk=spk, generators=gens(),
                               sampler=sampler)
    for i in range(3):
        single = model.synthesise(x[i:i + 1, :lengths[i]], lengths[i:i + 1], n_timesteps=3, temperature=1.5,
                                  stoc=stoc, spk=spk[i:i + 1], generators=[gens()[i]], sampler=sampler)
        n = int(batched["mel_lengths"][i])
        assert n == int(single["mel_lengths"][0])
        # ml and dpm divide by a_1 = 0.007 at t=1 (the denoised estimate), which magnifies the float
        # rounding differences of a batched network call about a hundredfold
        tolerance = 1e-4 if sampler == "euler" else 2e-3
        torch.testing.assert_close(batched["mel"][i, :, :n], single["mel"][0, :, :n], atol=tolerance, rtol=tolerance)
        assert batched["mel"][i, :, n:].abs().sum() == 0


def test_equal_lengths_take_the_fused_norms_and_answer_as_the_masked_ones():
    """Items of one valid length (a batch of one always) normalise only the frames before it with the fused
    GroupNorm; a batch of mixed lengths masks its statistics; both give each item the same score."""
    from grad_tts.unet import GradLogPEstimator2d

    torch.manual_seed(0)
    estimator = GradLogPEstimator2d(8, n_feats=20).eval()
    x, mu = torch.randn(3, 20, 16), torch.randn(3, 20, 16)
    mask = (torch.arange(16) < torch.tensor([13, 13, 6])[:, None]).float().unsqueeze(1)
    t = torch.tensor([0.3, 0.7, 0.5])
    assert estimator.padding_statistics(mask[:2].unsqueeze(1)) == (True, 13)
    assert estimator.padding_statistics(mask.unsqueeze(1)) == (True, None)
    with torch.no_grad():
        equal = estimator(x[:2], mask[:2], mu[:2], t[:2])
        mixed = estimator(x, mask, mu, t)
    torch.testing.assert_close(equal, mixed[:2], rtol=1e-5, atol=1e-5)
    assert equal[:, :, 13:].abs().sum() == 0


def test_bf16_decoder_keeps_durations_and_stays_close():
    torch.manual_seed(3)
    model = GradTTS(tiny_config()).eval()
    for p in model.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    x, lengths = torch.randint(1, 149, (1, 17)), torch.tensor([17])
    full = model.synthesise(x, lengths, n_timesteps=4, generators=[torch.Generator().manual_seed(0)])
    half = model.synthesise(x, lengths, n_timesteps=4, generators=[torch.Generator().manual_seed(0)],
                            decoder_bf16=True)
    assert torch.equal(full["durations"], half["durations"]) and half["mel"].dtype == torch.float32
    assert torch.equal(full["encoder"], half["encoder"])
    difference = float((full["mel"] - half["mel"]).abs().mean())
    assert 0 < difference < 0.05 * float(full["mel"].std())


@pytest.mark.parametrize("file_name, pe_scale", [("grad-tts.pt", 1000), ("grad-tts-old.pt", 1)])
def test_bare_upstream_file_runs_as_upstream(load_reference, tmp_path, file_name, pe_scale):
    from grad_tts.checkpoint import load_grad_tts

    ref = load_reference("grad_tts_tiny.pt")["single"]
    path = tmp_path / file_name
    torch.save(ref["state_dict"], path)
    model, _ = load_grad_tts(path)
    assert model.config.padding_invariant is False  # upstream's GroupNorm and attention see padding
    assert model.config.pe_scale == pe_scale
    if pe_scale == 1000:  # the reference was computed with upstream's current pe_scale
        model.to(memory_format=torch.contiguous_format)
        est = ref["estimator"]
        out = model.decoder.estimator(est["xt"], est["mask"], est["mu"], est["t"], None)
        torch.testing.assert_close(out, est["out"], **TOL)


def test_unet_layout_follows_the_device_unless_asked(monkeypatch):
    from grad_tts import unet as unet_module
    from grad_tts.unet import GradLogPEstimator2d

    def weights():  # of the 3x3 convolutions (a 1x1 kernel is laid out alike either way)
        return [m.weight for m in unet.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1]

    monkeypatch.setattr(unet_module, "avx512_cpu", lambda: False)  # AVX2: contiguous is faster
    unet = GradLogPEstimator2d(8, dim_mults=(1, 2), n_feats=16)
    assert weights() and all(w.is_contiguous() for w in weights())
    monkeypatch.setattr(unet_module, "avx512_cpu", lambda: True)
    unet = GradLogPEstimator2d(8, dim_mults=(1, 2), n_feats=16)
    assert weights() and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                             for w in weights())
    unet.to(memory_format=torch.contiguous_format)  # an explicit request on the same device stays
    assert all(w.is_contiguous() for w in weights())
    unet.to(memory_format=torch.channels_last).to("meta")  # another kind of device: its own layout
    assert all(w.is_contiguous() for w in weights())
