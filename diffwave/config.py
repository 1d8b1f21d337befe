"""DiffWave configuration. Model field names are lmnt's `params`, so its published files map directly."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from gradwave.common.config import ConfigError, drop_retired, move_into_sections
from gradwave.common.mel import MelConfig
from gradwave.common.train_config import TrainConfig


KIND = "diffwave"  # the `kind` of this model's checkpoints, whatever the backbone


def linear(start: float, end: float, count: int) -> dict:
    """A linear beta schedule as configs write it (schedules.py expands it)."""
    return {"start": start, "end": end, "count": count}


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
class PriorConfig:
    """PriorGrad (Lee et al., 2022): noise scaled per frame by the mel energy, in training and sampling
    (see prior.py), between `std_min` and 1 for energies up to `energy_max`; `bands` > 0 scales it per
    frame and per band of a block DCT of that many bands."""
    enabled: bool = False
    energy_max: float = 4.0
    std_min: float = 0.1
    bands: int = 0


@dataclass
class BridgeConfig:
    """The bridge process (bridge.py): Griffin-Lim iterations of the guide in training and in sampling (0:
    as in training; more cost sampling a little and training nothing, and bring the guide's phase closer
    to the recording's), whether the network's output is a correction of the guide, the bridge's noise
    scale and its fast sampler's steps, and the loss: the squared error's weight and a log-mel L1 term's
    (at the mel's own FFT size, or at each of `mel_loss_fft_sizes`)."""
    guide_iterations: int = 0
    sampling_guide_iterations: int = 0
    guide_residual: bool = False
    noise: float = 0.5
    steps: int = 5
    clean_loss_weight: float = 1.0
    mel_loss_weight: float = 0.0
    mel_loss_fft_sizes: list = field(default_factory=list)


# Where the prior's and the bridge's fields of earlier files (flat in the model config) now live.
MOVED_FIELDS = {
    "prior_grad": ("prior", "enabled"), "prior_energy_max": ("prior", "energy_max"),
    "prior_std_min": ("prior", "std_min"), "prior_bands": ("prior", "bands"),
    "griffin_lim_guide": ("bridge", "guide_iterations"), "guide_residual": ("bridge", "guide_residual"),
    "bridge_noise": ("bridge", "noise"), "bridge_steps": ("bridge", "steps"),
    "clean_loss_weight": ("bridge", "clean_loss_weight"), "mel_loss_weight": ("bridge", "mel_loss_weight"),
    "mel_loss_fft_sizes": ("bridge", "mel_loss_fft_sizes"),
}


@dataclass
class ConvNeXtConfig:
    """The frame-rate backbone's shape (convnext.py): ConvNeXt blocks of width `dim` (Vocos's), one per mel
    frame, between an STFT of the process state and an inverse STFT of its prediction. `n_fft` is that
    STFT's size (Hann window of n_fft, hop `hop_samples`); a conditional model's must equal its mel's."""
    dim: int = 256
    intermediate_dim: int = 768
    layers: int = 8
    kernel_size: int = 7
    layer_scale: float = 0.1  # each block's residual branch starts at this gain
    n_fft: int = 1024
    # The input convolution's width in frames (None: kernel_size). It reads 3 x (n_fft / 2 + 1) channels of the
    # state's spectrum at every sampling step, so at full size a width of 1 makes each step much cheaper.
    input_kernel_size: Optional[int] = None

    def __post_init__(self):
        if self.input_kernel_size is not None and (self.input_kernel_size < 1 or self.input_kernel_size % 2 == 0):
            raise ConfigError(f"model.convnext.input_kernel_size: {self.input_kernel_size} is not an odd width >= 1")

    def input_width(self) -> int:
        return self.kernel_size if self.input_kernel_size is None else self.input_kernel_size


@dataclass
class DiffWaveModelConfig:
    residual_layers: int = 30
    residual_channels: int = 64
    dilation_cycle_length: int = 10
    unconditional: bool = False
    n_mels: int = 80
    hop_samples: int = 256  # must equal the mel config's hop_length
    # The training betas: {"start", "end", "count"} of a linear schedule, or the list itself (lmnt's files).
    noise_schedule: Any = field(default_factory=lambda: linear(1e-4, 0.05, 50))
    inference_noise_schedule: list = field(default_factory=lambda: [1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5])
    audio_len: int = 22050 * 5  # length of unconditional clips
    sample_rate: int = 22050  # of the audio (lmnt's params carry it); training sets it from the mel config
    # Beyond lmnt's model (all off by default, so published files behave exactly as lmnt's):
    # `bands` > 1 runs the network on that many orthogonal sub-bands at 1/bands of the sample rate
    # (FreGrad's idea, with a block DCT; 2 bands is the Haar wavelet): about `bands` times less work.
    bands: int = 1
    prior: PriorConfig = field(default_factory=PriorConfig)
    # The network: "diffwave" (lmnt's, the fields above), "wavenet" (philsyn's WaveNet of the SaShiMi+DiffWave
    # code and the seed projects: residual_channels, residual_layers, dilation_cycle_length, skip_channels),
    # "sashimi" (Goel et al., 2022: the `sashimi` fields) or "convnext" (at the mel's frame rate on STFT
    # frames: the `convnext` fields).
    backbone: str = "diffwave"
    skip_channels: int = 0  # wavenet: 0 means residual_channels
    step_embedding_dims: list = field(default_factory=lambda: [128, 512, 512])  # wavenet, sashimi: in, mid, out
    sashimi: SashimiConfig = field(default_factory=SashimiConfig)
    convnext: ConvNeXtConfig = field(default_factory=ConvNeXtConfig)
    # The DDPM's noise-prediction loss: "l1" (lmnt) or "l2" (the SaShiMi+DiffWave code's mean squared error).
    loss: str = "l1"
    # The diffusion process: "ddpm" (lmnt's, from noise; ddpm.py) or "bridge" (a Brownian bridge from the
    # mel's Griffin-Lim audio to the recording, the network predicting the clean signal; bridge.py).
    process: str = "ddpm"
    bridge: BridgeConfig = field(default_factory=BridgeConfig)

    @classmethod
    def upgrade(cls, data: dict, where: str) -> dict:
        """Model configs of earlier versions. The options measured no better are gone (refused when they
        were switched on); `predict` is implied by the process; the training statistics moved to the
        checkpoint's `statistics` (see `TrainingStatistics`), and the guide's and prior's mel maps are
        derived from the checkpoint's mel; the prior's and the bridge's fields moved into their sections."""
        clean = ("clean",) if data.get("process") == "bridge" else ("noise",)
        data = drop_retired(data, where, {
            "whitened": (False,), "prior_scale": ("energy",), "prior_band_gain": None, "prior_headroom": None,
            "schedule_to_noise": (False,), "stft_loss_weight": (0, 0.0), "predict": clean,
            "prior_energy_min": None, "prior_mel_band": None, "guide_mel": None})
        return move_into_sections(data, where, MOVED_FIELDS)


@dataclass
class TrainingStatistics:
    """What training measures on its data and the model needs to sample, stored in a checkpoint's
    `statistics` apart from the config a user writes."""
    prior_energy_min: float = 0.0  # PriorGrad: the training set's smallest frame energy


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
