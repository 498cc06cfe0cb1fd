"""The VRE TFX pipeline: one definition for every runner (local, Kubeflow).

    ImportExampleGen ──▶ [StatisticsGen + ContractSchemaGen ▶ ExampleValidator ▶ ValidationGate]
           │                                                              │ (runs before)
           ├──▶ Trainer (tfx_pipeline.trainer_module.run_fn ▶ vre_keras.training.run_schedule)
           │        │
           ├──▶ Evaluator on the validation split (caption metrics via TFMA; blesses when
           │        │   CIDEr >= floor and >= latest blessed - margin)
           │        │            ▲ baseline: Resolver(LatestBlessedModelStrategy)
           │        ▼
           │     Pusher ──▶ <serving base>/<model name>/<integer version>/
           └──▶ ReportEvaluator on the test split (the same metrics, reported only: no threshold,
                    its blessing is not used)

ExampleGen is TFX's ImportExampleGen over the Beam feature job's output rather than a custom
component that runs the feature job itself: feature extraction (ResNet152 over every frame) is
by far the heaviest step and scales on its own Beam runner (Dataflow/Flink/Spark), on its own
schedule, as videos arrive; each batch of new videos lands as a new span folder
`<data_root>/span-<N>/<split>/`, and ImportExampleGen's `{SPAN}` pattern makes the next pipeline
run pick up the newest span (and cache the old one). The splits come from the job's split
folders, which it writes from the `split` feature, so no record is re-split here.

Data guards: the schema is Contract 1's (tfx_pipeline/contract_schema.py), not inferred, and
ValidationGate fails the run before the Trainer on any anomaly or NaN/inf value
(tfx_pipeline/validation_components.py). ImportExampleGen reads the records through
`tfx_pipeline.record_reader`, which names a truncated or corrupt shard in its error.
"""

from __future__ import annotations

from typing import Any

from tfx import v1 as tfx

# Node ids, used by the runner and by tests to find each component's outputs in ML Metadata.
EXAMPLE_GEN = "ImportExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "ContractSchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
VALIDATION_GATE = "ValidationGate"
TRAINER = "Trainer"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
SPAN_RESOLVER = "span_resolver"
EVALUATOR = "Evaluator"
REPORT_EVALUATOR = "ReportEvaluator"
PUSHER = "Pusher"

RUN_FN = "tfx_pipeline.trainer_module.run_fn"


