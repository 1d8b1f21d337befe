"""What both models share: mel features, audio I/O, configs, checkpoints and the training loop."""
