"""Shared helpers of the serving tests: the model name, the tiny model's sizes and inputs, and
installing a SavedModel as a version the way a Pusher does."""

import shutil

import numpy as np

from vre_common.contract import AUDIO, AUDIO_DIM, SPATIAL, TEMPORAL
from vre_keras.config import ModelConfig

MODEL_NAME = "vre"

_TINY = ModelConfig.tiny()
TINY_K, TINY_C, TINY_REGIONS = _TINY.num_frames, _TINY.channels, _TINY.num_regions


def tiny_inputs(batch: int = 1, seed: int = 0) -> dict:
    """Random Contract-2 inputs at the tiny model's sizes."""
    rng = np.random.default_rng(seed)
    return {
        TEMPORAL: rng.standard_normal((batch, TINY_K, TINY_C)).astype(np.float32),
        SPATIAL: rng.standard_normal((batch, TINY_REGIONS, TINY_C)).astype(np.float32),
        AUDIO: rng.standard_normal((batch, AUDIO_DIM)).astype(np.float32),
    }


def install_version(source: str, base_path, version: int) -> str:
    """Copies an exported SavedModel into <base_path>/<version> the way a Pusher should: into a
    temporary name first, then renamed, so the watcher never sees half a copy."""
    staging = base_path / f".staging-{version}"
    shutil.copytree(source, staging)
    final = base_path / str(version)
    staging.rename(final)
    return str(final)
