"""Validation loss against minutes of training, for one or more charrnn runs, from their TensorBoard logs.

    python scripts/plot_val_loss.py --out val_loss.png defaults=logs/defaults recipe=logs/recipe_30

Each argument is LABEL=FOLDER, FOLDER being a run's TensorBoard folder (`--log_dir`/`--run_name`
of charrnn.train). A run's curve pairs each `val/loss` with the `minutes` scalar logged at the same
step: wall time of training, continuations included. Needs matplotlib (`pip install matplotlib`),
which charrnn itself does not.
"""

import argparse
import os
import sys

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from charrnn.cli import import_tensorflow_quietly  # noqa: E402

# TensorBoard's event reader uses TensorFlow when it is installed; loaded first, it loads quietly.
import_tensorflow_quietly(plotting=True)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.util.tensor_util import make_ndarray  # noqa: E402


def read_curve(folder: str) -> tuple:
    """(minutes [n], val_loss [n]) of the run logged in `folder`, in step order."""
    events = EventAccumulator(folder, size_guidance={"tensors": 0}).Reload()
    tags = set(events.Tags()["tensors"])
    missing = {"val/loss", "minutes"} - tags
    if missing:
        raise ValueError(f"{folder} has no {' or '.join(sorted(missing))} scalars: not a charrnn run's "
                         f"TensorBoard folder, or one with no validation yet")
    loss, minutes = (_by_step(events, tag) for tag in ("val/loss", "minutes"))
    steps = sorted(loss.keys() & minutes.keys())
    return np.array([minutes[s] for s in steps]), np.array([loss[s] for s in steps])


def _by_step(events: EventAccumulator, tag: str) -> dict:
    """{step: value} of the scalar `tag`."""
    return {e.step: float(make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)}


def plot(curves: dict, out: str, title: str) -> None:
    """Writes a PNG of `curves` {label: (minutes, val_loss)} to `out`."""
    import matplotlib
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, (minutes, loss) in curves.items():
        axes.plot(minutes, loss, marker=".", markersize=4, linewidth=1.4, label=f"{label} (last {loss[-1]:.3f})")
    axes.set_xlabel("minutes of training (wall time)")
    axes.set_ylabel("validation loss (nats/char)")
    lowest = min(loss.min() for _, loss in curves.values())
    # The first validations sit far above the rest; the interesting part is the tail.
    axes.set_ylim(lowest - 0.03, lowest + 0.6)
    axes.grid(True, alpha=0.3)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=FOLDER", help="a label and a run's TensorBoard folder")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--title", default="tiny-shakespeare, last 10% held out", help="the plot's title")
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("plot_val_loss.py needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 1
    curves = {}
    for run in args.runs:
        label, sep, folder = run.partition("=")
        if not sep or not label or not os.path.isdir(folder):
            print(f"{run!r}: expected LABEL=FOLDER with an existing folder", file=sys.stderr)
            return 2
        try:
            curves[label] = read_curve(folder)
        except ValueError as error:
            print(error, file=sys.stderr)
            return 1
    plot(curves, args.out, args.title)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
