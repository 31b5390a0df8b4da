"""tf.distribute in one process: MirroredStrategy over the two logical CPU devices conftest sets up,
against one device with the same global batch."""

import functools
import json
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from charrnn.core.errors import CharRNNError
from charrnn.training.cluster import read_cluster
from charrnn.training.distribution import StepDeadline, check_batch_divides, lost_worker_error, make_strategy

from test_trainer import assert_learns, losses_by_step, make_trainer, record_losses, tiny_run


@functools.cache
def mirrored():
    """One strategy per test process, as in a program: a second MirroredStrategy over the same
    devices reuses the first one's collective keys, and TensorFlow then mixes up their all-reduces."""
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    return strategy


def train(tmp_path, run, strategy=None, recurrence="auto", restore=None):
    trainer, out = make_trainer(tmp_path, run, strategy=strategy, recurrence=recurrence)
    if restore:
        trainer.restore(restore)
    result = trainer.train()
    return trainer, result, losses_by_step(out.getvalue())


def step_losses(trainer, steps):
    """The unrounded losses of `steps` training steps on the trainer's first batches."""
    no_decisions = trainer.decisions.ask(False, [0, 0])
    return [float(trainer.train_step(*trainer.train_batches[i], no_decisions)[0]) for i in range(steps)]


@pytest.mark.parametrize("model, recurrence", [("lstm", "keras"), ("lstm", "cpu"), ("gru", "keras"), ("gru", "cpu")])
def test_mirrored_replicas_take_the_steps_one_device_takes(tmp_path, model, recurrence):
    # 40 characters per replica, more than the vocabulary's 33: both look the input part up
    # (charrnn.model.network), so the two sums run in the same order
    run = tiny_run(max_steps=12, batch_size=8, model_options=dict(model=model))
    one, _ = make_trainer(tmp_path / "one", run, recurrence=recurrence)
    two, _ = make_trainer(tmp_path / "two", run, strategy=mirrored(), recurrence=recurrence)
    assert two.model.cpu_recurrence == (recurrence == "cpu")
    np.testing.assert_allclose(step_losses(two, 12), step_losses(one, 12), atol=1e-5)
    for a, b in zip(two.checkpoint_variables(), one.checkpoint_variables()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, rtol=1e-5)


def test_mirrored_replicas_keep_the_weight_average_one_device_keeps(tmp_path):
    run = tiny_run(max_steps=8, ema_decay=0.9)
    one, _ = make_trainer(tmp_path / "one", run)
    two, _ = make_trainer(tmp_path / "two", run, strategy=mirrored())
    np.testing.assert_allclose(step_losses(two, 8), step_losses(one, 8), atol=1e-5)
    for a, b in zip(two.weight_average.averages, one.weight_average.averages):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, rtol=1e-5)
    assert not np.allclose(one.weight_average.averages[0].numpy(), one.model.trainable_variables[0].numpy())
    with two.weight_average.swapped_in():
        swapped = [v.numpy() for v in two.model.trainable_variables]
    for value, average in zip(swapped, two.weight_average.averages):
        np.testing.assert_array_equal(value, average.numpy())


def test_mirrored_trains_with_a_loss_scale_in_float16(tmp_path):
    trainer, result, losses = train(tmp_path, tiny_run(max_steps=12, precision="float16"), strategy=mirrored())
    assert result.step == 12
    assert_learns(losses, below=0.96)  # measured 0.93 over 12 steps


def assert_restored(trainer, checkpoint, step):
    """trainer holds `checkpoint`'s step, and its carried state in the global [batch, units] layout."""
    assert trainer.step == step
    saved = tf.train.load_checkpoint(checkpoint)
    names = [name for name, _ in tf.train.list_variables(checkpoint) if name.startswith("rnn_state/")]
    assert len(names) == len(trainer.rnn_state) == 4
    for name in names:
        np.testing.assert_array_equal(trainer.rnn_state[int(name.split("/")[1])].numpy(), saved.get_tensor(name))


def test_a_run_continues_across_strategies_with_the_losses_of_a_straight_run(tmp_path):
    """Steps 1-10 on one device, 11-20 mirrored over two devices, 21-30 on one device again: the
    step, the carried state and the losses of one device's run straight through. In bfloat16,
    which the other tests here leave out (float32 and float16 are theirs)."""
    run = functools.partial(tiny_run, precision="bfloat16")
    straight, _ = make_trainer(tmp_path / "straight", run(max_steps=30))
    expected = record_losses(straight)
    straight.train()

    losses, checkpoint = {}, None
    for name, strategy, steps in (("a", None, 10), ("b", mirrored(), 20), ("c", None, 30)):
        trainer, _ = make_trainer(tmp_path / name, run(max_steps=steps), strategy=strategy)
        if checkpoint:
            trainer.restore(checkpoint)
            assert_restored(trainer, checkpoint, steps - 10)
        recorded = record_losses(trainer)
        checkpoint = trainer.train().checkpoint
        losses.update(recorded)
    assert sorted(losses) == sorted(expected) == list(range(1, 31))
    # Each replica's half of the batch rounds its bfloat16 products otherwise than the whole batch
    # does: from step 11 on the losses differ by up to 8.2e-5 of their value (measured), well
    # below what a lost carried state or a wrong step would change.
    np.testing.assert_array_equal([losses[s] for s in range(1, 11)], [expected[s] for s in range(1, 11)])
    np.testing.assert_allclose([losses[s] for s in range(11, 31)], [expected[s] for s in range(11, 31)], rtol=5e-4)


