"""The Grad-TTS decoder's process: forward noising towards N(mu, I), its loss, and the reverse SDE/ODE solver.
With `objective="flow"` the same network learns instead the velocity of the straight path from the mel to
mu + eps (conditional flow matching; grad_tts.samplers)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gradwave.common.distributed import global_mean
from gradwave.common.sampling import per_item_rand, per_item_randn

from .samplers import NoiseFn, Schedule, solve, start_scale
from .unet import GradLogPEstimator2d


class Diffusion(nn.Module):
    def __init__(self, n_feats, dim, n_spks=1, spk_emb_dim=64, beta_min=0.05, beta_max=20.0, pe_scale=1000,
                 padding_invariant=True, t_start=1.0, objective="score", network: Optional[nn.Module] = None):
        super().__init__()
        self.n_feats = n_feats
        self.t_start = t_start
        self.objective = objective
        self.beta_min = beta_min
        self.beta_max = beta_max
        # `network`: another estimator with the U-Net's call (grad_tts.convnext_decoder); by default upstream's
        if network is None:
            network = GradLogPEstimator2d(dim, n_spks=n_spks, spk_emb_dim=spk_emb_dim, n_feats=n_feats,
                                          pe_scale=pe_scale, padding_invariant=padding_invariant)
        self.estimator = network

    def forward_diffusion(self, x0, mask, mu, t, z=None):
        cum = self.schedule().integral(t[:, None, None])
        mean = x0 * torch.exp(-0.5 * cum) + mu * (1.0 - torch.exp(-0.5 * cum))
        variance = 1.0 - torch.exp(-cum)
        z = torch.randn_like(x0) if z is None else z
        xt = mean + z * torch.sqrt(variance)
        return xt * mask, z * mask

    @torch.no_grad()
    def reverse_diffusion(self, z, mask, mu, n_timesteps: int, stoc: bool = False, spk=None,
                          noise: Optional[NoiseFn] = None, sampler: str = "euler", bf16: bool = False,
                          denoised_range: Optional[tuple[float, float]] = None):
        """From t=`self.t_start` (upstream: 1) to t=0 with `sampler` (see grad_tts.samplers; euler is upstream's solver,
        stochastic with `stoc`). `noise(like)` draws the stochastic samplers' noise (default
        `torch.randn_like`), so callers can make it per item. `bf16` runs the score network under
        bfloat16 autocast (the solver's arithmetic stays fp32). `denoised_range` bounds the ml and dpm
        solvers' estimate of the clean mel (see grad_tts.samplers)."""

        def score(x: torch.Tensor, t: float) -> torch.Tensor:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                time = t * torch.ones(z.shape[0], dtype=z.dtype, device=z.device)
                return self.estimator(x, mask, mu, time, spk).float()

        return solve(sampler, z, mu, mask, score, self.schedule(), n_timesteps, stoc, noise or torch.randn_like,
                     denoised_range, self.t_start, self.objective)

    def schedule(self) -> Schedule:
        return Schedule(self.beta_min, self.beta_max)

    def start_scale(self) -> float:
        """The noise's standard deviation around mu where the reverse process starts (grad_tts.samplers)."""
        return start_scale(self.schedule(), self.t_start, self.objective)

    def loss_t(self, x0, mask, mu, t, spk=None, z=None):
        if self.objective == "flow":
            return self.flow_loss_t(x0, mask, mu, t, spk, z)
        xt, z = self.forward_diffusion(x0, mask, mu, t, z)
        cum = self.schedule().integral(t[:, None, None])
        estimate = self.estimator(xt, mask, mu, t, spk) * torch.sqrt(1.0 - torch.exp(-cum))
        loss = global_mean(torch.sum((estimate + z) ** 2), torch.sum(mask) * self.n_feats)
        return loss, xt

    def flow_loss_t(self, x0, mask, mu, t, spk=None, z=None):
        """The flow objective: x_t = (1 - t) x0 + t (mu + z), whose velocity dx_t/dt = mu + z - x0 the network
        learns (Matcha-TTS's OT-CFM with sigma_min = 0, noise around the encoder's mu as Grad-TTS draws it)."""
        z = torch.randn_like(x0) if z is None else z
        end, time = mu + z, t[:, None, None]
        xt = ((1 - time) * x0 + time * end) * mask
        velocity = self.estimator(xt, mask, mu, t, spk)
        loss = global_mean(torch.sum((velocity - (end - x0) * mask) ** 2), torch.sum(mask) * self.n_feats)
        return loss, xt

    def compute_loss(self, x0, mask, mu, spk=None, offset: float = 1e-5,
                     generators: Optional[list[torch.Generator]] = None):
        """Loss at a random time in (0, t_start) per item; with `generators` (one per item) t and the noise
        come from them."""
        if generators is None:
            t = torch.rand(x0.shape[0], dtype=x0.dtype, device=x0.device)
            z = None
        else:
            t = per_item_rand(generators, x0)
            z = per_item_randn(tuple(x0.shape[1:]), generators, x0)
        return self.loss_t(x0, mask, mu, (t * self.t_start).clamp(offset, self.t_start - offset), spk, z)
