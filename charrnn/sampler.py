"""Text generation as one compiled TensorFlow loop (no per-character Python calls).

Sampling modes, as in char-rnn-tensorflow:
    0  argmax: always the most likely character
    1  sample every character from softmax(logits / temperature)
    2  sample only after a space, argmax elsewhere (word starts vary, words stay well formed)
Random draws are stateless, keyed by (seed, position), so a seed reproduces a sample exactly.
"""

import tensorflow as tf

from charrnn.errors import CharRNNError
from charrnn.vocab import Vocab

ARGMAX, SAMPLE, SAMPLE_AFTER_SPACE = 0, 1, 2
SAMPLE_MODES = (ARGMAX, SAMPLE, SAMPLE_AFTER_SPACE)


def pick_next(logits, previous, position, temperature, mode, seed, space_id):
    """Next ids [batch] int32 from logits [batch, vocab] given the previous ids [batch].

    temperature, mode, seed, space_id and position are scalars; space_id is -1 when the
    vocabulary has no space.
    """
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    drawn = tf.random.stateless_categorical(
        logits / temperature, 1, seed=tf.stack([seed, position]), dtype=tf.int32)[:, 0]
    use_draw = tf.logical_or(tf.equal(mode, SAMPLE),
                             tf.logical_and(tf.equal(mode, SAMPLE_AFTER_SPACE), tf.equal(previous, space_id)))
    return tf.where(use_draw, drawn, greedy)


def default_prime(vocab: Vocab) -> str:
    """Where generation starts when no prime is given: a new line, as a text's first line does."""
    for char in ("\n", " "):
        if char in vocab:
            return char
    return vocab.chars[0]


class Sampler:
    """Generates text from a CharRNN model with its vocabulary.

    Generation runs in XLA-compiled chunks of `chunk_size` characters that carry the RNN state
    from one to the next: one compilation serves every length, and memory stays constant
    however long the sample.
    """

    def __init__(self, model, vocab: Vocab, chunk_size: int = 256):
        self.model = model
        self.vocab = vocab
        self.chunk_size = chunk_size
        self._space_id = vocab.chars.index(" ") if " " in vocab else -1
        self._prime = tf.function(self._prime_states, input_signature=[tf.TensorSpec([None], tf.int32)])
        self._chunk = tf.function(self._generate_chunk, jit_compile=True)

    def _prime_states(self, prime_ids):
        """prime_ids [prime_len] -> (logits [1, vocab] after the prime, states)."""
        logits, states = self.model(prime_ids[tf.newaxis, :], self.model.zero_state(1))
        return logits[:, -1, :], states

    def _generate_chunk(self, logits, states, previous, start, temperature, mode, seed):
        """Generates chunk_size ids [chunk_size] int32; also returns what the next chunk starts from."""
        generated = tf.TensorArray(tf.int32, size=self.chunk_size)
        for offset in tf.range(self.chunk_size):
            previous = pick_next(logits, previous, start + offset, temperature, mode, seed, self._space_id)
            generated = generated.write(offset, previous[0])
            logits, states = self.model.step(previous, states)
        return generated.stack(), logits, states, previous

    def generate(self, prime: str, length: int, *, temperature: float = 1.0, mode: int = SAMPLE,
                 seed: int = 0) -> str:
        """The `length` characters that follow `prime` (not including the prime itself)."""
        if not prime:
            raise CharRNNError("the prime text must not be empty")
        if mode not in SAMPLE_MODES:
            raise CharRNNError(f"--sample must be one of {SAMPLE_MODES}, got {mode!r}")
        if mode != ARGMAX and not temperature > 0:
            raise CharRNNError(f"--temperature must be > 0 when sampling, got {temperature!r}")
        if length < 0:
            raise CharRNNError(f"-n must not be negative, got {length}")
        prime_ids = self.vocab.encode(prime)  # names any characters outside the vocabulary
        logits, states = self._prime(tf.constant(prime_ids, tf.int32))
        previous = tf.constant(prime_ids[-1:], tf.int32)
        settings = (tf.constant(temperature if mode != ARGMAX else 1.0, tf.float32),
                    tf.constant(mode, tf.int32), tf.constant(seed, tf.int32))
        pieces = []
        for start in range(0, length, self.chunk_size):
            ids, logits, states, previous = self._chunk(logits, states, previous, tf.constant(start, tf.int32),
                                                        *settings)
            pieces.append(self.vocab.decode(ids.numpy()))
        return "".join(pieces)[:length]
