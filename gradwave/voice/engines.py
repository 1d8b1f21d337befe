"""The engines that run a voice's ONNX graphs, each graph a callable: feeds (name -> array) -> outputs.

- `onnxruntime` (the default): ONNX Runtime, on its CUDA provider where the installed build has it and
  sees a GPU, else on the CPU; fp32. Inputs and outputs are bound once per call (I/O binding).
- `openvino`: Intel's OpenVINO runtime (`pip install openvino`) on the CPU, which reads the same files and
  computes in bf16 where the CPU does it natively (AVX512-BF16 or AMX): on this project's benchmark CPU
  the full-size DDPM vocoder runs 2.3x as fast as on ONNX Runtime (fp32) and 1.5x as fast as torch's
  bf16 (README, "Benchmarks").

Precisions are named as synthesize.py's: "fp32", "bf16", or "auto" (bf16 where native, else fp32; the
runtime keeps Griffin-Lim vocoders in fp32, gradwave.voice.runtime.Voice).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .files import VoiceError

ENGINES = ("onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32", "bf16")
Graph = Callable[[dict], list]


def default_providers() -> list[str]:
    """CUDA first where this onnxruntime build has it (ONNX Runtime falls back to the CPU by itself)."""
    import onnxruntime

    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in wanted if p in onnxruntime.get_available_providers()]


def session(path: Path, providers: Optional[list[str]] = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # The default order runs some nodes long before their results are needed and holds them meanwhile
    # (the full-size vocoder's peak for 5 s of audio: 0.94 GB, against 0.82 GB in this order).
    options.execution_order = onnxruntime.ExecutionOrder.PRIORITY_BASED
    return onnxruntime.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])


class OnnxRuntimeGraph:
    """One ONNX Runtime session; a call copies every input to the session's device once and leaves every
    output there until the call is done (I/O binding), then copies it back."""
    precision = "fp32"

    def __init__(self, path: Path, providers: Optional[list[str]] = None):
        self.session = session(path, providers or default_providers())
        self.device = "cuda" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        # inputs with a default (gradwave.voice.random_inputs) are listed as overridable initializers, not as inputs
        self.inputs = {i.name for i in self.session.get_inputs() + self.session.get_overridable_initializers()}
        self.outputs = [output.name for output in self.session.get_outputs()]

    def __call__(self, feeds: dict) -> list[np.ndarray]:
        from onnxruntime import OrtValue

        binding = self.session.io_binding()
        for name, value in feeds.items():
            if name in self.inputs:
                binding.bind_ortvalue_input(name, OrtValue.ortvalue_from_numpy(value, self.device, 0))
        for name in self.outputs:
            binding.bind_output(name, self.device)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()


def native_bf16(core) -> bool:
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoGraph:
    def __init__(self, path: Path, precision: str, core):
        import openvino

        model = core.read_model(str(path))
        free = {}  # an input with a default (gradwave.voice.random_inputs) reads as fixed to the default's empty shape
        for port in model.inputs:
            shape = port.get_partial_shape()
            if any(d.is_static and d.get_length() == 0 for d in shape):
                free[port] = openvino.PartialShape([shape[0]] + [-1] * (shape.rank.get_length() - 1))
        if free:
            model.reshape(free)
        self.precision = precision
        hint = "bf16" if precision == "bf16" else "f32"
        self.compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
        self.request = self.compiled.create_infer_request()
        # a port has several names (the ONNX input's, and those of values it was merged with)
        self.ports = {name: port for port in self.compiled.inputs for name in port.get_names()}
        defaulted = {name for port in free for name in port.get_names()}
        self.required = [port.get_names() for port in self.compiled.inputs if not port.get_names() & defaulted]

    def __call__(self, feeds: dict) -> list[np.ndarray]:
        for names in self.required:  # OpenVINO would run on whatever the input tensor held before
            if not names & feeds.keys():
                raise VoiceError(f"the graph needs an input named one of {sorted(names)}")
        result = self.request.infer({self.ports[name]: value for name, value in feeds.items() if name in self.ports})
        return [np.array(result[port]) for port in self.compiled.outputs]


def graph_opener(engine: str, providers: Optional[list[str]] = None) -> Callable[[Path, str], Graph]:
    """(path, precision) -> a graph on `engine`; refuses what the engine cannot do in one line."""
    if engine not in ENGINES:
        raise VoiceError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
    if engine == "onnxruntime":
        def open_onnxruntime(path: Path, precision: str) -> Graph:
            if precision == "bf16":
                raise VoiceError("onnxruntime computes in fp32 on the CPU; bf16 needs --engine openvino")
            return OnnxRuntimeGraph(path, providers)
        return open_onnxruntime
    try:
        import openvino
    except ImportError:
        raise VoiceError("--engine openvino needs the openvino package (pip install openvino)") from None
    core = openvino.Core()

    def open_openvino(path: Path, precision: str) -> Graph:
        if precision == "auto":
            precision = "bf16" if native_bf16(core) else "fp32"
        return OpenVinoGraph(path, precision, core)
    return open_openvino
