"""charrnn: character-level RNN language models on TensorFlow 2.

    from charrnn import load
    model = load("save")
    print(model.generate(prime="ROMEO:", length=200, temperature=0.8, seed=1))
"""

__version__ = "0.1.0"


def load(save_dir: str = "save", checkpoint: str = "latest"):
    """A trained run as a charrnn.api.CharModel (imports TensorFlow on first use)."""
    from charrnn import api

    return api.load(save_dir, checkpoint)
