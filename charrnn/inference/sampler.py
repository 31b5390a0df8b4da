"""Text generation as TensorFlow loops: one loop generates a chunk of characters for a whole batch
of samples (XLA-compiled for long samples), carrying the RNN state to the next chunk.

Sampling modes, as in char-rnn-tensorflow:
    0  argmax: always the most likely character
    1  sample every character from softmax(logits / temperature), limited to the top_k most
       likely characters and to the smallest set holding top_p of the probability (nucleus)
    2  sample only after a space, argmax elsewhere (word starts vary, words stay well formed)

Draws use the Gumbel-max trick on noise that is a hash of (seed, position, character), so a
seed reproduces a sample exactly on any machine, and sample i of a batch drawn with seed s is
the sample drawn alone with seed s + i.
"""

import math
import threading

import numpy as np
import tensorflow as tf

from charrnn.core.config import ARGMAX, SAMPLE, SAMPLE_AFTER_SPACE, SamplingConfig
from charrnn.core.errors import CharRNNError
from charrnn.data.vocab import Vocab


def _mix(x):
    """MurmurHash3's 32-bit finalizer: every input bit changes about half the output bits."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13)) * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def uniform_noise(seeds, positions, vocab_size: int):
    """[..., batch, vocab_size] float32 in (0, 1) for positions [...] (a scalar, or [n] for n
    positions at once), a function of (seeds [batch] int32, position, column) only."""
    positions = tf.cast(positions, tf.uint32)[..., tf.newaxis]  # [..., 1]
    row = _mix(tf.cast(seeds, tf.uint32) * tf.constant(0x9E3779B9, tf.uint32) + positions)  # [..., batch]
    bits = _mix(_mix(row[..., tf.newaxis]) + tf.cast(tf.range(vocab_size), tf.uint32) * tf.constant(0x632BE5AB, tf.uint32))
    return (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) / float(1 << 24)


def gumbel_noise(seeds, positions, vocab_size: int):
    """Gumbel(0, 1) noise of uniform_noise's shape: what a draw adds to the scaled logits."""
    return -tf.math.log(-tf.math.log(uniform_noise(seeds, positions, vocab_size)))


def filter_logits(logits, top_k, top_p):
    """logits [batch, vocab] with every character outside the top_k and the top_p nucleus at -inf.

    top_k (0: all) and top_p are scalar tensors; ties at the threshold are all kept.
    """
    vocab_size = logits.shape[-1]
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab_size), vocab_size)
    kth_largest = tf.gather(ordered, k - 1, axis=1)[:, tf.newaxis]
    probabilities = tf.nn.softmax(ordered)
    before = tf.cumsum(probabilities, axis=-1) - probabilities  # mass of the more likely characters
    in_nucleus = before < top_p
    smallest_in_nucleus = tf.reduce_min(tf.where(in_nucleus, ordered, math.inf), axis=-1, keepdims=True)
    threshold = tf.maximum(kth_largest, smallest_in_nucleus)
    return tf.where(logits < threshold, tf.constant(-math.inf, logits.dtype), logits)


def pick_next(logits, previous, gumbel, temperature, top_k, top_p, mode, space_id):
    """Next ids [batch] int32 from logits [batch, vocab], the previous ids [batch] and the draw's
    gumbel_noise [batch, vocab]. Scalars: temperature, top_k, top_p, mode, space_id (-1 without a space).
    top_k and top_p None: no limit. A graph built with them leaves filter_logits out, which took
    half of XLA's compilation time of a sampling loop (0.29 to 0.40 s against 0.54 to 0.59 for the
    default model).
    """
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    scaled = logits / temperature
    if top_k is not None:
        scaled = filter_logits(scaled, top_k, top_p)
    drawn = tf.argmax(scaled + gumbel, axis=-1, output_type=tf.int32)
    use_draw = tf.logical_or(tf.equal(mode, SAMPLE),
                             tf.logical_and(tf.equal(mode, SAMPLE_AFTER_SPACE), tf.equal(previous, space_id)))
    return tf.where(use_draw, drawn, greedy)


