"""Reference data, training loop, checkpoints and metrics."""
