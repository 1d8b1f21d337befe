"""Random inputs that a caller of the vocoder graph may leave out: Griffin-Lim's initial phase and the
sampler's white noise. Given, they make a run exact (our runtime feeds numpy draws, so a seed reproduces
a voice); left out, the graph draws them itself (what sherpa-onnx and other runtimes that pass the mel
alone get). ONNX lets an input carry an initializer as its default: the default here is an empty
tensor, and an If node draws in its place when it is empty."""
from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper


def draw_when_missing(model: onnx.ModelProto, hop: int) -> onnx.ModelProto:
    """`model` with its `phase` (bins, frames) and, if it has one, `noise` (draws, B, frames * hop)
    inputs made optional: uniform in [0, 2 pi) and standard normal draws when left out."""
    graph = model.graph
    declared = {i.name: i for i in graph.input}
    nodes = [helper.make_node("Shape", ["mel"], ["mel_batch"], start=0, end=1),
             helper.make_node("Shape", ["mel"], ["mel_frames"], start=2, end=3),
             helper.make_node("Mul", ["mel_frames", "hop_samples"], ["mel_samples"])]
    constants = [helper.make_tensor("hop_samples", TensorProto.INT64, [1], [hop])]
    for name in ("phase", "noise"):
        if name not in declared:
            continue
        dims = declared[name].type.tensor_type.shape.dim
        leading = dims[0].dim_value  # the frequency bins, or the noise draws
        shape = ["mel_frames"] if name == "phase" else ["mel_batch", "mel_samples"]
        draw = (helper.make_node("RandomUniformLike", ["zeros_" + name], ["drawn_" + name], low=0.0,
                                 high=2 * math.pi) if name == "phase"
                else helper.make_node("RandomNormalLike", ["zeros_" + name], ["drawn_" + name]))
        drawn = helper.make_graph(
            [helper.make_node("Concat", ["leading_" + name, *shape], ["shape_" + name], axis=0),
             helper.make_node("ConstantOfShape", ["shape_" + name], ["zeros_" + name],
                              value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),
             draw],
            "draw_" + name, [], [helper.make_tensor_value_info("drawn_" + name, TensorProto.FLOAT, None)])
        given = helper.make_graph([helper.make_node("Identity", [name], ["given_" + name])], "given_" + name, [],
                                  [helper.make_tensor_value_info("given_" + name, TensorProto.FLOAT, None)])
        constants += [helper.make_tensor("leading_" + name, TensorProto.INT64, [1], [leading]),
                      helper.make_tensor(name, TensorProto.FLOAT, [leading] + [0] * (len(dims) - 1), [])]
        nodes += [helper.make_node("Size", [name], ["size_" + name]),
                  helper.make_node("Equal", ["size_" + name, "no_elements"], ["missing_" + name]),
                  helper.make_node("If", ["missing_" + name], ["used_" + name], then_branch=drawn, else_branch=given)]
        for node in graph.node:
            node.input[:] = ["used_" + name if i == name else i for i in node.input]
    constants.append(helper.make_tensor("no_elements", TensorProto.INT64, [], [0]))
    nodes.extend(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(constants)
    onnx.checker.check_model(model)
    return model
