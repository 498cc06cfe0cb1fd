"""The training schedule of §4.2 as one resumable routine (what the TFX Trainer's run_fn calls).

Phase 1: XE of step 1, refocus off.  Phase 2: L_All (XE2 + XE1 + beta LR+), R_{e-1} updated per
epoch.  Then the best phase-2 weights (by ScheduleConfig.phase2_selection, CIDEr-D of the
validation captions by default) are restored, their key frame per
training video is stored as a constant table and the encoder is copied into the serving key-frame
predictor.  Phase 3: retraining with those key frames, refocus off.  Phase 4: self-critical
fine-tuning with CIDEr-D + ROUGE_L and the greedy caption as baseline.  Finally the SavedModel
(Contract 2) is exported.

Every phase has its own Adam (fresh moments and bias correction from its own first step): the
phases optimise different losses, and variables first trained in phase 2 would otherwise get a
bias correction computed from phase 1's step count. The checkpoint holds the current phase's.

State after every epoch (weights, optimizer, per-video tables) goes to a tf.train.Checkpoint and a
progress file under working_dir, so a killed run continues from its last finished epoch.

Every directory may be remote (gs://...): all file access goes through vre_common.storage
(tf.io.gfile); Keras `.h5` weights, which h5py reads and writes only locally, are staged locally.
"""

import logging

from vre_common import storage
from vre_keras.config import ModelConfig, ScheduleConfig

PROGRESS_FILE = "progress.json"
VOCABULARY_FILE = "vocabulary.txt"
KEY_FRAMES_FILE = "key_frames.json"
BEST_PHASE2_WEIGHTS = "best_phase2.weights.h5"
MODEL_CONFIG_FILE = "model_config.json"
SCHEDULE_CONFIG_FILE = "schedule_config.json"
CHECKPOINTS_DIR = "checkpoints"

_log = logging.getLogger(__name__)


