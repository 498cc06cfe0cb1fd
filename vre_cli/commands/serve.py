"""`vre serve`: serve pushed SavedModels over TF Serving's gRPC and REST protocols.

The flags are `tensorflow_model_server`'s (main.cc), with its defaults, so a command line moves
between the two unchanged: the ones that apply here are honoured, the others are accepted and
the log says they do nothing here. A few flags are vre serve's own (--host, the request limits,
--start_without_loaded_model). Boolean flags take TF Serving's forms: `--flag`, `--flag=true`,
`--flag=false`.
"""

import os

NAME = "serve"
HELP = "Serve SavedModels over TF Serving's gRPC (PredictionService) and REST APIs."

_CPUS = os.cpu_count() or 1

# TF Serving flags accepted for compatibility that change nothing here: {flag: why}.
NO_EFFECT_FLAGS = {
    "rest_api_num_threads": "REST runs one thread per connection; --max_concurrent_requests "
    "limits them",
    "rest_api_enable_cors_support": "no CORS headers are sent",
    "enable_per_model_batching_parameters": "one --batching_parameters_file applies to all models",
    "num_load_threads": "versions load one at a time",
    "num_unload_threads": "versions unload one at a time",
    "flush_filesystem_caches": "no filesystem cache is kept",
    "tensorflow_session_config_file": "TF2 signatures run without a session config",
    "platform_config_file": "only the TensorFlow platform is served",
    "per_process_gpu_memory_fraction": "no GPU is used",
    "remove_unused_fields_from_bundle_metagraph": "metadata is read from saved_model.pb",
    "prefer_tflite_model": "TensorFlow Lite models are not served",
    "num_tflite_pools": "TensorFlow Lite models are not served",
    "num_tflite_interpreters_per_pool": "TensorFlow Lite models are not served",
    "enable_signature_method_name_check": "Classify/Regress always check the method name",
    "xla_cpu_compilation_enabled": "XLA follows the SavedModel's own settings",
    "xla_gpu_compilation_enabled": "no GPU is used",
    "enable_profiler": "no profiler service",
    "thread_pool_factory_config_file": "TF2 signatures use TensorFlow's own thread pools",
    "mixed_precision": "the model runs in the dtypes it was saved with",
    "skip_initialize_tpu": "no TPU is used",
}


def _bool(text: str) -> bool:
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


_bool.__name__ = "boolean"  # argparse's error message names the type


def _flag(parser, name, kind, default, text):
    if kind is bool:
        parser.add_argument(
            f"--{name}",
            type=_bool,
            nargs="?",
            const=True,
            default=default,
            metavar="BOOL",
            help=f"{text} [{str(default).lower()}]",
        )
    else:
        parser.add_argument(f"--{name}", type=kind, default=default, help=f"{text} [{default}]")


