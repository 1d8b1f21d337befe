"""Writing ONNX files from torch modules: the opset, the trace, and metadata that runtimes read."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

OPSET = 17


def export_graph(module: nn.Module, inputs: tuple, path: Path, input_names: list, output_names: list,
                 dynamic_axes: dict) -> None:
    with torch.no_grad():
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