def generate_ids(model, logits, states, previous, start, length, temperature, top_k, top_p, mode, seeds, space_id):
    """The generation loop: `length` characters per row, from logits [batch, vocab], the states and
    the previous ids [batch] at position `start`. Returns (ids [length, batch] int32, and the
    logits, states and last ids the next characters follow from).

    A tf.while_loop written out, so the functions that run it need no AutoGraph conversion,
    which took most of their tracing time. The draws' noise does not depend on the text, so all
    of it, [length, batch, vocab] floats, is made before the loop, a few large ops instead of some
    thirty small ones per character (the plain graph made 14,400 chars/s instead of 10,600 for one
    sample of the default model): callers generate a chunk at a time.
    """
    weights = model.step_weights()
    noise = gumbel_noise(seeds, start + tf.range(length), model.config.vocab_size)  # [length, batch, vocab]

    def generate_one(offset, generated, logits, states, previous):
        previous = pick_next(logits, previous, noise[offset], temperature, top_k, top_p, mode, space_id)
        logits, states = model.step(previous, states, weights)
        return offset + 1, generated.write(offset, previous), logits, states, previous

    _, generated, logits, states, previous = tf.while_loop(
        lambda offset, *_: offset < length, generate_one,
        (tf.constant(0), tf.TensorArray(tf.int32, size=length), logits, tuple(states), previous))
    return generated.stack(), logits, states, previous


CHUNK_SIZE = 256  # characters per generation loop: memory stays constant however long the text


def default_prime(vocab: Vocab) -> str:
    """Where generation starts when no prime is given: a new line, as a text's first line does."""
    for char in ("\n", " "):
        if char in vocab:
            return char
    return vocab.chars[0]


