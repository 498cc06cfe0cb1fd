"""eval_config(): a valid EvalConfig with the CIDEr floor and change thresholds."""

import pytest

pytestmark = pytest.mark.slow  # imports TFMA (and TF): about 15 s


def test_eval_config_builds_a_valid_config():
    from tensorflow_model_analysis.metrics import metric_specs
    from tensorflow_model_analysis.utils import config_util

    from tfx_pipeline import caption_metrics_tfma as cm

    cfg = cm.eval_config(cider_floor=0.3, cider_margin=0.02, slice_features=[["split"]])
    (spec,) = cfg.model_specs
    assert spec.signature_name == "serve_tf_examples" and spec.prediction_key == "caption"
    assert not spec.label_key
    threshold = cfg.metrics_specs[0].thresholds["CIDEr"]
    assert threshold.value_threshold.lower_bound.value == 0.3
    assert threshold.change_threshold.absolute.value == -0.02
    assert [list(s.feature_keys) for s in cfg.slicing_specs] == [[], ["split"]]
    # TFMA itself accepts it: with a baseline (change threshold) and on a first, rubber-stamped
    # run without one; the metric instantiates from the config and yields its computations.
    with_baseline = config_util.update_eval_config_with_defaults(cfg, has_baseline=True)
    assert [m.name for m in with_baseline.model_specs] == ["candidate", "baseline"]
    config_util.update_eval_config_with_defaults(cfg, has_baseline=False, rubber_stamp=True)
    computations = metric_specs.to_computations(with_baseline.metrics_specs, with_baseline)
    names = {key.name for c in computations for key in c.keys}
    assert {"Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "CIDEr-D"} <= names
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(with_baseline.metrics_specs)
    # (TFMA's validator skips the baseline's own copies of the thresholds.)
    assert {(k.name, k.model_name, k.is_diff) for k in thresholds} == {
        ("CIDEr", model, diff) for model in ("candidate", "baseline") for diff in (False, True)}


def test_eval_config_rejects_bad_settings():
    from tfx_pipeline import caption_metrics_tfma as cm

    with pytest.raises(ValueError, match="cider_margin must be >= 0"):
        cm.eval_config(cider_floor=0.3, cider_margin=-1)
    with pytest.raises(ValueError, match="lack it"):
        cm.eval_config(cider_floor=0.3, cider_margin=0.1, metrics=("Bleu",))
    with pytest.raises(ValueError, match="unknown metrics"):
        cm.CaptionMetrics(metrics=["SPICE"]).computations()
