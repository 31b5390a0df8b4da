"""--max_minutes: the wall time a run may take, continuations included, and the steps it allows.

The seconds spent live in a variable saved with every checkpoint, so a continued run goes on
counting from where its checkpoint was written. The number of steps that fit in the budget is
estimated from the wall time per step measured so far in this process (validations, saves and
logging included), and corrected after every step; a cosine schedule decays over that estimate.
"""

import time
from typing import Optional

import numpy as np
import tensorflow as tf


class TimeBudget:
    """Wall time against `max_minutes` (None: no limit). `spent` [] float64 is the variable that
    checkpoints carry: the seconds the run had taken when it was saved. `clock` gives seconds."""

    def __init__(self, max_minutes: Optional[float], spent: tf.Variable, clock=time.monotonic):
        self.seconds = None if max_minutes is None else 60.0 * max_minutes
        self.spent, self.clock = spent, clock
        self.start()

    def start(self, step: int = 0) -> None:
        """Starts this process's clock at `step`, after the seconds the checkpoint recorded."""
        self._start_time, self._start_step, self._steps_done = self.clock(), step, 0
        self._earlier = float(self.spent.numpy())

    def elapsed(self) -> float:
        return self._earlier + self.clock() - self._start_time

    def record(self) -> None:
        """Puts the elapsed time into `spent`, for the checkpoint about to be written."""
        self.spent.assign(np.array(self.elapsed(), np.float64))

    def is_up(self, reserve: float = 0.0, steps: int = 1) -> bool:
        """Whether there is no time left for `steps` more steps plus `reserve` seconds (the run's
        final validation and checkpoint)."""
        if self.seconds is None:
            return False
        return self.elapsed() + reserve + steps * self._seconds_per_step() >= self.seconds

    def planned_steps(self, step: int, limit: int, reserve: float = 0.0) -> int:
        """The steps the whole run will have taken when the time is up, `reserve` seconds kept
        for its end; at most `limit`."""
        if self.seconds is None:
            return limit
        seconds_per_step = self._seconds_per_step()
        if seconds_per_step == 0.0:  # nothing measured yet
            return limit
        return int(min(limit, step + max(0.0, self.seconds - reserve - self.elapsed()) / seconds_per_step))

    def _seconds_per_step(self) -> float:
        steps = self._steps_done
        return (self.clock() - self._start_time) / steps if steps else 0.0

    def step_done(self, step: int) -> None:
        """Tells the budget the step counter now stands at `step`."""
        self._steps_done = step - self._start_step
