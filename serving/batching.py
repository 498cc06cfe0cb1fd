"""Server-side batching (`--enable_batching`) and the model call with a deadline.

TF Serving's BatchingSession, reproduced on the model call: requests to the same version and
signature wait in a queue up to `batch_timeout_micros` for others; a batch is at most
`max_batch_size` rows, padded up to the next of `allowed_batch_sizes`; the merged inputs go
through one signature call and the outputs are split back along the first dimension. At most
`max_enqueued_batches` batches wait per queue (UNAVAILABLE past that), and `num_batch_threads`
threads run batches. Hand-written because no library batches calls of a TF2 SavedModel signature
across server threads (tf.keras / tf.function batch only within one call).

`ModelRunner` is also where a request's deadline (gRPC deadline, `--rest_api_timeout_in_ms`)
reaches the model call: an expired request is not run, a queued request whose deadline passes is
dropped from its batch, and a call still running at the deadline is answered DEADLINE_EXCEEDED.
(TF Serving passes the deadline as the session's RunOptions timeout; a TF2 signature call takes
no timeout, so the call finishes in its thread and its result is discarded.)
"""

import concurrent.futures
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import grpc
import numpy as np

from serving.errors import ServingError, invalid_argument

log = logging.getLogger("vre.serving")

DEADLINE_MESSAGE = "Deadline Exceeded"


def deadline_exceeded(message: str = DEADLINE_MESSAGE) -> ServingError:
    return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, message)


@dataclass
class BatchingOptions:
    """TF Serving's BatchingParameters, with its defaults when a field is unset.

    Attributes:
        max_batch_size: the most rows in one model call.
        batch_timeout_micros: how long the first request of a batch waits for others.
        max_enqueued_batches: the most batches waiting per queue (UNAVAILABLE past it).
        num_batch_threads: threads running batches (shared by all queues).
        allowed_batch_sizes: batches are padded up to the next of these (last = max_batch_size).
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple = ()

    def __post_init__(self):
        if self.max_batch_size <= 0:
            raise ValueError(f"max_batch_size must be positive, got {self.max_batch_size}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        if self.max_enqueued_batches <= 0 or self.num_batch_threads <= 0:
            raise ValueError("max_enqueued_batches and num_batch_threads must be positive")
        sizes = list(self.allowed_batch_sizes)
        if sizes:
            # TF Serving's checks (batching_session.cc ValidateAllowedBatchSizes).
            if any(b <= a for a, b in zip(sizes, sizes[1:])):
                raise ValueError("allowed_batch_sizes entries must be monotonically increasing")
            if sizes[-1] != self.max_batch_size:
                raise ValueError(
                    "final entry in allowed_batch_sizes must equal max_batch_size when "
                    "enable_large_batch_splitting is False"
                )


_UNSUPPORTED_BATCHING_FIELDS = (
    "pad_variable_length_inputs",
    "enable_large_batch_splitting",
    "max_execution_batch_size",
)


def batching_options_from_text(text: str, source: str = "batching parameters") -> BatchingOptions:
    """A text-format BatchingParameters (TF Serving's `--batching_parameters_file`)."""
    from google.protobuf import text_format

    from serving.config_protos import BatchingParameters

    params = BatchingParameters()
    try:
        text_format.Parse(text, params)
    except text_format.ParseError as e:
        raise ValueError(f"Invalid protobuf file: '{source}': {e}") from e
    for name in _UNSUPPORTED_BATCHING_FIELDS:
        if params.DESCRIPTOR.fields_by_name.get(name) and _is_set(params, name):
            log.warning("batching parameter %s is not supported by vre serve; ignored", name)
    if params.HasField("thread_pool_name"):
        log.info("batching parameter thread_pool_name has no effect here (one pool)")
    defaults = BatchingOptions()
    return BatchingOptions(
        max_batch_size=_wrapped(params, "max_batch_size", defaults.max_batch_size),
        batch_timeout_micros=_wrapped(
            params, "batch_timeout_micros", defaults.batch_timeout_micros
        ),
        max_enqueued_batches=_wrapped(
            params, "max_enqueued_batches", defaults.max_enqueued_batches
        ),
        num_batch_threads=_wrapped(params, "num_batch_threads", defaults.num_batch_threads),
        allowed_batch_sizes=tuple(params.allowed_batch_sizes),
    )


def read_batching_parameters_file(path: str) -> BatchingOptions:
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "r") as f:
            text = f.read()
    except tf.errors.OpError as e:
        raise ValueError(f"cannot read batching parameters file {path!r}: {e.message}") from e
    return batching_options_from_text(text, path)