def _is_chief(strategy):
    """True on the worker that owns the outputs (the only one for single-worker strategies)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def _worker_dir(working_dir, strategy, chief):
    """Chief writes to working_dir; other workers to a private scratch folder (every worker must
    take part in a checkpoint write under MultiWorkerMirroredStrategy)."""
    if chief:
        return working_dir
    return storage.join(working_dir, f".worker_{strategy.cluster_resolver.task_id}")


def _epochs(schedule, phase):
    return [None, schedule.phase1_epochs, schedule.phase2_epochs, schedule.phase3_epochs,
            schedule.phase4_epochs][phase]


def _save_weights(model, path):
    """model.save_weights to a path that may be remote (Keras writes `.h5` through h5py, local
    files only, so a remote target is written locally and copied)."""
    if not storage.is_remote(path):
        model.save_weights(path)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vre_weights_") as folder:
        local = f"{folder}/{storage.basename(path)}"
        model.save_weights(local)
        storage.copy(local, path)


class _Progress:
    """phase / finished epochs / history, as JSON beside the checkpoints."""

    def __init__(self, path):
        self.path = path
        self.state = {"phase": 1, "epoch": 0, "history": {}, "best_phase2": None,
                      "key_frames_fixed": False, "exported": False}
        if storage.exists(path):
            self.state.update(storage.read_json(path))

    def save(self):
        storage.write_json(self.path, self.state)  # whole-file write: a reader never sees half


def _fix_key_frames(model, config, vocabulary, train_files, video_ids, batch_size):
    """Stores the current model's refocused key frame of every training video (phase 3's
    constants) and copies the encoder into the serving key-frame predictor."""
    import numpy as np
    import tensorflow as tf

    from vre_keras.dataset import make_dataset
    from vre_keras.vre_captioner import AUDIO, TEMPORAL, VIDEO_INDEX

    table = -np.ones([max(len(video_ids), 1)], np.int32)

    key_frames = tf.function(model.encoder_key_frame)

    for batch in make_dataset(train_files, config, vocabulary, batch_size, video_ids=video_ids,
                              per_video=True):
        keys = key_frames(batch[TEMPORAL], batch[AUDIO]).numpy()
        table[batch[VIDEO_INDEX].numpy()] = keys
    model.key_frame_table.assign(table)
    model.freeze_key_frame_predictor()
    return table


def _phase2_score(model, history, eval_files, vocabulary, schedule):
    """(metric, score) of the epoch that just ended, appended to the history as val_<metric>."""
    from vre_keras.model_selection import XE2, caption_score

    metric = schedule.phase2_selection
    if not eval_files:
        return XE2, history["xe2"][-1]  # nothing held out: the training XE2
    if metric == XE2:
        return XE2, history["val_xe2"][-1]
    # generate() reads the serving key-frame predictor: let it see the current encoder (the
    # best epoch's copy is saved with the weights and restored with them).
    model.freeze_key_frame_predictor()
    score = caption_score(model, eval_files, vocabulary, schedule.batch_size, metric,
                          max_batches=schedule.eval_steps)
    history.setdefault(f"val_{metric}", []).append(score)
    return metric, score


def run_schedule(train_files, eval_files, model_config, schedule_config, working_dir,
                 serving_model_dir, log_dir, strategy=None, show_progress=True) -> dict:
    """Trains the VRE captioner through phases 1-4 and exports it.

    Args:
        train_files: gzip TFRecord glob(s) of Contract 1 with the training videos.
        eval_files: glob(s) of the evaluation videos, or None to skip validation.
        model_config: ModelConfig or its dict.
        schedule_config: ScheduleConfig or its dict.
        working_dir: checkpoints, progress, vocabulary and saved key frames (resume from here).
        serving_model_dir: where the SavedModel is written (must not hold one yet).
        log_dir: TensorBoard logs, one sub-folder per phase.
        strategy: a tf.distribute strategy; None uses the default (current) strategy.
        show_progress: show each phase's steps, loss and ETA (a bar on a terminal, a log line
            every 30 s elsewhere; only on the chief).

    Returns:
        dict with per-phase histories (loss, xe1, xe2, lr_plus, reward, ... and val_*), the
        vocabulary size, the number of training videos, the saved key-frame histogram and the
        export path.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from vre_keras.dataset import make_dataset, read_references
    from vre_keras.event_logging import ScalarEventLogger
    from vre_keras.feature_standardization import training_set_moments
    from vre_keras.training_progress import TrainingProgress
    from vre_keras.export import export_saved_model
    from vre_keras.model_selection import is_better
    from vre_keras.vocabulary import Vocabulary
    from vre_keras.vre_captioner import PHASE_JOINT, PHASE_SELF_CRITICAL, VRECaptioner

    config = model_config if isinstance(model_config, ModelConfig) else ModelConfig.from_dict(
        model_config)
    schedule = (schedule_config if isinstance(schedule_config, ScheduleConfig)
                else ScheduleConfig.from_dict(schedule_config))
    strategy = strategy or tf.distribute.get_strategy()
    chief = _is_chief(strategy)
    working_dir = str(working_dir)
    own_dir = _worker_dir(working_dir, strategy, chief)
    storage.makedirs(own_dir)
    log_dir = str(log_dir)

    references = read_references(train_files)
    video_ids = sorted(k for k, v in references.items() if v)
    if not video_ids:
        raise ValueError(f"no training video with captions in {train_files}")
    captions_per_video = max(len(references[v]) for v in video_ids)
    vocabulary_path = storage.join(working_dir, VOCABULARY_FILE)
    if storage.exists(vocabulary_path):
        vocabulary = Vocabulary.load(vocabulary_path)  # resume: keep the ids the weights use
    else:
        vocabulary = Vocabulary.build(
            (c for v in video_ids for c in references[v]), min_count=config.min_word_count)
        if chief:
            vocabulary.save(vocabulary_path)
            storage.write_json(storage.join(working_dir, MODEL_CONFIG_FILE), config.to_dict())
            storage.write_json(storage.join(working_dir, SCHEDULE_CONFIG_FILE), schedule.to_dict())

    with strategy.scope():
        model = VRECaptioner(config, vocab_size=len(vocabulary), num_videos=len(video_ids),
                             captions_per_video=captions_per_video)
        model.build_all()
        if config.channel_statistics:  # (a resumed run restores the same values)
            model.set_feature_statistics(training_set_moments(train_files, config))

    def phase_optimizer(phase):
        rate = (config.self_critical_learning_rate if phase == PHASE_SELF_CRITICAL
                else config.learning_rate)
        with strategy.scope():
            new = keras.optimizers.Adam(rate)
            # Built for every trainable variable up front: phases update different subsets.
            new.build(model.trainable_variables)
        return new

    progress = _Progress(storage.join(working_dir, PROGRESS_FILE))
    optimizer = phase_optimizer(progress.state["phase"])
    optimizer_steps = {}
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(
        checkpoint, storage.join(own_dir, CHECKPOINTS_DIR), max_to_keep=2
    )
    progress.state["num_videos"] = len(video_ids)
    progress.state["captions_per_video"] = captions_per_video
    if manager.latest_checkpoint and progress.state["epoch"] + progress.state["phase"] > 1:
        checkpoint.restore(manager.latest_checkpoint).expect_partial()
        _log.info("resumed from %s at phase %s epoch %s", manager.latest_checkpoint,
                  progress.state["phase"], progress.state["epoch"])

    repeat = schedule.steps_per_epoch is not None

    def train_data(per_video=False):
        return make_dataset(train_files, config, vocabulary, schedule.batch_size, shuffle=True,
                            repeat=repeat, video_ids=video_ids, per_video=per_video,
                            shuffle_buffer=schedule.shuffle_buffer, seed=config.seed)

    eval_data = None
    if eval_files:
        eval_data = make_dataset(eval_files, config, vocabulary, schedule.batch_size,
                                 repeat=schedule.eval_steps is not None)

    def save_epoch():
        manager.save()
        if chief:
            progress.save()

    for phase in (1, 2, 3, 4):
        if phase == 3 and not progress.state["key_frames_fixed"]:
            best = storage.join(own_dir, BEST_PHASE2_WEIGHTS)
            if storage.exists(best):
                with storage.local_copy(best) as local:  # h5py reads local files only
                    model.load_weights(local)
            table = _fix_key_frames(model, config, vocabulary, train_files, video_ids,
                                    schedule.batch_size)
            if chief:
                storage.write_json(storage.join(working_dir, KEY_FRAMES_FILE),
                                   dict(zip(video_ids, table.tolist())), indent=1)
            progress.state["key_frames_fixed"] = True
            save_epoch()
        epochs = _epochs(schedule, phase)
        if phase < progress.state["phase"] or epochs == 0:
            continue
        if phase > progress.state["phase"]:
            progress.state.update(phase=phase, epoch=0)
            optimizer = phase_optimizer(phase)
            checkpoint.optimizer = optimizer  # the checkpoint now tracks this phase's state
        if phase == PHASE_SELF_CRITICAL:
            from vre_keras.caption_metrics.reward import CaptionReward

            model.set_reward(CaptionReward({v: references[v] for v in video_ids}), vocabulary)
        model.set_phase(phase)
        model.compile(optimizer=optimizer, jit_compile=False)
        data = train_data(per_video=phase == PHASE_SELF_CRITICAL)
        tensorboard = ScalarEventLogger(storage.join(log_dir, f"phase{phase}"))
        history = progress.state["history"].setdefault(str(phase), {})
        shown = TrainingProgress(phase, progress.state["epoch"], epochs, schedule.steps_per_epoch,
                                 enabled=chief and show_progress)
        for epoch in range(progress.state["epoch"], epochs):
            logs = model.fit(
                data,
                epochs=epoch + 1,
                initial_epoch=epoch,
                steps_per_epoch=schedule.steps_per_epoch,
                validation_data=eval_data,
                validation_steps=schedule.eval_steps,
                callbacks=[tensorboard, shown],
                verbose=0,
            ).history
            for key, values in logs.items():
                # (a [1]-shaped value under MultiWorkerMirroredStrategy, see VRECaptioner)
                history.setdefault(key, []).append(float(np.ravel(values[-1])[0]))
            if phase == PHASE_JOINT:
                model.end_reward_epoch()
                metric, score = _phase2_score(model, history, eval_files, vocabulary, schedule)
                best = progress.state["best_phase2"]
                best = best if isinstance(best, dict) else None  # (older progress files)
                if is_better(metric, score, best and best["score"]):
                    progress.state["best_phase2"] = {"metric": metric, "score": score,
                                                     "epoch": epoch + 1}
                    _save_weights(model, storage.join(own_dir, BEST_PHASE2_WEIGHTS))
            progress.state["epoch"] = epoch + 1
            save_epoch()
            _log.info("phase %d epoch %d: %s", phase, epoch + 1,
                      {k: round(v[-1], 4) for k, v in history.items() if "key_frame" not in k})
        optimizer_steps[str(phase)] = int(optimizer.iterations.numpy())
        shown.close()
    if not progress.state["key_frames_fixed"]:  # no phase 3/4: still give serving a predictor
        model.freeze_key_frame_predictor()

    if chief and not progress.state["exported"]:
        export_saved_model(model, vocabulary, serving_model_dir)
        progress.state["exported"] = True
        progress.save()
    if not chief:
        storage.rmtree(own_dir)
    key_frames = np.bincount(np.clip(model.key_frame_table.numpy(), 0, None),
                             minlength=config.num_frames)
    return {
        "phases": progress.state["history"],
        "vocab_size": len(vocabulary),
        "num_videos": len(video_ids),
        "key_frame_histogram": key_frames.tolist(),
        "best_phase2": progress.state["best_phase2"],
        "optimizer_steps": optimizer_steps,
        "serving_model_dir": str(serving_model_dir),
        "working_dir": str(working_dir),
    }