def add_arguments(parser):
    parser.allow_abbrev = False  # like TF Serving: a flag is spelt in full or it is unknown
    tf_flags = parser.add_argument_group("tensorflow_model_server flags (honoured)")
    for name, kind, default, text in [
        ("port", int, 8500, "gRPC port (0: pick a free one)"),
        ("grpc_socket_path", str, "", "also serve gRPC on this UNIX socket"),
        ("rest_api_port", int, 0, "REST port (0: no REST API)"),
        ("rest_api_timeout_in_ms", int, 30000, "deadline of each REST predict"),
        ("model_name", str, "default", "name of the model (ignored with --model_config_file)"),
        ("model_base_path", str, "", "folder of integer version directories, local or gs://"),
        (
            "model_config_file",
            str,
            "",
            "text-format ModelServerConfig: several models, version policies, version labels",
        ),
        (
            "model_config_file_poll_wait_seconds",
            int,
            0,
            "seconds between reads of --model_config_file (0: read once)",
        ),
        (
            "file_system_poll_wait_seconds",
            int,
            1,
            "seconds between scans for new versions (0: scan once)",
        ),
        ("max_num_load_retries", int, 5, "retries of a failed load"),
        ("load_retry_interval_micros", int, 60_000_000, "microseconds between load retries"),
        ("enable_batching", bool, False, "merge concurrent requests into batched model calls"),
        ("batching_parameters_file", str, "", "text-format BatchingParameters"),
        (
            "allow_version_labels_for_unavailable_models",
            bool,
            False,
            "a new label may name a version not loaded yet",
        ),
        ("enable_model_warmup", bool, True, "replay assets.extra/tf_serving_warmup_requests"),
        ("num_request_iterations_for_warmup", int, 1, "times each warmup record is replayed"),
        ("saved_model_tags", str, "serve", "comma-separated tags of the meta graph to load"),
        ("grpc_channel_arguments", str, "", "comma-separated gRPC server arguments key=value"),
        ("grpc_max_threads", int, 4 * _CPUS, "gRPC server threads"),
        ("tensorflow_session_parallelism", int, 0, "intra and inter op threads (0: auto)"),
        ("tensorflow_intra_op_parallelism", int, 0, "threads within an op (0: auto)"),
        ("tensorflow_inter_op_parallelism", int, 0, "ops run at once (0: auto)"),
        ("monitoring_config_file", str, "", "text-format MonitoringConfig (Prometheus)"),
        ("enable_grpc_healthcheck_service", bool, False, "serve grpc.health.v1.Health"),
        (
            "enable_serialization_as_tensor_content",
            bool,
            False,
            "answer numbers in tensor_content instead of the typed fields",
        ),
        ("version", bool, False, "print the version and exit"),
    ]:
        _flag(tf_flags, name, kind, default, text)
    compat = parser.add_argument_group(
        "tensorflow_model_server flags accepted with no effect here (the log says so)"
    )
    for name in NO_EFFECT_FLAGS:
        compat.add_argument(
            f"--{name}", default=None, nargs="?", const="true", help=NO_EFFECT_FLAGS[name]
        )
    refused = parser.add_argument_group("tensorflow_model_server flags refused here")
    refused.add_argument("--ssl_config_file", default="", help="TLS is not served: refused")
    refused.add_argument(
        "--use_alts_credentials",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        metavar="BOOL",
        help="ALTS is not served: refused",
    )
    own = parser.add_argument_group("vre serve's own flags")
    own.add_argument(
        "--host",
        default=None,
        help="interface to bind [127.0.0.1; all interfaces (0.0.0.0) inside Kubernetes, "
        "where KUBERNETES_SERVICE_HOST is set, as TF Serving always binds]",
    )
    own.add_argument(
        "--max_request_bytes",
        type=int,
        default=64 * 1024 * 1024,
        help="larger requests get RESOURCE_EXHAUSTED / HTTP 429 [67108864]",
    )
    own.add_argument(
        "--max_concurrent_requests",
        type=int,
        default=32,
        help="more requests in flight (per API) get RESOURCE_EXHAUSTED / 429 [32]",
    )
    own.add_argument(
        "--grpc_worker_threads", type=int, default=None, help="old name of --grpc_max_threads"
    )
    own.add_argument(
        "--start_without_loaded_model",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        metavar="BOOL",
        help="open the ports even when a model loads no version (TF Serving exits) [false]",
    )


def default_host(environ=None) -> str:
    """The bind address when --host is not given: all interfaces inside Kubernetes (TF
    Serving's only behaviour; the pod network must reach the server), loopback elsewhere."""
    environ = os.environ if environ is None else environ
    return "0.0.0.0" if environ.get("KUBERNETES_SERVICE_HOST") else "127.0.0.1"


def grpc_channel_arguments(text: str) -> list:
    """`--grpc_channel_arguments` as gRPC options: integers as ints, the rest as strings."""
    options = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" not in item:
            raise ValueError(f"--grpc_channel_arguments: {item!r} is not key=value")
        key, value = item.split("=", 1)
        try:
            options.append((key, int(value)))
        except ValueError:
            options.append((key, value))
    return options


def _usage_error(message: str) -> int:
    import sys

    print(f"vre serve: {message}", file=sys.stderr)
    return 2


