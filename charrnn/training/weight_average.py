"""--ema_decay: an exponential moving average of the weights, for validation, sampling and export.

After each applied step, average = d * average + (1 - d) * weight, where
d = min(ema_decay, (1 + step) / (10 + step)): early on the average follows the weights closely,
so that it is not held back by the initial ones (TensorFlow's ExponentialMovingAverage does the
same with its num_updates). Training reads the weights; validation and the best checkpoint's
choice read the average (`swapped_in`). Checkpoints hold both, the average under the key
AVERAGE_KEY, so a continued run goes on with both exactly, and checkpoints.load_model gives a
model that samples, scores or exports with the average.
"""

import contextlib

import tensorflow as tf

AVERAGE_KEY = "weight_average"


class WeightAverage:
    """The average of `variables` (a model's trainable variables, in their order). Build it inside
    the strategy's scope, so that each replica holds a copy as it does of the weights."""

    def __init__(self, variables, decay: float):
        self.variables, self.decay = list(variables), decay
        self.averages = [tf.Variable(v, trainable=False, name=f"average_{i}") for i, v in enumerate(self.variables)]

    def update(self, step) -> None:
        """Folds the weights in after the step that brought the step counter to `step` (int64
        tensor). In a tf.function, in cross-replica context."""
        step = tf.cast(step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
        for average, variable in zip(self.averages, self.variables):
            average.assign(decay * average + (1.0 - decay) * variable)

    def reset(self) -> None:
        """The average starts again from the weights (a run that turns --ema_decay on midway)."""
        for average, variable in zip(self.averages, self.variables):
            average.assign(variable)

    @contextlib.contextmanager
    def swapped_in(self):
        """Within the block the variables hold the average; afterwards their own values again."""
        kept = [tf.identity(v) for v in self.variables]
        for variable, average in zip(self.variables, self.averages):
            variable.assign(average)
        try:
            yield
        finally:
            for variable, value in zip(self.variables, kept):
                variable.assign(value)


def holds_average(path: str) -> bool:
    """Whether checkpoint `path` holds a weight average."""
    return any(name.startswith(AVERAGE_KEY + "/") for name, _ in tf.train.list_variables(path))

