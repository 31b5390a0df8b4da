"""One worker of a multi-worker run through the library, for test_multi_worker: trains as
charrnn.train would (TF_CONFIG from the environment), then writes this worker's final weights and
carried state to an .npz file, so that the test can compare the workers'.

usage: python multi_worker_helper.py TEXT_FILE SAVE_DIR WEIGHTS.npz STEPS
"""

import sys

import numpy as np

from charrnn import cli
from charrnn.training import distribution, launch


def main(text_file, save_dir, weights_file, steps):
    request = launch.RunRequest(settings=dict(input_file=text_file, rnn_size=16, batch_size=4, seq_length=10,
                                              max_steps=int(steps), seed=5, eval_every=10, save_every=10,
                                              print_every=5),
                                given=frozenset(), save_dir=save_dir, log_dir=save_dir + "_logs")
    prepared = launch.prepare_run(request)
    cli.import_tensorflow_quietly()
    strategy = distribution.make_strategy("multi_worker")
    from charrnn.training.trainer import Trainer

    trainer = Trainer.start(prepared, strategy=strategy, collective_timeout=60)
    trainer.train()
    np.savez(weights_file, *[v.numpy() for v in trainer.checkpoint_variables()])


if __name__ == "__main__":
    main(*sys.argv[1:])
