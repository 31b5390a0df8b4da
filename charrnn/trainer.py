"""The training loop: truncated BPTT over char-rnn batches, with evaluation, checkpoints and logs.

The step counter is the optimizer's `iterations`; the epoch and the position within it are
derived from it (step // batches_per_epoch, step % batches_per_epoch), and so is the learning
rate (decayed once per epoch). Together with the carried RNN state, which lives in variables,
all of it is in every checkpoint, so a continued run picks up exactly where it stopped.
"""

import dataclasses
import math
import os
import statistics
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from charrnn import checkpoints
from charrnn.config import RunConfig
from charrnn.data import Batches
from charrnn.errors import CharRNNError
from charrnn.evaluation import Evaluator
from charrnn.input_pipeline import epoch_batches
from charrnn.model import CharRNN, sequence_loss
from charrnn.progress import Progress, step_line, val_line
from charrnn.run_folder import write_run_files
from charrnn.sampler import Sampler, SamplingConfig, default_prime
from charrnn.summaries import Summaries
from charrnn.vocab import Vocab

SAMPLE_SUMMARY_LENGTH = 500
# Keras dtype policies: variables stay float32, layers compute in the named precision.
DTYPE_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@dataclasses.dataclass
class TrainResult:
    step: int
    best_val_loss: float
    median_time_per_batch: Optional[float]  # seconds, tracing steps left out
    interrupted: bool
    checkpoint: Optional[str]


