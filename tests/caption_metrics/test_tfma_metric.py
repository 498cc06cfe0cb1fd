"""CaptionMetrics in a real TFMA run: a string-output SavedModel, Contract-1 TFRecords, a baseline
model, slices, and the EvalConfig's CIDEr blessing rule."""

import pytest

from tests.caption_metrics import tfma_fixtures as fx

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ALL = ("Bleu", "METEOR", "ROUGE_L", "CIDEr", "CIDEr-D")


def _run(tmp, cfg, candidate_path, baseline_path):
    """run_model_analysis with a candidate and a baseline, as the TFX Evaluator does."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.utils import config_util

    cfg = config_util.update_eval_config_with_defaults(cfg, has_baseline=True)
    models = [
        tfma.default_eval_shared_model(eval_saved_model_path=candidate_path, eval_config=cfg,
                                       model_name=tfma.CANDIDATE_KEY),
        tfma.default_eval_shared_model(eval_saved_model_path=baseline_path, eval_config=cfg,
                                       model_name=tfma.BASELINE_KEY),
    ]
    out = str(tmp / "out")
    tfma.run_model_analysis(eval_shared_model=models, eval_config=cfg,
                            data_location=str(tmp / "data.tfrecord"), output_path=out)
    metrics = {}
    for per_slice in tfma.load_metrics(out):
        slice_ = tuple((k.column, k.bytes_value.decode()) for k in
                       per_slice.slice_key.single_slice_keys)
        for kv in per_slice.metric_keys_and_values:
            if kv.key.is_diff:
                continue
            if kv.value.HasField("double_value"):
                metrics[(slice_, kv.key.model_name, kv.key.name)] = kv.value.double_value.value
    return metrics, tfma.load_validation_result(out)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfma")
    fx.write_tfrecords(tmp / "data.tfrecord")
    good = fx.save_caption_model(tmp / "good")
    fixed = fx.save_caption_model(tmp / "fixed", fixed_for=[v for v, _, _ in fx.VIDEOS])
    return tmp, good, fixed


def _expected(videos, fixed_for, meteor):
    from vre_keras.caption_metrics import score_corpus

    hyps = {v: fx.FIXED_SENTENCE if v in fixed_for else caps[0] for v, _, caps in videos}
    return score_corpus(hyps, {v: caps for v, _, caps in videos}, meteor_scorer=meteor)


def test_caption_metrics_per_slice_equal_score_corpus_and_bless(models):
    from tfx_pipeline.caption_metrics_tfma import eval_config
    from vre_keras.caption_metrics.meteor import shared_meteor_scorer

    tmp, good, fixed = models
    cfg = eval_config(cider_floor=0.1, cider_margin=0.05, slice_features=[["split"]])
    metrics, validation = _run(tmp, cfg, good, fixed)
    meteor = shared_meteor_scorer()  # the JVM the combiner used, in this process
    slices = {(): fx.VIDEOS}
    for split in ("test", "validation"):
        slices[(("split", split),)] = [v for v in fx.VIDEOS if v[1] == split]
    all_fixed = [v for v, _, _ in fx.VIDEOS]
    for slice_, videos in slices.items():
        for model, fixed_for in (("candidate", fx.FIXED_FOR), ("baseline", all_fixed)):
            want = _expected(videos, fixed_for, meteor)
            for name, value in want.items():
                assert metrics[(slice_, model, name)] == pytest.approx(value, abs=1e-9), (
                    slice_, model, name)
    assert validation.validation_ok, validation


def test_blessing_fails_below_floor_and_below_baseline(models):
    from tfx_pipeline.caption_metrics_tfma import eval_config

    tmp, good, fixed = models
    cfg = eval_config(cider_floor=100.0, cider_margin=0.01, metrics=("Bleu", "CIDEr"))
    # The weak model as candidate, the good one as baseline: both rules must fail.
    swap = tmp / "swap"
    swap.mkdir()
    (swap / "data.tfrecord").symlink_to(tmp / "data.tfrecord")
    _, validation = _run(swap, cfg, fixed, good)
    assert not validation.validation_ok
    failed = [f for per_slice in validation.metric_validations_per_slice
              for f in per_slice.failures]
    assert {f.metric_key.name for f in failed} == {"CIDEr"}
    assert any(f.metric_key.is_diff for f in failed)  # the change threshold vs the baseline
    assert any(not f.metric_key.is_diff for f in failed)  # the absolute floor
