"""One worker of a multi-worker run through the library, for test_multi_worker: trains as
charrnn.train would (TF_CONFIG from the environment, SIGINT and SIGTERM ask it to stop), then
writes this worker's final weights, Adam's state and carried state to an .npz file, so that the
test can compare the workers'.

usage: python multi_worker_helper.py TEXT_FILE SAVE_DIR WEIGHTS.npz STEPS [MAX_MINUTES CLOCK_RATE]

The logs go to SAVE_DIR + "_logs". With MAX_MINUTES this worker's clock runs CLOCK_RATE times
faster than the real one: on its own clock its time budget ends early.
"""

import sys
import time

import numpy as np

from charrnn import cli

cli.import_tensorflow_quietly()  # as charrnn.train does: nothing on stderr but errors

from charrnn.training import distribution, launch  # noqa: E402 (they import TensorFlow)
from charrnn.training.trainer import Trainer  # noqa: E402


def main(text_file, save_dir, weights_file, steps, max_minutes=None, clock_rate="1"):
    settings = dict(input_file=text_file, rnn_size=16, batch_size=4, seq_length=10, max_steps=int(steps), seed=5,
                    eval_every=10, save_every=10, print_every=5)
    if max_minutes is not None:
        settings["max_minutes"] = float(max_minutes)
    request = launch.RunRequest(settings=settings, given=frozenset(), save_dir=save_dir, log_dir=save_dir + "_logs")
    prepared = launch.prepare_run(request)
    strategy = distribution.make_strategy("multi_worker")
    trainer = Trainer.start(prepared, strategy=strategy, collective_timeout=60)
    rate = float(clock_rate)
    trainer.budget.clock = lambda: rate * time.monotonic()
    launch.stop_on_signals(trainer)
    trainer.train()
    np.savez(weights_file, *[v.numpy() for v in trainer.checkpoint_variables()])


if __name__ == "__main__":
    main(*sys.argv[1:])
