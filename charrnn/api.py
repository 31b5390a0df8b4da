"""The Python API: load a trained run, then generate or score text.

    from charrnn import load

    model = load("save")
    print(model.generate(prime="ROMEO:", length=500, temperature=0.8, top_k=20, seed=1))
    print(model.score("To be, or not to be, that is the question."))  # nats/char
"""

import secrets
from typing import Iterator, List, Optional, Union

from charrnn.inference.sampler import SAMPLE, Sampler, SamplingConfig, default_prime
from charrnn.inference.scoring import Evaluator
from charrnn.training import checkpoints


class CharModel:
    """A trained model with its vocabulary, ready to generate and score text.

    model: the CharRNN; vocab: its Vocab; config: the RunConfig it was trained with.
    compile_in_background: a first sample of 1,000 characters or more compiles the faster XLA
    loop on a second thread for the samples that follow (see Sampler).
    """

    def __init__(self, model, vocab, config, compile_in_background: bool = True):
        self.model, self.vocab, self.config = model, vocab, config
        self.sampler = Sampler(model, vocab, compile_in_background=compile_in_background)
        self._evaluators = {}

    def _config(self, temperature, top_k, top_p, sample, seed, num_samples) -> SamplingConfig:
        seed = secrets.randbelow(2**31 - num_samples) if seed is None else seed
        return SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, sample=sample, seed=seed)

    def stream(self, prime: Optional[str] = None, length: int = 500, *, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, sample: int = SAMPLE, seed: Optional[int] = None,
               num_samples: int = 1) -> Iterator[List[str]]:
        """As `generate`, a chunk at a time: yields one string per sample that continues it."""
        config = self._config(temperature, top_k, top_p, sample, seed, num_samples)
        return self.sampler.stream(prime or default_prime(self.vocab), length, config, num_samples)

    def generate(self, prime: Optional[str] = None, length: int = 500, *, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, sample: int = SAMPLE, seed: Optional[int] = None,
                 num_samples: Optional[int] = None) -> Union[str, List[str]]:
        """The `length` characters that follow `prime` (a new line by default), not including it.

        sample: 0 argmax, 1 sample, 2 sample only after a space. top_k 0 means no limit. With
        num_samples, a list of that many samples generated as one batch; sample i equals the one
        generated alone with seed + i.
        """
        config = self._config(temperature, top_k, top_p, sample, seed, num_samples or 1)
        texts = self.sampler.generate(prime or default_prime(self.vocab), length, config, num_samples or 1)
        return texts if num_samples is not None else texts[0]

    def score(self, text: str, batch_size: int = 1) -> float:
        """Mean loss in nats/char of predicting each character of `text` after the first.

        batch_size 1 reads the text as one stream, so every character has all of its context.
        """
        if batch_size not in self._evaluators:
            self._evaluators[batch_size] = Evaluator(self.model, self.config.train.seq_length, batch_size)
        return self._evaluators[batch_size].score(self.vocab.encode(text)).nats_per_char


def load(save_dir: str = "save", checkpoint: str = "latest", on_skip=None,
         compile_in_background: bool = True) -> CharModel:
    """The run in `save_dir` at checkpoint 'latest', 'best' or a checkpoint prefix.

    A damaged newest checkpoint is passed over for the newest intact one, and on_skip(message) told.
    One-shot commands pass compile_in_background=False (see CharModel).
    """
    return CharModel(*checkpoints.load_model(save_dir, checkpoint, on_skip), compile_in_background)
