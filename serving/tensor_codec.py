"""TensorProto <-> numpy for the gRPC front end and the client.

TensorFlow's own `make_tensor_proto` / `make_ndarray` do the work (they read both the typed
`*_val` fields and `tensor_content`); this module only turns their failures into errors that name
the input.
"""

import numpy as np
import tensorflow as tf

from serving.errors import invalid_argument


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


def array_to_proto(value: np.ndarray):
    """A numpy array (or object array of bytes) as a TensorProto."""
    return tf.make_tensor_proto(np.asarray(value))
