"""The decoder graph: the score network inside an ONNX Loop that runs a sampler's table of steps
(grad_tts.samplers.Step, one row per step), so a whole sampling is one call of the runtime, with no copy of
the mel between steps on any device, while the solver and the step count stay run-time choices.

    x (B, n_feats, T), mask (B, 1, T), mu (B, n_feats, T), plan (steps, len(STEP_FIELDS)),
    noise (steps, B, n_feats, T) [, speaker (B,)] -> mel (B, n_feats, T)

A plan of one row (t, 0, 0, 1, 0, ...) returns the score network's output at t itself.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from grad_tts.samplers import STEP_FIELDS

SCORE_INPUTS = ("x", "mask", "mu", "t", "speaker")
PREFIX = "score/"


def column(name: str) -> int:
    return STEP_FIELDS.index(name)


def sampler_graph(score: onnx.ModelProto, low: float, high: float) -> onnx.ModelProto:
    """Wrap `score` (inputs x, mask, mu, t [, speaker]; output score) in the Loop; the denoised estimate
    is held within [low, high]."""
    inner = score.graph
    speakers = any(i.name == "speaker" for i in inner.input)

    def renamed(name: str) -> str:
        if name in ("mask", "mu", "speaker", ""):
            return name  # the outer graph's own inputs, seen from inside the loop
        return {"x": "x_t", "t": "t_batch"}.get(name, PREFIX + name)

    nodes = []
    for node in inner.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = PREFIX + node.name
        copy.input[:] = [renamed(n) for n in node.input]
        copy.output[:] = [renamed(n) for n in node.output]
        nodes.append(copy)
    score_out = renamed(inner.output[0].name)

    def coefficient(name: str) -> list:
        return [helper.make_node("Gather", ["step", f"index_{name}"], [f"c_{name}"], axis=0)]

    indices = [helper.make_tensor(f"index_{name}", TensorProto.INT64, [], [column(name)]) for name in STEP_FIELDS]
    body_nodes = [
        helper.make_node("Gather", ["plan", "iteration"], ["step"], axis=0),
        *[n for name in STEP_FIELDS for n in coefficient(name)],
        helper.make_node("Shape", ["x_t"], ["x_shape"], start=0, end=1),
        helper.make_node("Unsqueeze", ["c_t", "axis_0"], ["t_one"]),
        helper.make_node("Expand", ["t_one", "x_shape"], ["t_batch"]),
        *nodes,
        # D = (x_t - mu + sigma_t^2 score) / a_t + mu, held within [low, high]
        helper.make_node("Sub", ["x_t", "mu"], ["centred"]),
        helper.make_node("Mul", [score_out, "c_variance"], ["scaled_score"]),
        helper.make_node("Add", ["centred", "scaled_score"], ["numerator"]),
        helper.make_node("Div", ["numerator", "c_alpha"], ["lifted"]),
        helper.make_node("Add", ["lifted", "mu"], ["free"]),
        helper.make_node("Clip", ["free", "low", "high"], ["denoised"]),
        helper.make_node("Gather", ["noise", "iteration"], ["eps"], axis=0),
        *[helper.make_node("Mul", [value, f"c_{name}"], [f"term_{name}"]) for value, name in
          (("x_t", "x"), ("mu", "mu"), (score_out, "score"), ("denoised", "denoised"),
           ("previous", "previous"), ("eps", "noise"))],
        helper.make_node("Sum", [f"term_{name}" for name in ("x", "mu", "score", "denoised", "previous", "noise")],
                         ["combined"]),
        helper.make_node("Mul", ["combined", "mask"], ["x_next"]),
        helper.make_node("Identity", ["condition"], ["condition_next"]),
    ]
    weights = []  # inside the loop's body, where ONNX Runtime pre-packs them as a graph's own constants
    for tensor in inner.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        copy.name = renamed(tensor.name)
        weights.append(copy)
    features = ["B", inner.input[0].type.tensor_type.shape.dim[1].dim_value, "T"]
    body = helper.make_graph(
        body_nodes, "sampler_step",
        [helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
         helper.make_tensor_value_info("condition", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_t", TensorProto.FLOAT, features),
         helper.make_tensor_value_info("previous", TensorProto.FLOAT, features)],
        [helper.make_tensor_value_info("condition_next", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_next", TensorProto.FLOAT, features),
         helper.make_tensor_value_info("denoised", TensorProto.FLOAT, features)],
        initializer=indices + weights)
    outer_nodes = [
        helper.make_node("Mul", ["x", "mask"], ["x_start"]),
        helper.make_node("Sub", ["x_start", "x_start"], ["no_previous"]),
        helper.make_node("Shape", ["plan"], ["plan_shape"], start=0, end=1),
        helper.make_node("Squeeze", ["plan_shape", "axis_0"], ["steps"]),
        helper.make_node("Loop", ["steps", "", "x_start", "no_previous"], ["mel", "last_denoised"], body=body),
    ]
    initializers = [helper.make_tensor("axis_0", TensorProto.INT64, [1], [0]),
                    helper.make_tensor("low", TensorProto.FLOAT, [], [low]),
                    helper.make_tensor("high", TensorProto.FLOAT, [], [high])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, features),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["B", 1, "T"]),
              helper.make_tensor_value_info("mu", TensorProto.FLOAT, features),
              helper.make_tensor_value_info("plan", TensorProto.FLOAT, ["steps", len(STEP_FIELDS)]),
              helper.make_tensor_value_info("noise", TensorProto.FLOAT, ["steps", *features])]
    if speakers:
        inputs.append(helper.make_tensor_value_info("speaker", TensorProto.INT64, ["B"]))
    graph = helper.make_graph(outer_nodes, "grad_tts_decoder", inputs,
                              [helper.make_tensor_value_info("mel", TensorProto.FLOAT, features)], initializers)
    model = helper.make_model(graph, opset_imports=list(score.opset_import), producer_name="gradwave")
    model.ir_version = score.ir_version
    onnx.checker.check_model(model)
    return model
