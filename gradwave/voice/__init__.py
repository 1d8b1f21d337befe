"""ONNX voices: `export` writes a voice folder from checkpoints (torch); `runtime` speaks it without torch."""