def span_input_config(splits=("train", "validation", "test")) -> Any:
    """ImportExampleGen input: `span-{SPAN}/<split>/*` for each split (the newest span wins)."""
    return tfx.proto.Input(
        splits=[tfx.proto.Input.Split(name=s, pattern=f"span-{{SPAN}}/{s}/*") for s in splits]
    )


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    push_destination: Any,
    model_config: dict[str, Any],
    schedule_config: dict[str, Any],
    model_name: str = "vre",
    train_steps: int | None = None,
    eval_steps: int | None = None,
    train_splits: list[str] | tuple[str, ...] = ("train",),
    eval_splits: list[str] | tuple[str, ...] = ("validation",),
    evaluator_splits: list[str] | tuple[str, ...] = ("validation",),
    report_splits: list[str] | tuple[str, ...] = ("test",),
    cider_floor: float = 0.0,
    cider_margin: float = 0.0,
    warmup_examples: int = 2,
    train_num_spans: int = 1,
    vertex_training: dict[str, Any] | None = None,
    statistics: bool = True,
    enable_cache: bool = True,
    metadata_connection_config: Any = None,
    beam_pipeline_args: list[str] | None = None,
) -> tfx.dsl.Pipeline:
    """Builds the VRE training pipeline.

    Args:
        pipeline_name: TFX pipeline name (the ML Metadata context; caching is per name).
        pipeline_root: where component outputs go (local folder or a bucket URI).
        data_root: folder of `span-<N>/<split>/*.tfrecord.gz` written by the Beam feature job
            (a str or a RuntimeParameter on Kubeflow).
        push_destination: `<serving base>/<model name>` as a str, or a ready
            `tfx.proto.PushDestination` / RuntimeParameter; the Pusher adds `<version>/`.
        model_config: `vre_keras.config.ModelConfig.to_dict()`, carried in custom_config.
        schedule_config: `vre_keras.config.ScheduleConfig.to_dict()`.
        model_name: the served model name (written into the warmup requests).
        train_steps: TrainArgs.num_steps (None: the schedule decides).
        eval_steps: EvalArgs.num_steps (None: the whole eval split).
        train_splits: splits the Trainer trains on.
        eval_splits: splits the Trainer validates on.
        evaluator_splits: splits the Evaluator scores and blesses on (sliced overall).
        report_splits: splits a second Evaluator only reports metrics on (no threshold, its
            blessing is not used): the test split stays out of model selection. Empty: none.
        cider_floor: the Evaluator blesses only when CIDEr >= cider_floor ...
        cider_margin: ... and CIDEr >= the latest blessed model's CIDEr - cider_margin.
        warmup_examples: eval examples written as TF Serving warmup requests (0: none).
        train_num_spans: train and evaluate on the newest N spans ExampleGen has ingested
            (1: the newest only; N > 1 adds a Resolver with SpanRangeStrategy, so a span may
            hold only the videos added since the previous one).
        vertex_training: None (the Trainer runs in its own task), or {"project", "region",
            "worker_pool_specs"}: the Trainer submits a Vertex AI custom job of those worker
            pools (pool 0 the chief); Vertex sets TF_CONFIG in every replica and run_fn trains
            under MultiWorkerMirroredStrategy (config.VertexTrainingConfig).
        statistics: add StatisticsGen, ContractSchemaGen, ExampleValidator and the
            ValidationGate that stops the run before the Trainer on bad data.
        enable_cache: reuse outputs of components whose inputs and settings are unchanged.
        metadata_connection_config: ML Metadata store (local runs: a SQLite config).
        beam_pipeline_args: Beam flags for the Beam-based components.
    """
    # Imported here, not at module level: it pulls in TFMA, which only the Evaluator needs.
    from tfx_pipeline import caption_metrics_tfma

    # FileBasedExampleGen is not in tfx.v1; it is ImportExampleGen's base class.
    from tfx.components.example_gen.component import FileBasedExampleGen

    from tfx_pipeline import record_reader

    # FileBasedExampleGen with ImportExampleGen's executor, reading shard by shard so that a
    # corrupt shard is named (record_reader.py); same driver, so the same span resolution.
    example_gen = FileBasedExampleGen(
        input_base=data_root,
        input_config=span_input_config(),
        custom_executor_spec=record_reader.executor_spec(),
    ).with_id(EXAMPLE_GEN)
    components = [example_gen]

    gate = None
    if statistics:
        from tfx_pipeline import validation_components as validation

        statistics_gen = tfx.components.StatisticsGen(
            examples=example_gen.outputs["examples"]
        ).with_id(STATISTICS_GEN)
        # The schema comes from Contract 1 at the model's feature sizes, never inferred from
        # the data it then validates.
        schema_gen = validation.ContractSchemaGen(
            num_frames=int(model_config["num_frames"]),
            channels=int(model_config["channels"]),
            num_regions=int(model_config["num_regions"]),
        ).with_id(SCHEMA_GEN)
        example_validator = tfx.components.ExampleValidator(
            statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
        ).with_id(EXAMPLE_VALIDATOR)
        gate = validation.ValidationGate(
            examples=example_gen.outputs["examples"],
            statistics=statistics_gen.outputs["statistics"],
            anomalies=example_validator.outputs["anomalies"],
            schema=schema_gen.outputs["schema"],
        ).with_id(VALIDATION_GATE)
        components += [statistics_gen, schema_gen, example_validator, gate]

    examples = example_gen.outputs["examples"]
    if train_num_spans > 1:
        # The newest N spans from ML Metadata: ExampleGen ingests one span per run, earlier
        # runs ingested the older ones.
        span_resolver = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.SpanRangeStrategy,
            config={
                "range_config": tfx.proto.RangeConfig(
                    rolling_range=tfx.proto.RollingRange(num_spans=int(train_num_spans))
                )
            },
            examples=tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.Examples,
                producer_component_id=example_gen.id,
            ),
        ).with_id(SPAN_RESOLVER)
        components.append(span_resolver)
        examples = span_resolver.outputs["examples"]

    custom_config = {
        "model_config": dict(model_config),
        "schedule_config": dict(schedule_config),
        "model_name": model_name,
        "warmup_examples": int(warmup_examples),
    }
    trainer_class = tfx.components.Trainer
    if vertex_training:
        vertex = tfx.extensions.google_cloud_ai_platform
        trainer_class = vertex.Trainer
        custom_config.update(
            {
                vertex.ENABLE_VERTEX_KEY: True,
                vertex.VERTEX_REGION_KEY: vertex_training["region"],
                vertex.TRAINING_ARGS_KEY: {
                    "project": vertex_training["project"],
                    "job_spec": {"worker_pool_specs": list(vertex_training["worker_pool_specs"])},
                },
            }
        )
    trainer = trainer_class(
        run_fn=RUN_FN,
        examples=examples,
        train_args=tfx.proto.TrainArgs(splits=list(train_splits), num_steps=train_steps or 0),
        eval_args=tfx.proto.EvalArgs(splits=list(eval_splits), num_steps=eval_steps or 0),
        custom_config=custom_config,
    ).with_id(TRAINER)
    if gate is not None:
        # No artifact flows from the gate to the Trainer: the Trainer waits for it, and a
        # failed gate ends the run before training (and so before Evaluator and Pusher).
        trainer.add_upstream_node(gate)

    # The baseline for the Evaluator's change threshold: the newest model the Evaluator has
    # blessed in this pipeline's history (none on the first run: then only the floor applies).
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id(BASELINE_RESOLVER)

    evaluator = tfx.components.Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        eval_config=caption_metrics_tfma.eval_config(
            cider_floor=float(cider_floor), cider_margin=float(cider_margin)
        ),
        example_splits=list(evaluator_splits),
    ).with_id(EVALUATOR)

    if isinstance(push_destination, str):
        push_destination = tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=push_destination)
        )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=push_destination,
    ).with_id(PUSHER)

    components += [trainer, baseline_resolver, evaluator, pusher]

    if report_splits:
        # The held-out split is scored for the record, with no threshold and no baseline, so it
        # never decides which model is pushed.
        report_config = caption_metrics_tfma.eval_config(cider_floor=0.0, cider_margin=0.0)
        for spec in report_config.metrics_specs:
            spec.ClearField("thresholds")
        components.append(
            tfx.components.Evaluator(
                examples=examples,
                model=trainer.outputs["model"],
                eval_config=report_config,
                example_splits=list(report_splits),
            ).with_id(REPORT_EVALUATOR)
        )
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=with_default_runner(beam_pipeline_args),
    )


