"""S4 (Gu et al., 2022) in plain PyTorch: the bidirectional layer SaShiMi is built from, with the
normal-plus-low-rank (NPLR) kernel of the reference code, its parameter names and its arithmetic.

The convolution kernel is the SSM's generating function evaluated at the roots of unity (a Cauchy
sum per frequency, done here as a dense product, chunked over channels), corrected for the rank-1
term with the Woodbury identity and brought back by an inverse FFT. No CUDA extension, no pykeops.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

CAUCHY_CHUNK_ELEMENTS = 1 << 24  # complex values of one chunk's Cauchy matrix (channels x state x frequencies)
LAYOUTS = ("diffwave_sashimi", "state_spaces")


def as_complex(x: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(x.contiguous())


def with_conjugates(x: torch.Tensor) -> torch.Tensor:
    """(..., N) -> (..., 2N): the state's conjugate pairs written out."""
    return torch.cat([x, x.conj()], dim=-1)


def hippo_legs(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HiPPO-LegS as normal plus rank 1, diagonalised: eigenvalues w (n/2 of the conjugate pairs),
    and the low-rank vector P and input vector B in the eigenbasis (n/2 each)."""
    q = np.arange(n, dtype=np.float64)
    col, row = np.meshgrid(q, q)
    r = 2 * q + 1
    transition = -(np.where(row >= col, r, 0) - np.diag(q))
    scale = np.sqrt(np.diag(2 * q + 1))
    a = torch.as_tensor(scale @ transition @ np.linalg.inv(scale))
    b = torch.as_tensor(np.diag(scale).copy())
    p = torch.sqrt(0.5 + torch.arange(n, dtype=torch.float64))
    normal = a + p[:, None] * p[None, :]  # -1/2 I plus a skew-symmetric matrix
    real = torch.diagonal(normal).mean()
    imag, vectors = torch.linalg.eigh(normal * -1j)
    order = torch.argsort(imag)
    imag, vectors = imag[order][: n // 2], vectors[:, order][:, : n // 2]
    w = (real + 1j * imag).to(torch.complex64)
    inverse = vectors.conj().T
    return w, (inverse @ p.to(inverse.dtype)).to(torch.complex64), (inverse @ b.to(inverse.dtype)).to(torch.complex64)


def cauchy(v: torch.Tensor, z: torch.Tensor, w: torch.Tensor, conjugates: bool = True) -> torch.Tensor:
    """sum_n v_n / (z - w_n) + conj(v_n) / (z - conj(w_n)) for v (..., H, N), w (H, N), z (L,) -> (..., H, L).
    Without `conjugates`, only the first term: what the reference code computes on a machine with neither
    its CUDA extension nor pykeops (its `cauchy_naive` fallback), unlike its GPU paths."""
    if conjugates:
        v, w = with_conjugates(v), with_conjugates(w)
    chunk = max(1, CAUCHY_CHUNK_ELEMENTS // (w.shape[-1] * z.shape[-1]))
    parts = []
    for start in range(0, w.shape[0], chunk):
        # Recomputed in the backward pass instead of kept: a full-size layer's Cauchy matrices would
        # hold gigabytes (channels x state x frequencies) per layer until then.
        parts.append(checkpoint(_cauchy_chunk, v[..., start:start + chunk, :], z, w[start:start + chunk],
                                use_reentrant=False))
    return torch.cat(parts, dim=-2)


def _cauchy_chunk(v: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.einsum("...hn,hnl->...hl", v, 1.0 / (z - w[..., None]))


def fourier_nodes(length: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The roots of unity omega^k, k <= length / 2, and their bilinear preimages z = 2 (1 - omega) / (1 + omega)."""
    omega = torch.tensor(np.exp(-2j * np.pi / length), dtype=torch.complex64, device=device)
    omega = omega ** torch.arange(length // 2 + 1, device=device)
    return omega, 2 * (1 - omega) / (1 + omega)


class NPLRKernel(nn.Module):
    """The reference code's `SSKernelNPLR` (rank 1, w = -exp(real part) + i w_imag): A = diag(w) - P P*,
    bilinear discretisation at step exp(log_dt), kernels of `L` samples. `C` holds C~ = C (I - dA^L),
    the form the kernel is computed from. Two upstream layouts:
    - "diffwave_sashimi" (albertfgu/diffwave-sashimi): real part `inv_w_real`; `L` (a buffer) is the
      length C was set up for, 0 in a file saved before its first forward;
    - "state_spaces" (the state-spaces repo's standalone S4, hurwitz=True, as RF5/DiffWave-unconditional
      uses it): real part `log_w_real`; C is set up for `l_max` at construction, and the Fourier nodes
      are kept as buffers `omega` and `z`."""

    def __init__(self, channels: int, d_model: int, d_state: int, l_max: int, conjugates: bool = True,
                 layout: str = "diffwave_sashimi", dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"unknown S4 layout {layout!r}; one of {', '.join(LAYOUTS)}")
        self.conjugates = conjugates
        self.layout = layout
        w, p, b = hippo_legs(d_state)
        n = d_state // 2
        log_dt = torch.rand(d_model) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.C = nn.Parameter(torch.view_as_real(torch.randn(channels, d_model, n, dtype=torch.cfloat)))
        self.log_dt = nn.Parameter(log_dt)
        self.B = nn.Parameter(torch.view_as_real(b.expand(1, d_model, n).clone()))
        self.P = nn.Parameter(torch.view_as_real(p.expand(1, d_model, n).clone()))
        self.real_name = "inv_w_real" if layout == "diffwave_sashimi" else "log_w_real"
        self.register_parameter(self.real_name,
                                nn.Parameter(torch.log(-w.real.clamp(max=-1e-3)).expand(d_model, n).clone()))
        self.w_imag = nn.Parameter(w.imag.expand(d_model, n).clone())
        if layout == "diffwave_sashimi":
            self.register_buffer("L", torch.tensor(0))
        else:
            omega, z = fourier_nodes(l_max)
            self.register_buffer("omega", torch.view_as_real(omega))
            self.register_buffer("z", torch.view_as_real(z))
        self.l_max = l_max
        self.length = 0
        self._cached_key, self._cached_kernel = None, None
        self.register_load_state_dict_post_hook(NPLRKernel._after_load)
        self.set_up_length(l_max)

    def _after_load(self, incompatible_keys) -> None:
        """A file saved before its first forward holds the raw C (L = 0): set it up as upstream would.
        The state-spaces layout's files always hold C~ for `l_max`."""
        if self.layout != "diffwave_sashimi":
            return
        self.length = int(self.L)
        if self.length == 0:
            self.set_up_length(self.l_max)

    def forward(self, length: int) -> torch.Tensor:
        """The kernel (channels, H, length) for length <= L. Without gradients (sampling) the kernel is
        kept and reused until a parameter changes: it depends on nothing else, and computing it costs
        more than the convolution at full size."""
        if torch.is_grad_enabled():
            return self.compute(length)
        key = (length, tuple(p._version for p in self.parameters()), tuple(p.data_ptr() for p in self.parameters()))
        if self._cached_key != key:
            self._cached_kernel, self._cached_key = self.compute(length), key
        return self._cached_kernel

    def w(self) -> torch.Tensor:
        return -torch.exp(getattr(self, self.real_name)) + 1j * self.w_imag

    def discrete_transition(self) -> torch.Tensor:
        """dA = (I - dt/2 A)^-1 (I + dt/2 A) per channel, over the 2N states (conjugates written out)."""
        dt = torch.exp(self.log_dt.double())[:, None, None]
        w = with_conjugates(self.w().to(torch.complex128))
        p = with_conjugates(as_complex(self.P).to(torch.complex128))[0]
        a = torch.diag_embed(w) - p[:, :, None] * p.conj()[:, None, :]
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        return torch.linalg.solve(eye - dt / 2 * a, eye + dt / 2 * a)

    @torch.no_grad()
    def set_up_length(self, length: int) -> None:
        """C <- C (I - dA^length), from a raw C (as upstream does on the first forward)."""
        power = torch.linalg.matrix_power(self.discrete_transition(), length)
        c = with_conjugates(as_complex(self.C).to(torch.complex128))
        c = (c - torch.einsum("chn,hnm->chm", c, power))[..., : self.C.shape[-2]]
        self.C.copy_(torch.view_as_real(c.to(torch.complex64)))
        if self.layout == "diffwave_sashimi":
            self.L.fill_(length)
        self.length = length

    def compute(self, length: int) -> torch.Tensor:
        if length > self.length:
            raise ValueError(f"an S4 kernel of {length} samples was asked of a layer set up for {self.length}")
        full = self.length
        dt = torch.exp(self.log_dt)
        b, c, p = as_complex(self.B), as_complex(self.C), as_complex(self.P)
        w = self.w() * dt[:, None]
        omega, z = fourier_nodes(full, dt.device)
        v = torch.cat([b, p])[:, None] * torch.cat([c, p.conj()])[None]  # (2, channels + 1, H, N)
        r = cauchy(v, z, w, self.conjugates) * dt[None, None, :, None]
        k_f = r[:-1, :-1] - r[:-1, -1:] * r[-1:, :-1] / (1 + r[-1:, -1:])
        k_f = k_f * 2 / (1 + omega)
        return torch.fft.irfft(k_f, n=full)[..., :length][-1]


class KernelHolder(nn.Module):
    """Upstream's `SSKernel` wrapper; it only gives the parameters their names (`kernel.kernel.*`)."""

    def __init__(self, kernel: NPLRKernel):
        super().__init__()
        self.kernel = kernel


class TransposedLinear(nn.Module):
    """The state-spaces code's linear map over channels of (B, H, L): weight (out, in), bias (out, 1)."""

    def __init__(self, d_input: int, d_output: int):
        super().__init__()
        linear = nn.Linear(d_input, d_output)
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = nn.Parameter(linear.bias.detach().clone().unsqueeze(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bil,oi->bol", x, self.weight) + self.bias


class S4(nn.Module):
    """Bidirectional S4 layer on (B, H, L): the SSM convolution (a causal and an anti-causal kernel),
    a skip term D, GELU, and a pointwise map to 2H with GLU (upstream's `output_linear`: a 1x1
    convolution in the diffwave_sashimi layout, a `TransposedLinear` in the state_spaces one)."""

    def __init__(self, d_model: int, d_state: int = 64, l_max: int = 16000, conjugates: bool = True,
                 layout: str = "diffwave_sashimi"):
        super().__init__()
        self.l_max = l_max
        self.D = nn.Parameter(torch.randn(1, d_model))
        self.kernel = KernelHolder(NPLRKernel(2, d_model, d_state, l_max, conjugates, layout))
        if layout == "diffwave_sashimi":
            linear = nn.Conv1d(d_model, 2 * d_model, 1)
        else:
            linear = TransposedLinear(d_model, 2 * d_model)
        self.output_linear = nn.Sequential(linear, nn.GLU(dim=-2))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        length = u.shape[-1]
        kernel_length = min(length, self.l_max)
        forward_k, backward_k = self.kernel.kernel(kernel_length)
        k = F.pad(forward_k, (0, length)) + F.pad(backward_k.flip(-1), (length, 0))
        n = kernel_length + length
        y = torch.fft.irfft(torch.fft.rfft(u.float(), n=n) * torch.fft.rfft(k, n=n), n=n)[..., :length]
        y = y + u * self.D[0, :, None]
        return self.output_linear(F.gelu(y))