def load_trained_model(working_dir):
    """The model of a `run_schedule` working_dir at its last checkpoint, and its vocabulary.

    Args:
        working_dir: the working_dir given to run_schedule.

    Returns:
        (VRECaptioner, Vocabulary).
    """
    import tensorflow as tf

    from vre_keras.vocabulary import Vocabulary
    from vre_keras.vre_captioner import VRECaptioner

    working_dir = str(working_dir)
    progress = storage.join(working_dir, PROGRESS_FILE)
    checkpoint = tf.train.latest_checkpoint(storage.join(working_dir, CHECKPOINTS_DIR))
    if not storage.exists(progress) or checkpoint is None:
        raise FileNotFoundError(f"{working_dir} holds no run_schedule checkpoint and progress")
    config = ModelConfig.from_dict(storage.read_json(storage.join(working_dir, MODEL_CONFIG_FILE)))
    vocabulary = Vocabulary.load(storage.join(working_dir, VOCABULARY_FILE))
    state = storage.read_json(progress)
    model = VRECaptioner(config, vocab_size=len(vocabulary), num_videos=state["num_videos"],
                         captions_per_video=state.get("captions_per_video", 1)).build_all()
    tf.train.Checkpoint(model=model).restore(checkpoint).expect_partial()
    return model, vocabulary
