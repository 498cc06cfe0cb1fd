"""`vre serve`: serve a model's pushed SavedModels over TF Serving's gRPC and REST protocols.

Flag names follow `tensorflow_model_server` where it has the same setting (--port,
--rest_api_port, --model_name, --model_base_path, --file_system_poll_wait_seconds,
--enable_model_warmup), so a command line moves between the two with few changes.
"""

NAME = "serve"
HELP = "Serve a SavedModel base path over TF Serving's gRPC (PredictionService) and REST APIs."


def add_arguments(parser):
    parser.add_argument("--model_name", required=True, help="the name clients address")
    parser.add_argument(
        "--model_base_path",
        required=True,
        help="folder of integer version directories (the Pusher's destination)",
    )
    parser.add_argument(
        "--port", type=int, default=8500, help="gRPC port (0: pick a free one) [8500]"
    )
    parser.add_argument(
        "--rest_api_port", type=int, default=8501, help="REST port (0: no REST API) [8501]"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind [127.0.0.1]; 0.0.0.0 exposes the server to the network",
    )
    parser.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between scans of the base path for new versions (0: never rescan) [1]",
    )
    parser.add_argument(
        "--enable_model_warmup",
        type=_bool,
        default=True,
        help="replay assets.extra/tf_serving_warmup_requests before serving a version [true]",
    )
    parser.add_argument(
        "--max_request_bytes",
        type=int,
        default=64 * 1024 * 1024,
        help="larger requests get RESOURCE_EXHAUSTED / HTTP 429 [67108864]",
    )
    parser.add_argument(
        "--max_concurrent_requests",
        type=int,
        default=32,
        help="more requests in flight (per API) get RESOURCE_EXHAUSTED / HTTP 429 [32]",
    )
    parser.add_argument(
        "--grpc_worker_threads", type=int, default=16, help="gRPC server threads [16]"
    )


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def run(args) -> int:
    import logging
    import os
    import signal
    import sys
    import threading

    from vre_common import storage

    # A local base path is checked before importing TF (fail in a blink); a remote one (gs://)
    # needs TF's filesystem and is checked when the server starts.
    if not storage.is_remote(args.model_base_path) and not os.path.isdir(args.model_base_path):
        print(
            f"vre serve: model base path {args.model_base_path!r} of model {args.model_name!r} "
            "does not exist",
            file=sys.stderr,
        )
        return 2
    from vre_common import quiet_output

    # A server's log lines carry their time.
    quiet_output.set_level(
        logging.INFO, args.verbose, fmt="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from serving.server import ModelServer

    try:
        server = ModelServer(
            args.model_name,
            args.model_base_path,
            grpc_port=args.port,
            rest_port=args.rest_api_port or None,
            host=args.host,
            poll_interval_s=args.file_system_poll_wait_seconds,
            max_request_bytes=args.max_request_bytes,
            max_concurrent_requests=args.max_concurrent_requests,
            worker_threads=args.grpc_worker_threads,
            warmup=args.enable_model_warmup,
        )
        server.start()
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"vre serve: {e}", file=sys.stderr)
        return 2
    stopped = threading.Event()

    def shut_down(signum, _frame):
        logging.getLogger("vre.serving").info("signal %d: shutting down", signum)
        stopped.set()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    rest = f", REST {server.rest_url}" if server.rest_port else ""
    print(
        f"vre serve: model {args.model_name!r} ready on gRPC {server.grpc_target}{rest} "
        f"(serving version {server.manager.serving_version})",
        file=sys.stderr,
        flush=True,
    )
    while not stopped.wait(0.5):
        pass
    server.stop()
    return 0
