"""Uploads the compiled pipeline to Kubeflow Pipelines and starts runs or recurring runs.

Everything goes through the `kfp` client (`kfp.Client(host=...)`, KFP's v2beta1 REST API):

1. the package is uploaded once per content: the pipeline (by its spec's name) is created on
   first use, and each different spec becomes a new pipeline version named after the spec's
   hash, so re-submitting the same file reuses the version already there;
2. the experiment is looked up by name and created when missing;
3. a run (`submit_run`) or a recurring run with a cron trigger (`schedule_run`) is created from
   that pipeline version with the run-time parameters (data_root, push_destination), the
   pipeline root and the service account.
"""

import dataclasses
import datetime
import hashlib
import json
import os
import tempfile

from kubeflow import compiler, runtime_parameters
from kubeflow.cron import normalize_cron

DEFAULT_EXPERIMENT = "vre"


@dataclasses.dataclass(frozen=True)
class Target:
    """Where and as whom runs are created.

    Attributes:
        host: the KFP API endpoint, e.g. `http://localhost:8080` (port-forwarded ml-pipeline-ui)
            or `https://<kubeflow host>/pipeline`.
        experiment: experiment name; created when missing.
        namespace: the user namespace of a multi-user Kubeflow (None: single-user KFP).
        service_account: the Kubernetes service account the run's pods use
            (kubeflow/manifests: `vre-pipeline`); None: KFP's default.
        pipeline_root: overrides the spec's default pipeline root for the run (e.g. `gs://...`).
        existing_token: a bearer token for an authenticated endpoint (or KF_PIPELINES_TOKEN).
    """

    host: str
    experiment: str = DEFAULT_EXPERIMENT
    namespace: str | None = None
    service_account: str | None = None
    pipeline_root: str | None = None
    existing_token: str | None = None


@dataclasses.dataclass(frozen=True)
class Submitted:
    """What was created on the server (ids as KFP returns them)."""

    pipeline_id: str
    pipeline_version_id: str
    experiment_id: str
    run_id: str | None = None
    recurring_run_id: str | None = None
    parameters: dict = dataclasses.field(default_factory=dict)


def check_host(host: str) -> str:
    """Returns `host` if it is an http(s) URL, else raises ValueError naming it."""
    if not host or not host.startswith(("http://", "https://")) or len(host) < 9:
        raise ValueError(
            f"--host {host!r} must be the KFP API URL, e.g. http://localhost:8080 "
            "(kubectl port-forward svc/ml-pipeline-ui 8080:80 -n kubeflow)"
        )
    return host.rstrip("/")


def run_parameters(spec, data_root=None, serving_base=None, extra=None) -> dict:
    """The parameters of a run: only those given, checked against the spec's inputs.

    Args:
        spec: the compiled PipelineSpec (compiler.load_pipeline_spec).
        data_root: the folder of `span-N/` feature folders for this run (None: spec default).
        serving_base: where TF Serving reads models; the push destination becomes
            `<serving_base>/<model name>` with the model name of the spec's default.
        extra: further `name -> value` parameters, e.g. from `--param name=value`.
    """
    declared = spec.root.input_definitions.parameters
    params = dict(extra or {})
    if data_root is not None:
        params[runtime_parameters.DATA_ROOT] = data_root
    if serving_base is not None:
        default = declared.get(runtime_parameters.PUSH_DESTINATION)
        if default is None or not default.default_value.string_value:
            raise ValueError(
                "the pipeline spec has no push_destination parameter with a default, so "
                "--serving_base cannot be applied; pass --param push_destination=<json>"
            )
        _, model_name = runtime_parameters.serving_base_of(default.default_value.string_value)
        params[runtime_parameters.PUSH_DESTINATION] = runtime_parameters.push_destination_json(
            serving_base, model_name
        )
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(
            f"parameter(s) {', '.join(unknown)} are not inputs of pipeline "
            f"{spec.pipeline_info.name!r}; its parameters are: {', '.join(sorted(declared))}"
        )
    return params


def _client(target: Target):
    import kfp

    token = target.existing_token or os.environ.get("KF_PIPELINES_TOKEN")
    return kfp.Client(
        host=check_host(target.host), namespace=target.namespace or "kubeflow", existing_token=token
    )


