"""create_pipeline: the components, their wiring and the settings carried to each of them."""

import json

import pytest

from tfx_pipeline.config import PipelineConfig

pytestmark = pytest.mark.slow  # importing tfx.v1 takes ~15 s


def _config(tmp_path, **trainer):
    return PipelineConfig.from_dict(
        {
            "pipeline_name": "vre-test",
            "root": str(tmp_path),
            "trainer": {"model_preset": "tiny", "train_steps": 7, "eval_steps": 2, **trainer},
            "evaluator": {"splits": ["validation"], "report_splits": ["test"],
                          "cider_floor": 0.3, "cider_margin": 0.02},
            "serving": {"base": "srv", "model_name": "cap", "warmup_examples": 3},
        }
    )


def _by_id(pipeline):
    return {c.id: c for c in pipeline.components}


def test_components_and_wiring(tmp_path):
    from tfx import v1 as tfx

    from tfx_pipeline import pipeline as P

    pipeline = P.create_pipeline_from_config(_config(tmp_path))
    nodes = _by_id(pipeline)
    assert set(nodes) == {
        P.EXAMPLE_GEN, P.STATISTICS_GEN, P.SCHEMA_GEN, P.EXAMPLE_VALIDATOR, P.VALIDATION_GATE,
        P.TRAINER, P.BASELINE_RESOLVER, P.EVALUATOR, P.REPORT_EVALUATOR, P.PUSHER,
    }
    assert pipeline.enable_cache is True
    assert pipeline.pipeline_info.pipeline_root == str(tmp_path / "pipeline")

    # ExampleGen: the newest span of each split folder.
    input_config = json.loads(nodes[P.EXAMPLE_GEN].exec_properties["input_config"])
    assert {s["name"]: s["pattern"] for s in input_config["splits"]} == {
        "train": "span-{SPAN}/train/*",
        "validation": "span-{SPAN}/validation/*",
        "test": "span-{SPAN}/test/*",
    }
    assert nodes[P.EXAMPLE_GEN].exec_properties["input_base"] == str(tmp_path / "data")

    # Trainer: the run_fn adapter, the step limits and the resolved model configs.
    trainer = nodes[P.TRAINER]
    assert trainer.exec_properties["run_fn"] == P.RUN_FN
    assert trainer.inputs["examples"].producer_component_id == P.EXAMPLE_GEN
    train_args = json.loads(trainer.exec_properties["train_args"])
    assert train_args == {"splits": ["train"], "num_steps": 7}
    assert json.loads(trainer.exec_properties["eval_args"]) == {
        "splits": ["validation"], "num_steps": 2}
    custom = json.loads(trainer.exec_properties["custom_config"])
    assert custom["model_config"]["hidden_size"] == 8
    assert custom["model_config"]["channels"] == 2048
    assert custom["model_name"] == "cap" and custom["warmup_examples"] == 3

    # Data guards: the schema is Contract 1's at the model's sizes, and the Trainer waits for
    # the gate that reads ExampleValidator's anomalies.
    schema_gen = nodes[P.SCHEMA_GEN]
    assert (schema_gen.exec_properties["num_frames"], schema_gen.exec_properties["channels"],
            schema_gen.exec_properties["num_regions"]) == (20, 2048, 49)
    validator = nodes[P.EXAMPLE_VALIDATOR]
    assert validator.inputs["schema"].producer_component_id == P.SCHEMA_GEN
    gate = nodes[P.VALIDATION_GATE]
    assert gate.inputs["anomalies"].producer_component_id == P.EXAMPLE_VALIDATOR
    assert gate.inputs["examples"].producer_component_id == P.EXAMPLE_GEN
    assert P.VALIDATION_GATE in {n.id for n in trainer.upstream_nodes}
    assert "record_reader.Executor" in str(nodes[P.EXAMPLE_GEN].executor_spec.executor_class)

    # Evaluator: the trained model against the latest blessed one, blessing on validation.
    evaluator = nodes[P.EVALUATOR]
    assert evaluator.inputs["model"].producer_component_id == P.TRAINER
    assert evaluator.inputs["baseline_model"].producer_component_id == P.BASELINE_RESOLVER
    assert json.loads(evaluator.exec_properties["example_splits"]) == ["validation"]
    eval_config = json.loads(evaluator.exec_properties["eval_config"])
    threshold = eval_config["metrics_specs"][0]["thresholds"]["CIDEr"]
    assert threshold["value_threshold"]["lower_bound"] == 0.3
    assert threshold["change_threshold"]["absolute"] == -0.02
    resolver = nodes[P.BASELINE_RESOLVER]
    strategy = resolver.exec_properties["resolver_class"]
    assert strategy is tfx.dsl.experimental.LatestBlessedModelStrategy
    # The test split is only reported: no threshold, no baseline, not behind the Pusher.
    report = nodes[P.REPORT_EVALUATOR]
    assert json.loads(report.exec_properties["example_splits"]) == ["test"]
    assert "thresholds" not in json.loads(report.exec_properties["eval_config"])["metrics_specs"][0]
    assert "baseline_model" not in report.inputs

    # Pusher: only behind the Evaluator's blessing, into <serving base>/<model name>.
    pusher = nodes[P.PUSHER]
    assert pusher.inputs["model_blessing"].producer_component_id == P.EVALUATOR
    destination = json.loads(pusher.exec_properties["push_destination"])
    assert destination["filesystem"]["base_directory"] == str(tmp_path / "srv" / "cap")