class Trainer:
    """Trains `run.model` on `train` batches, validating on the ids `val` [n]; writes to save_dir and log_dir.

    `recurrence` chooses the recurrent layers' code path (see model.CharRNN); checkpoints are the same.
    """

    def __init__(self, run: RunConfig, vocab: Vocab, train: Batches, val: np.ndarray, save_dir: str,
                 log_dir: str, out=None, recurrence: str = "auto"):
        self.run, self.vocab, self.train_batches, self.val_ids = run, vocab, train, val
        self.save_dir, self.out = save_dir, out
        self.stop_requested = False  # set (by a signal handler) to stop and save after the current step
        self.total_steps = run.train.num_epochs * len(train)
        if run.train.max_steps is not None:
            self.total_steps = min(self.total_steps, run.train.max_steps)

        keras.utils.set_random_seed(run.train.seed)
        self.model = CharRNN(run.model, recurrence=recurrence, dtype_policy=DTYPE_POLICIES[run.train.precision])
        self.model.build_variables()
        self.learning_rate = keras.optimizers.schedules.ExponentialDecay(
            run.train.learning_rate, decay_steps=len(train), decay_rate=run.train.decay_rate, staircase=True)
        self.optimizer = keras.optimizers.Adam(learning_rate=self.learning_rate)
        if run.train.precision == "float16":  # float16 gradients would underflow without a loss scale
            self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
        self.optimizer.build(self.model.trainable_variables)
        self.rnn_state = [tf.Variable(s, trainable=False) for s in self.model.zero_state(train.batch_size)]
        self.best_val_loss = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
        self._state = dict(model=self.model, optimizer=self.optimizer, rnn_state=self.rnn_state,
                           best_val_loss=self.best_val_loss)
        # Dropout's random-number state, so a continued run draws the masks the straight run would.
        # Kept apart: it exists only while --dropout > 0, which a continued run may switch.
        self._dropout_seeds = {layer.name: layer.seed_generator.state for layer in self.model.dropouts
                               if getattr(layer, "seed_generator", None) is not None}
        self.checkpoint = tf.train.Checkpoint(**self._state, dropout_seeds=self._dropout_seeds)
        self.store = checkpoints.CheckpointStore(save_dir, self.checkpoint, keep=run.train.keep_checkpoints)
        self.summaries = Summaries(os.path.join(log_dir, run.run_name))
        self.sampler = Sampler(self.model, vocab)
        self.evaluator = Evaluator(self.model, train.batch_size, train.seq_length)

        batch_spec = tf.TensorSpec([train.batch_size, train.seq_length], tf.int32)
        self.train_step = tf.function(self._train_step_fn, input_signature=[batch_spec, batch_spec])

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def restore(self, path: str) -> None:
        """Continues from the training checkpoint at `path` (weights, optimizer, step, RNN state,
        dropout's random state), dropping anything the logs hold past its step."""
        checkpoints.restore(tf.train.Checkpoint(**self._state), path, partial=True)
        tf.train.Checkpoint(dropout_seeds=self._dropout_seeds).read(path).expect_partial()
        self.summaries.discard_after(self.step)

    def checkpoint_bytes(self) -> int:
        """About the size of one checkpoint on disk."""
        return sum(v.numpy().nbytes for v in self.checkpoint_variables())

    def checkpoint_variables(self) -> list:
        return [*self.model.weights, *self.optimizer.variables, *self.rnn_state]

    def _train_step_fn(self, inputs, targets):
        """inputs, targets [batch, time] -> (loss, gradient global norm before clipping, diverged).

        A step whose loss or gradients are not finite (`diverged`) reaches neither the weights nor
        the carried state. Under float16 an overflow of the scaled gradients is not divergence: the
        loss-scale optimizer skips that step itself (its step counter stays) and lowers the scale.
        """
        scaled = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            logits, states = self.model(inputs, tuple(v.value() for v in self.rnn_state), training=True)
            loss = sequence_loss(logits, targets)
            objective = self.optimizer.scale_loss(loss) if scaled else loss
        variables = self.model.trainable_variables
        gradients = tape.gradient(objective, variables)
        scale = self.optimizer.dynamic_scale if scaled else 1.0
        # One norm serves the clipping and the log. Scaled gradients are clipped at grad_clip x
        # scale, which is clipping the unscaled ones at grad_clip.
        scaled_norm = tf.linalg.global_norm(gradients)
        gradients, _ = tf.clip_by_global_norm(gradients, self.run.train.grad_clip * scale, use_norm=scaled_norm)
        grad_norm = scaled_norm / scale
        loss_finite, gradients_finite = tf.math.is_finite(loss), tf.math.is_finite(grad_norm)
        diverged = tf.logical_not(loss_finite) if scaled else tf.logical_not(loss_finite & gradients_finite)

        def update():
            self.optimizer.apply_gradients(zip(gradients, variables))
            return tf.constant(True)

        def carry_state():
            for variable, state in zip(self.rnn_state, states):
                variable.assign(state)
            return tf.constant(True)

        tf.cond(diverged, lambda: tf.constant(False), update)
        tf.cond(loss_finite & gradients_finite, carry_state, lambda: tf.constant(False))
        return loss, grad_norm, diverged

    def evaluate(self) -> float:
        """Mean validation loss in nats/char over every character of the validation split."""
        return self.evaluator.score(self.val_ids).nats_per_char

    def _validate(self, step: int, epoch: int, progress: Progress) -> None:
        val_loss = self.evaluate()
        if val_loss < self.best_val_loss.numpy():
            self.best_val_loss.assign(val_loss)
            self.store.save_best(step)
        progress.line(val_line(step, self.total_steps, epoch, val_loss, float(self.best_val_loss.numpy())))
        self.summaries.scalars(step, {"val/loss": val_loss})
        sample = self.sampler.generate(default_prime(self.vocab), SAMPLE_SUMMARY_LENGTH, SamplingConfig(seed=step))[0]
        self.summaries.text(step, "sample", sample)

    def train(self) -> TrainResult:
        """Runs until total_steps. Ctrl-C (KeyboardInterrupt) or stop_requested saves a checkpoint and
        returns with interrupted=True."""
        cfg = self.run.train
        batches_per_epoch = len(self.train_batches)
        chars_per_batch = self.train_batches.batch_size * self.train_batches.seq_length
        self.summaries.hyperparameters({**dataclasses.asdict(self.run.model), **dataclasses.asdict(cfg)},
                                       self.run.run_name)
        write_run_files(self.save_dir, self.run, self.vocab)
        first_step = self.step
        progress = Progress(self.total_steps, first_step, self.out)
        times = []
        batches = None
        try:
            while self.step < self.total_steps:
                if self.stop_requested:
                    raise KeyboardInterrupt
                step = self.step
                epoch, position = divmod(step, batches_per_epoch)
                if position == 0:
                    for variable in self.rnn_state:  # each epoch starts from a zero state
                        variable.assign(tf.zeros_like(variable))
                if position == 0 or batches is None:
                    batches = iter(epoch_batches(self.train_batches, position))
                learning_rate = float(self.learning_rate(step))
                inputs, targets = next(batches)
                start = time.perf_counter()
                loss, grad_norm, diverged = self.train_step(inputs, targets)
                loss = float(loss)  # waits for the step, so the clock measures all of it
                seconds = time.perf_counter() - start
                if not diverged and self.step == step:  # skipped by the loss-scale optimizer: redo the batch
                    batches = None
                    continue
                if step > first_step:  # this process's first step includes tracing
                    times.append(seconds)
                step += 1
                if diverged:
                    last_good = self.store.latest.newest or "none saved yet"
                    what = f"loss became {loss}" if not math.isfinite(loss) else f"gradient norm became {float(grad_norm)}"
                    raise CharRNNError(f"the training {what} at step {step}; stopped without applying or saving it "
                                       f"(last good checkpoint: {last_good}); try a lower --learning_rate")
                progress.advance()
                if step % cfg.print_every == 0 or step == self.total_steps:
                    progress.line(step_line(step, self.total_steps, epoch, loss, seconds))
                self.summaries.scalars(step, {
                    "train/loss": loss, "time_per_batch": seconds, "chars_per_second": chars_per_batch / seconds,
                    "learning_rate": learning_rate, "grad_norm": float(grad_norm)})
                end_of_epoch = step % batches_per_epoch == 0
                finished = step == self.total_steps
                if step % cfg.eval_every == 0 or end_of_epoch or finished:
                    self._validate(step, epoch, progress)
                if step % cfg.save_every == 0 or end_of_epoch or finished:
                    self.store.save(step)
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        finally:
            batches = None  # stops tf.data's reader thread before anything else happens
            progress.close()
            self.summaries.close()
        path = self.store.save(self.step) if self.step > 0 else None
        return TrainResult(step=self.step, best_val_loss=float(self.best_val_loss.numpy()),
                           median_time_per_batch=statistics.median(times) if times else None,
                           interrupted=interrupted, checkpoint=path)