def _yaml_package(package_path: str, spec, tmp_dir: str) -> str:
    """kfp uploads YAML; a TFX PipelineJob JSON is written as its spec into `tmp_dir` first."""
    if not package_path.endswith(".json"):
        return package_path
    import yaml
    from google.protobuf import json_format

    path = os.path.join(tmp_dir, "pipeline.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(json_format.MessageToDict(spec), f, sort_keys=True)
    return path


def spec_digest(spec) -> str:
    """A short content hash of a PipelineSpec, independent of key order and number formatting."""
    from google.protobuf import json_format

    canonical = json.dumps(json_format.MessageToDict(spec), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _stored_digest(version) -> str | None:
    """The digest of the spec KFP stored for a pipeline version (None if it sent none)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    stored = version.pipeline_spec
    if not stored:
        return None
    # A package with a platform spec is stored as {"pipeline_spec": ..., "platform_spec": ...}.
    stored = stored.get("pipeline_spec", stored)
    try:
        return spec_digest(json_format.ParseDict(stored, pipeline_spec_pb2.PipelineSpec()))
    except json_format.ParseError:
        return None


def upload(client, package_path: str, spec, pipeline_name: str | None = None) -> tuple[str, str]:
    """Uploads the package as a pipeline version unless a version with the same spec exists.

    Args:
        client: a `kfp.Client`.
        package_path: the compiled `.yaml` package.
        spec: its PipelineSpec (for the name and the content hash).
        pipeline_name: the pipeline's name in KFP (default: the spec's pipelineInfo name).

    Returns:
        (pipeline id, pipeline version id).
    """
    digest = spec_digest(spec)
    name = pipeline_name or spec.pipeline_info.name
    version_name = f"{name}-{digest}"
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(
            package_path,
            pipeline_name=name,
            description=f"VRE video captioning pipeline (first spec {digest})",
        )
        pipeline_id = pipeline.pipeline_id
        # Uploading a new pipeline also creates its first version; its id is listed, not returned.
        versions = client.list_pipeline_versions(
            pipeline_id, page_size=1, sort_by="created_at desc"
        )
        if not versions.pipeline_versions:
            raise RuntimeError(f"KFP created pipeline {pipeline_id} but lists no version of it")
        return pipeline_id, versions.pipeline_versions[0].pipeline_version_id
    # Reuse a recent version holding this very spec (compared by content: the first version of
    # a pipeline carries the pipeline's name, not the hash).
    recent = client.list_pipeline_versions(pipeline_id, page_size=50, sort_by="created_at desc")
    for version in recent.pipeline_versions or []:
        if version.display_name == version_name or _stored_digest(version) == digest:
            return pipeline_id, version.pipeline_version_id
    version = client.upload_pipeline_version(
        package_path,
        pipeline_version_name=version_name,
        pipeline_id=pipeline_id,
        description=f"spec sha256 {digest}",
    )
    return pipeline_id, version.pipeline_version_id


def _prepare(target: Target, package_path: str, spec):
    """Connects, uploads the package if needed, finds or creates the experiment."""
    client = _client(target)
    with tempfile.TemporaryDirectory(prefix="vre-kfp-") as tmp_dir:
        pipeline_id, version_id = upload(client, _yaml_package(package_path, spec, tmp_dir), spec)
    experiment = client.create_experiment(name=target.experiment, namespace=target.namespace)
    return client, pipeline_id, version_id, experiment.experiment_id


def submit_run(
    target: Target,
    package_path: str,
    data_root=None,
    serving_base=None,
    extra_params=None,
    run_name: str | None = None,
) -> Submitted:
    """Starts one run of the compiled pipeline now.

    Args:
        target: server, experiment, namespace, service account, pipeline root.
        package_path: the compiled package (`vre pipeline compile --target kubeflow`).
        data_root: the run's `data_root` (None: the spec's default).
        serving_base: the run's serving base (None: the spec's default push destination).
        extra_params: other run-time parameters by name.
        run_name: the run's display name (default: `<pipeline> <UTC time>`).
    """
    spec = compiler.load_pipeline_spec(package_path)
    params = run_parameters(spec, data_root, serving_base, extra_params)
    client, pipeline_id, version_id, experiment_id = _prepare(target, package_path, spec)
    run = client.run_pipeline(
        experiment_id=experiment_id,
        job_name=run_name or f"{spec.pipeline_info.name} {_utc_now()}",
        pipeline_id=pipeline_id,
        version_id=version_id,
        params=params,
        pipeline_root=target.pipeline_root,
        service_account=target.service_account,
    )
    return Submitted(pipeline_id, version_id, experiment_id, run_id=run.run_id, parameters=params)


def schedule_run(
    target: Target,
    package_path: str,
    cron: str,
    data_root=None,
    serving_base=None,
    extra_params=None,
    job_name: str | None = None,
    max_concurrency: int = 1,
    catchup: bool = False,
    start_time: str | None = None,
) -> Submitted:
    """Creates a recurring run (scheduled retraining) of the compiled pipeline.

    Each triggered run re-resolves ImportExampleGen's newest span under `data_root`, so new
    videos written as `span-<N+1>/` are trained on by the next run; runs whose inputs did not
    change are served from KFP's cache, and the Pusher only pushes a blessed model.

    Args:
        target: server, experiment, namespace, service account, pipeline root.
        package_path: the compiled package.
        cron: five- or six-field cron, or a descriptor (kubeflow/cron.py).
        data_root: `data_root` for every run (None: the spec's default).
        serving_base: serving base for every run (None: the spec's default).
        extra_params: other run-time parameters by name.
        job_name: the recurring run's display name (default: `<pipeline> retraining`).
        max_concurrency: runs allowed at once; 1 keeps retrainings from overlapping.
        catchup: run every missed interval after a pause (False: only the latest).
        start_time: RFC 3339 time before which nothing is triggered.
    """
    cron = normalize_cron(cron)
    if start_time is not None:
        try:
            datetime.datetime.fromisoformat(start_time)  # Python >= 3.11 reads the Z suffix
        except ValueError as e:
            raise ValueError(f"start time {start_time!r} is not an RFC 3339 time") from e
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max concurrency must be an integer >= 1, got {max_concurrency!r}")
    spec = compiler.load_pipeline_spec(package_path)
    params = run_parameters(spec, data_root, serving_base, extra_params)
    client, pipeline_id, version_id, experiment_id = _prepare(target, package_path, spec)
    recurring = client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=job_name or f"{spec.pipeline_info.name} retraining",
        description=f"VRE scheduled retraining, cron '{cron}'",
        start_time=start_time,
        cron_expression=cron,
        max_concurrency=max_concurrency,
        no_catchup=not catchup,
        pipeline_id=pipeline_id,
        version_id=version_id,
        params=params,
        pipeline_root=target.pipeline_root,
        service_account=target.service_account,
    )
    return Submitted(
        pipeline_id,
        version_id,
        experiment_id,
        recurring_run_id=recurring.recurring_run_id,
        parameters=params,
    )


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
