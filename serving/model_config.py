"""TF Serving's model configuration: the text-format `ModelServerConfig` of `--model_config_file`.

The file is parsed with the `tensorflow_serving.config` protos themselves, so any file that
`tensorflow_model_server --model_config_file` accepts is read the same way here, and the checks
TF Serving makes on it (server_core.cc: one `model_config_list`, unique names, the TensorFlow
platform) give the same refusals. Version policies select the versions to serve from those on
disk as `FileSystemStoragePathSource` does.
"""

from google.protobuf import text_format
from tensorflow_serving.config import file_system_storage_path_source_pb2, model_server_config_pb2

TENSORFLOW_PLATFORM = "tensorflow"

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig
VersionPolicy = (
    file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy
)


class ModelConfigError(ValueError):
    """A model config file or ModelServerConfig that TF Serving would refuse; names the problem."""


def read_model_config_text(text: str, source: str = "model config") -> ModelServerConfig:
    """Parses a text-format ModelServerConfig (ModelConfigError naming `source` otherwise)."""
    config = ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ModelConfigError(f"Invalid protobuf file: '{source}': {e}") from e
    check_model_config(config, source)
    return config


def read_model_config_file(path: str) -> ModelServerConfig:
    """Reads `--model_config_file` (local or remote: gs:// and the like through tf.io.gfile)."""
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "r") as f:
            text = f.read()
    except tf.errors.OpError as e:
        raise ModelConfigError(f"cannot read model config file {path!r}: {e.message}") from e
    return read_model_config_text(text, path)


def single_model_config(model_name: str, base_path: str) -> ModelServerConfig:
    """The config `--model_name`/`--model_base_path` stand for (main.cc BuildSingleModelConfig)."""
    config = ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name, model.base_path, model.model_platform = model_name, base_path, TENSORFLOW_PLATFORM
    return config


def check_model_config(config: ModelServerConfig, source: str = "model config"):
    """TF Serving's checks on a ModelServerConfig (ServerCore::ReloadConfig / ValidateConfig)."""
    kind = config.WhichOneof("config")
    if kind == "custom_model_config":
        raise ModelConfigError(f"{source}: custom_model_config is not supported")
    if kind is None:
        raise ModelConfigError(f"{source}: no model_config_list")
    seen = {}
    for model in config.model_config_list.config:
        if not model.name:
            raise ModelConfigError(f"{source}: a model config has no name")
        if not model.base_path:
            raise ModelConfigError(f"{source}: model {model.name!r} has no base_path")
        seen[model.name] = seen.get(model.name, 0) + 1
        platform = model.model_platform or TENSORFLOW_PLATFORM
        if platform != TENSORFLOW_PLATFORM:
            raise ModelConfigError(
                f"{source}: model {model.name!r} has model_platform {platform!r}; only "
                f"{TENSORFLOW_PLATFORM!r} is served"
            )
        if model.model_version_policy.WhichOneof("policy_choice") == "specific":
            if not model.model_version_policy.specific.versions:
                raise ModelConfigError(
                    f"{source}: model {model.name!r}: specific version policy lists no versions"
                )
    for name, count in seen.items():
        if count > 1:
            raise ModelConfigError(f"Illegal to list model {name} {count} times in config list")


def aspired_versions(policy: VersionPolicy, on_disk) -> set[int]:
    """The versions a policy serves out of those on disk (FileSystemStoragePathSource).

    Args:
        policy: the model's ServableVersionPolicy (unset: latest 1).
        on_disk: the version numbers found under the base path.
    """
    versions = sorted(on_disk, reverse=True)
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return set(versions)
    if choice == "specific":
        return set(policy.specific.versions) & set(versions)
    num = max(policy.latest.num_versions, 1) if choice == "latest" else 1
    return set(versions[:num])


def describe_policy(policy: VersionPolicy) -> str:
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return "all"
    if choice == "specific":
        return f"specific {sorted(policy.specific.versions)}"
    num = max(policy.latest.num_versions, 1) if choice == "latest" else 1
    return f"latest {num}"
