"""The run-time parameters of the compiled pipeline: where the data is and where models go.

One compiled spec serves several environments because the two environment-specific locations
are KFP pipeline parameters rather than constants baked into the spec:

- `data_root`: ImportExampleGen's `input_base`, the folder holding `span-N/<split>/` feature
  folders (beam_jobs output); each run resolves the newest span below it.
- `push_destination`: the Pusher's `PushDestination` proto as JSON, whose base directory is
  `<serving base>/<model name>` (Contract 3). TFX accepts a string run-time parameter for a proto
  execution property and parses the JSON in the executor, so this is the one place a run can
  move the serving base; `push_destination_json` builds the value from a plain path.

The pipeline root is KFP's own run setting (`runtime_config.pipeline_root`), not a parameter.
"""

import json
import posixpath

DATA_ROOT = "data_root"
PUSH_DESTINATION = "push_destination"

# The execution-property keys of the TFX components the parameters replace.
_INPUT_BASE_KEY = "input_base"
_PUSH_DESTINATION_KEY = "push_destination"


def push_destination_json(serving_base: str, model_name: str) -> str:
    """The `push_destination` value that pushes to `<serving_base>/<model_name>/<version>/`.

    Args:
        serving_base: the folder TF Serving watches (e.g. `gs://bucket/vre/serving`).
        model_name: the served model's name, the sub-folder of the serving base.
    """
    if not serving_base or not serving_base.strip():
        raise ValueError("serving base must be a non-empty path or URI")
    if not model_name or "/" in model_name:
        raise ValueError(f"model name {model_name!r} must be a non-empty name without '/'")
    base = posixpath.join(serving_base.rstrip("/"), model_name)
    return json.dumps({"filesystem": {"baseDirectory": base}}, sort_keys=True)


def serving_base_of(push_destination: str) -> tuple[str, str]:
    """Splits a `push_destination` JSON value back into (serving base, model name).

    Args:
        push_destination: the JSON text of a filesystem PushDestination.
    """
    try:
        filesystem = json.loads(push_destination)["filesystem"]
        # TFX stores the proto as JSON with proto field names; json_format writes camelCase.
        base = filesystem.get("baseDirectory") or filesystem["base_directory"]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(
            f"push_destination {push_destination!r} is not a filesystem PushDestination JSON"
        ) from e
    base = base.rstrip("/")
    return posixpath.dirname(base), posixpath.basename(base)


def _find_component(pipeline, exec_property: str, role: str):
    found = [c for c in pipeline.components if exec_property in c.exec_properties]
    if len(found) != 1:
        ids = [c.id for c in found]
        raise ValueError(
            f"pipeline {pipeline.pipeline_info.pipeline_name!r} must have exactly one {role} "
            f"(a component with the '{exec_property}' property); found {ids or 'none'}"
        )
    return found[0]


def parameterize(pipeline) -> dict[str, str]:
    """Replaces the data location and the push destination of `pipeline` by run-time parameters.

    The values the pipeline was built with become the parameters' defaults, so a run that sets
    nothing behaves as the config says. Call this on a freshly built pipeline, before compiling.

    Args:
        pipeline: a `tfx.v1.dsl.Pipeline` (from tfx_pipeline.pipeline.create_pipeline) with one
            file-based ExampleGen and one Pusher.

    Returns:
        The parameters' names mapped to their defaults.
    """
    from google.protobuf import json_format, message
    from tfx.v1.dsl.experimental import RuntimeParameter

    example_gen = _find_component(pipeline, _INPUT_BASE_KEY, "file-based ExampleGen")
    pusher = _find_component(pipeline, _PUSH_DESTINATION_KEY, "Pusher")

    data_root = example_gen.exec_properties[_INPUT_BASE_KEY]
    if isinstance(data_root, RuntimeParameter):
        raise ValueError("the pipeline is already parameterized (input_base is a RuntimeParameter)")
    destination = pusher.exec_properties[_PUSH_DESTINATION_KEY]
    if isinstance(destination, message.Message):
        destination = json_format.MessageToJson(destination, sort_keys=True, indent=None)
    elif not isinstance(destination, str):
        raise ValueError(
            f"Pusher {pusher.id!r} has no filesystem push_destination (got {destination!r})"
        )
    serving_base, model_name = serving_base_of(destination)
    destination = push_destination_json(serving_base, model_name)

    # BaseComponent.exec_properties is the component spec's own dict: setting a key there is how
    # a built component's property is replaced (the KubeflowV2 step builder reads it from here).
    example_gen.exec_properties[_INPUT_BASE_KEY] = RuntimeParameter(
        name=DATA_ROOT, ptype=str, default=str(data_root)
    )
    pusher.exec_properties[_PUSH_DESTINATION_KEY] = RuntimeParameter(
        name=PUSH_DESTINATION, ptype=str, default=destination
    )
    return {DATA_ROOT: str(data_root), PUSH_DESTINATION: destination}
