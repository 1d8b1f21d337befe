"""Writing ONNX files from torch modules: the opset, the trace, and metadata that runtimes read."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

OPSET = 17


def export_graph(module: nn.Module, inputs: tuple, path: Path, input_names: list, output_names: list,
                 dynamic_axes: dict) -> None:
    """Traced by torch's TorchScript exporter, whose notices are kept from the user: the tracer's warnings
    that a branch or value is frozen at the example's shape, and the exporter's own deprecation and
    constant-folding notes. What they warn of is tested instead: every graph equals PyTorch on other
    shapes than the example's (tests/test_voice.py)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        torch.onnx.export(module, inputs, str(path), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)


def add_metadata(path: Path, metadata: dict) -> None:
    """Key-value metadata in the file's model properties (values as strings)."""
    import onnx

    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))
