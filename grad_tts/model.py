"""Grad-TTS (Popov et al., 2021): text encoder + duration predictor + MAS + diffusion decoder."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

import monotonic_align
from gradwave.common.distributed import global_mean
from gradwave.common.sampling import generators_from_seeds, per_item_rand, per_item_randn

from .config import GradTTSModelConfig
from .convnext_decoder import ConvNeXtEstimator
from .diffusion import Diffusion
from .text_encoder import TextEncoder, sequence_mask

UNET_MULTIPLE = 4  # two down-samplings in the U-Net


def round_up_frames(length: int) -> int:
    return int(math.ceil(length / UNET_MULTIPLE) * UNET_MULTIPLE)


def durations_to_path(durations: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T_text) durations (possibly fractional) -> hard alignment (B, T_text, T_mel) within `mask`."""
    b, t_x, t_y = mask.shape
    ends = torch.cumsum(durations, 1)
    path = sequence_mask(ends.reshape(-1), t_y).to(mask.dtype).view(b, t_x, t_y)
    path = path - nn.functional.pad(path, (0, 0, 1, 0))[:, :-1]
    return path * mask


def duration_loss(logw, logw_target, lengths):
    return global_mean(torch.sum((logw - logw_target) ** 2), torch.sum(lengths))


class GradTTS(nn.Module):
    def __init__(self, config: GradTTSModelConfig):
        super().__init__()
        self.config = config
        c = config
        self.n_feats = c.n_feats
        if c.n_spks > 1:
            self.spk_emb = nn.Embedding(c.n_spks, c.spk_emb_dim)
        self.encoder = TextEncoder(c.n_vocab, c.n_feats, c.n_enc_channels, c.filter_channels, c.filter_channels_dp,
                                   c.n_heads, c.n_enc_layers, c.enc_kernel, c.enc_dropout, c.window_size)
        network = None
        if c.decoder_network == "convnext":
            network = ConvNeXtEstimator(c.decoder_convnext, c.n_feats, c.n_spks, c.spk_emb_dim, c.pe_scale)
        self.decoder = Diffusion(c.n_feats, c.dec_dim, c.n_spks, c.spk_emb_dim, c.beta_min, c.beta_max, c.pe_scale,
                                 c.padding_invariant, c.shallow_start, c.decoder_objective, network)

    def speaker_embedding(self, spk: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        if self.config.n_spks <= 1:
            return None
        if spk is None:
            raise ValueError(f"this model has {self.config.n_spks} speakers: pass speaker ids")
        return self.spk_emb(spk)

    def log_prior(self, mu_x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log N(y_j; mu_i, I) for every token i and frame j: (B, T_text, T_mel), in float32."""
        mu_x, y = mu_x.float(), y.float()
        const = -0.5 * math.log(2 * math.pi) * self.n_feats
        y_square = -0.5 * y.pow(2).sum(1, keepdim=True)
        mu_square = -0.5 * mu_x.pow(2).sum(1).unsqueeze(-1)
        return y_square + torch.matmul(mu_x.transpose(1, 2), y) + mu_square + const

    def losses(self, x, x_lengths, y, y_lengths, spk=None, out_size: Optional[int] = None,
               generators: Optional[list[torch.Generator]] = None, train_decoder: bool = True,
               train_encoder: bool = True):
        """Upstream `compute_loss`: (dur_loss, prior_loss, diff_loss). With `generators` (one per item)
        the segment offsets and diffusion noise of each item come from its own generator.

        `train_decoder=False` skips the decoder (diff_loss is 0) and the segment cut, so the prior
        loss sees whole utterances (the encoder-only training of `train.decoder = false`);
        `train_encoder=False` runs the encoder without gradients (`train.encoder = false`)."""
        spk = self.speaker_embedding(spk)
        with torch.set_grad_enabled(train_encoder and torch.is_grad_enabled()):
            mu_x, logw, x_mask = self.encoder(x, x_lengths)
        y_mask = sequence_mask(y_lengths, y.shape[-1]).unsqueeze(1).to(x_mask.dtype)
        attn = self.align(mu_x, x_mask, y, y_mask)
        logw_target = torch.log(1e-8 + attn.sum(-1)).unsqueeze(1) * x_mask
        dur_loss = duration_loss(logw.float(), logw_target, x_lengths)
        if train_decoder and out_size is not None and out_size > 0:
            y, attn, y_mask = self._random_segments(y, y_lengths, attn, out_size, generators)
        mu_y = self.aligned(attn, mu_x)
        if train_decoder:
            diff_loss, _ = self.decoder.compute_loss(y, y_mask, mu_y, spk, generators=generators)
        else:
            diff_loss = torch.zeros((), device=y.device)
        y32, mu32, mask32 = y.float(), mu_y.float(), y_mask.float()
        prior_loss = torch.sum(0.5 * ((y32 - mu32) ** 2 + math.log(2 * math.pi)) * mask32)
        prior_loss = global_mean(prior_loss, torch.sum(mask32) * self.n_feats)
        return dur_loss, prior_loss, diff_loss.float()

    @staticmethod
    def aligned(attn: torch.Tensor, mu_x: torch.Tensor) -> torch.Tensor:
        """Each frame's mean along an alignment path: (B, T_text, T_mel) and (B, n_feats, T_text) ->
        (B, n_feats, T_mel)."""
        return torch.matmul(attn.transpose(1, 2).to(mu_x.dtype), mu_x.transpose(1, 2)).transpose(1, 2)

    def align(self, mu_x, x_mask, y, y_mask) -> torch.Tensor:
        """Monotonic alignment search of text (B, T_text) to mel frames: (B, T_text, T_mel), fp32.
        The search runs on the CPU; only the durations come back, and the path is built from them
        on the model's device (the same 0/1 path, without moving it across)."""
        attn_mask = (x_mask.unsqueeze(-1) * y_mask.unsqueeze(2)).squeeze(1).float()
        with torch.no_grad(), torch.autocast(device_type=y.device.type, enabled=False):
            durations = monotonic_align.maximum_path_durations(self.log_prior(mu_x, y), attn_mask, check_mask=False)
            return durations_to_path(durations.float(), attn_mask)

    @torch.no_grad()
    def teacher_forced(self, x, x_lengths, y, y_lengths, n_timesteps: int = 10, temperature: float = 1.5,
                       spk=None, generators: Optional[Sequence[torch.Generator]] = None) -> torch.Tensor:
        """The decoder's mel along the alignment of each text to its recording's mel `y`: the same
        frame count and timing as `y` (B, n_feats, T_mel), zero past each item's length
        (`n_timesteps=0`: the encoder's mean along that alignment)."""
        spk = self.speaker_embedding(spk)
        mu_x, _, x_mask = self.encoder(x, x_lengths)
        frames = round_up_frames(y.shape[-1])
        y = nn.functional.pad(y, (0, frames - y.shape[-1]))
        y_mask = sequence_mask(y_lengths, frames).unsqueeze(1).to(x_mask.dtype)
        attn = self.align(mu_x, x_mask, y, y_mask)
        mu_y = self.aligned(attn, mu_x)
        if n_timesteps == 0:
            return mu_y[:, :, :int(y_lengths.max())]
        noise = torch.randn_like(mu_y) if generators is None else per_item_randn(mu_y.shape[1:], generators, mu_y)
        start = (mu_y + noise * self.decoder.start_scale() / temperature) * y_mask
        mel = self.decoder.reverse_diffusion(start, y_mask, mu_y, n_timesteps, False, spk)
        return mel[:, :, :int(y_lengths.max())]

    @staticmethod
    def _random_segments(y, y_lengths, attn, out_size, generators=None):
        """A random window of `out_size` frames per item (the whole item when shorter)."""
        max_offset = (y_lengths - out_size).clamp_min(0)
        draw = torch.rand(y.shape[0], device=y.device) if generators is None else per_item_rand(generators, y)
        offset = (draw * max_offset).long()
        index = offset[:, None] + torch.arange(out_size, device=y.device)[None, :]
        cut_lengths = torch.clamp(y_lengths, max=out_size)
        valid = torch.arange(out_size, device=y.device)[None, :] < cut_lengths[:, None]
        index = torch.where(valid, index, torch.zeros_like(index)).clamp(max=y.shape[-1] - 1)
        y_cut = torch.gather(y, 2, index[:, None, :].expand(-1, y.shape[1], -1)) * valid[:, None, :]
        attn_cut = torch.gather(attn, 2, index[:, None, :].expand(-1, attn.shape[1], -1)) * valid[:, None, :]
        return y_cut, attn_cut, valid[:, None, :].to(y.dtype)

    def compute_loss(self, batch: dict) -> dict:
        seeds = batch.get("seeds")
        generators = None if seeds is None else generators_from_seeds(seeds)
        dur_loss, prior_loss, diff_loss = self.losses(batch["x"], batch["x_lengths"], batch["y"], batch["y_lengths"],
                                                      batch.get("spk"), batch.get("out_size"), generators,
                                                      batch.get("train_decoder", True), batch.get("train_encoder", True))
        return {"loss": dur_loss + prior_loss + diff_loss, "dur_loss": dur_loss, "prior_loss": prior_loss,
                "diff_loss": diff_loss}

    @torch.no_grad()
    def synthesise(self, x, x_lengths, n_timesteps: int = 10, temperature: float = 1.0, stoc: bool = False,
                   length_scale: float = 1.0, spk=None,
                   generators: Optional[Sequence[torch.Generator]] = None, sampler: str = "euler",
                   decoder_bf16: bool = False, denoised_range: Optional[tuple[float, float]] = None) -> dict:
        """Text ids -> mel. Returns `mel` and `encoder` (B, n_feats, T_max), `mel_lengths` (B,),
        `attn` (B, 1, T_text, T_max) and `durations` (B, T_text), each item masked to its length.

        `sampler` names the reverse-diffusion solver (grad_tts.samplers: euler, ml, dpm);
        `decoder_bf16` runs the decoder's network in bfloat16 (the encoder and durations stay fp32).
        `denoised_range` (the mel features' range) keeps ml and dpm finite under a poor score.
        `n_timesteps=0` skips the decoder: the mel is the encoder's mean along the durations
        (what the decoder refines; useful to tell how much the decoder adds).

        Without `generators` the noise is drawn as upstream does (`randn_like` over the padded
        batch). With one generator per item, each item's noise depends only on its own generator
        and length, so batched output equals item-by-item output.
        """
        spk = self.speaker_embedding(spk)
        mu_x, logw, x_mask = self.encoder(x, x_lengths)
        durations = torch.ceil(torch.exp(logw) * x_mask) * length_scale
        y_lengths = torch.clamp_min(durations.sum((1, 2)), 1).long()
        y_max = int(y_lengths.max())
        y_mask = sequence_mask(y_lengths, round_up_frames(y_max)).unsqueeze(1).to(x_mask.dtype)
        attn = durations_to_path(durations.squeeze(1), x_mask.squeeze(1).unsqueeze(-1) * y_mask)
        mu_y = self.aligned(attn, mu_x)
        if n_timesteps == 0:
            return {"mel": mu_y[:, :, :y_max], "encoder": mu_y[:, :, :y_max], "mel_lengths": y_lengths,
                    "attn": attn[:, :, :y_max].unsqueeze(1), "durations": durations.squeeze(1)}
        if generators is None:
            z = mu_y + torch.randn_like(mu_y) * self.decoder.start_scale() / temperature
            noise = None
        else:
            if len(generators) != x.shape[0]:
                raise ValueError(f"{len(generators)} generators for a batch of {x.shape[0]}")
            lengths = y_lengths.tolist()

            def noise(like: torch.Tensor) -> torch.Tensor:
                out = torch.zeros_like(like)
                for i, (gen, length) in enumerate(zip(generators, lengths)):
                    out[i, :, :length] = torch.randn(like.shape[1], length, generator=gen).to(like)
                return out

            z = mu_y + noise(mu_y) * self.decoder.start_scale() / temperature
        mel = self.decoder.reverse_diffusion(z, y_mask, mu_y, n_timesteps, stoc, spk, noise, sampler, decoder_bf16,
                                             denoised_range)
        return {"mel": mel[:, :, :y_max], "encoder": mu_y[:, :, :y_max], "mel_lengths": y_lengths,
                "attn": attn[:, :, :y_max].unsqueeze(1), "durations": durations.squeeze(1)}
