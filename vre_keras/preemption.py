"""SIGTERM as a preemption notice: remember it, let training save a checkpoint, then exit.

A preempted pod (Kubernetes, spot VMs) gets SIGTERM, then SIGKILL after a grace period. While a
`SigtermWatcher` is active, SIGTERM no longer kills the process: it sets a flag that the training
loop polls after every step (`stop_requested`), saves a checkpoint and raises `TrainingPreempted`.

Hand-written because TF's `PreemptionCheckpointHandler` turns itself off on GCP CPU machines and
probes the GCE metadata server when it starts, and Keras 3's `BackupAndRestore` has no preemption
hook. Under MultiWorkerMirroredStrategy the flag is all-reduced, so every worker stops (and joins
the collective checkpoint write) at the same step even when only one of them got the signal.
"""

import logging
import signal
import threading

import tensorflow as tf

EXIT_CODE = 128 + signal.SIGTERM  # what a shell reports for a SIGTERM-ed process (143)

_log = logging.getLogger(__name__)


class TrainingPreempted(SystemExit):
    """Training stopped on SIGTERM after writing a checkpoint; run it again to resume.

    A SystemExit (code 143), so an unhandled one ends the process quietly with the code a
    SIGTERM-ed process has, which is what Kubernetes and KFP expect of a preempted pod.
    """

    def __init__(self, message):
        super().__init__(EXIT_CODE)
        self.message = message

    def __str__(self):
        return self.message


class SigtermWatcher:
    """Context manager: while active, SIGTERM sets a flag instead of ending the process.

    Only the main thread may install signal handlers; elsewhere the watcher stays passive (logs
    why) and `stop_requested` is then always False on this worker.

    Args:
        strategy: the tf.distribute strategy of training; with more than one replica the flag is
            combined over all of them (a collective: every worker must call `stop_requested` at
            the same points).

    Example:
        with SigtermWatcher(strategy) as watcher:
            for step in ...:
                train_one_step()
                if watcher.stop_requested():
                    save_checkpoint(); raise TrainingPreempted("...")
    """

    def __init__(self, strategy=None):
        self.strategy = strategy or tf.distribute.get_strategy()
        self._received = threading.Event()
        self._previous = None
        self._installed = False
        self._any_replica = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._installed = True
        else:
            _log.info(
                "SIGTERM is not turned into a checkpoint: training runs outside the main "
                "thread, where Python cannot install signal handlers"
            )
        return self

    def __exit__(self, *exc_info):
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False
        return False

    def _on_sigterm(self, signum, frame):
        # Only set a flag: the handler runs between two Python bytecodes of the main thread,
        # possibly inside Keras or TF code that must not be re-entered.
        self._received.set()

    @property
    def received(self) -> bool:
        """True once this process got SIGTERM."""
        return self._received.is_set()

    def stop_requested(self) -> bool:
        """True when this process or any other replica's process got SIGTERM."""
        if self.strategy.num_replicas_in_sync <= 1:
            return self.received
        if self._any_replica is None:
            self._any_replica = self._make_any_replica()
        flag = tf.constant(1.0 if self.received else 0.0)
        return bool(self._any_replica(flag).numpy() > 0)

    def _make_any_replica(self):
        strategy = self.strategy

        @tf.function
        def any_replica(flag):
            per_replica = strategy.run(lambda: tf.identity(flag))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        return any_replica