# Beam's DirectRunner first tries the Prism runner, whose binary it downloads from GitHub (no
# internet here, and traffic nobody asked for elsewhere), then falls back to the FnApiRunner:
# the components get the FnApiRunner directly unless the config names a runner.
DEFAULT_BEAM_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def with_default_runner(beam_pipeline_args) -> list[str]:
    """`beam_pipeline_args` with `--runner=<DEFAULT_BEAM_RUNNER>` added when none is given."""
    args = list(beam_pipeline_args or [])
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.insert(0, f"--runner={DEFAULT_BEAM_RUNNER}")
    return args


def create_pipeline_from_config(config, metadata_connection_config: Any = None):
    """create_pipeline() with every argument taken from a `PipelineConfig`.

    Args:
        config: a `tfx_pipeline.config.PipelineConfig` (paths are resolved against its root).
        metadata_connection_config: the ML Metadata store; None leaves it to the runner.
    """
    from tfx_pipeline.model_configs import resolve_model_configs

    model_config, schedule_config = resolve_model_configs(config.trainer)
    return create_pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.resolved_pipeline_root,
        data_root=config.resolved_data_root,
        push_destination=config.push_destination,
        model_config=model_config,
        schedule_config=schedule_config,
        model_name=config.serving.model_name,
        train_steps=config.trainer.train_steps,
        eval_steps=config.trainer.eval_steps,
        train_splits=config.trainer.train_splits,
        eval_splits=config.trainer.eval_splits,
        evaluator_splits=config.evaluator.splits,
        report_splits=config.evaluator.report_splits,
        cider_floor=config.evaluator.cider_floor,
        cider_margin=config.evaluator.cider_margin,
        warmup_examples=config.serving.warmup_examples,
        train_num_spans=config.data.train_num_spans,
        vertex_training=_vertex_training(config.trainer.vertex),
        statistics=config.statistics,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam_pipeline_args,
    )


def _vertex_training(vertex) -> dict[str, Any] | None:
    """create_pipeline's `vertex_training` from a config.VertexTrainingConfig (None: off)."""
    if not vertex.project:
        return None
    return {
        "project": vertex.project,
        "region": vertex.region,
        "worker_pool_specs": vertex.worker_pool_specs(),
    }
