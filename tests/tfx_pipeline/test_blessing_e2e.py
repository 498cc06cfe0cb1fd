"""The blessing rule in real pipeline runs: a candidate worse than the blessed baseline (trained
0 steps) is not blessed and not pushed; then a new span of videos flows into the next run.

Runs on small synthetic Contract-1 records (random features per video, one caption each) at the
tiny model's sizes, where the tiny model can learn the captions in a few dozen steps; the sample
videos' test is tests/tfx_pipeline/test_pipeline_e2e.py. The Evaluator scores the training
videos here because the point is the comparison with the baseline, not generalisation.
"""

import json
import os

import pytest

from tfx_pipeline.config import PipelineConfig

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CAPTIONS = {
    "v0": ["a man is riding a bike"],
    "v1": ["a man is talking on a phone"],
    "v2": ["a rabbit is walking on the grass"],
    "v3": ["the cartoon rabbit is sleeping"],
}
TINY = {"hidden_size": 24, "embedding_size": 24, "attention_size": 16, "num_frames": 6,
        "channels": 16, "num_regions": 4, "dropout": 0.0, "learning_rate": 1e-2,
        "max_caption_words": 8}


NEW_VIDEOS = {
    "v4": ["a woman is cooking pasta"],
    "v5": ["two dogs play in the snow"],
}


def _write_span(data_root, span=1, captions=CAPTIONS):
    from vre_common import contract
    from vre_keras.config import ModelConfig
    from vre_keras.synthetic_data import write_synthetic_records

    sizes = ModelConfig.tiny(**TINY)
    for split in contract.SPLITS:
        write_synthetic_records(
            os.path.join(data_root, f"span-{span}", split, "part-00000-of-00001.tfrecord.gz"),
            captions, sizes, seed=span, split=split,
        )


def _config(root, epochs, train_num_spans=1):
    return PipelineConfig.from_dict(
        {
            "pipeline_name": "vre-blessing-test",
            "root": str(root),
            "data": {"train_num_spans": train_num_spans},
            "statistics": False,
            "trainer": {
                "model_preset": "tiny",
                "model": TINY,
                "schedule": {"phase1_epochs": epochs, "phase2_epochs": 0, "phase3_epochs": 0,
                             "phase4_epochs": 0, "batch_size": 4, "steps_per_epoch": 15,
                             "eval_steps": 1, "shuffle_buffer": 8},
            },
            "evaluator": {"splits": ["train"], "report_splits": [], "cider_floor": 0.0,
                          "cider_margin": 0.05},
            "serving": {"model_name": "vre", "warmup_examples": 1},
        }
    )


def _versions(config):
    base = config.push_destination
    return sorted(d for d in os.listdir(base) if d.isdigit()) if os.path.isdir(base) else []


def test_worse_candidate_is_not_blessed_and_not_pushed_and_new_spans_flow_in(tmp_path):
    from tfx_pipeline import pipeline as P
    from tfx_pipeline.local_runner import run_local
    from tfx_pipeline.report import evaluation_report, pushed_model_dir
    from tfx_pipeline.trainer_module import SUMMARY_FILE

    trained = _config(tmp_path, epochs=4)
    _write_span(trained.resolved_data_root)

    first = run_local(trained)
    first_report = evaluation_report(first)
    assert first_report.blessed, first_report.table()
    assert not first_report.baseline  # nothing was blessed before: only the floor applied
    assert pushed_model_dir(first) is not None
    assert len(_versions(trained)) == 1
    assert first_report.metrics["CIDEr"] > 0.5, first_report.table()

    untrained = _config(tmp_path, epochs=0)  # same pipeline, same data: a 0-step candidate
    second = run_local(untrained)
    assert second.node(P.EXAMPLE_GEN).state == "CACHED"
    assert second.node(P.TRAINER).state == "COMPLETE"
    report = evaluation_report(second)
    assert not report.blessed, report.table()
    # The baseline is the first run's model (resolved from ML Metadata), scored again here.
    assert report.baseline["CIDEr"] == pytest.approx(first_report.metrics["CIDEr"], abs=1e-6)
    assert report.metrics["CIDEr"] < report.baseline["CIDEr"] - 0.05
    assert any("CIDEr" in f for f in report.failures), report.failures
    assert pushed_model_dir(second) is None
    assert len(_versions(trained)) == 1  # still only the first, blessed model

    # New videos arrive as span 2: the next run ingests it, and with train_num_spans=2 the
    # Trainer reads both spans (resolved from ML Metadata by SpanRangeStrategy).
    _write_span(trained.resolved_data_root, span=2, captions=NEW_VIDEOS)
    third = run_local(_config(tmp_path, epochs=0, train_num_spans=2))
    assert third.node(P.EXAMPLE_GEN).state == "COMPLETE"
    assert third.node(P.EXAMPLE_GEN).output("examples").properties["span"] == 2
    summary = json.loads(
        open(os.path.join(third.node(P.TRAINER).output("model_run").uri, SUMMARY_FILE)).read()
    )
    assert summary["num_videos"] == len(CAPTIONS) + len(NEW_VIDEOS)
