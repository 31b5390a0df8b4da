"""A trained model as a SavedModel (servers) or a TFLite file (phones), usable without charrnn.

SavedModel signatures:
    generate(prime: string, length: int32, temperature: float32, seed: int32) -> {"text": string}
        `length` characters after the UTF-8 `prime`; temperature <= 0 takes the argmax. The same
        text as charrnn.sample with --seed (sampling is the same code, keyed by seed and position).
    step(ids: int32 [batch], state_0 ... state_n: float32 [batch, units])
        -> {"logits": [batch, vocab], "state_0": ..., ...}: one character per row.
    The vocabulary travels in the model (`vocabulary`, the characters' code points by id).

TFLite: the one-step model for a batch of one, inputs id [1] int32 and the states, outputs the
logits and the new states; vocab.json beside it maps ids to characters (see
scripts/tflite_generate.py for a generation loop that needs only the TFLite interpreter).
"""

import tensorflow as tf

from charrnn.core.config import ARGMAX, SAMPLE
from charrnn.data.vocab import code_points
from charrnn.inference.sampler import CHUNK_SIZE, generate_ids


class ExportedModel(tf.Module):
    """The model's variables, its vocabulary and the two exported functions."""

    def __init__(self, model, vocab):
        super().__init__()
        # Not tracked as a Keras model (saving would then try to trace Keras' own call signature);
        # its TensorFlow variables are tracked instead, which is all the functions need.
        self.__dict__["model"] = model
        self.weights = [v.value for v in model.weights]
        self.vocabulary = tf.Variable(code_points("".join(vocab.chars)).astype("int32"), trainable=False)
        self.num_states = len(model.zero_state(1))
        self.units = model.config.rnn_size
        self._space_id = vocab.chars.index(" ") if " " in vocab else -1

    def _encode(self, prime):
        points = tf.strings.unicode_decode(prime, "UTF-8")
        ids = tf.searchsorted(self.vocabulary, points, out_type=tf.int32)
        ids = tf.minimum(ids, tf.size(self.vocabulary) - 1)
        tf.debugging.assert_equal(tf.gather(self.vocabulary, ids), points,
                                  message="the prime has characters outside the model's vocabulary")
        tf.debugging.assert_positive(tf.size(ids), message="the prime must not be empty")
        return ids

    @tf.function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32)])
    def generate(self, prime, length, temperature, seed):
        ids = self._encode(prime)
        logits, states = self.model(ids[tf.newaxis], self.model.zero_state(1))
        mode = tf.where(temperature > 0, SAMPLE, ARGMAX)
        temperature = tf.where(temperature > 0, temperature, 1.0)

        def generate_chunk(done, chunks, logits, states, previous):
            ids, logits, states, previous = generate_ids(
                self.model, logits, states, previous, done, tf.minimum(CHUNK_SIZE, length - done),
                temperature, None, None, mode, seed[tf.newaxis], self._space_id)
            return done + CHUNK_SIZE, chunks.write(done // CHUNK_SIZE, ids[:, 0]), logits, states, previous

        # A chunk at a time, as charrnn's Sampler does, so the draws' noise takes constant memory.
        chunks = tf.TensorArray(tf.int32, size=0, dynamic_size=True, infer_shape=False, element_shape=[None])
        _, chunks, _, _, _ = tf.while_loop(lambda done, *_: done < length, generate_chunk,
                                           (tf.constant(0), chunks, logits[:, -1], tuple(states), tf.reshape(ids[-1], [1])))
        text = tf.strings.unicode_encode(tf.gather(self.vocabulary, chunks.concat()), "UTF-8")
        return {"text": text}

    def step_signature(self, batch_size=None) -> list:
        return [tf.TensorSpec([batch_size], tf.int32, name="ids")] + [
            tf.TensorSpec([batch_size, self.units], tf.float32, name=f"state_{i}") for i in range(self.num_states)]

    def _step(self, ids, *states):
        logits, states = self.model.step(ids, states)
        return {"logits": logits, **{f"state_{i}": s for i, s in enumerate(states)}}

    def step_function(self, batch_size=None):
        return tf.function(self._step, input_signature=self.step_signature(batch_size))


def save_saved_model(model, vocab, path: str) -> None:
    module = ExportedModel(model, vocab)
    module.step = module.step_function()
    tf.saved_model.save(module, path, signatures={"generate": module.generate.get_concrete_function(),
                                                  "step": module.step.get_concrete_function()})


def tflite_bytes(model, vocab) -> bytes:
    """The one-step model for one character at a time, variables frozen into constants."""
    module = ExportedModel(model, vocab)
    function = module.step_function(batch_size=1).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
    return converter.convert()