def build_server(args):
    """The ModelServer a parsed `vre serve` command line describes (raises ValueError)."""
    from serving.batching import BatchingOptions, read_batching_parameters_file
    from serving.model_config import read_model_config_file
    from serving.monitoring import prometheus_path, read_monitoring_config_file
    from serving.server import ModelServer, ServingOptions

    options = ServingOptions(
        tensor_content=args.enable_serialization_as_tensor_content,
        rest_timeout_ms=args.rest_api_timeout_in_ms,
        max_num_load_retries=args.max_num_load_retries,
        load_retry_interval_s=max(0, args.load_retry_interval_micros) / 1e6,
        start_without_loaded_model=args.start_without_loaded_model,
        wait_for_first_version_s=None,
        health_service=args.enable_grpc_healthcheck_service,
        allow_unavailable_labels=args.allow_version_labels_for_unavailable_models,
        warmup_iterations=max(1, args.num_request_iterations_for_warmup),
        saved_model_tags=tuple(t for t in args.saved_model_tags.split(",") if t) or None,
        grpc_options=grpc_channel_arguments(args.grpc_channel_arguments),
        grpc_socket_path=args.grpc_socket_path,
    )
    if args.model_config_file:
        options.model_config = read_model_config_file(args.model_config_file)
        options.model_config_file = args.model_config_file
        options.config_poll_wait_s = max(0, args.model_config_file_poll_wait_seconds)
    if args.enable_batching:
        options.batching = (
            read_batching_parameters_file(args.batching_parameters_file)
            if args.batching_parameters_file
            else BatchingOptions()
        )
    if args.monitoring_config_file:
        options.metrics_path = prometheus_path(
            read_monitoring_config_file(args.monitoring_config_file)
        )
    if options.metrics_path and not args.rest_api_port:
        raise ValueError(
            "--monitoring_config_file: Prometheus metrics are served on the REST "
            "API; set --rest_api_port"
        )
    return ModelServer(
        None if args.model_config_file else args.model_name,
        None if args.model_config_file else args.model_base_path,
        grpc_port=args.port,
        rest_port=args.rest_api_port or None,
        host=args.host or default_host(),
        poll_interval_s=args.file_system_poll_wait_seconds,
        max_request_bytes=args.max_request_bytes,
        max_concurrent_requests=args.max_concurrent_requests,
        worker_threads=args.grpc_worker_threads or args.grpc_max_threads,
        warmup=args.enable_model_warmup,
        options=options,
    )


def _set_tf_threads(args, log):
    import tensorflow as tf

    intra = args.tensorflow_intra_op_parallelism or args.tensorflow_session_parallelism
    inter = args.tensorflow_inter_op_parallelism or args.tensorflow_session_parallelism
    if intra > 0:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter > 0:
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    if intra > 0 or inter > 0:
        log.info("TensorFlow threads: intra-op %s, inter-op %s", intra or "auto", inter or "auto")


def run(args) -> int:
    import logging
    import signal
    import sys
    import threading

    if args.version:
        from importlib.metadata import version

        print(
            f"vre serve (TF Serving protocol {version('tensorflow-serving-api')}), "
            f"TensorFlow Library: {version('tensorflow')}"
        )
        return 0
    if args.ssl_config_file or args.use_alts_credentials:
        return _usage_error(
            "--ssl_config_file / --use_alts_credentials: vre serve has no TLS "
            "or ALTS; refusing to serve in plain text what was meant to be "
            "secured (terminate TLS in front of it)"
        )
    if not args.model_config_file and not args.model_base_path:
        return _usage_error("--model_base_path or --model_config_file is required")
    from vre_common import storage

    base = args.model_base_path
    # A local base path is checked before importing TF (fail in a blink); a remote one (gs://)
    # needs TF's filesystem and is checked when the server starts.
    if not args.model_config_file and not storage.is_remote(base) and not os.path.isdir(base):
        return _usage_error(f"model base path {base!r} of model {args.model_name!r} does not exist")
    from vre_common import quiet_output

    # A server's log lines carry their time.
    quiet_output.set_level(
        logging.INFO, args.verbose, fmt="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log = logging.getLogger("vre.serving")
    for name, why in NO_EFFECT_FLAGS.items():
        if getattr(args, name) is not None:
            log.info("--%s has no effect in vre serve: %s", name, why)
    if args.grpc_worker_threads is not None:
        log.info("--grpc_worker_threads is the old name of --grpc_max_threads")
    _set_tf_threads(args, log)
    from serving.server import ModelLoadError

    try:
        server = build_server(args)
    except ValueError as e:
        return _usage_error(str(e))
    stopped = threading.Event()

    def shut_down(signum, _frame):
        log.info("signal %d: shutting down", signum)
        stopped.set()
        server._stopping.set()  # also ends a startup still waiting for a first version

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    try:
        server.start()
    except ModelLoadError as e:
        # TF Serving: "Failed to start server. Error: ..." and a non-zero exit.
        print(f"vre serve: Failed to start server. Error: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"vre serve: {e}", file=sys.stderr)
        return 2
    if stopped.is_set():
        server.stop()
        return 0
    rest = f", REST {server.rest_url}" if server.rest_port else ""
    models = ", ".join(
        f"{name!r} (version {m.serving_version})" for name, m in server.registry.managers.items()
    )
    print(
        f"vre serve: model {models} ready on gRPC {server.grpc_target}{rest}",
        file=sys.stderr,
        flush=True,
    )
    while not stopped.wait(0.5):
        pass
    server.stop()
    return 0
