"""Prometheus metrics under TF Serving's names (`--monitoring_config_file`).

Counting and exposition are prometheus_client's. TF Serving's exporter
(util/prometheus_exporter.cc) turns `/tensorflow/serving/request_count` into
`:tensorflow:serving:request_count` and writes counters without prometheus_client's `_total`
suffix; the collector below re-emits our counters under TF Serving's exact names (as `untyped`,
the exposition type that keeps a bare name), so dashboards and alerts written for TF Serving match.
Histograms and gauges keep prometheus_client's own exposition.
"""

import logging

from google.protobuf import text_format
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from serving.config_protos import MonitoringConfig

log = logging.getLogger("vre.serving")

DEFAULT_PATH = "/monitoring/prometheus/metrics"  # TF Serving's default prometheus_config.path
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# TF Serving's request latency buckets: exponential, 10 us * 1.8^i, 33 of them.
_LATENCY_BUCKETS = tuple(10.0 * 1.8**i for i in range(33))


def read_monitoring_config_file(path: str) -> MonitoringConfig:
    """Reads a text-format MonitoringConfig (local or remote through tf.io.gfile)."""
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "r") as f:
            text = f.read()
    except tf.errors.OpError as e:
        raise ValueError(f"cannot read monitoring config file {path!r}: {e.message}") from e
    config = MonitoringConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ValueError(f"Invalid protobuf file: '{path}': {e}") from e
    return config


def prometheus_path(config) -> str | None:
    """The metrics path a MonitoringConfig asks for (None: Prometheus export off)."""
    if config is None or not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PATH


class _BareCounters:
    """Re-emits the counters of a registry under their own names, without `_total`."""

    def __init__(self, counters_registry: CollectorRegistry):
        self._registry = counters_registry

    def collect(self):
        for metric in self._registry.collect():
            out = Metric(metric.name, metric.documentation, "unknown")
            for sample in metric.samples:
                if sample.name == metric.name + "_total":
                    out.add_sample(metric.name, sample.labels, sample.value)
            yield out


class ServingMetrics:
    """The server's metrics; every front end and model manager reports here."""

    def __init__(self):
        disable_created_metrics()  # TF Serving exports no *_created series (process-wide)
        self.registry = CollectorRegistry(auto_describe=True)
        counters = CollectorRegistry()
        self.request_count = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ["model_name", "status"],
            registry=counters,
        )
        self.load_attempt_count = Counter(
            ":tensorflow:cc:saved_model:load_attempt_count",
            "The number of times a SavedModel was successfully loaded.",
            ["model_path", "status"],
            registry=counters,
        )
        self.load_latency = Counter(
            ":tensorflow:cc:saved_model:load_latency",
            "Latency in microseconds for SavedModels that were successfully loaded.",
            ["model_path"],
            registry=counters,
        )
        self.registry.register(_BareCounters(counters))
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ["model_name", "API", "runtime"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.warmup_latency = Histogram(
            ":tensorflow:serving:model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            ["model_path"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Not TF Serving metrics: vre serve's own, under its own prefix.
        self.version_available = Gauge(
            ":vre:serving:model_version_available",
            "1 while the model version is AVAILABLE (loaded and serving), else 0.",
            ["model_name", "version"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            ":vre:serving:batch_size",
            "Rows per batched model call (before padding).",
            ["model_name"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )

    def request(self, model_name: str, api: str, entrypoint: str, code_name: str, seconds: float):
        """One finished request (status "OK" or the error code's name, as TF Serving)."""
        self.request_count.labels(model_name, code_name).inc()
        self.request_latency.labels(model_name, api, entrypoint).observe(seconds * 1e6)

    def model_call(self, model_name: str, seconds: float):
        self.runtime_latency.labels(model_name, "Predict", "TF2").observe(seconds * 1e6)

    def load(self, model_path: str, ok: bool, seconds: float):
        self.load_attempt_count.labels(model_path, "success" if ok else "fail").inc()
        if ok:
            self.load_latency.labels(model_path).inc(seconds * 1e6)

    def warmup(self, model_path: str, seconds: float):
        self.warmup_latency.labels(model_path).observe(seconds * 1e6)

    def version_state(self, model_name: str, version: int, state: str):
        if state in ("AVAILABLE", "UNLOADING", "END"):
            self.version_available.labels(model_name, str(version)).set(
                1 if state == "AVAILABLE" else 0
            )

    def batch(self, model_name: str, rows: int, padded: int):
        self.batch_size.labels(model_name).observe(rows)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
