"""lmnt's convolutions in the forms that run fastest where they run: drop-in `nn.Conv1d`s (the same
parameters under the same names, so published weights load), and the two orderings that keep ONNX
Runtime's memory down in an exported graph. Each form is here with the measurement that keeps it."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def plain_convolutions(x: torch.Tensor) -> bool:
    """Off the CPU, and in an ONNX export, the layers' own convolutions: the CPU forms below are for torch's
    oneDNN, while ONNX Runtime runs the plain Conv nodes faster (the full-size 6-step vocoder: real-time
    factor 1.54-1.71 against 1.89-2.15 with the CPU forms traced, 2 threads)."""
    return x.device.type != "cpu" or torch.onnx.is_in_onnx_export()


def batched_linear(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """weight (O, I) @ x (B, I, T) + bias (O,) -> (B, O, T)."""
    return torch.baddbmm(bias.unsqueeze(-1).expand(x.shape[0], -1, 1), weight.expand(x.shape[0], -1, -1), x)


class Pointwise(nn.Conv1d):
    """A 1x1 Conv1d; on CPU a batched matrix product, about 3x faster than oneDNN's convolution.
    Elsewhere the convolution itself, which cuDNN runs on TF32 tensor cores by default while fp32
    matrix products do not use them (torch.backends.cuda.matmul.allow_tf32 is off by default)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if plain_convolutions(x):
            return super().forward(x)
        return batched_linear(self.weight.squeeze(-1), self.bias, x)


class Dilated(nn.Conv1d):
    """A dilated Conv1d; with `as_2d` on the CPU, run as a Conv2d of height 1, which oneDNN executed about
    2x faster on an AMD EPYC with AVX-512 (on AVX2 the Conv1d itself was faster: 14.7 against 17.4 ms
    forward and backward): `DiffWave.choose_cpu_kernels` times both on the CPU in hand."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.as_2d = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if plain_convolutions(x) or not self.as_2d:
            return super().forward(x)
        out = F.conv2d(x.unsqueeze(2), self.weight.unsqueeze(2), self.bias, padding=(0, self.padding[0]),
                       dilation=(1, self.dilation[0]))
        return out.squeeze(2)


def after(x: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """`x`, in an ONNX export made to wait for `previous` (see `projected_after`): otherwise ONNX Runtime
    may leave the skip sum to the end and hold every layer's output until then."""
    return x + 0 * previous[:, :1, :1].sum() if torch.onnx.is_in_onnx_export() else x


def projected_after(conv: nn.Conv1d, conditioner: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The 1x1 `conv` of the conditioner; in an ONNX export made to wait for `y`. Every layer's projection
    depends on the mel alone, so ONNX Runtime would run them all before the first layer and hold them at
    once; a zero term from `y` in the bias keeps each one beside its layer. With `after` on the skip sum,
    this takes the full-size vocoder's peak for 5 s of audio from 5.2 GB to 0.94 GB (ONNX Runtime's
    default order, which sherpa-onnx uses) and does not slow it."""
    if not torch.onnx.is_in_onnx_export():
        return conv(conditioner)
    return F.conv1d(conditioner, conv.weight, conv.bias + 0 * y[:, :1, :1].sum())
