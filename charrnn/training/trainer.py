"""The training loop: truncated BPTT over char-rnn batches, with validation, checkpoints and logs.

The step counter is the optimizer's `iterations`; the epoch and the position within it are
derived from it (step // batches_per_epoch, step % batches_per_epoch), and so is the learning
rate (decayed once per epoch). Together with the carried RNN state, which lives in variables,
all of it is in every checkpoint, so a continued run picks up exactly where it stopped.

Under a tf.distribute strategy (see distribution.py) each replica runs its own block of the
batch's streams; the carried state stays one [batch, units] variable per layer and state, so
checkpoints are the same whichever strategy wrote them.

Numbers that change from step to step (the step, the loss, the planned length) reach TensorFlow
ops as NumPy values, never as Python int or float (nor np.float64, which is a Python float): the
eager runtime keeps a tensor for every distinct Python number it converts, for the life of the
process (about 730 bytes each), and a run that logged Python numbers grew by some 5 MiB per 1,000
steps (docs/reliability.md, "Memory over a long run").
"""

import collections
import contextlib
import dataclasses
import math
import os
import statistics
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from charrnn.core.config import RunConfig, TrainConfig
from charrnn.core.errors import CharRNNError
from charrnn.data.batches import Batches
from charrnn.data.feed import step_batches
from charrnn.data.vocab import Vocab
from charrnn.inference.sampler import Sampler, SamplingConfig, default_prime
from charrnn.inference.scoring import Evaluator
from charrnn.model.network import CharRNN, sequence_loss, transfer_weights
from charrnn.training import checkpoints, distribution
from charrnn.training.cluster import COLLECTIVE_TIMEOUT
from charrnn.training.learning_rate import LearningRate
from charrnn.training.progress import Progress, step_line, val_line, whole_val_line
from charrnn.training.run_folder import write_run_files, write_save_dir_link
from charrnn.training.summaries import Summaries
from charrnn.training.time_budget import TimeBudget
from charrnn.training.weight_average import AVERAGE_KEY, WeightAverage, holds_average

SAMPLE_SUMMARY_LENGTH = 500
# The step times the run's median is taken over: the last ones, so that a run of any length holds the same memory.
STEP_TIMES_KEPT = 10_000
# float16's loss scale halves at each skipped step, so gradients that overflowed are finite again
# within about 20 skips; this many in a row means they are not finite at any scale (a NaN).
SKIPS_IN_A_ROW = 100
# Keras dtype policies: variables stay float32, layers compute in the named precision.
DTYPE_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def due(step: int, every: int, last_step: Optional[int] = None) -> bool:
    """The one rule for periodic actions (print, validate, save): after every `every`-th step, and
    after `last_step`, the run's last."""
    return step % every == 0 or step == last_step


@dataclasses.dataclass(frozen=True)
class StepResult:
    step: int  # the step counter after the step
    loss: float  # nats/char
    grad_norm: float  # before clipping
    seconds: float
    learning_rate: float
    skipped: bool  # by the float16 loss scale, which lowered the scale instead (the counter stayed)
    decisions: np.ndarray  # [ChiefDecisions.SIZE] the workers' combined decisions (distribution.ChiefDecisions)


@dataclasses.dataclass
class TrainResult:
    step: int
    best_val_loss: float
    median_time_per_batch: Optional[float]  # seconds, of the last STEP_TIMES_KEPT steps, tracing steps left out
    interrupted: bool
    checkpoint: Optional[str]


class _AllReducedGradients:
    """For a Keras optimizer that receives gradients the trainer has all-reduced already (once,
    before clipping them by their global norm): Keras would sum them over the replicas again."""

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)


class _Adam(_AllReducedGradients, keras.optimizers.Adam):
    pass


class _AdamW(_AllReducedGradients, keras.optimizers.AdamW):
    pass


