"""TF Serving's `BatchingParameters` and `MonitoringConfig` messages, for their text files.

tensorflow-serving-api ships the `apis` and `config` protos but not
`servables/tensorflow/session_bundle_config.proto` (BatchingParameters) nor
`config/monitoring_config.proto`; these are declared here with TF Serving's package, names and
field numbers, so `--batching_parameters_file` and `--monitoring_config_file` are parsed by
protobuf's own text format exactly as TF Serving parses them.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


def _file(name: str, messages: dict) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name=name,
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    for message_name, fields in messages.items():
        message = proto.message_type.add(name=message_name)
        for number, (field_name, kind, label) in enumerate(fields, start=1):
            if field_name is None:
                continue
            field = message.field.add(name=field_name, number=number, label=label)
            if isinstance(kind, str):
                field.type = _F.TYPE_MESSAGE
                field.type_name = kind
            else:
                field.type = kind
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
_INT64 = ".google.protobuf.Int64Value"
_POOL.Add(
    _file(
        "tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        {
            # Field numbers 1-8 as in TF Serving's BatchingParameters.
            "BatchingParameters": [
                ("max_batch_size", _INT64, _OPTIONAL),
                ("batch_timeout_micros", _INT64, _OPTIONAL),
                ("max_enqueued_batches", _INT64, _OPTIONAL),
                ("num_batch_threads", _INT64, _OPTIONAL),
                ("thread_pool_name", ".google.protobuf.StringValue", _OPTIONAL),
                ("allowed_batch_sizes", _F.TYPE_INT64, _REPEATED),
                ("pad_variable_length_inputs", _F.TYPE_BOOL, _OPTIONAL),
                ("enable_large_batch_splitting", _F.TYPE_BOOL, _OPTIONAL),
            ],
        },
    )
)
_POOL.Add(
    _file(
        "tensorflow_serving/config/monitoring_config.proto",
        {
            "PrometheusConfig": [
                ("enable", _F.TYPE_BOOL, _OPTIONAL),
                ("path", _F.TYPE_STRING, _OPTIONAL),
            ],
            "MonitoringConfig": [
                ("prometheus_config", ".tensorflow.serving.PrometheusConfig", _OPTIONAL)
            ],
        },
    )
)

BatchingParameters = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
)
MonitoringConfig = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
)
