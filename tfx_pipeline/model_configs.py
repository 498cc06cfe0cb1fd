"""Turns the config file's trainer section into the dicts the Trainer's custom_config carries.

The resolved dicts (not the preset names) go into the pipeline, so ML Metadata records the exact
model and schedule every model was trained with, and a changed size invalidates the cache.
"""

from __future__ import annotations

import math
from typing import Any

from vre_common import contract


def resolve_model_configs(trainer_config) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ModelConfig dict, ScheduleConfig dict) for a `tfx_pipeline.config.TrainerConfig`.

    The "tiny" preset is vre_keras's `ModelConfig.tiny()` (hidden size 8) at the feature sizes
    of Contract 1 (K frames, C channels, N*M regions), because the pipeline trains on the Beam
    job's real features; the "paper" preset is the paper's configuration. The Table-1 row's
    fields (`model_row`, vre_keras.config.TABLE1_ROWS) come next, then the overrides; vre_keras
    validates the result.

    Args:
        trainer_config: the `trainer` section of a pipeline config.
    """
    from vre_keras.config import ModelConfig, ScheduleConfig, table1_row

    feature_sizes = dict(
        num_frames=contract.NUM_FRAMES,
        channels=contract.FEATURE_CHANNELS,
        num_regions=contract.NUM_REGIONS,
    )
    row = table1_row(getattr(trainer_config, "model_row", "VRE(Vf,vs,va)"))
    if trainer_config.model_preset == "tiny":
        model = ModelConfig.tiny(**{**feature_sizes, **row, **trainer_config.model})
        schedule = ScheduleConfig.tiny(**trainer_config.schedule)
    elif trainer_config.model_preset == "paper":
        model = ModelConfig(**{**row, **trainer_config.model})
        schedule = ScheduleConfig(**trainer_config.schedule)
    else:
        raise ValueError(f"unknown model preset {trainer_config.model_preset!r}")
    return model.to_dict(), schedule.to_dict()


def apply_step_limits(schedule: dict[str, Any], train_steps, eval_steps) -> dict[str, Any]:
    """The schedule dict with the Trainer's TrainArgs/EvalArgs step counts applied.

    TFX's train_steps counts all training steps; the schedule runs epochs in up to four phases,
    so the steps are spread over the epochs that run: steps_per_epoch =
    ceil(train_steps / total epochs). eval_steps bounds each evaluation.

    Args:
        schedule: a ScheduleConfig dict.
        train_steps: fn_args.train_steps (None: leave the schedule's own limit).
        eval_steps: fn_args.eval_steps (None: leave it).
    """
    schedule = dict(schedule)
    if train_steps:
        epochs = sum(int(schedule.get(f"phase{i}_epochs", 0)) for i in range(1, 5))
        if epochs:
            schedule["steps_per_epoch"] = max(1, math.ceil(train_steps / epochs))
    if eval_steps:
        schedule["eval_steps"] = int(eval_steps)
    return schedule
