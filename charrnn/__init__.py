"""charrnn: character-level RNN language models on TensorFlow 2."""

__version__ = "0.1.0"
