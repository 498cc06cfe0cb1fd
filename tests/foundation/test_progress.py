"""Progress of long work: log lines with counts, rate and ETA off a terminal; the feature job's
outcome files counted into it."""

import logging

from beam_jobs import progress as feature_progress
from vre_common.progress import ProgressReporter


def test_log_lines_say_count_rate_eta_and_values(caplog):
    caplog.set_level(logging.INFO, logger="vre.progress")
    with ProgressReporter(
        "phase 1 (XE of step 1)", total=10, unit="step", interval_s=0.0, terminal=False
    ) as p:
        p.update(1, loss=9.0)  # the first step (tracing included) starts the rate's clock
        p.update(3, loss=3.14159)
    lines = [r.getMessage() for r in caplog.records if r.name == "vre.progress"]
    assert "ETA" not in lines[0]
    assert lines[1].startswith("phase 1 (XE of step 1): 4/10 steps, ")
    assert "ETA " in lines[1] and "loss 3.142" in lines[1]
    assert len(lines) == 3  # one per update (interval 0) and the closing one
    assert "ETA" not in ProgressReporter("x", total=None, terminal=False).line()


def test_log_lines_are_spaced_by_the_interval(caplog):
    caplog.set_level(logging.INFO, logger="vre.progress")
    p = ProgressReporter("videos", total=100, unit="video", interval_s=3600.0, terminal=False)
    for _ in range(50):
        p.update(1)
    p.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "vre.progress"]
    assert lines == [lines[-1]] and lines[-1].startswith("videos: 50/100 videos")


def test_disabled_reporter_shows_nothing(caplog):
    caplog.set_level(logging.INFO, logger="vre.progress")
    with ProgressReporter("x", total=3, interval_s=0.0, terminal=False, enabled=False) as p:
        p.update(3)
    assert not [r for r in caplog.records if r.name == "vre.progress"]


def test_feature_job_display_counts_workers_outcomes(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="vre.progress")
    with feature_progress.ProgressDisplay(tmp_path, total=3, poll_s=3600.0) as display:
        for outcome in (feature_progress.OK, feature_progress.FAILED, feature_progress.OK):
            feature_progress.record_outcome(display.folder, outcome)
    last = [r.getMessage() for r in caplog.records if r.name == "vre.progress"][-1]
    assert last.startswith("[vre extract] videos: 3/3 videos") and "failed 1" in last


def test_caption_metrics_report_each_stage(caplog):
    """`vre evaluate` on a large corpus is not silent: one line per finished stage."""
    from vre_keras.caption_metrics import evaluate_corpus

    caplog.set_level(logging.INFO, logger="vre.progress")
    hyps = {"a": "a man rides a bike", "b": "a rabbit"}
    refs = {"a": ["a man rides a bike"], "b": ["a big rabbit", "a rabbit"]}
    evaluate_corpus(hyps, refs, metrics=["Bleu", "ROUGE_L", "CIDEr-D", "CIDEr"],
                    tokenized=True, show_progress=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "vre.progress"]
    assert [line.split("done ")[-1] for line in lines[:3]] == ["Bleu", "ROUGE_L", "CIDEr-D"]
    assert lines[-1].startswith("[vre evaluate] 2 captions: 3/3 stages")
    caplog.clear()
    evaluate_corpus(hyps, refs, metrics=["Bleu"], tokenized=True)
    assert not [r for r in caplog.records if r.name == "vre.progress"]
