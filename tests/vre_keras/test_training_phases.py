"""The schedule's phase boundaries: one optimizer per phase, the best phase-2 epoch chosen by a
caption metric on validation (issue 12, defects 5 and 7)."""

import json

import numpy as np
import pytest

from vre_keras.config import ModelConfig, ScheduleConfig
from vre_keras.model_selection import caption_score, is_better
from vre_keras.synthetic_data import write_synthetic_records
from vre_keras.training import BEST_PHASE2_WEIGHTS, PROGRESS_FILE, load_trained_model, run_schedule

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CAPTIONS = {
    "v0": ["a man is riding a bike", "a man rides a bike"],
    "v1": ["a man is talking on a phone"],
    "v2": ["a rabbit is walking on the grass"],
    "v3": ["the cartoon rabbit is sleeping", "a rabbit sleeps"],
}


def test_each_phase_has_its_own_optimizer_and_phase2_is_chosen_by_cider(tmp_path):
    config = ModelConfig.tiny(learning_rate=1e-2)
    schedule = ScheduleConfig.tiny(
        phase1_epochs=1,
        phase2_epochs=2,
        phase3_epochs=1,
        phase4_epochs=0,
        steps_per_epoch=2,
        eval_steps=1,
    )
    assert schedule.phase2_selection == "CIDEr-D"
    train = str(write_synthetic_records(tmp_path / "train.tfrecord.gz", CAPTIONS, config))
    work = tmp_path / "work"
    summary = run_schedule(
        train, train, config, schedule, work, tmp_path / "serving" / "1", tmp_path / "logs"
    )
    # Fresh Adam per phase: its step count (and so its bias correction) starts at the phase.
    assert summary["optimizer_steps"] == {"1": 2, "2": 4, "3": 2}

    cider = summary["phases"]["2"]["val_CIDEr-D"]
    assert len(cider) == 2 and all(np.isfinite(cider))
    best = summary["best_phase2"]
    assert best["metric"] == "CIDEr-D"
    assert best["epoch"] == int(np.argmax(cider)) + 1 and best["score"] == max(cider)

    # The kept weights are that epoch's: restored, they score what was recorded.
    model, vocabulary = load_trained_model(work)
    model.load_weights(str(work / BEST_PHASE2_WEIGHTS))
    again = caption_score(
        model, train, vocabulary, schedule.batch_size, "CIDEr-D", max_batches=schedule.eval_steps
    )
    assert again == pytest.approx(best["score"], rel=1e-6, abs=1e-9)
    assert json.loads((work / PROGRESS_FILE).read_text())["best_phase2"] == best


def test_selection_metric_direction_and_validation():
    assert is_better("CIDEr-D", 0.5, 0.4) and not is_better("CIDEr-D", 0.3, 0.4)
    assert is_better("xe2", 3.0, 4.0) and not is_better("xe2", 5.0, 4.0)
    assert is_better("Bleu_4", 0.0, None)
    with pytest.raises(ValueError, match="phase2_selection"):
        ScheduleConfig(phase2_selection="accuracy")
