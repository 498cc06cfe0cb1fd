"""The Trainer's `run_fn`: a thin adapter from TFX's FnArgs to vre_keras's training schedule.

The model, its training phases and the Contract-2 export all live in vre_keras; this module only
maps FnArgs (files, step limits, output folders, custom_config) onto
`vre_keras.training.run_schedule`, then writes TF Serving warmup requests into the exported
SavedModel and a JSON summary next to the TensorBoard logs.
"""

from __future__ import annotations

import json
import logging
import os

from tfx_pipeline.model_configs import apply_step_limits
from vre_common import contract, storage

log = logging.getLogger(__name__)

SUMMARY_FILE = "training_summary.json"
RESOLVED_CONFIG_FILE = "resolved_config.json"


def is_multi_worker(tf_config: dict) -> bool:
    """True when TF_CONFIG names more than one training process (chief + workers).

    Vertex AI custom jobs (TFX's Vertex Trainer, config.VertexTrainingConfig) and Kubeflow
    TFJobs set TF_CONFIG in every replica: {"cluster": {"chief": [...], "worker": [...]},
    "task": {"type": ..., "index": ...}}. Parameter servers and evaluators do not train here.
    """
    cluster = tf_config.get("cluster", {}) or {}
    return len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1


def _distribution_strategy():
    """MultiWorkerMirroredStrategy when TF_CONFIG names a cluster of several workers, else None.

    The TFX Trainer is launched once per worker with TF_CONFIG set (e.g. by a Kubernetes
    TFJob or a Vertex AI custom job); a single process needs no strategy.
    """
    if is_multi_worker(json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")):
        import tensorflow as tf

        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def read_warmup_batches(file_patterns, model_config: dict, count: int) -> list[dict]:
    """Up to `count` real examples as serving_default inputs, one example per batch.

    Args:
        file_patterns: gzip TFRecord patterns of Contract-1 examples (the eval split).
        model_config: the ModelConfig dict (feature sizes for parsing).
        count: how many examples to take.
    """
    import tensorflow as tf

    if count <= 0:
        return []
    files = sorted(f for p in file_patterns for f in tf.io.gfile.glob(p))
    if not files:
        return []
    k, c, r = model_config["num_frames"], model_config["channels"], model_config["num_regions"]
    spec = contract.feature_spec(num_frames=k, channels=c, num_regions=r)
    batches = []
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(count)
    for record in dataset:
        example = tf.io.parse_single_example(record, spec)
        batches.append(
            {
                contract.TEMPORAL: example[contract.TEMPORAL].numpy().reshape(1, k, c),
                contract.SPATIAL: example[contract.SPATIAL].numpy().reshape(1, r, c),
                contract.AUDIO: example[contract.AUDIO].numpy().reshape(1, contract.AUDIO_DIM),
            }
        )
    return batches


def run_fn(fn_args) -> None:
    """Trains and exports the VRE captioner (called by the TFX Trainer).

    Args:
        fn_args: TFX FnArgs: train_files / eval_files (file patterns), train_steps / eval_steps,
            serving_model_dir (the Contract-2 SavedModel goes there), model_run_dir
            (TensorBoard logs, checkpoints, summary) and custom_config with "model_config",
            "schedule_config" (vre_keras config dicts), "model_name" and "warmup_examples".
    """
    from vre_keras.config import ModelConfig, ScheduleConfig
    from vre_keras.training import run_schedule

    custom = fn_args.custom_config or {}
    missing = [k for k in ("model_config", "schedule_config") if k not in custom]
    if missing:
        raise ValueError(f"Trainer custom_config lacks {missing}; build it with create_pipeline()")
    model_config = ModelConfig.from_dict(custom["model_config"])
    schedule_dict = apply_step_limits(
        custom["schedule_config"], fn_args.train_steps, fn_args.eval_steps
    )
    schedule_config = ScheduleConfig.from_dict(schedule_dict)

    run_dir = fn_args.model_run_dir  # on Kubeflow/Vertex under a gs:// pipeline root
    storage.write_json(
        storage.join(run_dir, RESOLVED_CONFIG_FILE),
        {"model": model_config.to_dict(), "schedule": schedule_config.to_dict()},
    )

    summary = run_schedule(
        train_files=list(fn_args.train_files),
        eval_files=list(fn_args.eval_files),
        model_config=model_config,
        schedule_config=schedule_config,
        working_dir=storage.join(run_dir, "checkpoints"),
        serving_model_dir=fn_args.serving_model_dir,
        log_dir=storage.join(run_dir, "logs"),
        strategy=_distribution_strategy(),
    )
    storage.write_text(
        storage.join(run_dir, SUMMARY_FILE), json.dumps(summary, indent=2, default=str) + "\n"
    )

    warmup_count = int(custom.get("warmup_examples", 0))
    batches = read_warmup_batches(fn_args.eval_files, model_config.to_dict(), warmup_count)
    if batches:
        from serving.warmup import write_warmup_requests

        path = write_warmup_requests(
            fn_args.serving_model_dir, custom.get("model_name", "vre"), batches,
            signature_name=contract.SERVING_DEFAULT,
        )
        log.info("wrote %d TF Serving warmup requests to %s", len(batches), path)
