"""Grad-TTS acoustic model: config, model, data, training and inference."""
