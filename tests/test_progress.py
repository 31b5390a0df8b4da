import io

from charrnn.training.progress import Progress, start_line, step_line, val_line


def test_lines_have_char_rnn_tensorflow_form():
    assert step_line(12, 846, 0, 2.34567, 0.0421) == "12/846 (epoch 0), train_loss = 2.346, time/batch = 0.042"
    assert val_line(423, 846, 0, 2.1, 2.05) == "423/846 (epoch 0), val_loss = 2.100 (best 2.050)"


def test_the_start_line_says_what_the_run_reads_and_where_it_logs():
    assert start_line("e2e", 1115394, True, 65, 423, 12, 846, "logs/e2e") == (
        "e2e: 1,115,394 characters of text (cached), 65 distinct, 423 batches per epoch, training steps 12 to 846; "
        "TensorBoard logs in logs/e2e")
    assert "(encoded)" in start_line("e2e", 10, False, 3, 1, 0, 1, "logs/e2e")


def test_lines_reach_a_file_without_a_bar():
    out = io.StringIO()
    progress = Progress(total_steps=10, start_step=3, out=out)
    assert progress.bar.disable  # not a terminal
    progress.line("4/10 (epoch 0), train_loss = 1.000, time/batch = 0.010")
    progress.advance()
    progress.close()
    assert out.getvalue() == "4/10 (epoch 0), train_loss = 1.000, time/batch = 0.010\n"
