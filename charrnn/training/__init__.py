"""A training run: its setup, the loop, checkpoints, the run folder and what it reports."""
