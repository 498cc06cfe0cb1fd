"""The data guards in real pipeline runs (LocalDagRunner, SQLite MLMD): bad spans stop the run.

1. One span holding all three problems of issue 16 at once (a video whose `temporal` has the
   wrong size, one with a NaN feature value, one without captions): the run stops at the
   ValidationGate with a report naming span, split, feature and problem; the Trainer never
   runs and nothing is pushed. One run checks all three, because a TFX run is slow.
2. A truncated gzip shard in a span: ImportExampleGen fails naming the file.

Small records at the tiny model's sizes (the schema is generated at the model's sizes).
"""

import os

import numpy as np
import pytest
import yaml

from tfx_pipeline.config import PipelineConfig
from vre_cli.main import main

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TINY = {
    "num_frames": 6,
    "channels": 16,
    "num_regions": 4,
    "hidden_size": 8,
    "embedding_size": 8,
    "attention_size": 8,
    "max_caption_words": 6,
}
GOOD = {"v0": ["a man rides a bike"], "v1": ["a cat sleeps"]}


def _config(root):
    return PipelineConfig.from_dict(
        {
            "pipeline_name": "vre-guards-test",
            "root": str(root),
            "statistics": True,
            "trainer": {
                "model_preset": "tiny",
                "model": TINY,
                "schedule": {
                    "phase1_epochs": 1,
                    "phase2_epochs": 0,
                    "phase3_epochs": 0,
                    "phase4_epochs": 0,
                    "batch_size": 2,
                    "steps_per_epoch": 1,
                    "eval_steps": 1,
                },
            },
            "evaluator": {"splits": ["validation"], "report_splits": []},
            "serving": {"warmup_examples": 0},
        }
    )


def _write(path, examples):
    import tensorflow as tf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for example in examples:
            writer.write(example.SerializeToString())


def _examples(split, seed, extra=()):
    from vre_keras.config import ModelConfig
    from vre_keras.synthetic_data import synthetic_example

    sizes = ModelConfig.tiny(**TINY)
    rng = np.random.default_rng(seed)
    good = [synthetic_example(v, c, sizes, rng, split=split) for v, c in GOOD.items()]
    return good + [synthetic_example(v, ["a caption"], sizes, rng, split=split) for v in extra]


def _run_expecting_failure(config):
    from tfx_pipeline.local_runner import run_local

    with pytest.raises(Exception) as failure:
        run_local(config)
    # The runner may wrap the component's error: look through the whole chain.
    messages, error = [], failure.value
    while error is not None:
        messages.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(messages)


def _states(config):
    from tfx_pipeline.run_results import read_run

    return read_run(config.resolved_metadata_path, config.pipeline_name).states()


def test_a_span_breaking_contract1_stops_at_validation_and_pushes_nothing(tmp_path, capsys):
    from tfx_pipeline import pipeline as P
    from vre_common import contract

    config = _config(tmp_path)
    span = os.path.join(config.resolved_data_root, "span-3")
    train = _examples("train", 1, extra=["short_temporal", "no_captions"])
    del train[2].features.feature[contract.TEMPORAL].float_list.value[-16:]  # (a) K-1 frames
    del train[3].features.feature[contract.CAPTIONS].bytes_list.value[:]  # (c) no caption
    validation = _examples("validation", 2, extra=["nan_spatial"])
    validation[2].features.feature[contract.SPATIAL].float_list.value[7] = float("nan")  # (b)
    _write(os.path.join(span, "train", "part-0.tfrecord.gz"), train)
    _write(os.path.join(span, "validation", "part-0.tfrecord.gz"), validation)
    _write(os.path.join(span, "test", "part-0.tfrecord.gz"), _examples("test", 3))

    # Through the CLI, as an operator runs it: exit 1, the report on stderr, no traceback.
    config_file = tmp_path / "guards.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    assert main(["pipeline", "run", "--config", str(config_file)]) == 1
    captured = capsys.readouterr()
    message = captured.err
    assert "Traceback" not in message, message
    assert "the run stopped on bad data" in message, message
    assert "no model pushed (the run stopped early)" in captured.out, captured.out

    assert "data validation failed" in message, message
    assert "span 3, split train, feature temporal: " in message, message
    # 5 x 16 values instead of 6 x 16.
    assert "expected 96 value(s) per example; values per example: 80..96" in message, message
    assert "span 3, split train, feature captions: " in message, message
    assert "span 3, split validation, feature spatial: 1 NaN value(s)" in message, message
    assert "split test" not in message, message  # the clean split is not blamed

    states = _states(config)
    assert states[P.VALIDATION_GATE] != "COMPLETE", states
    assert states[P.EXAMPLE_VALIDATOR] == "COMPLETE", states
    assert P.TRAINER not in states or states[P.TRAINER] != "COMPLETE", states
    assert P.PUSHER not in states or states[P.PUSHER] != "COMPLETE", states
    assert not os.path.exists(config.push_destination) or not os.listdir(config.push_destination)


def test_a_truncated_shard_fails_example_gen_naming_the_file(tmp_path):
    config = _config(tmp_path)
    span = os.path.join(config.resolved_data_root, "span-1")
    for split, seed in (("train", 1), ("validation", 2), ("test", 3)):
        _write(os.path.join(span, split, "part-0.tfrecord.gz"), _examples(split, seed))
    bad = os.path.join(span, "train", "part-1.tfrecord.gz")
    _write(bad, _examples("train", 4, extra=["v2", "v3"]))
    with open(bad, "rb") as f:
        data = f.read()
    with open(bad, "wb") as f:
        f.write(data[: len(data) // 2])  # cut mid-stream, as an interrupted copy leaves it

    message = _run_expecting_failure(config)

    assert f"TFRecord shard {bad} is truncated or corrupt" in message, message
    assert not os.path.exists(config.push_destination) or not os.listdir(config.push_destination)
