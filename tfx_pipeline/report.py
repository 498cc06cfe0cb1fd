"""The Evaluator's verdict and the Pusher's result of a run, read from their artifacts.

The metrics come from the Evaluator's `evaluation` artifact (TFMA's metrics file, read with
`tfma.load_metrics`), the blessing from its `blessing` artifact, the validation failures from
TFMA's validation file, and the pushed folder from the Pusher's `pushed_model` artifact.
"""

from __future__ import annotations

import dataclasses

from tfx_pipeline import pipeline as nodes
from tfx_pipeline.run_results import PipelineRun
from vre_common import storage

# TFMA's model names in a candidate-vs-baseline evaluation (tfma.CANDIDATE_KEY/BASELINE_KEY).
CANDIDATE = "candidate"
BASELINE = "baseline"


@dataclasses.dataclass
class EvaluationReport:
    """The caption metrics of one Evaluator execution.

    Attributes:
        metrics: metric name -> candidate value (overall slice).
        baseline: metric name -> baseline value (empty without a blessed baseline).
        blessed: the Evaluator's verdict.
        failures: why the candidate was not blessed (TFMA's validation failures).
        evaluation_uri: the evaluation artifact's folder.
    """

    metrics: dict[str, float]
    baseline: dict[str, float]
    blessed: bool
    failures: list[str]
    evaluation_uri: str

    def table(self) -> str:
        """The metrics as a text table, with the baseline column when there is one."""
        names = sorted(self.metrics)
        width = max([len(n) for n in names] + [6])
        header = f"{'metric':{width}}  candidate" + ("   baseline" if self.baseline else "")
        lines = ["Evaluator (caption metrics, overall slice):", header, "-" * len(header)]
        for name in names:
            line = f"{name:{width}}  {self.metrics[name]:9.4f}"
            if self.baseline:
                value = self.baseline.get(name)
                line += f"  {value:9.4f}" if value is not None else "          -"
            lines.append(line)
        lines.append(f"blessed: {'yes' if self.blessed else 'no'}")
        lines += [f"  not blessed because: {f}" for f in self.failures]
        return "\n".join(lines)


def load_evaluation(evaluation_uri: str) -> tuple[dict[str, float], dict[str, float]]:
    """(candidate metrics, baseline metrics) of the overall slice of a TFMA output folder.

    Args:
        evaluation_uri: the Evaluator's `evaluation` artifact folder.
    """
    import tensorflow_model_analysis as tfma

    candidate, baseline = {}, {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue  # only the overall slice
        for kv in metrics_for_slice.metric_keys_and_values:
            if kv.key.is_diff:
                continue
            if not kv.value.HasField("double_value"):
                continue
            target = baseline if kv.key.model_name == BASELINE else candidate
            target[kv.key.name] = kv.value.double_value.value
    return candidate, baseline


def _validation_failures(evaluation_uri: str) -> list[str]:
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_validation_result(evaluation_uri)
    except (FileNotFoundError, OSError, ValueError):
        return []
    failures = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            failures.append(
                f"{failure.metric_key.name} = {failure.metric_value.double_value.value:.4f} "
                f"fails {failure.metric_threshold}".replace("\n", " ").strip()
            )
    return failures


def evaluation_report(run: PipelineRun) -> EvaluationReport | None:
    """The Evaluator's report for `run`, or None when the Evaluator did not produce one.

    Args:
        run: a run read by `tfx_pipeline.run_results.read_run`.
    """
    if nodes.EVALUATOR not in run.nodes:
        return None
    evaluator = run.node(nodes.EVALUATOR)
    if "evaluation" not in evaluator.outputs:
        return None
    uri = evaluator.output("evaluation").uri
    candidate, baseline = load_evaluation(uri)
    blessing = evaluator.output("blessing")
    blessed = bool(blessing.properties.get("blessed")) or storage.exists(
        storage.join(blessing.uri, "BLESSED")
    )
    return EvaluationReport(candidate, baseline, blessed, _validation_failures(uri), uri)


def pushed_model_dir(run: PipelineRun) -> str | None:
    """`<serving base>/<model name>/<version>` pushed by `run`, or None when nothing was pushed.

    Args:
        run: a run read by `tfx_pipeline.run_results.read_run`.
    """
    if nodes.PUSHER not in run.nodes:
        return None
    pushed = run.node(nodes.PUSHER).outputs.get("pushed_model", [])
    if not pushed or not pushed[0].properties.get("pushed"):
        return None
    return pushed[0].properties.get("pushed_destination")