def test_statistics_components_are_optional(tmp_path):
    from tfx_pipeline import pipeline as P

    config = _config(tmp_path)
    config.statistics = False
    config.enable_cache = False
    pipeline = P.create_pipeline_from_config(config)
    assert P.STATISTICS_GEN not in _by_id(pipeline)
    assert P.SPAN_RESOLVER not in _by_id(pipeline)
    assert P.EXAMPLE_VALIDATOR not in _by_id(pipeline)
    assert P.VALIDATION_GATE not in _by_id(pipeline)
    assert pipeline.enable_cache is False


def test_unset_step_limits_mean_the_schedule_decides(tmp_path):
    from tfx_pipeline import pipeline as P

    config = _config(tmp_path)
    config.trainer.train_steps = None
    config.trainer.eval_steps = None
    trainer = _by_id(P.create_pipeline_from_config(config))[P.TRAINER]
    assert json.loads(trainer.exec_properties["train_args"]) == {"splits": ["train"]}


def test_several_spans_go_through_a_span_range_resolver(tmp_path):
    from tfx import v1 as tfx
    from tfx.dsl.components.common.resolver import RESOLVER_CONFIG

    from tfx_pipeline import pipeline as P

    config = _config(tmp_path)
    config.data.train_num_spans = 3
    nodes = _by_id(P.create_pipeline_from_config(config))
    resolver = nodes[P.SPAN_RESOLVER]
    assert resolver.exec_properties["resolver_class"] is tfx.dsl.experimental.SpanRangeStrategy
    assert resolver.exec_properties[RESOLVER_CONFIG]["range_config"].rolling_range.num_spans == 3
    assert nodes[P.TRAINER].inputs["examples"].producer_component_id == P.SPAN_RESOLVER
    assert nodes[P.EVALUATOR].inputs["examples"].producer_component_id == P.SPAN_RESOLVER
    # Statistics describe what ExampleGen ingested in this run.
    assert nodes[P.STATISTICS_GEN].inputs["examples"].producer_component_id == P.EXAMPLE_GEN


def test_vertex_multi_worker_trainer_and_the_tf_config_it_gets(tmp_path):
    """trainer.vertex: the Trainer submits a Vertex custom job (chief + workers); the TF_CONFIG
    Vertex sets in each replica makes run_fn train under MultiWorkerMirroredStrategy."""
    from tfx import v1 as tfx

    from tfx_pipeline import pipeline as P
    from tfx_pipeline.trainer_module import is_multi_worker

    vertex = {"project": "p1", "region": "europe-west4", "image": "r.example.com/vre:1",
              "machine_type": "n1-standard-16", "worker_count": 2}
    config = PipelineConfig.from_dict({**_config(tmp_path).to_dict(),
                                       "trainer": {"model_preset": "tiny", "vertex": vertex}})
    trainer = _by_id(P.create_pipeline_from_config(config))[P.TRAINER]
    assert isinstance(trainer, tfx.extensions.google_cloud_ai_platform.Trainer)
    custom = json.loads(trainer.exec_properties["custom_config"])
    assert custom[tfx.extensions.google_cloud_ai_platform.ENABLE_VERTEX_KEY] is True
    assert custom[tfx.extensions.google_cloud_ai_platform.VERTEX_REGION_KEY] == "europe-west4"
    args = custom[tfx.extensions.google_cloud_ai_platform.TRAINING_ARGS_KEY]
    assert args["project"] == "p1"
    pools = args["job_spec"]["worker_pool_specs"]
    assert [p["replica_count"] for p in pools] == [1, 2]  # pool 0 is the chief
    assert {p["container_spec"]["image_uri"] for p in pools} == {"r.example.com/vre:1"}
    assert custom["model_config"]["hidden_size"] == 8  # the model settings still travel

    # What Vertex sets in a replica of these pools (chief = pool 0, workers = pool 1).
    cluster = {"chief": ["cmle-training-workerpool0-0:2222"],
               "worker": ["cmle-training-workerpool1-0:2222", "cmle-training-workerpool1-1:2222"]}
    for task in ({"type": "chief", "index": 0}, {"type": "worker", "index": 1}):
        assert is_multi_worker({"cluster": cluster, "task": task, "environment": "cloud"})
    assert not is_multi_worker({"cluster": {"chief": ["h:2222"]}, "task": {"type": "chief"}})
    assert not is_multi_worker({})

    # Without a project the Trainer is the plain one, in its own task.
    plain = _by_id(P.create_pipeline_from_config(_config(tmp_path)))[P.TRAINER]
    assert type(plain) is tfx.components.Trainer
