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
            "evaluator": {"splits": ["test"], "cider_floor": 0.3, "cider_margin": 0.02},
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
        P.EXAMPLE_GEN, P.STATISTICS_GEN, P.SCHEMA_GEN, P.EXAMPLE_VALIDATOR, P.TRAINER,
        P.BASELINE_RESOLVER, P.EVALUATOR, P.PUSHER,
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

    # Evaluator: the trained model against the latest blessed one, on the test split.
    evaluator = nodes[P.EVALUATOR]
    assert evaluator.inputs["model"].producer_component_id == P.TRAINER
    assert evaluator.inputs["baseline_model"].producer_component_id == P.BASELINE_RESOLVER
    assert json.loads(evaluator.exec_properties["example_splits"]) == ["test"]
    eval_config = json.loads(evaluator.exec_properties["eval_config"])
    threshold = eval_config["metrics_specs"][0]["thresholds"]["CIDEr"]
    assert threshold["value_threshold"]["lower_bound"] == 0.3
    assert threshold["change_threshold"]["absolute"] == -0.02
    resolver = nodes[P.BASELINE_RESOLVER]
    strategy = resolver.exec_properties["resolver_class"]
    assert strategy is tfx.dsl.experimental.LatestBlessedModelStrategy

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
