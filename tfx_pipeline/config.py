"""The pipeline's configuration: what `vre pipeline run --config FILE` reads.

A config file (YAML or TOML) names the data, the model sizes, the training schedule, the
Evaluator's blessing thresholds and the serving base. Relative paths are resolved against
`root` (itself relative to the working directory), and `$VARS` are expanded, so one file works
on a laptop and, with `root: gs://bucket/vre`, on a cluster.

This module imports neither TF nor TFX, so the CLI and the fast tests load configs quickly.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import tomllib
from typing import Any

import yaml

from vre_common import storage

MODEL_PRESETS = ("paper", "tiny")


class ConfigError(ValueError):
    """A pipeline config file is missing, unreadable or holds a bad value."""


@dataclasses.dataclass
class DataConfig:
    """Where the Contract-1 TFRecords live and, optionally, how to make them.

    Attributes:
        data_root: folder of spans, `span-<N>/<split>/*.tfrecord.gz` (the Beam job's layout).
            ImportExampleGen reads the highest span, so a scheduled run picks up a new one.
        extract_argv: flags for `beam_jobs.feature_job.run(argv)`; when set, `vre pipeline run`
            first extracts features into `span-<extract_span>` (the `--output_dir` flag is added).
        extract_span: the span number the extraction writes.
        skip_existing: do not extract again when that span folder already holds records.
        train_num_spans: train and evaluate on the newest N spans (1: the newest only, so each
            span must hold the whole dataset; N > 1: spans may hold just the new videos).
    """

    data_root: str = "data"
    extract_argv: list[str] = dataclasses.field(default_factory=list)
    extract_span: int = 1
    skip_existing: bool = True
    train_num_spans: int = 1


@dataclasses.dataclass
class VertexTrainingConfig:
    """Multi-worker training as a Vertex AI custom job (TFX's Vertex Trainer extension).

    Vertex AI starts `1 + worker_count` replicas of `image`, each running the Trainer's
    executor, and sets TF_CONFIG in each: `cluster` = {"chief": [1 address], "worker":
    [worker_count addresses]}, `task` = that replica's type and index. The run_fn
    (tfx_pipeline/trainer_module.py) then trains under MultiWorkerMirroredStrategy; TFX writes
    the model from the chief only. Empty `project` (the default): the Trainer runs in its own
    pipeline task, one process.

    Attributes:
        project: the Google Cloud project of the custom job ("" disables Vertex training).
        region: the Vertex AI region, e.g. us-central1.
        image: the container image of every replica: the pipeline image (kubeflow/Dockerfile).
        machine_type: machine of every replica, e.g. n1-standard-16.
        worker_count: replicas besides the chief (0: one machine, no strategy).
        accelerator_type: e.g. NVIDIA_TESLA_T4 ("" for none).
        accelerator_count: accelerators per replica.
    """

    project: str = ""
    region: str = "us-central1"
    image: str = ""
    machine_type: str = "n1-standard-8"
    worker_count: int = 0
    accelerator_type: str = ""
    accelerator_count: int = 0

    def worker_pool_specs(self) -> list[dict[str, Any]]:
        """Vertex CustomJob worker pools: pool 0 is the chief, pool 1 the workers."""
        machine: dict[str, Any] = {"machine_type": self.machine_type}
        if self.accelerator_type:
            machine["accelerator_type"] = self.accelerator_type
            machine["accelerator_count"] = self.accelerator_count
        pool = {"machine_spec": machine, "container_spec": {"image_uri": self.image}}
        pools = [{**pool, "replica_count": 1}]
        if self.worker_count:
            pools.append({**pool, "replica_count": self.worker_count})
        return pools


@dataclasses.dataclass
class TrainerConfig:
    """The Trainer: model sizes, schedule and step limits.

    Attributes:
        model_preset: "paper" (the paper's sizes) or "tiny" (vre_keras ModelConfig.tiny()).
        model: overrides of ModelConfig fields applied on top of the preset.
        schedule: overrides of ScheduleConfig fields.
        train_steps: TrainArgs.num_steps; None or 0 lets the schedule decide.
        eval_steps: EvalArgs.num_steps; None or 0 evaluates the whole eval split.
        train_splits: splits the Trainer trains on.
        eval_splits: splits the Trainer validates on during training.
        vertex: train as a multi-worker Vertex AI custom job (see VertexTrainingConfig).
    """

    model_preset: str = "paper"
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    schedule: dict[str, Any] = dataclasses.field(default_factory=dict)
    train_steps: int | None = None
    eval_steps: int | None = None
    train_splits: list[str] = dataclasses.field(default_factory=lambda: ["train"])
    eval_splits: list[str] = dataclasses.field(default_factory=lambda: ["validation"])
    vertex: VertexTrainingConfig = dataclasses.field(default_factory=VertexTrainingConfig)


@dataclasses.dataclass
class EvaluatorConfig:
    """The Evaluator's caption metrics and its blessing rule.

    Attributes:
        splits: example splits the candidate is scored and blessed on (sliced overall); the
            validation split, so the test split plays no part in which model is pushed.
        report_splits: splits a second Evaluator (ReportEvaluator) scores for the record only:
            no threshold, its verdict is not used. Must not overlap `splits`. [] for none.
        cider_floor: bless only when CIDEr >= this absolute floor ...
        cider_margin: ... and CIDEr is not lower than the latest blessed model's by more than
            this margin (the baseline is resolved from MLMD).
    """

    splits: list[str] = dataclasses.field(default_factory=lambda: ["validation"])
    report_splits: list[str] = dataclasses.field(default_factory=lambda: ["test"])
    cider_floor: float = 0.0
    cider_margin: float = 0.0


@dataclasses.dataclass
class ServingConfig:
    """Where the Pusher puts blessed models.

    Attributes:
        base: the serving base; models go to `<base>/<model_name>/<integer version>/`.
        model_name: the served model's name (TF Serving's model name).
        warmup_examples: how many eval examples the Trainer writes as TF Serving warmup
            requests into the SavedModel (0: none).
    """

    base: str = "serving"
    model_name: str = "vre"
    warmup_examples: int = 2


@dataclasses.dataclass
class PipelineConfig:
    """One pipeline instance: names, paths, runner settings and the component sections.

    Attributes:
        pipeline_name: the TFX pipeline name (MLMD context; caching is per name).
        root: base folder for every relative path below.
        pipeline_root: where component outputs (artifacts) go.
        metadata_path: the SQLite ML Metadata store of the local runner.
        enable_cache: reuse a component's outputs when its inputs and settings are unchanged.
        statistics: add StatisticsGen, SchemaGen and ExampleValidator on the examples.
        beam_pipeline_args: Beam flags for the Beam-based components (ExampleGen, Evaluator, ...).
        data, trainer, evaluator, serving: the sections above.
    """

    pipeline_name: str = "vre"
    root: str = "."
    pipeline_root: str = "pipeline"
    metadata_path: str = "metadata/metadata.sqlite"
    enable_cache: bool = True
    statistics: bool = True
    beam_pipeline_args: list[str] = dataclasses.field(
        default_factory=lambda: ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    )
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    evaluator: EvaluatorConfig = dataclasses.field(default_factory=EvaluatorConfig)
    serving: ServingConfig = dataclasses.field(default_factory=ServingConfig)

    # --- paths resolved against root -------------------------------------------------------

    def path(self, value: str) -> str:
        """`value` with $VARS expanded, made absolute against `root` unless it is a URI."""
        value = expand(value)
        if "://" in value or os.path.isabs(value):
            return value
        root = expand(self.root)
        if storage.is_remote(root):
            return storage.join(root.rstrip("/"), value)
        return str((pathlib.Path(root) / value).absolute())

    @property
    def resolved_pipeline_root(self) -> str:
        return self.path(self.pipeline_root)

    @property
    def resolved_metadata_path(self) -> str:
        return self.path(self.metadata_path)

    @property
    def resolved_data_root(self) -> str:
        return self.path(self.data.data_root)

    @property
    def push_destination(self) -> str:
        """`<serving base>/<model name>`: the Pusher adds the integer version folder."""
        return self.path(self.serving.base).rstrip("/") + "/" + self.serving.model_name

    # --- (de)serialization ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> PipelineConfig:
        """Builds a config from nested dicts, rejecting unknown keys and bad values.

        Args:
            values: the parsed file, sections as nested dicts.
            source: how to name the input in error messages (the file path).
        """
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level, got {values!r}")
        sections = {
            "data": DataConfig,
            "trainer": TrainerConfig,
            "evaluator": EvaluatorConfig,
            "serving": ServingConfig,
        }
        kwargs = {}
        for key, value in values.items():
            if key == "trainer" and isinstance(value, dict) and "vertex" in value:
                value = {
                    **value,
                    "vertex": _build(
                        VertexTrainingConfig, value["vertex"], f"{source}: trainer.vertex"
                    ),
                }
            if key in sections:
                kwargs[key] = _build(sections[key], value, f"{source}: {key}")
            else:
                kwargs[key] = value
        config = _build(cls, kwargs, source, nested=sections)
        config.validate(source)
        return config

    def validate(self, source: str = "config") -> None:
        """Raises ConfigError naming `source` and the field when a value cannot work."""
        if not self.pipeline_name or not isinstance(self.pipeline_name, str):
            raise ConfigError(f"{source}: pipeline_name must be a non-empty string")
        if self.trainer.model_preset not in MODEL_PRESETS:
            raise ConfigError(
                f"{source}: trainer.model_preset must be one of {MODEL_PRESETS}, "
                f"got {self.trainer.model_preset!r}"
            )
        for name in ("train_steps", "eval_steps"):
            steps = getattr(self.trainer, name)
            if steps is not None and (not isinstance(steps, int) or steps < 0):
                raise ConfigError(
                    f"{source}: trainer.{name} must be an integer >= 0, got {steps!r}"
                )
        for field, splits in (
            ("trainer.train_splits", self.trainer.train_splits),
            ("trainer.eval_splits", self.trainer.eval_splits),
            ("evaluator.splits", self.evaluator.splits),
        ):
            if not splits or not all(isinstance(s, str) and s for s in splits):
                raise ConfigError(f"{source}: {field} must be a non-empty list of split names")
        vertex = self.trainer.vertex
        if vertex.project:
            if not vertex.image or not vertex.region:
                raise ConfigError(
                    f"{source}: trainer.vertex needs image (the pipeline image) and region"
                )
            if not isinstance(vertex.worker_count, int) or vertex.worker_count < 0:
                raise ConfigError(f"{source}: trainer.vertex.worker_count must be an integer >= 0")
        report = self.evaluator.report_splits
        if not all(isinstance(s, str) and s for s in report):
            raise ConfigError(f"{source}: evaluator.report_splits must be a list of split names")
        both = sorted(set(report) & set(self.evaluator.splits))
        if both:
            raise ConfigError(
                f"{source}: evaluator.report_splits and evaluator.splits share {both}: a split "
                "is either used for blessing (splits) or only reported (report_splits)"
            )
        for name in ("cider_floor", "cider_margin"):
            value = getattr(self.evaluator, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(
                    f"{source}: evaluator.{name} must be a number >= 0, got {value!r}"
                )
        if not self.serving.model_name or "/" in self.serving.model_name:
            raise ConfigError(
                f"{source}: serving.model_name must be a non-empty name without '/', "
                f"got {self.serving.model_name!r}"
            )
        if not isinstance(self.serving.warmup_examples, int) or self.serving.warmup_examples < 0:
            raise ConfigError(f"{source}: serving.warmup_examples must be an integer >= 0")
        if not isinstance(self.data.extract_span, int) or self.data.extract_span < 0:
            raise ConfigError(f"{source}: data.extract_span must be an integer >= 0")
        if not isinstance(self.data.train_num_spans, int) or self.data.train_num_spans < 1:
            raise ConfigError(f"{source}: data.train_num_spans must be an integer >= 1")
        if not all(isinstance(a, str) for a in self.data.extract_argv):
            raise ConfigError(f"{source}: data.extract_argv must be a list of strings")
        if "--output_dir" in " ".join(self.data.extract_argv):
            raise ConfigError(
                f"{source}: data.extract_argv must not set --output_dir "
                "(it is data_root/span-<extract_span>)"
            )
        if not all(isinstance(a, str) for a in self.beam_pipeline_args):
            raise ConfigError(f"{source}: beam_pipeline_args must be a list of strings")


_UNSET_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def expand(value: str) -> str:
    """`value` with ~ and $VARS expanded; ConfigError naming the variable when one is unset."""
    expanded = os.path.expandvars(os.path.expanduser(value))
    unset = _UNSET_VAR.search(expanded)
    if unset:
        raise ConfigError(f"environment variable {unset.group(1)} used in {value!r} is not set")
    return expanded


def _build(cls, values, source, nested=None):
    """cls(**values) with a clear error for a non-mapping or an unknown key."""
    nested = nested or {}
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping, got {values!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
        )
    for key, value in values.items():
        if key in nested or dataclasses.is_dataclass(value):
            continue
        default = _default_of(cls, key)
        if isinstance(default, list) and not isinstance(value, list):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        if isinstance(default, dict) and not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        if isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
    return cls(**values)


def _default_of(cls, name):
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def load_config(path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Reads a YAML (.yaml/.yml) or TOML (.toml) pipeline config.

    Args:
        path: the config file.
        overrides: top-level keys replacing the file's (e.g. {"root": "/tmp/run"} from the CLI).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"pipeline config {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            values = yaml.safe_load(text)
        elif path.suffix == ".toml":
            values = tomllib.loads(text)
        else:
            raise ConfigError(f"pipeline config {path}: use a .yaml, .yml or .toml file")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"pipeline config {path} is not valid {path.suffix[1:].upper()}: {e}")
    if values is None:
        raise ConfigError(f"pipeline config {path} is empty")
    if isinstance(values, dict) and overrides:
        values = {**values, **overrides}
    return PipelineConfig.from_dict(values, source=str(path))