def _is_set(message, name: str) -> bool:
    value = getattr(message, name)
    if hasattr(value, "ListFields"):
        return message.HasField(name)
    return bool(value)


def _wrapped(message, name: str, default: int) -> int:
    return getattr(message, name).value if message.HasField(name) else default


# -- the queues --------------------------------------------------------------------------------


class _Task:
    def __init__(self, call, size: int, deadline):
        self.call = call
        self.size = size
        self.deadline = deadline
        self.future = concurrent.futures.Future()


class _Batch:
    def __init__(self, key, now: float):
        self.key = key
        self.tasks: list[_Task] = []
        self.size = 0
        self.opened = now
        self.closed = False


class _Queue:
    """The batches of one (version, signature)."""

    def __init__(self, servable, signature: str):
        self.servable = servable
        self.signature = signature
        self.batches: list[_Batch] = []


def _shape_key(inputs: dict):
    return tuple(sorted((k, v.shape[1:], str(v.dtype)) for k, v in inputs.items()))


class BatchScheduler:
    """Merges concurrent calls of one version's signature into batched calls.

    Args:
        options: the BatchingOptions.
        on_batch: called with (model name, batch rows, padded rows) after each batch.
    """

    def __init__(self, options: BatchingOptions, on_batch=None):
        self.options = options
        self._on_batch = on_batch
        self._queues: dict = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for t in self._threads:
            t.start()

    def stop(self):
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()

    def submit(self, servable, call, deadline) -> concurrent.futures.Future:
        """Queues a prepared call; the future's result is {output name: np.ndarray}."""
        size = _batch_size(call.inputs)
        if size > self.options.max_batch_size:
            raise invalid_argument(
                f"Task size {size} is larger than maximum input batch size "
                f"{self.options.max_batch_size}"
            )
        task = _Task(call, size, deadline)
        key = _shape_key(call.inputs)
        now = time.monotonic()
        with self._cond:
            if self._stopped:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "the batch scheduler is stopped")
            qkey = (id(servable), call.signature)
            queue = self._queues.get(qkey)
            if queue is None:
                queue = self._queues[qkey] = _Queue(servable, call.signature)
            open_batch = queue.batches[-1] if queue.batches else None
            if (
                open_batch is None
                or open_batch.closed
                or open_batch.key != key
                or open_batch.size + size > self.options.max_batch_size
            ):
                if open_batch is not None:
                    open_batch.closed = True
                if len(queue.batches) >= self.options.max_enqueued_batches:
                    raise ServingError(
                        grpc.StatusCode.UNAVAILABLE,
                        "The batch scheduling queue to which this task was submitted is full",
                    )
                open_batch = _Batch(key, now)
                queue.batches.append(open_batch)
            open_batch.tasks.append(task)
            open_batch.size += size
            if open_batch.size >= self.options.max_batch_size:
                open_batch.closed = True
            self._cond.notify()
        return task.future

    def _next_ready(self, now: float):
        """(queue, batch) ready to run, or (None, seconds until one may be)."""
        timeout = self.options.batch_timeout_micros / 1e6
        wait = None
        for qkey, queue in list(self._queues.items()):
            if not queue.batches:
                del self._queues[qkey]
                continue
            batch = queue.batches[0]
            left = batch.opened + timeout - now
            if batch.closed or left <= 0:
                queue.batches.pop(0)
                return queue, batch
            wait = left if wait is None else min(wait, left)
        return None, wait

    def _work(self):
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    queue, batch = self._next_ready(time.monotonic())
                    if queue is not None:
                        break
                    self._cond.wait(timeout=batch)
            self._run(queue, batch)

    def _run(self, queue: _Queue, batch: _Batch):
        now = time.monotonic()
        tasks = []
        for task in batch.tasks:
            if task.deadline is not None and now >= task.deadline:
                task.future.set_exception(deadline_exceeded())
            elif task.future.set_running_or_notify_cancel():
                tasks.append(task)
        if not tasks:
            return
        rows = sum(t.size for t in tasks)
        padded = self._padded_size(rows)
        try:
            merged = {}
            for name in tasks[0].call.inputs:
                parts = [t.call.inputs[name] for t in tasks]
                value = parts[0] if len(parts) == 1 else np.concatenate(parts)
                if padded > rows:  # repeat the last row: always a valid input
                    value = np.concatenate([value, np.repeat(value[-1:], padded - rows, 0)])
                merged[name] = value
            outputs = queue.servable.run(queue.signature, merged)
            for name, value in outputs.items():
                if np.ndim(value) == 0:
                    raise ServingError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"Batched output tensor {name} has 0 dimensions",
                    )
                if value.shape[0] != padded:
                    raise ServingError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"Batched output tensor {name}'s 0th dimension ({value.shape[0]}) does "
                        f"not equal the sum of the 0th dimension sizes of the input tensors "
                        f"({padded})",
                    )
        except ServingError as e:
            for t in tasks:
                t.future.set_exception(e)
            return
        except Exception as e:  # a batch must never kill its thread
            log.exception("batched call failed")
            err = ServingError(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
            for t in tasks:
                t.future.set_exception(err)
            return
        start = 0
        for t in tasks:
            part = {k: v[start : start + t.size] for k, v in outputs.items()}
            t.future.set_result(t.call.select(part))
            start += t.size
        if self._on_batch is not None:
            self._on_batch(queue.servable.model_name, rows, padded)

    def _padded_size(self, rows: int) -> int:
        for size in self.options.allowed_batch_sizes:
            if size >= rows:
                return size
        return rows


def _batch_size(inputs: dict) -> int:
    sizes = {v.shape[0] for v in inputs.values() if np.ndim(v) > 0}
    if len(sizes) != 1 or any(np.ndim(v) == 0 for v in inputs.values()):
        raise invalid_argument(
            "Batching session Run() input tensors must have equal 0th-dimension size"
        )
    return sizes.pop()


class ModelRunner:
    """Runs prepared calls: directly, or through the batch scheduler, within a deadline.

    Args:
        batching: BatchingOptions to batch calls; None runs each request on its own.
        on_batch: passed to the BatchScheduler.
    """

    def __init__(self, batching: BatchingOptions | None = None, on_batch=None):
        self.scheduler = BatchScheduler(batching, on_batch) if batching is not None else None
        self._pool = concurrent.futures.ThreadPoolExecutor(64, thread_name_prefix="model-call")

    def run(self, servable, call, deadline: float | None = None) -> dict:
        """The call's outputs (filtered); DEADLINE_EXCEEDED once `deadline` (monotonic) passes."""
        if deadline is not None and time.monotonic() >= deadline:
            raise deadline_exceeded()
        if self.scheduler is not None:
            future = self.scheduler.submit(servable, call, deadline)
        elif deadline is None:
            return call.select(servable.run(call.signature, call.inputs))
        else:
            future = self._pool.submit(
                lambda: call.select(servable.run(call.signature, call.inputs))
            )
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return future.result(timeout=remaining)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise deadline_exceeded() from None

    def stop(self):
        if self.scheduler is not None:
            self.scheduler.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
