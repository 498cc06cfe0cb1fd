"""The tensor and JSON codecs on their own: round trips, b64 strings, TF Serving's JSON shapes."""

import json

import numpy as np
import pytest
import tensorflow as tf

from serving import json_codec
from serving.errors import ServingError
from serving.tensor_codec import array_to_proto, proto_to_array


@pytest.mark.parametrize(
    "value",
    [
        np.random.default_rng(0).random((2, 7, 5)).astype(np.float32),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.array([3], np.int32),
        np.array([True, False]),
        np.array([b"a man", b"\xff"], dtype=object),
        np.float32(2.5),
        np.zeros((0, 3), np.float16),
    ],
    ids=["float32", "int64", "int32", "bool", "bytes", "scalar", "empty"],
)
def test_tensor_proto_round_trip(value):
    back = tf.make_ndarray(array_to_proto(value))
    assert back.dtype == np.asarray(value).dtype and back.shape == np.asarray(value).shape
    assert (back == value).all()
    np.testing.assert_array_equal(proto_to_array("x", array_to_proto(value)), value)


def test_bad_tensor_proto_names_the_input():
    proto = array_to_proto(np.zeros((2, 3), np.float32), tensor_content=True)
    proto.tensor_content = proto.tensor_content[:-1]
    with pytest.raises(ServingError, match="input 'temporal' is not a valid TensorProto"):
        proto_to_array("temporal", proto)


def test_b64_strings_in_and_bytes_outputs_out():
    specs = {"examples": tf.TensorSpec([None], tf.string)}
    inputs, fmt = json_codec.predict_inputs({"instances": [{"b64": "AAE="}, "text"]}, specs)
    assert fmt == json_codec.ROW and list(inputs["examples"]) == [b"\x00\x01", b"text"]
    with pytest.raises(ServingError, match="Unable to base64 decode"):
        json_codec.predict_inputs({"inputs": [{"b64": "@@"}]}, specs)
    answer = json.loads(
        json_codec.predict_answer(
            {"x_bytes": np.array([b"\xff"], dtype=object), "y": np.array([[1.5]], np.float32)},
            json_codec.COLUMNAR,
        )
    )
    assert answer == {"outputs": {"x_bytes": [{"b64": "/w=="}], "y": [[1.5]]}}


def test_single_input_and_output_use_plain_values():
    specs = {"x": tf.TensorSpec([None, 2], tf.float32)}
    inputs, fmt = json_codec.predict_inputs({"instances": [[1, 2], [3, 4]]}, specs)
    assert fmt == json_codec.ROW and inputs["x"].dtype == np.float32
    np.testing.assert_array_equal(inputs["x"], [[1, 2], [3, 4]])
    inputs, fmt = json_codec.predict_inputs({"inputs": [[1, 2]]}, specs)
    assert fmt == json_codec.COLUMNAR and inputs["x"].shape == (1, 2)
    row = json.loads(json_codec.predict_answer({"y": np.array([5, 6], np.int64)}, json_codec.ROW))
    assert row == {"predictions": [5, 6]}
    col = json.loads(json_codec.predict_answer({"y": np.array([5, 6])}, json_codec.COLUMNAR))
    assert col == {"outputs": [5, 6]}


def test_json_type_errors():
    specs = {"x": tf.TensorSpec([None], tf.int64)}
    with pytest.raises(ServingError, match="is not of expected type: int64"):
        json_codec.predict_inputs({"instances": [1.5]}, specs)
    with pytest.raises(ServingError, match="is not of expected type: int64"):
        json_codec.predict_inputs({"instances": [True]}, specs)
    bools = {"x": tf.TensorSpec([None], tf.bool)}
    with pytest.raises(ServingError, match="is not of expected type: bool"):
        json_codec.predict_inputs({"instances": [1]}, bools)
