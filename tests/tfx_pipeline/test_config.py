"""Pipeline config files: the shipped examples load, bad files fail with a clear message."""

import pathlib

import pytest

from tfx_pipeline.config import ConfigError, PipelineConfig, load_config
from tfx_pipeline.model_configs import apply_step_limits, resolve_model_configs
from vre_common import contract

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / "tfx_pipeline" / "configs"


@pytest.mark.parametrize("name", ["demo.yaml", "msrvtt.yaml", "msvd.yaml"])
def test_shipped_configs_load_and_resolve(name, monkeypatch, tmp_path):
    # The dataset examples read their locations from the environment.
    monkeypatch.setenv("VRE_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("VRE_DATA", str(tmp_path / "data"))
    config = load_config(CONFIG_DIR / name)
    model, schedule = resolve_model_configs(config.trainer)
    assert model["num_frames"] == contract.NUM_FRAMES
    assert model["channels"] == contract.FEATURE_CHANNELS
    assert model["num_regions"] == contract.NUM_REGIONS
    assert schedule["batch_size"] >= 1
    assert config.push_destination.endswith("/" + config.serving.model_name)
    assert pathlib.Path(config.resolved_metadata_path).is_absolute()


def test_paper_preset_keeps_paper_sizes(monkeypatch, tmp_path):
    monkeypatch.setenv("VRE_WORK", str(tmp_path))
    monkeypatch.setenv("VRE_DATA", str(tmp_path))
    model, _ = resolve_model_configs(load_config(CONFIG_DIR / "msvd.yaml").trainer)
    assert model["hidden_size"] == 512 and model["use_audio"] is False


def test_toml_and_overrides(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        'pipeline_name = "t"\nroot = "/somewhere"\n'
        '[trainer]\nmodel_preset = "tiny"\ntrain_steps = 5\n'
        '[serving]\nbase = "srv"\nmodel_name = "m"\n'
    )
    config = load_config(path, overrides={"root": str(tmp_path / "r")})
    assert config.trainer.train_steps == 5
    assert config.push_destination == str(tmp_path / "r" / "srv" / "m")
    assert config.resolved_pipeline_root == str(tmp_path / "r" / "pipeline")


def test_bucket_root_stays_a_uri():
    config = PipelineConfig.from_dict({"root": "gs://bucket/vre", "serving": {"model_name": "m"}})
    assert config.push_destination == "gs://bucket/vre/serving/m"
    assert config.resolved_data_root == "gs://bucket/vre/data"


@pytest.mark.parametrize(
    "text, message",
    [
        ("pipeline_name: x\nbogus: 1\n", "unknown key(s) bogus"),
        ("trainer: {model_preset: huge}\n", "trainer.model_preset must be one of"),
        ("trainer: {train_steps: -3}\n", "trainer.train_steps must be an integer >= 0"),
        ("evaluator: {cider_floor: high}\n", "evaluator.cider_floor must be a number"),
        ("evaluator: {splits: []}\n", "evaluator.splits must be a non-empty list"),
        ("evaluator: {splits: [validation, test]}\n", "evaluator.report_splits and "
         "evaluator.splits share ['test']"),
        ("trainer: {vertex: {project: p}}\n", "trainer.vertex needs image"),
        ("trainer: {vertex: {project: p, image: i, workers: 2}}\n",
         "trainer.vertex: unknown key(s) workers"),
        ("serving: {model_name: a/b}\n", "serving.model_name"),
        ("serving: 3\n", "serving: expected a mapping"),
        ("statistics: maybe\n", "statistics must be true or false"),
        ("data: {extract_argv: [--output_dir, x]}\n", "must not set --output_dir"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("pipeline_name: [unclosed\n", "is not valid YAML"),
        ("", "is empty"),
    ],
)
def test_bad_config_names_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ConfigError, match="use a .yaml, .yml or .toml file"):
        load_config(tmp_path / "c.json")


def test_unset_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("VRE_SURELY_UNSET", raising=False)
    config = PipelineConfig.from_dict({"root": "${VRE_SURELY_UNSET}/x"})
    with pytest.raises(ConfigError, match="VRE_SURELY_UNSET"):
        config.resolved_pipeline_root


def test_bad_model_override_is_rejected_by_vre_keras():
    config = PipelineConfig.from_dict({"trainer": {"model_preset": "tiny", "model": {"wide": 3}}})
    with pytest.raises((TypeError, ValueError), match="wide"):
        resolve_model_configs(config.trainer)


def test_step_limits_spread_over_the_epochs_that_run():
    schedule = {"phase1_epochs": 2, "phase2_epochs": 1, "phase3_epochs": 1, "phase4_epochs": 0,
                "steps_per_epoch": None, "eval_steps": None}
    limited = apply_step_limits(schedule, train_steps=10, eval_steps=3)
    assert limited["steps_per_epoch"] == 3  # ceil(10 / 4 epochs)
    assert limited["eval_steps"] == 3
    assert apply_step_limits(schedule, None, None) == schedule


def test_train_num_spans_must_be_positive():
    with pytest.raises(ConfigError, match="data.train_num_spans"):
        PipelineConfig.from_dict({"data": {"train_num_spans": 0}})
