"""The Trainer's run_fn adapter, called with TFX's own FnArgs on tiny real records."""

import json
import os

import pytest

pytestmark = pytest.mark.slow  # a real (tiny) training run and export

REFERENCES = {
    "v1": ["a man rides a bike", "a man is cycling"],
    "v2": ["a cat sits on a mat", "a cat is sitting"],
}


def _fn_args(tmp_path, model_config, schedule_config, train_steps, warmup):
    from tfx.components.trainer.fn_args_utils import FnArgs

    from vre_keras.synthetic_data import write_synthetic_records

    train = write_synthetic_records(tmp_path / "train" / "part-0.gz", REFERENCES, model_config)
    write_synthetic_records(tmp_path / "eval" / "part-0.gz", REFERENCES, model_config, seed=1,
                            split="validation")
    return FnArgs(
        train_files=[str(train.parent / "*")],
        eval_files=[str(tmp_path / "eval" / "*")],
        train_steps=train_steps,
        eval_steps=1,
        serving_model_dir=str(tmp_path / "model" / "Format-Serving"),
        model_run_dir=str(tmp_path / "model_run"),
        custom_config={
            "model_config": model_config.to_dict(),
            "schedule_config": schedule_config.to_dict(),
            "model_name": "vre-test",
            "warmup_examples": warmup,
        },
    )


def test_run_fn_trains_exports_and_writes_warmup(tmp_path):
    from serving.warmup import read_warmup_requests
    from tfx_pipeline.trainer_module import RESOLVED_CONFIG_FILE, SUMMARY_FILE, run_fn
    from vre_common import contract
    from vre_keras.config import ModelConfig, ScheduleConfig

    model = ModelConfig.tiny()
    schedule = ScheduleConfig.tiny(phase2_epochs=0, phase3_epochs=0, phase4_epochs=0)
    fn_args = _fn_args(tmp_path, model, schedule, train_steps=3, warmup=2)
    run_fn(fn_args)

    assert os.path.isfile(os.path.join(fn_args.serving_model_dir, "saved_model.pb"))
    resolved = json.loads((tmp_path / "model_run" / RESOLVED_CONFIG_FILE).read_text())
    assert resolved["schedule"]["steps_per_epoch"] == 3  # TrainArgs.num_steps over 1 epoch
    assert resolved["schedule"]["eval_steps"] == 1
    summary = json.loads((tmp_path / "model_run" / SUMMARY_FILE).read_text())
    assert summary["num_videos"] == 2 and "1" in summary["phases"]
    assert (tmp_path / "model_run" / "logs").is_dir()  # TensorBoard logs under model_run_dir

    requests = read_warmup_requests(fn_args.serving_model_dir)
    assert len(requests) == 2
    assert requests[0].model_spec.name == "vre-test"
    shape = [d.size for d in requests[0].inputs[contract.TEMPORAL].tensor_shape.dim]
    assert shape == [1, model.num_frames, model.channels]


def test_run_fn_refuses_a_config_without_model_settings(tmp_path):
    from tfx.components.trainer.fn_args_utils import FnArgs

    from tfx_pipeline.trainer_module import run_fn

    with pytest.raises(ValueError, match="custom_config lacks"):
        run_fn(FnArgs(custom_config={"model_name": "x"}, train_files=[], eval_files=[]))
