"""Grad-TTS configuration: the model (upstream constructor arguments) and its training."""
from __future__ import annotations

from dataclasses import dataclass, field

from gradwave.common.config import ConfigError, drop_retired
from gradwave.common.mel import MelConfig
from gradwave.common.train_config import TrainConfig
from text import TextConfig


@dataclass
class DecoderConvNeXtConfig:
    """The `convnext` decoder network's shape (grad_tts/convnext_decoder.py): ConvNeXt blocks of width `dim`
    over frames, the mel bins as channels."""
    dim: int = 256
    intermediate_dim: int = 768
    layers: int = 6
    kernel_size: int = 7
    layer_scale: float = 0.1  # each block's residual branch starts at this gain

    def __post_init__(self):
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"model.decoder_convnext.kernel_size: {self.kernel_size} is not an odd width >= 1")


DECODER_NETWORKS = ("unet", "convnext")


@dataclass
class GradTTSModelConfig:
    """Field names are the upstream `GradTTS.__init__` arguments, so upstream configs load as they are."""

    n_vocab: int = 149
    n_spks: int = 1
    spk_emb_dim: int = 64
    n_enc_channels: int = 192
    filter_channels: int = 768
    filter_channels_dp: int = 256
    n_heads: int = 2
    n_enc_layers: int = 6
    enc_kernel: int = 3
    enc_dropout: float = 0.1
    window_size: int = 4
    n_feats: int = 80
    dec_dim: int = 64
    beta_min: float = 0.05
    beta_max: float = 20.0
    pe_scale: int = 1000
    # Masked GroupNorm and linear attention in the U-Net: an item's output then does not depend on
    # how much padding the batch adds. False reproduces upstream exactly (padding leaks into stats).
    padding_invariant: bool = True
    # The time the decoder's process starts from (DiffSinger's shallow diffusion): it trains on t in
    # (0, shallow_start) and samples from the encoder's mean noised to that time, refining detail instead of
    # rebuilding the mel from N(mu, I). 1 is upstream.
    shallow_start: float = 1.0
    # What the decoder's network learns: "score", upstream's score matching on the SDE towards N(mu, I), or
    # "flow", Matcha-TTS's optimal-transport conditional flow matching on the straight path from the mel to
    # mu + noise (the same U-Net and prior; it samples with euler steps only).
    decoder_objective: str = "score"
    # The network that objective trains: "unet", upstream's 2-D U-Net of width dec_dim over (mel bins,
    # frames); or "convnext", ConvNeXt blocks over frames with the mel bins as channels (decoder_convnext),
    # which costs a fraction of the U-Net's arithmetic per frame.
    decoder_network: str = "unet"
    decoder_convnext: DecoderConvNeXtConfig = field(default_factory=DecoderConvNeXtConfig)

    def __post_init__(self):
        from .samplers import OBJECTIVES

        if not 0.0 < self.shallow_start <= 1.0:
            raise ConfigError(f"model.shallow_start: {self.shallow_start} is not in (0, 1]")
        if self.decoder_objective not in OBJECTIVES:
            raise ConfigError(f"model.decoder_objective: {self.decoder_objective!r} is not one of "
                              f"{', '.join(OBJECTIVES)}")
        if self.decoder_network not in DECODER_NETWORKS:
            raise ConfigError(f"model.decoder_network: {self.decoder_network!r} is not one of "
                              f"{', '.join(DECODER_NETWORKS)}")


@dataclass
class GradTTSTrainConfig(TrainConfig):
    batch_size: int = 16
    learning_rate: float = 1e-4
    segment_frames: int = 172  # random 2 s decoder segments (None-like when <= 0: whole utterances)
    grad_clip: float = 1.0
    # False: the decoder never trains (only the encoder and duration predictor do), and the model
    # speaks its encoder's mean (inference.timesteps 0). On a small CPU budget this speaks best.
    decoder: bool = True
    # False: the encoder and duration predictor stay as `--init-from` gives them and only the decoder trains
    # (on the encoder's mean of a model trained before).
    encoder: bool = True

    @classmethod
    def upgrade(cls, data: dict, where: str) -> dict:
        """Configs of earlier versions: the decoder's later start and its detached input (measured no
        better than `decoder: false` on the demo) are gone; 0 and false were their off."""
        data = super().upgrade(data, where)
        return drop_retired(data, where, {"decoder_start_step": (0,), "decoder_start_fraction": (0, 0.0),
                                          "detach_decoder_input": (False,)})


@dataclass
class GradTTSInferenceConfig:
    """How the model is meant to be sampled, stored in its checkpoints: synthesis uses these unless told
    otherwise. Published files carry none and get these defaults (upstream's, length scale 1)."""
    timesteps: int = 10  # reverse-diffusion steps; 0 speaks the encoder's mean (no decoder)
    temperature: float = 1.5
    length_scale: float = 1.0
    sampler: str = "euler"

    def __post_init__(self):
        from .samplers import SAMPLERS

        if self.timesteps < 0:
            raise ConfigError(f"inference.timesteps: {self.timesteps} is below 0")
        if self.temperature <= 0 or self.length_scale <= 0:
            raise ConfigError("inference.temperature and inference.length_scale must be above 0")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"inference.sampler: {self.sampler!r} is not one of {', '.join(SAMPLERS)}")


@dataclass
class GradTTSConfig:
    model: GradTTSModelConfig = field(default_factory=GradTTSModelConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    text: TextConfig = field(default_factory=TextConfig)
    train: GradTTSTrainConfig = field(default_factory=GradTTSTrainConfig)
    inference: GradTTSInferenceConfig = field(default_factory=GradTTSInferenceConfig)

    def __post_init__(self):
        if not (self.train.decoder or self.train.encoder):
            raise ConfigError("train.decoder and train.encoder are both false: nothing would train")
        if not self.train.decoder and self.inference.timesteps:
            raise ConfigError(f"train.decoder is false, so the decoder never trains: set inference.timesteps to 0 "
                              f"(not {self.inference.timesteps}) so that synthesis speaks the encoder's mean")
        if self.model.decoder_objective == "flow" and self.inference.sampler != "euler":
            raise ConfigError(f"model.decoder_objective is flow, which samples with euler steps: inference.sampler "
                              f"{self.inference.sampler!r} does not apply")
