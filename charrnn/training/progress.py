"""Console output of training: char-rnn-tensorflow's per-step lines, under a tqdm bar on a terminal."""

import sys

from tqdm import tqdm


class Progress:
    """Prints lines to `out`; shows a bar over the whole run (with ETA) only on a terminal."""

    def __init__(self, total_steps: int, start_step: int, out=None):
        self.out = out or sys.stdout
        interactive = self.out.isatty() and sys.stderr.isatty()
        self.bar = tqdm(total=total_steps, initial=start_step, unit="batch", dynamic_ncols=True,
                        disable=not interactive, leave=False)

    def line(self, text: str) -> None:
        # tqdm.write clears and redraws the bar around the line, so neither garbles the other.
        tqdm.write(text, file=self.out)
        self.out.flush()

    def advance(self, steps: int = 1) -> None:
        self.bar.update(steps)

    def set_total(self, total_steps: int) -> None:
        """A new planned length of the run (a time budget's estimate)."""
        if self.bar.total != total_steps:
            self.bar.total = total_steps
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def step_line(step: int, total: int, epoch: int, loss: float, seconds: float) -> str:
    return f"{step}/{total} (epoch {epoch}), train_loss = {loss:.3f}, time/batch = {seconds:.3f}"


def val_line(step: int, total: int, epoch: int, loss: float, best: float) -> str:
    return f"{step}/{total} (epoch {epoch}), val_loss = {loss:.3f} (best {best:.3f})"


def whole_val_line(step: int, total: int, epoch: int, loss: float, num_chars: int) -> str:
    return f"{step}/{total} (epoch {epoch}), val_loss over the whole split ({num_chars:,} characters) = {loss:.3f}"


def start_line(run_name: str, num_chars: int, from_cache: bool, vocab_size: int, batches_per_epoch: int,
               first_step: int, total_steps: int, log_dir: str) -> str:
    return (f"{run_name}: {num_chars:,} characters of text ({'cached' if from_cache else 'encoded'}), "
            f"{vocab_size} distinct, {batches_per_epoch} batches per epoch, training steps {first_step} to "
            f"{total_steps}; TensorBoard logs in {log_dir}")
