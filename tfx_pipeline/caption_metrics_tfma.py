"""The caption metrics as a TFMA metric, for the TFX Evaluator, and the EvalConfig that uses it.

CIDEr's document frequencies (and coco-caption's corpus BLEU and METEOR) need the whole eval split
at once, so the Beam combiner only collects (hypothesis, references) pairs per slice and scores
them in `extract_output` with vre_keras.caption_metrics, the same code as `vre evaluate`. The
references are the example's `captions` feature (Contract 1), brought into the combiner by TFMA's
FeaturePreprocessor; the hypothesis is the SavedModel's `caption` output (Contract 2).

Use from an EvalConfig as
    config_pb2.MetricConfig(class_name="CaptionMetrics", module="tfx_pipeline.caption_metrics_tfma")
or build the whole config with `eval_config(cider_floor, cider_margin)`.
"""

from collections.abc import Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

# TFMA 0.52 no longer re-exports the config protos at top level (no config_pb2.EvalConfig).
from tensorflow_model_analysis.proto import config_pb2

from vre_common import contract
from vre_keras.caption_metrics import names
from vre_keras.caption_metrics.corpus import CaptionInputError, evaluate_corpus

METRIC_NAME = "caption_metrics"
# Reported by default: coco-caption's four paper metrics, plus CIDEr-D and the other BLEUs.
DEFAULT_METRICS = (names.BLEU, names.METEOR, names.ROUGE_L, names.CIDER, names.CIDER_D)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.str_ | str):
        return str(value)
    raise TypeError(f"expected text, got {type(value).__name__}: {value!r}")


def _single_text(value, what: str, video_id: str) -> str:
    if isinstance(value, Mapping):  # the SavedModel's whole output dict
        if contract.OUT_CAPTION not in value:
            raise CaptionInputError(
                f"video {video_id!r}: the model's outputs {sorted(value)} have no "
                f"{contract.OUT_CAPTION!r} ({what})"
            )
        value = value[contract.OUT_CAPTION]
    flat = np.asarray(value, dtype=object).ravel()
    if flat.size != 1:
        raise CaptionInputError(f"video {video_id!r}: expected one {what}, got {flat.size}")
    return _text(flat[0])


class _Accumulator:
    """The (video id, hypothesis, references) triples of one slice."""

    __slots__ = ["ids", "hypotheses", "references"]

    def __init__(self):
        self.ids: list[str] = []
        self.hypotheses: list[str] = []
        self.references: list[list[str]] = []


class CaptionMetricsCombiner(beam.CombineFn):
    """Collects a slice's captions, then scores them as one corpus.

    Args:
        keys: metric name -> the MetricKey to report it under.
        model_name: whose predictions to score.
        output_name: the model output (empty: the whole output dict, `caption` is taken).
        metrics: metric families (names.FAMILIES).
    """

    def __init__(
        self,
        keys: Mapping[str, tfma.metrics.MetricKey],
        model_name: str,
        output_name: str,
        metrics: Sequence[str],
    ):
        self._keys = dict(keys)
        self._model_name = model_name
        self._output_name = output_name
        self._metrics = tuple(metrics)

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator()

    def add_input(
        self, accumulator: _Accumulator, element: tfma.metrics.StandardMetricInputs
    ) -> _Accumulator:
        features = element.features or {}
        video_id = features.get(contract.VIDEO_ID)
        video_id = (
            _single_text(video_id, contract.VIDEO_ID, "?")
            if video_id is not None
            else f"example{len(accumulator.ids)}"
        )
        if contract.CAPTIONS not in features:
            raise CaptionInputError(
                f"video {video_id!r}: the example has no {contract.CAPTIONS!r} feature "
                "(the reference captions, Contract 1)"
            )
        refs = [_text(c) for c in np.asarray(features[contract.CAPTIONS], dtype=object).ravel()]
        predictions = element.get_predictions(self._model_name or None, self._output_name or None)
        accumulator.ids.append(video_id)
        accumulator.hypotheses.append(_single_text(predictions, "predicted caption", video_id))
        accumulator.references.append(refs)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for acc in accumulators:
            result.ids += acc.ids
            result.hypotheses += acc.hypotheses
            result.references += acc.references
        return result

    def extract_output(self, accumulator: _Accumulator) -> dict:
        if not accumulator.ids:
            return {key: float("nan") for key in self._keys.values()}
        # Positions as ids: a video may appear twice in an eval split; the ids stay in messages.
        ids = [f"{i}:{v}" for i, v in enumerate(accumulator.ids)]
        empty = [v for v, refs in zip(accumulator.ids, accumulator.references) if not refs]
        if empty:
            raise CaptionInputError(f"no reference captions for video ids: {empty[:10]}")
        scores = evaluate_corpus(
            dict(zip(ids, accumulator.hypotheses)),
            dict(zip(ids, accumulator.references)),
            metrics=self._metrics,  # METEOR by the fast path, as `vre evaluate` (meteor_fast.py)
        ).corpus
        return {key: scores[name] for name, key in self._keys.items()}