def _optimizer(train: TrainConfig, learning_rate) -> keras.optimizers.Optimizer:
    """Adam, AdamW with --weight_decay (not on biases), loss-scaled under float16."""
    if train.weight_decay:
        optimizer = _AdamW(learning_rate=learning_rate, beta_2=train.adam_beta2, weight_decay=train.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    else:
        optimizer = _Adam(learning_rate=learning_rate, beta_2=train.adam_beta2)
    if train.precision == "float16":  # float16 gradients would underflow without a loss scale
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class Trainer:
    """Trains `run.model` on `train` batches, validating on the ids `val` [n]; writes to save_dir and log_dir.

    `recurrence` chooses the recurrent layers' code path (see charrnn.model.network.CharRNN);
    the checkpoints are the same on either path. `strategy` (a tf.distribute strategy; default:
    one device) spreads each batch's rows over its replicas; only the chief of a multi-worker run
    writes files or lines, and all workers take the chief's end of the run and planned length. A
    worker of a multi-worker run that waits longer than `collective_timeout` seconds for the others
    in a step stops with an error, as it does at once for one that died.
    """

    def __init__(self, run: RunConfig, vocab: Vocab, train: Batches, val: np.ndarray, save_dir: str,
                 log_dir: str, out=None, recurrence: str = "auto", strategy=None,
                 collective_timeout: float = COLLECTIVE_TIMEOUT):
        self.run, self.vocab, self.train_batches, self.val_ids = run, vocab, train, val
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = distribution.is_chief(self.strategy)
        self.save_dir, self.out = save_dir, out if self.chief else open(os.devnull, "w")
        distribution.check_batch_divides(train.batch_size, self.strategy.num_replicas_in_sync,
                                         run.train.grad_accum_steps)
        self.stop_requested = False  # set (by a signal handler) to stop and save after the current step
        self._stopping = False  # a stop request to any worker, as all of them heard it after the last step
        self.total_steps = run.train.num_epochs * len(train)
        if run.train.max_steps is not None:
            self.total_steps = min(self.total_steps, run.train.max_steps)

        # The run's planned length (the cosine schedule's horizon), corrected under a time budget.
        self.planned_steps = tf.Variable(self.total_steps, dtype=tf.int64, trainable=False)
        self.planned = self.total_steps  # the same, for the console lines: the step the run should end at
        self.learning_rate = LearningRate(run.train, len(train), self.planned_steps)
        keras.utils.set_random_seed(run.train.seed)
        with self.strategy.scope():  # the weights and the optimizer's slots: one copy per replica
            self.model = CharRNN(run.model, recurrence=recurrence, dtype_policy=DTYPE_POLICIES[run.train.precision])
            self.model.build_variables()
            self.optimizer = _optimizer(run.train, self.learning_rate)
            self.optimizer.build(self.model.trainable_variables)
            self.weight_average = (WeightAverage(self.model.trainable_variables, run.train.ema_decay)
                                   if run.train.ema_decay else None)
        self.budget = TimeBudget(run.train.max_minutes, tf.Variable(0.0, dtype=tf.float64, trainable=False))
        # As the last validation and save took: what the end of a budgeted run must leave time for.
        self._final_validation_seconds = self._save_seconds = 0.0
        # The carried state of every row [batch_size, rnn_size], whichever replica runs it: one
        # layout in checkpoints, however many replicas wrote them.
        self.rnn_state = [tf.Variable(s, trainable=False) for s in self.model.zero_state(train.batch_size)]
        self.best_val_loss = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
        self._state = dict(model=self.model, optimizer=self.optimizer, rnn_state=self.rnn_state,
                           best_val_loss=self.best_val_loss)
        # Kept apart from _state, read where present: dropout's random-number state (so a continued
        # run draws the masks the straight run would), which exists only while --dropout > 0, the
        # time budget's accounting, which checkpoints of earlier versions lack, and the weight
        # average, which exists only under --ema_decay.
        self._optional_state = dict(
            dropout_seeds={layer.name: layer.seed_generator.state for layer in self.model.dropouts
                           if getattr(layer, "seed_generator", None) is not None},
            time_spent=self.budget.spent)
        if self.weight_average:
            self._optional_state[AVERAGE_KEY] = self.weight_average.averages
        self.checkpoint = tf.train.Checkpoint(**self._state, **self._optional_state)
        self.store = checkpoints.CheckpointStore(save_dir, self.checkpoint, keep=run.train.keep_checkpoints)
        self.summaries = Summaries(os.path.join(log_dir, run.run_name) if self.chief else None)
        self.multi_worker = distribution.is_multi_worker(self.strategy)
        self.decisions = distribution.ChiefDecisions()
        # This process's proposal of the run's last step and planned length (see _plan).
        self._proposed_total, self._proposed_planned = self.total_steps, self.planned
        self.deadline = distribution.StepDeadline(collective_timeout if self.multi_worker else None)
        self.sampler = Sampler(self.model, vocab)
        self.evaluator = Evaluator(self.model, train.seq_length)

        batch_spec = tf.TensorSpec([train.batch_size, train.seq_length], tf.int32)
        decisions_spec = tf.TensorSpec([distribution.ChiefDecisions.SIZE], tf.float32)
        # Written with explicit tf.cond and loops, so it needs no AutoGraph conversion (slow to trace).
        self.train_step = tf.function(self._train_step_fn, input_signature=[batch_spec, batch_spec, decisions_spec],
                                      autograph=False)

    @classmethod
    def start(cls, prepared, recurrence: str = "auto", warn=None, out=None, strategy=None,
              collective_timeout: float = COLLECTIVE_TIMEOUT, seconds_spent: float = 0.0) -> "Trainer":
        """The trainer of a launch.PreparedRun, restored from the run it continues, if any, or
        holding the weights of the run it fine-tunes. A new run's time budget counts
        `seconds_spent` already (choosing its recipe).

        warn(message) hears of damaged checkpoints passed over and of a disk too full for the
        checkpoints the run keeps (in the chief only).
        """
        request = prepared.request
        trainer = cls(prepared.run, prepared.vocab, prepared.train_batches, prepared.splits.val, request.save_dir,
                      request.log_dir, out=out, recurrence=recurrence, strategy=strategy,
                      collective_timeout=collective_timeout)
        warn = warn if trainer.chief else None
        if prepared.continues:
            trainer.restore(checkpoints.find_checkpoint(request.init_from, "latest", on_skip=warn))
        else:
            trainer.budget.spent.assign(np.array(seconds_spent, np.float64))
        if request.finetune_from:
            source, source_vocab, _ = checkpoints.load_model(request.finetune_from, "latest", on_skip=warn)
            transfer_weights(source, source_vocab.chars, trainer.model, trainer.vocab.chars)
            if trainer.weight_average:  # the average starts from the weights fine-tuning starts from
                trainer.weight_average.reset()
        shortage = checkpoints.space_shortage(request.save_dir, trainer.checkpoint_bytes(),
                                              prepared.run.train.keep_checkpoints + 1)
        if shortage and warn:
            warn(f"warning: {shortage}")
        return trainer

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def restore(self, path: str) -> None:
        """Continues from the training checkpoint at `path` (weights, optimizer, step, RNN state,
        dropout's random state), dropping anything the logs hold past its step."""
        checkpoints.restore(tf.train.Checkpoint(**self._state), path, partial=True)
        tf.train.Checkpoint(**self._optional_state).read(path).expect_partial()
        if self.weight_average and not holds_average(path):  # --ema_decay is new to this run
            self.weight_average.reset()
        self.summaries.discard_after(self.step)

    def checkpoint_bytes(self) -> int:
        """About the size of one checkpoint on disk."""
        return sum(v.numpy().nbytes for v in self.checkpoint_variables())

    def checkpoint_variables(self) -> list:
        average = self.weight_average.averages if self.weight_average else []
        return [*self.model.weights, *self.optimizer.variables, *average, *self.rnn_state]

    def _train_step_fn(self, inputs, targets, decisions):
        """inputs, targets [batch, time], this process's decisions [ChiefDecisions.SIZE] -> (loss,
        gradient global norm before clipping, diverged, the workers' combined decisions), all four
        global: the same under any strategy.

        A step whose loss or gradients are not finite (`diverged`) reaches neither the weights nor
        the carried state. Under float16 an overflow of the scaled gradients is not divergence: the
        loss-scale optimizer skips that step itself (its step counter stays) and lowers the scale.
        """
        scaled = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        states = tuple(v.value() for v in self.rnn_state)
        loss, grad_norm, gradients, new_states, decisions = self.strategy.run(
            self._replica_gradients, args=(inputs, targets, states, decisions))
        loss, grad_norm, decisions, *new_states = distribution.first_replica(
            self.strategy, (loss, grad_norm, decisions, *new_states))
        loss_finite, gradients_finite = tf.math.is_finite(loss), tf.math.is_finite(grad_norm)
        diverged = tf.logical_not(loss_finite) if scaled else tf.logical_not(loss_finite & gradients_finite)

        def update():
            steps_before = tf.identity(self.optimizer.iterations.value) if self.weight_average else None
            self.strategy.run(self._apply, args=(gradients,))
            if self.weight_average:  # after a step the loss scale did not skip
                steps = tf.identity(self.optimizer.iterations.value)
                tf.cond(steps > steps_before, lambda: self._update_average(steps), lambda: tf.constant(False))
            return tf.constant(True)

        def carry_state():
            for variable, state in zip(self.rnn_state, new_states):
                variable.assign(state)
            return tf.constant(True)

        # The branches are taken in cross-replica context: the optimizer's own merge_call may not
        # run inside a replica's tf.cond.
        tf.cond(diverged, lambda: tf.constant(False), update)
        tf.cond(loss_finite & gradients_finite, carry_state, lambda: tf.constant(False))
        return loss, grad_norm, diverged, decisions

    def _replica_gradients(self, inputs, targets, states, decisions):
        """One replica's part of a step on the whole batch inputs, targets [batch, time] and states
        (each [batch, units]): the gradients of its own block of rows, averaged with the other
        replicas' and clipped by their global norm.

        Returns (loss, norm before clipping, clipped gradients, new states of all rows, each
        [batch, units], combined decisions), the same on every replica: one all-reduce carries all
        of them.
        """
        context = tf.distribute.get_replica_context()
        block = lambda t: distribution.replica_block(context, t)  # noqa: E731
        loss, gradients, new_states = self._gradients(block(inputs), block(targets), tuple(map(block, states)))
        loss, gradients, new_states, decisions = distribution.combine_replicas(context, loss, gradients, new_states,
                                                                               inputs.shape[0], decisions)
        scaled = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        scale = self.optimizer.dynamic_scale if scaled else 1.0
        # One norm serves the clipping and the log. Scaled gradients are clipped at grad_clip x
        # scale, which is clipping the unscaled ones at grad_clip.
        scaled_norm = tf.linalg.global_norm(gradients)
        gradients, _ = tf.clip_by_global_norm(gradients, self.run.train.grad_clip * scale, use_norm=scaled_norm)
        return loss, scaled_norm / scale, gradients, new_states, decisions

    def _update_average(self, steps):
        self.weight_average.update(steps)
        return tf.constant(True)

    def _apply(self, gradients):
        """Updates each replica's copy of the weights with the (all-reduced) gradients."""
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))

    def _gradients(self, inputs, targets, states):
        """inputs, targets [rows, time], states (each [rows, units]) -> (mean loss, gradients of the
        mean loss (scaled under float16), new states), the rows run in --grad_accum_steps groups."""
        groups = self.run.train.grad_accum_steps
        if groups == 1:
            return self._group_gradients(inputs, targets, states)
        rows = inputs.shape[0] // groups
        variables = self.model.trainable_variables

        def accumulate(k, loss_sum, gradient_sums, state_arrays):
            part = lambda t: t[k * rows: (k + 1) * rows]  # noqa: E731
            loss, gradients, new_states = self._group_gradients(part(inputs), part(targets), tuple(map(part, states)))
            return (k + 1, loss_sum + loss, [a + b for a, b in zip(gradient_sums, gradients)],
                    [array.write(k, s) for array, s in zip(state_arrays, new_states)])

        # parallel_iterations=1: one group's activations at a time, which is the point.
        _, loss_sum, gradient_sums, state_arrays = tf.while_loop(
            lambda k, *_: k < groups, accumulate,
            (tf.constant(0), tf.constant(0.0), [tf.zeros_like(v) for v in variables],
             [tf.TensorArray(tf.float32, size=groups, element_shape=[rows, s.shape[-1]]) for s in states]),
            parallel_iterations=1)
        new_states = tuple(tf.reshape(array.stack(), s.shape) for array, s in zip(state_arrays, states))
        return loss_sum / groups, [g / groups for g in gradient_sums], new_states

    def _group_gradients(self, inputs, targets, states):
        """The loss of one group of rows, its gradients (dense; scaled under float16) and new states."""
        scaled = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            logits, new_states = self.model(inputs, states, training=True)
            loss = sequence_loss(logits, targets)
            objective = self.optimizer.scale_loss(loss) if scaled else loss
        gradients = tape.gradient(objective, self.model.trainable_variables)
        return loss, [tf.convert_to_tensor(g) for g in gradients], new_states

    def evaluate(self, num_chars: Optional[int] = None) -> float:
        """Mean validation loss in nats/char over the first `num_chars` characters of the
        validation split (all of them by default) predicted from the one before."""
        return self.evaluator.score(self.val_ids if num_chars is None else self.val_ids[:num_chars + 1]).nats_per_char

    def _validate(self, step: int, epoch: int, progress: Progress) -> None:
        """Scores --eval_chars characters of the validation split (all by default), keeps the best
        checkpoint, logs a sample; at the run's end also scores the whole split if that was less."""
        # Timed on the budget's clock, which the end of the run leaves room for (tests run it fake).
        start, eval_chars = self.budget.clock(), self.run.train.eval_chars
        partial = eval_chars is not None and eval_chars + 1 < len(self.val_ids)
        whole = sample = None
        with self.weight_average.swapped_in() if self.weight_average else contextlib.nullcontext():
            val_loss = self.evaluate(eval_chars)
            if partial and step == self.total_steps:
                whole = self.evaluate()
            if self.chief:
                sample = self.sampler.generate(default_prime(self.vocab), SAMPLE_SUMMARY_LENGTH,
                                               SamplingConfig(seed=step))[0]
        if val_loss < self.best_val_loss.numpy():
            self.best_val_loss.assign(np.array(val_loss, np.float64))
            self.budget.record()
            if self.chief:
                self.store.save_best(step)
        progress.line(val_line(step, self.planned, epoch, val_loss, float(self.best_val_loss.numpy())))
        # Minutes of training so far (continuations included): what scripts/plot_val_loss.py plots against.
        self.summaries.scalars(step, {"val/loss": val_loss, "minutes": self.budget.elapsed() / 60.0})
        if whole is not None:
            progress.line(whole_val_line(step, self.planned, epoch, whole, len(self.val_ids) - 1))
            self.summaries.scalars(step, {"val/loss_whole_split": whole})
        if sample is not None:
            self.summaries.text(step, "sample", sample)
        # What the final validation will take: the whole split, if this one scored part of it.
        self._final_validation_seconds = (self.budget.clock() - start) * (len(self.val_ids) / (eval_chars + 1)
                                                                         if partial else 1.0)

    def train(self) -> TrainResult:
        """Runs until total_steps, or until the time budget is spent. Ctrl-C (KeyboardInterrupt) or
        stop_requested saves a checkpoint and returns with interrupted=True."""
        self._write_run_description()
        self.budget.start(self.step)
        progress = Progress(self.total_steps, self.step, self.out)
        first_step, times, interrupted = self.step, collections.deque(maxlen=STEP_TIMES_KEPT), False
        batches, skips = self._batches(), 0
        try:
            for epoch, inputs, targets in batches:
                result = self._run_step(inputs, targets)
                skips = skips + 1 if result.skipped else 0
                if skips == SKIPS_IN_A_ROW:
                    raise CharRNNError(
                        f"float16's loss scale skipped step {result.step + 1} {skips} times: its gradients are not "
                        f"finite at any scale (last good checkpoint: {self.store.latest.newest or 'none saved yet'}); "
                        f"try --precision bfloat16 or a lower --learning_rate")
                if result.skipped:  # by the float16 loss scale: _batches feeds the same batch again
                    continue
                if result.step - 1 > first_step:  # this process's first step includes tracing
                    times.append(result.seconds)
                self._plan(result.step)
                self._follow_the_chief(result, progress)
                self._report(result, epoch, progress)
                end_of_epoch = due(result.step, len(self.train_batches))
                if due(result.step, self.run.train.eval_every, self.total_steps) or end_of_epoch:
                    self._validate(result.step, epoch, progress)
                if due(result.step, self.run.train.save_every, self.total_steps) or end_of_epoch:
                    self._save(result.step)
        except KeyboardInterrupt:
            interrupted = True
        except tf.errors.OpError as error:
            if self.multi_worker:  # in a collective op: another worker is gone
                raise distribution.lost_worker_error(error, self.save_dir) from None
            raise
        finally:
            batches.close()  # stops tf.data's reader thread before anything else happens
            progress.close()
            self.summaries.close()
        checkpoint = self._save(self.step) if self.step > 0 else None
        return TrainResult(step=self.step, best_val_loss=float(self.best_val_loss.numpy()),
                           median_time_per_batch=statistics.median(times) if times else None,
                           interrupted=interrupted, checkpoint=checkpoint)

    def _plan(self, step: int) -> None:
        """Under a time budget: re-estimates the run's length after `step`, and proposes to end the
        run once no time is left for another step, the final validation and the last checkpoint.

        In a multi-worker run the decision is taken one step after it is made (ChiefDecisions):
        the run then ends a step later, and the budget leaves time for that step too.
        """
        if self.budget.seconds is None:
            return
        self.budget.step_done(step)
        reserve = self._final_validation_seconds + self._save_seconds
        later = 1 if self.multi_worker else 0
        if self.budget.is_up(reserve, steps=1 + later):
            self._proposed_total = min(self._proposed_total, step + later)
        self._proposed_planned = self.budget.planned_steps(step, self._proposed_total, reserve)

    def _set_planned(self, planned: int, progress: Progress) -> None:
        if planned != self.planned:
            self.planned = planned
            self.planned_steps.assign(np.int64(planned))
            progress.set_total(planned)

    def _follow_the_chief(self, result: "StepResult", progress: Progress) -> None:
        """Takes the chief's last step and planned length, and stops when any worker was asked to,
        as the step `result` carried them, so that all workers of a multi-worker run take the same
        steps, however their clocks differ (elsewhere: this process's own, at once)."""
        if self.multi_worker:
            self._stopping, (total_steps, planned) = self.decisions.heard(result.decisions)
        else:
            self._stopping, total_steps, planned = self.stop_requested, self._proposed_total, self._proposed_planned
        self.total_steps = total_steps
        self._set_planned(planned, progress)

    def _save(self, step: int) -> Optional[str]:
        """Checkpoints `step`, with the time the run has taken so far (the chief only)."""
        if not self.chief:
            return None
        start = self.budget.clock()
        self.budget.record()
        path = self.store.save(step)
        self._save_seconds = self.budget.clock() - start
        return path

    def _write_run_description(self) -> None:
        """config.json and vocab.json in the save folder; in TensorBoard's, the hyperparameters and
        where the save folder is (the chief only)."""
        if not self.chief:
            return
        write_run_files(self.save_dir, self.run, self.vocab)
        write_save_dir_link(self.summaries.log_dir, self.save_dir)
        self.summaries.hyperparameters({**dataclasses.asdict(self.run.model), **dataclasses.asdict(self.run.train)},
                                       self.run.run_name)

    def _batches(self):
        """Yields (epoch, inputs, targets) for the step at self.step, until total_steps.

        Each epoch starts from a zero RNN state. A step that did not advance the counter (skipped
        by the loss scale) gets the same batch again. A stop request ends it with KeyboardInterrupt.
        """
        feed, next_step = None, None
        while self.step < self.total_steps:
            if self._stopping:
                raise KeyboardInterrupt
            step = self.step
            epoch, position = divmod(step, len(self.train_batches))
            if position == 0:
                for variable in self.rnn_state:
                    variable.assign(tf.zeros_like(variable))
            if step != next_step:  # the first step of this process, or a skipped one again
                feed = iter(step_batches(self.train_batches, step, self.total_steps))
            next_step = step + 1
            yield (epoch, *next(feed))

    def _run_step(self, inputs, targets) -> "StepResult":
        """One training step, timed until its result is ready; a diverged step is a CharRNNError."""
        step = self.step
        learning_rate = float(self.learning_rate(np.int64(step)))
        asked = self.decisions.ask(self.stop_requested, [self._proposed_total, self._proposed_planned])
        start = time.perf_counter()
        with self.deadline:
            loss, grad_norm, diverged, decisions = self.train_step(inputs, targets, asked)
            loss = float(loss)  # waits for the step, so the clock measures all of it
        seconds = time.perf_counter() - start
        if diverged:
            last_good = self.store.latest.newest or "none saved yet"
            what = f"loss became {loss}" if not math.isfinite(loss) else f"gradient norm became {float(grad_norm)}"
            raise CharRNNError(f"the training {what} at step {step + 1}; stopped without applying or saving it "
                               f"(last good checkpoint: {last_good}); try a lower --learning_rate")
        return StepResult(step=self.step, loss=loss, grad_norm=float(grad_norm), seconds=seconds,
                          learning_rate=learning_rate, skipped=self.step == step, decisions=decisions.numpy())

    def _report(self, result: "StepResult", epoch: int, progress: Progress) -> None:
        """The console line (every print_every steps) and the step's TensorBoard scalars."""
        progress.advance()
        if due(result.step, self.run.train.print_every, self.total_steps):
            progress.line(step_line(result.step, self.planned, epoch, result.loss, result.seconds))
        chars = self.train_batches.batch_size * self.train_batches.seq_length
        self.summaries.scalars(result.step, {
            "train/loss": result.loss, "time_per_batch": result.seconds, "chars_per_second": chars / result.seconds,
            "learning_rate": result.learning_rate, "grad_norm": result.grad_norm})
