"""TensorProto <-> numpy for the gRPC front end and the client.

TensorFlow's own `make_ndarray` reads requests (both the typed `*_val` fields and
`tensor_content`). Answers are written here directly: by default into the typed fields
(`float_val`, `int64_val`, ...), as TF Serving's `Tensor::AsProtoField` does, so a client reading
`outputs["key_frame"].int64_val` gets the values; with `tensor_content=True` (TF Serving's
`--enable_serialization_as_tensor_content`) as raw little-endian bytes, which is smaller and
faster for large tensors. `tf.make_tensor_proto` spends ~80 us per tensor on checks that a numpy
array of a known dtype does not need, paid six times per Predict; strings still go through it.
"""

import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

from serving.errors import invalid_argument

_LITTLE_ENDIAN = sys.byteorder == "little"  # tensor_content is little-endian by definition

# The TensorProto field AsProtoField fills for each dtype (tensor.proto).
_TYPED_FIELD = {
    tf.float32: "float_val",
    tf.float64: "double_val",
    tf.int32: "int_val",
    tf.int16: "int_val",
    tf.int8: "int_val",
    tf.uint8: "int_val",
    tf.uint16: "int_val",
    tf.int64: "int64_val",
    tf.uint32: "uint32_val",
    tf.uint64: "uint64_val",
    tf.bool: "bool_val",
}


def proto_to_array(name: str, proto) -> np.ndarray:
    """A request's TensorProto as numpy (strings as an object array of bytes).

    Args:
        name: the input's name, for the error message.
        proto: a `tensorflow.TensorProto`.
    """
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError, KeyError) as e:
        raise invalid_argument(f"input '{name}' is not a valid TensorProto: {e}") from e


def array_to_proto(value, tensor_content: bool = False) -> tensor_pb2.TensorProto:
    """A numpy array (or object array of bytes) as a TensorProto.

    Args:
        value: the array.
        tensor_content: numbers as `tensor_content` bytes instead of the typed `*_val` field.
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        return tf.make_tensor_proto(arr)
    try:
        dtype = tf.as_dtype(arr.dtype)
    except TypeError:
        return tf.make_tensor_proto(arr)
    field = _TYPED_FIELD.get(dtype)
    if tensor_content or field is None:  # half, bfloat16: TF Serving's half_val is rare; bytes
        if not (_LITTLE_ENDIAN and arr.dtype.byteorder in "=|<"):
            return tf.make_tensor_proto(arr)
        proto = _empty_proto(dtype, arr.shape)
        proto.tensor_content = np.ascontiguousarray(arr).tobytes()
        return proto
    proto = _empty_proto(dtype, arr.shape)
    getattr(proto, field).extend(arr.ravel().tolist())
    return proto


def _empty_proto(dtype: tf.DType, shape) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=dtype.as_datatype_enum,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]
        ),
    )
