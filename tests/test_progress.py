import io

from charrnn.progress import Progress, step_line, val_line


def test_lines_have_char_rnn_tensorflow_form():
    assert step_line(12, 846, 0, 2.34567, 0.0421) == "12/846 (epoch 0), train_loss = 2.346, time/batch = 0.042"
    assert val_line(423, 846, 0, 2.1, 2.05) == "423/846 (epoch 0), val_loss = 2.100 (best 2.050)"


def test_lines_reach_a_file_without_a_bar():
    out = io.StringIO()
    progress = Progress(total_steps=10, start_step=3, out=out)
    assert progress.bar.disable  # not a terminal
    progress.line("4/10 (epoch 0), train_loss = 1.000, time/batch = 0.010")
    progress.advance()
    progress.close()
    assert out.getvalue() == "4/10 (epoch 0), train_loss = 1.000, time/batch = 0.010\n"
