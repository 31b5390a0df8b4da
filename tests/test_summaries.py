import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from charrnn.training.summaries import Summaries


def test_scalars_text_and_hyperparameters_are_written(tmp_path):
    summaries = Summaries(str(tmp_path))
    summaries.hyperparameters({"rnn_size": 128, "model": "lstm", "max_steps": None}, run_name="r")
    summaries.scalars(3, {"train/loss": 2.5, "learning_rate": 0.002})
    summaries.text(3, "sample", "to be\n  or not")
    summaries.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0}).Reload()
    assert {"train/loss", "learning_rate", "sample", "_hparams_/session_start_info"} <= set(events.Tags()["tensors"])
    (loss,) = events.Tensors("train/loss")
    assert loss.step == 3 and float(tf.make_ndarray(loss.tensor_proto)) == 2.5
    (text,) = events.Tensors("sample")
    assert "to be\n  or not" in tf.make_ndarray(text.tensor_proto).item().decode()
