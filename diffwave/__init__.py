"""DiffWave vocoder: config, model, data, training and inference."""