def _reported_names(metrics: Sequence[str]) -> list[str]:
    out = []
    for family in metrics:
        out += list(names.BLEU_KEYS) if family == names.BLEU else [family]
    return out


def _caption_metric_computations(
    name: str = METRIC_NAME,
    metrics: Sequence[str] = DEFAULT_METRICS,
    model_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> tfma.metrics.MetricComputations:
    unknown = [m for m in metrics if m not in names.FAMILIES]
    if unknown:
        raise ValueError(
            f"CaptionMetrics: unknown metrics {unknown}; choose from {list(names.FAMILIES)}"
        )
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            # Keys are named after coco-caption's metrics ("CIDEr", "Bleu_4", ...) and have
            # example_weighted=None (weights do not apply to corpus scores): exactly the keys
            # TFMA derives from MetricsSpec.thresholds by name, so thresholds find them.
            keys = {
                metric: tfma.metrics.MetricKey(
                    name=metric,
                    model_name=model_name,
                    output_name=output_name,
                    example_weighted=None,
                )
                for metric in _reported_names(metrics)
            }
            computations.append(
                tfma.metrics.MetricComputation(
                    keys=list(keys.values()),
                    preprocessors=[
                        tfma.metrics.FeaturePreprocessor(
                            feature_keys=[contract.CAPTIONS, contract.VIDEO_ID]
                        )
                    ],
                    combiner=CaptionMetricsCombiner(keys, model_name, output_name, metrics),
                )
            )
    return computations


class CaptionMetrics(tfma.metrics.Metric):
    """coco-caption's BLEU-1..4, METEOR, ROUGE_L, CIDEr and CIDEr-D over each slice.

    Example weights are ignored: these are corpus-level scores, as coco-caption computes them.

    Args:
        name: the metric's name (its values are reported under the coco-caption names).
        metrics: the metric families to report (see vre_keras.caption_metrics.names.FAMILIES).
    """

    def __init__(self, name: str = METRIC_NAME, metrics: Sequence[str] = DEFAULT_METRICS):
        super().__init__(_caption_metric_computations, name=name, metrics=list(metrics))


# Registered too, so `class_name="CaptionMetrics"` resolves once this module is imported.
metric_types.register_metric(CaptionMetrics)


def metric_config(metrics: Sequence[str] = DEFAULT_METRICS) -> config_pb2.MetricConfig:
    """The MetricConfig that loads CaptionMetrics from this module."""
    import json

    return config_pb2.MetricConfig(
        class_name=CaptionMetrics.__name__,
        module=__name__,
        config=json.dumps({"metrics": list(metrics)}),
    )


def eval_config(
    cider_floor: float,
    cider_margin: float,
    signature_name: str = contract.SERVE_TF_EXAMPLES,
    slice_features: Sequence[Sequence[str]] = (),
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> config_pb2.EvalConfig:
    """The Evaluator's EvalConfig: caption metrics with a blessing rule on CIDEr.

    The model is blessed only when its CIDEr >= cider_floor AND, when there is a baseline
    (the latest blessed model), its CIDEr >= baseline CIDEr - cider_margin.

    Args:
        cider_floor: absolute minimum CIDEr (coco-caption scale, e.g. 0.45 for 45.0 in papers).
        cider_margin: how far below the baseline's CIDEr the candidate may fall (>= 0).
        signature_name: the SavedModel signature TFMA calls with serialized tf.Examples.
        slice_features: feature-key lists to slice by, besides the overall slice
            (e.g. [["split"]]).
        metrics: metric families to report; must include CIDEr.

    Returns:
        config_pb2.EvalConfig.
    """
    if cider_margin < 0:
        raise ValueError(f"cider_margin must be >= 0, got {cider_margin}")
    if names.CIDER not in metrics:
        raise ValueError(f"the blessing rule is on CIDEr; metrics {list(metrics)} lack it")
    threshold = config_pb2.MetricThreshold(
        value_threshold=config_pb2.GenericValueThreshold(lower_bound={"value": float(cider_floor)}),
        change_threshold=config_pb2.GenericChangeThreshold(
            direction=config_pb2.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -float(cider_margin)},
        ),
    )
    return config_pb2.EvalConfig(
        # prediction_key picks the string output; there is no label_key: the references are
        # read from the `captions` feature by the metric itself.
        model_specs=[
            config_pb2.ModelSpec(signature_name=signature_name, prediction_key=contract.OUT_CAPTION)
        ],
        slicing_specs=[config_pb2.SlicingSpec()]
        + [config_pb2.SlicingSpec(feature_keys=list(keys)) for keys in slice_features],
        metrics_specs=[
            config_pb2.MetricsSpec(
                metrics=[metric_config(metrics)], thresholds={names.CIDER: threshold}
            )
        ],
    )
