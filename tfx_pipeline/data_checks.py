"""What stops a span before the Trainer: ExampleValidator's anomalies plus NaN/inf counts.

The validation gate (tfx_pipeline/validation_components.py) turns, per split of a span,
TFDV's anomalies (from the Contract-1 schema, tfx_pipeline/contract_schema.py) and the
statistics' NaN and infinity counts into `Problem`s, and fails the run with `format_report`
when there is any. NaN/inf are checked here because this TFMD release's FloatDomain cannot
forbid them (no `disallow_nan`/`disallow_inf`); TFDV's statistics do count them (each numeric
histogram's `num_nan`; an infinity shows as the feature's min or max).

Imports tensorflow_metadata protos only (no TF, no TFX), so it is unit-tested quickly.
"""

from __future__ import annotations

import dataclasses
import math


class DataValidationError(RuntimeError):
    """A span's examples break Contract 1; the message is the full report."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with one feature of one split of one span.

    Attributes:
        span: the span number (ExampleGen's `{SPAN}`), or None when unknown.
        split: the split name (train, validation, test).
        feature: the feature name (Contract 1), or "(dataset)" for whole-split problems.
        problem: what is wrong, in words.
    """

    span: int | None
    split: str
    feature: str
    problem: str

    def line(self) -> str:
        span = "?" if self.span is None else self.span
        return f"span {span}, split {self.split}, feature {self.feature}: {self.problem}"


def _feature_name(path) -> str:
    return ".".join(path.step) or "?"


def _stats_by_feature(statistics) -> dict:
    """feature name -> FeatureNameStatistics of one DatasetFeatureStatistics."""
    return {
        (_feature_name(f.path) if f.HasField("path") else f.name): f for f in statistics.features
    }


def _common_stats(feature_stats):
    kind = feature_stats.WhichOneof("stats")
    return getattr(feature_stats, kind).common_stats if kind else None


def _expected_values(schema) -> dict[str, str]:
    """feature name -> what the schema expects of its value count, in words."""
    expected = {}
    for f in schema.feature if schema is not None else ():
        if f.HasField("shape"):
            size = math.prod(d.size for d in f.shape.dim)
            expected[f.name] = f"expected {size} value(s) per example"
        elif f.HasField("value_count") and f.value_count.min:
            expected[f.name] = f"expected at least {f.value_count.min} value(s) per example"
    return expected


def problems_from_anomalies(anomalies, split: str, span: int | None, statistics=None, schema=None):
    """Problems of one split from ExampleValidator's `Anomalies` proto (its SchemaDiff.pb).

    Args:
        anomalies: a `tensorflow_metadata.proto.v0.anomalies_pb2.Anomalies`.
        split: the split it was computed on.
        span: the span of the examples.
        statistics: the split's `DatasetFeatureStatistics`; when given, value-count anomalies
            also say how many values the examples hold (TFDV's own text does not).
        schema: the `Schema` validated against; when given, the expected count is said too.
    """
    stats = _stats_by_feature(statistics) if statistics is not None else {}
    expected = _expected_values(schema)
    problems = []
    for name, info in sorted(anomalies.anomaly_info.items()):
        reasons = [r.description or r.short_description for r in info.reason]
        text = "; ".join(dict.fromkeys(reasons)) or info.description or info.short_description
        common = _common_stats(stats[name]) if name in stats else None
        if common is not None:
            found = [expected[name]] if name in expected else []
            found += [
                f"values per example: {common.min_num_values}..{common.max_num_values}",
                f"examples without the feature: {common.num_missing}",
            ]
            text += f" ({'; '.join(found)})"
        problems.append(Problem(span, split, name, text))
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        reasons = [r.description or r.short_description for r in info.reason]
        problems.append(Problem(span, split, "(dataset)", "; ".join(reasons) or info.description))
    return problems


def problems_from_statistics(statistics, split: str, span: int | None):
    """NaN and infinite values in the float features of one split's statistics.

    Args:
        statistics: a `DatasetFeatureStatistics` (one split, as StatisticsGen writes it).
        split: the split name.
        span: the span of the examples.
    """
    problems = []
    for name, f in sorted(_stats_by_feature(statistics).items()):
        if not f.HasField("num_stats"):
            continue
        num = f.num_stats
        nan = max([h.num_nan for h in num.histograms] or [0])
        if nan:
            problems.append(Problem(span, split, name, f"{nan} NaN value(s)"))
        infinite = [v for v in (num.min, num.max) if math.isinf(v)]
        if infinite:
            signs = " and ".join(sorted({"+inf" if v > 0 else "-inf" for v in infinite}))
            problems.append(Problem(span, split, name, f"infinite value(s) ({signs})"))
    return problems


def format_report(problems, pipeline_hint: str = "") -> str:
    """The report that fails the run: one line per problem, grouped by span and split."""
    lines = [f"data validation failed: {len(problems)} problem(s) in the examples"]
    lines += [
        "  " + p.line()
        for p in sorted(
            problems,
            key=lambda p: (-1 if p.span is None else p.span, p.split, p.feature, p.problem),
        )
    ]
    lines.append(
        "The Trainer did not run and nothing was pushed. Fix or rebuild the span (the schema is "
        "tfx_pipeline/schema/contract1_schema.pbtxt, generated from vre_common/contract.py)."
    )
    if pipeline_hint:
        lines.append(pipeline_hint)
    return "\n".join(lines)