class Sampler:
    """Generates text from a CharRNN model with its vocabulary.

    Generation runs in chunks of `chunk_size` characters, one TensorFlow loop per chunk for the
    whole batch of samples, so memory stays constant however long the samples. Samples of
    `compile_from` characters or more, fewer than `compile_below_batch` at once, run XLA-compiled
    (one compilation per batch size, and per whether top_k or top_p are set, serves every length);
    the rest run as a plain graph. With `compile_in_background`, a sample of `background_from`
    characters or more that starts in the plain graph compiles the XLA loop on a second thread as
    it starts; its later chunks, and every later sample of that kind, switch to it once it is
    ready (both loops draw the same characters), so no call waits for a compilation it does not
    need. A process waits for that compilation to end before it exits, so one-shot
    commands leave it off.

    Measured for the default 2x128 LSTM on a 2-core AMD EPYC (2026-12-03): the plain graph makes
    14,000 to 17,500 chars/s for one sample, XLA 74,000 to 77,000 after a compilation of about
    0.4 s, so XLA pays from a few thousand characters; in batches of 64 the plain graph made
    350,000 to 400,000 chars/s.
    """

    def __init__(self, model, vocab: Vocab, chunk_size: int = CHUNK_SIZE, compile_from: int = 8192,
                 compile_below_batch: int = 32, compile_in_background: bool = False, background_from: int = 1000):
        self.model = model
        self.vocab = vocab
        self.chunk_size = chunk_size
        self.compile_from, self.compile_below_batch = compile_from, compile_below_batch
        self.compile_in_background, self.background_from = compile_in_background, background_from
        # Keyed by (batch size, whether top_k or top_p limit the draws): one XLA loop each.
        self._compiled_loops = set()  # the keys whose XLA loop is compiled (or compiling in this thread)
        self._compiling = {}  # key -> the thread compiling its XLA loop
        self._space_id = vocab.chars.index(" ") if " " in vocab else -1
        self._prime = tf.function(self._prime_states, input_signature=[tf.TensorSpec([None], tf.int32)],
                                  autograph=False)
        self._plain_chunk = tf.function(self._generate_chunk, autograph=False)
        self._compiled_chunk = tf.function(self._generate_chunk, jit_compile=True, autograph=False)

    def compiles(self, length: int, num_samples: int) -> bool:
        """Whether `num_samples` samples of `length` characters run XLA-compiled from their start
        (compiling first if need be)."""
        return length >= self.compile_from and num_samples < self.compile_below_batch

    def _loop(self, length: int, key: tuple, inputs):
        """The loop that generates the next chunk from `inputs`, the plain graph's or XLA's, for a
        sample of `length` characters; key: (batch size, whether top_k or top_p limit the draws)."""
        num_samples = key[0]
        if key in self._compiled_loops:
            return self._compiled_chunk
        if self.compiles(length, num_samples):  # a long sample waits for a compilation under way
            if key in self._compiling:
                self._compiling[key].join()
            self._compiled_loops.add(key)  # by the call that follows, if not before
            return self._compiled_chunk
        if key in self._compiling:  # switch when it is ready
            return self._plain_chunk
        if self.compile_in_background and length >= self.background_from and num_samples < self.compile_below_batch:
            thread = threading.Thread(target=self._compile, args=(key, inputs), name="charrnn-compile")
            self._compiling[key] = thread
            thread.start()
        return self._plain_chunk

    def _compile(self, key, inputs) -> None:
        self._compiled_chunk(*inputs)  # compiles on a first call; what it generates is not used
        self._compiled_loops.add(key)

    def _prime_states(self, prime_ids):
        """prime_ids [prime_len] -> (logits [1, vocab] after the prime, states).

        A character at a time through model.step, as generation runs: this traced in a third of
        the time of the model's sequence call and ran as fast (1.1 s for 10,000 characters).
        """
        weights = self.model.step_weights()

        def read_one(i, logits, states):
            logits, states = self.model.step(prime_ids[i][tf.newaxis], states, weights)
            return i + 1, logits, states

        start = (tf.constant(0), tf.zeros([1, self.model.config.vocab_size]), self.model.zero_state(1))
        _, logits, states = tf.while_loop(lambda i, *_: i < tf.size(prime_ids), read_one, start)
        return logits, states

    def _generate_chunk(self, logits, states, previous, start, temperature, top_k, top_p, mode, seeds):
        """Generates ids [chunk_size, batch] int32; also returns what the next chunk starts from."""
        return generate_ids(self.model, logits, states, previous, start, self.chunk_size, temperature, top_k, top_p,
                            mode, seeds, self._space_id)

    def prime(self, prime: str, num_samples: int = 1):
        """(logits [num_samples, vocab], states) after reading `prime`, one copy per sample."""
        if not prime:
            raise CharRNNError("the prime text must not be empty")
        prime_ids = self.vocab.encode(prime)  # names any characters outside the vocabulary
        logits, states = self._prime(tf.constant(prime_ids, tf.int32))
        tile = lambda t: tf.tile(t, [num_samples, 1])  # noqa: E731
        return tile(logits), tuple(tile(s) for s in states), int(prime_ids[-1])

    def stream(self, prime: str, length: int, config: SamplingConfig = SamplingConfig(), num_samples: int = 1):
        """Yields, a chunk at a time, a list of `num_samples` strings that continue each sample;
        together they are the `length` characters after `prime`."""
        if length < 0:
            raise CharRNNError(f"-n must not be negative, got {length}")
        if num_samples < 1:
            raise CharRNNError(f"--num_samples must be >= 1, got {num_samples}")
        logits, states, last_prime_id = self.prime(prime, num_samples)
        previous = np.full([num_samples], last_prime_id, np.int32)
        return self.stream_from(logits, states, previous, config.seed + np.arange(num_samples), length, config)

    def stream_from(self, logits, states, previous, seeds, length: int, config: SamplingConfig):
        """As `stream`, from rows primed already: logits [batch, vocab], states, the last prime
        ids previous [batch] and a seed per row seeds [batch] (config.seed is not used). Rows
        primed apart and joined give each row the text it would have alone with its seed."""
        num_samples = len(seeds)
        limited = config.top_k > 0 or config.top_p < 1
        limits = (tf.constant(config.top_k, tf.int32), tf.constant(config.top_p, tf.float32)) if limited else (None, None)
        settings = (tf.constant(config.temperature if config.sample != ARGMAX else 1.0, tf.float32), *limits,
                    tf.constant(config.sample, tf.int32), tf.constant(seeds, tf.int32))
        previous = tf.constant(previous, tf.int32)
        for start in range(0, length, self.chunk_size):
            inputs = (logits, states, previous, np.int32(start), *settings)
            chunk = self._loop(length, (num_samples, limited), inputs)
            ids, logits, states, previous = chunk(*inputs)
            ids = ids.numpy()[: length - start].T  # [batch, characters]
            yield [self.vocab.decode(row) for row in ids]

    def generate(self, prime: str, length: int, config: SamplingConfig = SamplingConfig(),
                 num_samples: int = 1) -> list:
        """The `length` characters after `prime` (not including it), one string per sample."""
        pieces = [[] for _ in range(num_samples)]
        for chunk in self.stream(prime, length, config, num_samples):
            for row, text in zip(pieces, chunk):
                row.append(text)
        return ["".join(row) for row in pieces]
