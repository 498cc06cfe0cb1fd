"""TensorProto <-> numpy for the gRPC front end and the client.

TensorFlow's own `make_ndarray` reads requests (both the typed `*_val` fields and
`tensor_content`). Answers are written here directly as `tensor_content` for numeric arrays:
`tf.make_tensor_proto` spends ~80 us per tensor on checks that a numpy array of a known dtype does
not need, paid six times per Predict; strings and anything unusual still go through it.
"""

import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

from serving.errors import invalid_argument

_LITTLE_ENDIAN = sys.byteorder == "little"  # tensor_content is little-endian by definition


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


def array_to_proto(value) -> tensor_pb2.TensorProto:
    """A numpy array (or object array of bytes) as a TensorProto."""
    arr = np.asarray(value)
    if _LITTLE_ENDIAN and arr.dtype.kind in "fiub" and arr.dtype.byteorder in "=|<":
        try:
            dtype = tf.as_dtype(arr.dtype)
        except TypeError:
            return tf.make_tensor_proto(arr)
        return tensor_pb2.TensorProto(
            dtype=dtype.as_datatype_enum,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in arr.shape]
            ),
            tensor_content=np.ascontiguousarray(arr).tobytes(),
        )
    return tf.make_tensor_proto(arr)
