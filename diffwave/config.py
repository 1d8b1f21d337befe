"""DiffWave configuration. Model field names are lmnt's `params`, so its published files map directly."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.mel import MelConfig
from common.train_config import TrainConfig


KIND = "diffwave"  # the `kind` of this model's checkpoints, whatever the backbone


def linear_schedule(start: float = 1e-4, end: float = 0.05, steps: int = 50) -> list[float]:
    return np.linspace(start, end, steps).tolist()


@dataclass
class SashimiConfig:
    """The SaShiMi backbone's shape, under the reference code's names (`l_max` is its `L`: the
    longest convolution kernel, the training clip length)."""
    d_model: int = 64
    n_layers: int = 8
    pool: list = field(default_factory=lambda: [4, 4])
    expand: int = 2
    ff: int = 2
    unet: bool = True
    d_state: int = 64
    l_max: int = 16000
    # The S4 kernel's Cauchy sums over both members of each conjugate pair of the state, as the reference
    # code's GPU paths (which trained the published models) do; false: over one member only, as its
    # CPU fallback does (the reference vectors were made with it).
    conjugate_pairs: bool = True
    # Whose modules and parameter names: "diffwave_sashimi" (albertfgu/diffwave-sashimi, the SaShiMi+DiffWave
    # code) or "state_spaces" (the state-spaces repo's SaShiMi as RF5/DiffWave-unconditional uses it);
    # see diffwave/sashimi.py.
    layout: str = "diffwave_sashimi"


@dataclass
class DiffWaveModelConfig:
    residual_layers: int = 30
    residual_channels: int = 64
    dilation_cycle_length: int = 10
    unconditional: bool = False
    n_mels: int = 80
    hop_samples: int = 256  # must equal the mel config's hop_length
    noise_schedule: list = field(default_factory=linear_schedule)
    inference_noise_schedule: list = field(default_factory=lambda: [1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5])
    audio_len: int = 22050 * 5  # length of unconditional clips
    sample_rate: int = 22050  # of the audio (lmnt's params carry it); training sets it from the mel config
    # Options beyond lmnt's model (all off by default, so published files behave exactly as lmnt's):
    # `bands` > 1 runs the network on that many orthogonal sub-bands at 1/bands of the sample rate
    # (FreGrad's idea, with a block DCT; 2 bands is the Haar wavelet): about `bands` times less work.
    bands: int = 1
    # PriorGrad (Lee et al., 2022): noise scaled per frame by the mel energy, in training and sampling.
    prior_grad: bool = False
    prior_energy_min: float = 0.0  # the training set's minimum frame energy (set by training)
    prior_energy_max: float = 4.0
    prior_std_min: float = 0.1
    # > 0: PriorGrad's scale per frame *and* per frequency band, a diagonal covariance in the
    # orthogonal block-DCT domain of this many bands, so the noise carries the mel's coarse spectral
    # envelope (in the spirit of SpecGrad). `prior_mel_band` maps each mel bin to its band (set by training).
    prior_bands: int = 0
    prior_mel_band: list = field(default_factory=list)
    # How `prior_bands` scales each band: "energy" (PriorGrad's map of the frame energy, as above, per band)
    # or "amplitude": the band's mel amplitude times its gain (`prior_band_gain`, the training set's
    # typical ratio of the band's waveform level to that amplitude, set by training) and `prior_headroom`,
    # clamped to [prior_std_min, 1]. The noise then follows the signal's level in every band and frame
    # (SpecGrad's aim), where the energy map leaves quiet bands and frames far below their noise.
    prior_scale: str = "energy"
    prior_band_gain: list = field(default_factory=list)
    prior_headroom: float = 2.0
    # The network sees and predicts the diffusion in the prior's whitened coordinates y = Sigma^-1/2 x:
    # the same process as PriorGrad's, but its input and its target (white noise) are of one scale in
    # every band and frame, however quiet, and the loss is `loss` on that noise.
    whitened: bool = False
    # Rescale the training schedule so that its last step is (almost) pure noise (FreGrad, tau 1e-4).
    schedule_to_noise: bool = False
    # Weight of a multi-resolution STFT loss on the clean-signal estimate x0_hat (0: lmnt's loss only).
    stft_loss_weight: float = 0.0
    # Weight of a log-mel L1 loss on the clean-signal estimate, in the guide's mel definition (needs
    # griffin_lim_guide). Unlike the STFT loss's log magnitudes, it leaves out silent bins and the band
    # above the mel's f_max, which the mel does not determine.
    mel_loss_weight: float = 0.0
    # FFT sizes of a multi-resolution mel loss (each with hop size/4 and n_mels in proportion to the
    # guide mel's n_mels per FFT bin, as BigVGAN's multi-scale mel loss); empty: the guide's mel alone.
    # Griffin-Lim's audio is consistent at its own resolution; at the others its phase errors show.
    mel_loss_fft_sizes: list = field(default_factory=list)
    # What the network outputs: "noise" (lmnt's epsilon) or "clean" (the clean signal x0; the loss is
    # then on x0, so near-clean steps only need the identity and their errors are not amplified).
    predict: str = "noise"
    # With predict "clean": the weight of the squared error on the clean signal (0: the spectral terms
    # alone, which do not ask for the recording's phase, where a squared error shrinks what it cannot place).
    clean_loss_weight: float = 1.0
    # The noise predictor (diffusion itself is backbone-independent, see diffusion.py): "diffwave"
    # (lmnt's network, the fields above), "wavenet" (philsyn's WaveNet of the SaShiMi+DiffWave code and
    # the seed projects: residual_channels, residual_layers, dilation_cycle_length, skip_channels) or
    # "sashimi" (Goel et al., 2022: the `sashimi` fields).
    backbone: str = "diffwave"
    skip_channels: int = 0  # wavenet: 0 means residual_channels
    step_embedding_dims: list = field(default_factory=lambda: [128, 512, 512])  # wavenet, sashimi: in, mid, out
    sashimi: SashimiConfig = field(default_factory=SashimiConfig)
    # The noise-prediction loss: "l1" (lmnt) or "l2" (the SaShiMi+DiffWave code's mean squared error).
    loss: str = "l1"
    # > 0: the network also sees the Griffin-Lim waveform of its mel (from this many iterations, fixed
    # phase seed), as input channels beside the noisy signal (in its bands): the waveform the mel
    # implies, with consistent phase, for the network to refine. `guide_mel` is the mel definition
    # Griffin-Lim inverts (set by training from the mel config). diffwave backbone only.
    griffin_lim_guide: int = 0
    guide_mel: dict = field(default_factory=dict)
    # With predict "clean": the network's output is added to the guide, so it predicts the correction
    # to Griffin-Lim's audio (an untrained network then samples the guide itself).
    guide_residual: bool = False
    # The diffusion process: "ddpm" (lmnt's, from noise) or "bridge": a Brownian bridge from the guide
    # (griffin_lim_guide, predict "clean") to the recording, x_t = (1 - t) x0 + t g + bridge_noise
    # sqrt(t (1 - t)) eps with t in (0, 1] (eps shaped by the prior when there is one; I2SB, Liu et al.,
    # 2023). Sampling starts at the guide itself, which is what the network saw at t = 1 in training,
    # where a DDPM refinement from a noised guide starts off the inputs it was trained on.
    # `bridge_steps` is the fast sampler's step count.
    process: str = "ddpm"
    bridge_noise: float = 0.5
    bridge_steps: int = 5


@dataclass
class DiffWaveTrainConfig(TrainConfig):
    batch_size: int = 16
    learning_rate: float = 2e-4
    crop_mel_frames: int = 62
    sample_every: int = 5000


@dataclass
class DiffWaveConfig:
    model: DiffWaveModelConfig = field(default_factory=DiffWaveModelConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    train: DiffWaveTrainConfig = field(default_factory=DiffWaveTrainConfig)
