import tensorflow as tf

from charrnn.training.time_budget import TimeBudget


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_elapsed_counts_from_the_checkpoint_and_the_steps_fit_the_rest():
    clock = FakeClock()
    budget = TimeBudget(1.0, tf.Variable(20.0, dtype=tf.float64), clock=clock)  # 60 s, 20 already spent
    budget.start(step=100)
    assert budget.planned_steps(100, limit=10_000) == 10_000  # no step measured yet
    clock.now += 10.0
    budget.step_done(110)  # 1 s per step
    assert budget.elapsed() == 30.0
    assert budget.planned_steps(110, limit=10_000) == 140 and budget.planned_steps(110, limit=120) == 120
    assert budget.planned_steps(110, limit=10_000, reserve=5.0) == 135
    assert not budget.is_up() and budget.is_up(reserve=29.5)
    budget.record()
    assert float(budget.spent.numpy()) == 30.0
    clock.now += 29.0
    budget.step_done(139)
    assert budget.is_up() and budget.planned_steps(139, limit=10_000) == 140


def test_without_a_limit_the_time_is_never_up():
    budget = TimeBudget(None, tf.Variable(0.0, dtype=tf.float64))
    budget.step_done(5)
    assert not budget.is_up(reserve=1e9) and budget.planned_steps(5, limit=77) == 77
