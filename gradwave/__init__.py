"""What the toolkit builds beside its models (text/, grad_tts/, diffwave/, monotonic_align/).

Below the models: `common` (what both models share: features, audio, configs, checkpoints, the training
loop). Above them: `synthesizer` (text -> speech on checkpoints or an exported voice, the library every
way in speaks through), `voice` (ONNX export and the torch-free runtime), `server` (HTTP and Wyoming) and
`evaluation`. This file imports nothing, so the models can import `gradwave.common` alone.
"""