@pytest.mark.parametrize("replicas", [1, 2])
def test_the_step_carries_every_stop_vote_and_the_chief_s_numbers_exactly(tmp_path, replicas):
    """The numbers come back once (replica 0's; the others' count as zeros), exactly up to 2^36 - 1
    although the all-reduce is float32; a stop vote from any replica stops."""
    trainer, _ = make_trainer(tmp_path, tiny_run(), strategy=mirrored() if replicas == 2 else None)
    for stop, numbers, heard in ((False, [5, 7], [5, 7]), (True, [123_456_789, 2**40], [123_456_789, 2**36 - 1])):
        *_, combined = trainer.train_step(*trainer.train_batches[0], trainer.decisions.ask(stop, numbers))
        assert trainer.decisions.heard(combined.numpy()) == (stop, heard)


def test_the_batch_must_divide_among_the_replicas(tmp_path):
    with pytest.raises(CharRNNError, match="--batch_size 5 does not divide among 2 replicas"):
        make_trainer(tmp_path, tiny_run(batch_size=5), strategy=mirrored())
    with pytest.raises(CharRNNError, match="among 2 replicas x 2 --grad_accum_steps groups; choose a multiple of 4"):
        check_batch_divides(6, 2, 2)


def test_the_step_deadline_aborts_a_call_that_waits_too_long_with_one_thread(tmp_path):
    aborted = []
    deadline = StepDeadline(0.3, abort=aborted.append)
    threads = threading.active_count()
    for _ in range(200):  # steps that end in time: nothing aborted, one watchdog thread for all
        with deadline:
            pass
    assert aborted == [] and threading.active_count() == threads + 1
    with deadline:
        time.sleep(1.0)  # a step the other workers never join
    assert len(aborted) == 1 and "--collective_timeout 0.3 s" in aborted[0]
    with deadline:
        pass
    time.sleep(0.5)
    assert len(aborted) == 1 and threading.active_count() == threads + 1

    off = StepDeadline(None, abort=aborted.append)
    with off:
        time.sleep(0.1)
    assert threading.active_count() == threads + 1 and len(aborted) == 1


def test_a_lost_worker_is_named_with_its_cause():
    heartbeats = tf.errors.UnavailableError(None, None, "Collective ops is aborted by: Error reported from "
                                            "/job:worker/task:1: The following tasks are unhealthy (stopped "
                                            "sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have crashed.")
    line = str(lost_worker_error(heartbeats, "save"))
    assert line.startswith("lost worker 1 of the multi-worker run (Collective ops is aborted by: Error reported")
    assert line.endswith("--init_from save, to continue from the chief's last checkpoint") and "\n" not in line
    timed_out = tf.errors.DeadlineExceededError(None, None, "Collective ops is aborted by: timed out: the other "
                                                "workers did not join the step within --collective_timeout 5 s")
    assert "lost another worker of the multi-worker run (Collective ops is aborted by: timed out" in str(
        lost_worker_error(timed_out, "save"))


WORKERS = {"cluster": {"worker": ["127.0.0.1:2001", "127.0.0.1:2002"]}, "task": {"type": "worker", "index": 1}}


def test_tf_config_names_the_task_and_its_chief():
    worker = read_cluster(json.dumps(WORKERS))
    assert (worker.task_type, worker.task_index, worker.num_tasks, worker.is_chief) == ("worker", 1, 2, False)
    assert read_cluster(json.dumps(dict(WORKERS, task={"type": "worker", "index": 0}))).is_chief
    with_chief = dict(cluster=dict(WORKERS["cluster"], chief=["127.0.0.1:2000"]), task={"type": "worker", "index": 0})
    assert not read_cluster(json.dumps(with_chief)).is_chief


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{oops", "TF_CONFIG is not valid JSON"),
    ('{"cluster": []}', "TF_CONFIG must be"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "not ['ps']"),
    ('{"cluster": {"worker": ["nowhere"]}, "task": {"type": "worker", "index": 0}}', '"host:port"'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "task.index 3 is not in [0, 1)"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task.type 'chief'"),
])
def test_a_malformed_tf_config_is_refused_with_its_fault(tf_config, message):
    with pytest.raises(CharRNNError, match=None) as error:
        read_cluster(tf_config)
    assert message in str(error.value)
