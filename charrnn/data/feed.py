"""Feeding training batches to the step through tf.data, read ahead of it.

The batches are sliced from the (memory-mapped) ids on tf.data's own thread and prefetched, so
the next batch is ready, its pages read from disk if need be, while the current step runs.
"""

import tensorflow as tf

from charrnn.data.batches import Batches

BATCHES_READ_AHEAD = 4


def step_batches(batches: Batches, first_step: int, end_step: int) -> tf.data.Dataset:
    """The batches of steps first_step .. end_step - 1, epoch after epoch: step s reads batch
    s % len(batches). (inputs, targets), each int32 [batch, seq_length].

    One pipeline for the whole run rather than one per epoch: replacing the iterator at an
    epoch's end stalled some runs for about 35 s (seen in the command-line runs of this project's
    machine, inside the iterator's creation; the cause inside tf.data was not found).
    """
    shape = [batches.batch_size, batches.seq_length]

    def read(step):
        inputs, targets = tf.numpy_function(lambda s: batches[int(s) % len(batches)], [step], (tf.int32, tf.int32),
                                            stateful=False)
        return tf.ensure_shape(inputs, shape), tf.ensure_shape(targets, shape)

    return tf.data.Dataset.range(first_step, end_step).map(read).prefetch(BATCHES_READ_AHEAD)
