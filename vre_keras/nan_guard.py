"""NaN/inf guard of training: a step whose loss or gradient is not finite is skipped, not applied.

Inside `train_step` (graph side): `all_finite` checks the loss and every gradient and agrees on the
answer across replicas (one scalar all-reduce), and `run_if_finite` runs the optimizer update and
the metric/reward-table updates only when it is True, so neither the weights, the optimizer state
nor the per-video tables ever see a NaN. The model counts skipped steps in a metric.
On the host, `NonFiniteStepGuard` (a Keras callback) reads that count after every step, logs which
phase, epoch and step were skipped, and stops training with `NonFiniteTrainingError` after
`max_consecutive` skipped steps in a row (a diverged model or a broken input stream: going on
would only burn the remaining epochs).

Hand-written because the one Keras piece that skips non-finite steps, LossScaleOptimizer, does it
only as part of mixed-precision loss scaling (it also rescales the loss and halves its scale on
every skip). `run_if_finite` follows its pattern for tf.distribute: where the strategy needs
merge_call (MultiWorkerMirroredStrategy on CPU), the tf.cond must run in cross-replica context.
"""

import logging

import keras
import numpy as np
import tensorflow as tf

NONFINITE_STEPS = "nonfinite_steps"  # name of the metric (and log key) counting skipped steps

_log = logging.getLogger(__name__)


class NonFiniteTrainingError(RuntimeError):
    """Too many training steps in a row had a non-finite loss or gradient."""


def all_finite(loss, grads):
    """True when `loss` and every gradient are finite on every replica.

    Args:
        loss: this replica's loss tensor (any shape).
        grads: list of gradients (tensors, IndexedSlices or None).

    Returns:
        bool scalar, the same on every replica (all-reduced), so all replicas take the same branch
        of `run_if_finite` and their collective ops stay matched.
    """
    checks = [tf.reduce_all(tf.math.is_finite(loss))]
    for grad in grads:
        if grad is None:
            continue
        values = grad.values if isinstance(grad, tf.IndexedSlices) else grad
        checks.append(tf.reduce_all(tf.math.is_finite(values)))
    finite = tf.reduce_all(tf.stack(checks))
    if tf.distribute.has_strategy() and tf.distribute.in_cross_replica_context():
        raise ValueError("all_finite must be called in a replica context (inside train_step)")
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        bad = context.all_reduce(
            tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32)
        )
        finite = tf.equal(bad, 0.0)
    return finite


def run_if_finite(finite, fn, *args):
    """Calls `fn(*args)` in replica context when `finite` is True, else does nothing.

    `fn` may call `optimizer.apply` and all-reduce (both need merge_call under some strategies).
    Pass every per-replica tensor `fn` needs through `args` (not a closure), so that each replica
    gets its own values when the strategy regroups them.

    Args:
        finite: bool scalar from `all_finite` (identical on all replicas).
        fn: the update to run; its return value is dropped.
        *args: nests of tensors given to `fn`.
    """

    def update(*values):
        fn(*values)

    def skip():
        return None

    if tf.distribute.in_cross_replica_context() and tf.distribute.has_strategy():
        raise ValueError("run_if_finite must be called in a replica context (inside train_step)")
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(finite, lambda: update(*args), skip)
        return

    def cross_replica(distribution, finite, *values):
        # Every replica computed the same all-reduced flag: take the first one.
        flag = distribution.experimental_local_results(finite)[0]

        def update_each_replica():
            distribution.extended.call_for_each_replica(update, args=values)

        # Here, not in replica context: a cond whose branch calls merge_call is unsupported there.
        tf.cond(flag, update_each_replica, skip)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, *args))


def skipped_step_count(finite):
    """This replica's share of one skipped step (a Sum metric over replicas then counts steps)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return tf.cast(tf.logical_not(finite), tf.float32) / replicas


class NonFiniteStepGuard(keras.callbacks.Callback):
    """Logs every skipped (non-finite) training step and stops after too many in a row.

    Reads the model's `nonfinite_steps` metric (its running count for the epoch) after each batch.

    Args:
        phase: training phase, for the messages.
        max_consecutive: raise NonFiniteTrainingError after this many skipped steps in a row.
        first_step: steps of the current epoch done before this `fit` (a resumed epoch), so the
            messages give the step within the whole epoch.
        checkpoint_dir: named in the stop message (where the last good state is).

    Example:
        model.fit(data, callbacks=[NonFiniteStepGuard(phase=2, max_consecutive=20)])
    """

    def __init__(self, phase, max_consecutive, first_step=0, checkpoint_dir=None):
        super().__init__()
        if not isinstance(max_consecutive, int) or max_consecutive < 1:
            raise ValueError(f"max_consecutive must be a positive int, got {max_consecutive!r}")
        self.phase = phase
        self.max_consecutive = max_consecutive
        self.first_step = first_step
        self.checkpoint_dir = checkpoint_dir
        self.consecutive = 0
        self.skipped = 0  # in this callback's lifetime
        self._epoch = 0
        self._count = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._count = 0.0  # the metric is reset at every epoch start

    def on_train_batch_end(self, batch, logs=None):
        if not logs or NONFINITE_STEPS not in logs:
            return
        count = float(np.ravel(np.asarray(logs[NONFINITE_STEPS]))[0])
        skipped = count > self._count + 0.5
        self._count = count
        step = self.first_step + batch + 1
        if not skipped:
            self.consecutive = 0
            return
        self.consecutive += 1
        self.skipped += 1
        where = f"phase {self.phase} epoch {self._epoch + 1} step {step}"
        _log.warning(
            "%s: non-finite loss or gradient (NaN/inf); the update was skipped (%d in a row)",
            where,
            self.consecutive,
        )
        if self.consecutive >= self.max_consecutive:
            kept = (
                f" (the last checkpoint is in {self.checkpoint_dir})" if self.checkpoint_dir else ""
            )
            raise NonFiniteTrainingError(
                f"{where}: {self.consecutive} training steps in a row had a non-finite loss or "
                f"gradient (NaN/inf) and were skipped; training stopped. The weights are those of "
                f"the last finite step{kept}. Look for NaN/inf in the input features, or lower "
                "the learning rate; ScheduleConfig.max_consecutive_nonfinite_steps sets the limit."
            )
