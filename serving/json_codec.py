"""TF Serving's REST JSON: request bodies to numpy inputs, outputs to "predictions"/"outputs".

Follows tensorflow_serving/util/json_tensor.cc: the row format ("instances": one item per batch
element, objects when the signature has several inputs) and the columnar format ("inputs": one
value, or an object of named values); binary strings as {"b64": "..."}; outputs whose name ends
in "_bytes" written as {"b64": ...}. The error messages keep TF Serving's wording where a client
might match on it.

Values are converted with numpy in one go per tensor rather than element by element (a video's
features are ~150k floats): numpy's inferred dtype tells whether the JSON held numbers, bools or
strings, and a ragged list fails the conversion.
"""

import base64
import binascii
import json

import grpc
import numpy as np
import tensorflow as tf

from serving.errors import ServingError, invalid_argument

ROW, COLUMNAR = "row", "columnar"
_B64 = "b64"
_BYTES_SUFFIX = "_bytes"


def parse_body(body: bytes) -> dict:
    """The request body as a JSON object (INVALID_ARGUMENT otherwise)."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise invalid_argument(f"JSON Parse error: {e}") from e
    if not isinstance(doc, dict):
        raise invalid_argument(f"JSON Value: {_short(doc)} Is not object")
    return doc


def signature_name(doc: dict) -> str:
    """The optional "signature_name" of a request ('' when absent)."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {_short(doc)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def predict_inputs(doc: dict, input_specs: dict) -> tuple[dict, str]:
    """The numpy inputs of a predict request and its format (ROW or COLUMNAR).

    Args:
        doc: the parsed request body.
        input_specs: the signature's {input name: tf.TensorSpec}.
    """
    if not input_specs:
        raise invalid_argument("Failed to get input map for signature")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise invalid_argument(
            f"JSON Value: {_short(doc)} Not formatted correctly expecting only one of 'inputs' "
            "or 'instances' keys to exist "
        )
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise invalid_argument(
                f"JSON Value: {_short(doc)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise invalid_argument(f"JSON Value: {_short(doc)} No values in 'instances' array")
        return _from_instances(instances, input_specs), ROW
    if has_inputs:
        return _from_inputs(doc["inputs"], input_specs), COLUMNAR
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_B64), str)


def _is_named_object(value) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _from_instances(instances: list, specs: dict) -> dict:
    names = sorted(specs)
    objects = _is_named_object(instances[0])
    if not objects and len(specs) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )
    columns = {name: [] for name in names}
    for i, item in enumerate(instances):
        if objects:
            if not _is_named_object(item):
                raise invalid_argument(f"Expecting object but got list at item {i} of input list")
            for key in item:
                if key not in specs:
                    raise invalid_argument(
                        f"Failed to process element: {i} key: {key} of 'instances' list. "
                        f"Error: JSON object: does not have named input: {key}"
                    )
            if set(item) != set(names):
                raise invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"{_short(item)} keys must be equal to: {','.join(names)}"
                )
            for name in names:
                columns[name].append(_to_array(item[name], specs[name], f"{name} (item {i})"))
        else:
            if _is_named_object(item):
                raise invalid_argument(
                    f"Expecting value/list but got object at item {i} of input list"
                )
            columns[names[0]].append(_to_array(item, specs[names[0]], f"{names[0]} (item {i})"))
    batched = {}
    for name, items in columns.items():
        first = items[0].shape
        for i, arr in enumerate(items):
            if arr.shape != first:
                raise invalid_argument(
                    f"Failed to process element: {i} key: {name} of 'instances' list. Error: "
                    f"Expecting shape {list(first)} but got: {list(arr.shape)}"
                )
        batched[name] = np.stack(items) if items else np.zeros((0,))
    return batched


def _from_inputs(value, specs: dict) -> dict:
    names = sorted(specs)
    if not _is_named_object(value):
        if len(specs) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                "required as per tensorinfo_map"
            )
        return {names[0]: _to_array(value, specs[names[0]], names[0])}
    arrays = {}
    # Like TF Serving, keys of "inputs" that the signature does not name are ignored.
    for name in names:
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = _to_array(value[name], specs[name], name)
    return arrays


# The dtypes TF Serving converts JSON to (json_tensor.cc AddValueToTensor); others, float16
# among them, are UNIMPLEMENTED there.
_JSON_DTYPES = {
    tf.float32,
    tf.float64,
    tf.int32,
    tf.int16,
    tf.int8,
    tf.uint8,
    tf.int64,
    tf.bool,
    tf.uint32,
    tf.uint64,
}
# The integer range each integer dtype accepts from JSON: rapidjson's IsInt / IsInt64 / IsUint /
# IsUint64 checks in TF Serving (int8, int16 and uint8 come in through IsInt as well; here they
# must fit their own type rather than wrap).
_INT_RANGE = {
    tf.int32: (-(2**31), 2**31 - 1),
    tf.int16: (-(2**15), 2**15 - 1),
    tf.int8: (-128, 127),
    tf.uint8: (0, 255),
    tf.int64: (-(2**63), 2**63 - 1),
    tf.uint32: (0, 2**32 - 1),
    tf.uint64: (0, 2**64 - 1),
}
# The largest integer each float type holds exactly (json_tensor.cc IsLosslessDecimal).
_FLOAT_EXACT = {tf.float32: 2**24 - 1, tf.float64: 2**53 - 1}


def _to_array(value, spec: tf.TensorSpec, where: str) -> np.ndarray:
    dtype = spec.dtype
    if dtype == tf.string:
        return _string_array(value, where)
    if dtype not in _JSON_DTYPES:
        raise ServingError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"Conversion of JSON Value: {_short(_first_leaf(value))} to type: "
            f"{_tf_type_name(dtype)} (input {where})",
        )
    try:
        arr = np.asarray(value)
    except ValueError as e:  # ragged nesting
        raise invalid_argument(f"input {where}: lists of unequal sizes: {e}") from e
    kind = arr.dtype.kind
    if arr.size == 0:
        ok = True
    elif dtype.is_floating:
        ok = kind in "fiu" or _all_ints(arr)
    elif dtype.is_integer:
        ok = kind in "iu" or _all_ints(arr)
    else:  # bool
        ok = kind == "b"
    if not ok:
        raise invalid_argument(
            f"JSON Value: {_short(_first_bad(value, dtype))} Type: {_json_type(arr)} is not of "
            f"expected type: {_tf_type_name(dtype)} (input {where})"
        )
    if kind == "O":  # Python ints beyond 64 bits: numpy kept them as objects
        if dtype.is_integer:
            _check_int_range(arr, dtype, where)
        else:
            _check_exact_float(arr, dtype, where)
        return arr.astype(dtype.as_numpy_dtype)
    if dtype.is_integer:
        _check_int_range(arr, dtype, where)
    elif kind in "iu":
        _check_exact_float(arr, dtype, where)
    elif dtype == tf.float32:
        finite = arr[np.isfinite(arr)]
        if finite.size and np.abs(finite).max() > np.finfo(np.float32).max:
            bad = finite[np.abs(finite) > np.finfo(np.float32).max][0]
            raise invalid_argument(
                f"Cannot convert JSON value: {bad!r} to float without loss of precision. "
                f"(input {where})"
            )
    return arr.astype(dtype.as_numpy_dtype, copy=False)


def _all_ints(arr: np.ndarray) -> bool:
    return arr.dtype == object and all(
        isinstance(x, int) and not isinstance(x, bool) for x in arr.flat
    )


def _check_int_range(arr: np.ndarray, dtype: tf.DType, where: str):
    low, high = _INT_RANGE[dtype]
    values = arr.astype(object) if arr.dtype.kind != "O" else arr
    lo, hi = min(values.flat), max(values.flat)
    if lo < low or hi > high:
        bad = lo if lo < low else hi
        raise invalid_argument(
            f"JSON Value: {bad} Type: Number is not of expected type: {_tf_type_name(dtype)} "
            f"(out of range; input {where})"
        )


def _check_exact_float(arr: np.ndarray, dtype: tf.DType, where: str):
    limit = _FLOAT_EXACT[dtype]
    values = arr.astype(object) if arr.dtype.kind != "O" else arr
    for x in values.flat:
        if abs(int(x)) > limit:
            name = "float" if dtype == tf.float32 else "double"
            raise invalid_argument(
                f"Cannot convert JSON value: {x} to {name} without loss of precision. "
                f"(input {where})"
            )


def _first_leaf(value):
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _first_bad(value, dtype: tf.DType):
    """The first leaf JSON value that is not of the dtype's JSON kind (for the message)."""
    stack = [value]
    while stack:
        v = stack.pop(0)
        if isinstance(v, list):
            stack[:0] = v
            continue
        if dtype == tf.bool:
            if not isinstance(v, bool):
                return v
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            return v
        elif dtype.is_integer and isinstance(v, float):
            return v
    return value


def _tf_type_name(dtype: tf.DType) -> str:
    # TensorFlow's DataTypeString names (float16 is "half" there).
    return {tf.float16: "half", tf.float32: "float", tf.float64: "double"}.get(dtype, dtype.name)


def _string_array(value, where: str) -> np.ndarray:
    def decode(v):
        if isinstance(v, list):
            return [decode(x) for x in v]
        if isinstance(v, str):
            return v.encode("utf-8")
        if _is_b64(v):
            text = v[_B64]
            try:
                # Padding is optional, as absl::Base64Unescape (TF Serving) treats it.
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except binascii.Error as e:
                raise invalid_argument(f"Unable to base64 decode (input {where})") from e
        raise invalid_argument(
            f"JSON Value: {_short(v)} is not of expected type: string (input {where})"
        )

    decoded = decode(value)
    try:
        arr = np.array(decoded, dtype=object)
    except ValueError as e:
        raise invalid_argument(f"input {where}: lists of unequal sizes: {e}") from e
    if arr.dtype != object or any(isinstance(x, list) for x in arr.flat):
        raise invalid_argument(f"input {where}: lists of unequal sizes")
    return arr


def _json_type(arr: np.ndarray) -> str:
    return {"U": "String", "b": "Boolean", "O": "Object"}.get(arr.dtype.kind, "Number")


def _short(value, limit: int = 120) -> str:
    text = json.dumps(value)[: limit + 1]
    return text if len(text) <= limit else text[:limit] + "..."


# -- answers -----------------------------------------------------------------------------------


def _jsonable(name: str, arr: np.ndarray):
    if arr.dtype == object or arr.dtype.kind == "S":
        as_b64 = name.endswith(_BYTES_SUFFIX)

        def convert(x):
            if isinstance(x, list):
                return [convert(v) for v in x]
            if as_b64:
                return {_B64: base64.b64encode(x).decode("ascii")}
            return x.decode("utf-8", errors="replace")

        return convert(arr.tolist())
    return arr.tolist()


def predict_answer(outputs: dict, fmt: str) -> bytes:
    """The JSON answer of a predict request.

    Args:
        outputs: {output name: np.ndarray}, batched along axis 0.
        fmt: ROW ("predictions": one entry per batch element) or COLUMNAR ("outputs").
    """
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    if fmt == ROW:
        batch = None
        for name in names:
            if outputs[name].ndim == 0:
                raise invalid_argument(f"Tensor name: {name} has no shape information ")
            if batch is not None and outputs[name].shape[0] != batch:
                raise invalid_argument(
                    f"Tensor name: {name} has inconsistent batch size: {outputs[name].shape[0]} "
                    f"expecting: {batch}"
                )
            batch = outputs[name].shape[0]
        values = {name: _jsonable(name, outputs[name]) for name in names}
        if len(names) == 1:
            predictions = values[names[0]]
        else:
            predictions = [{name: values[name][i] for name in names} for i in range(batch)]
        return json.dumps({"predictions": predictions}).encode()
    values = {name: _jsonable(name, outputs[name]) for name in names}
    body = values[names[0]] if len(names) == 1 else values
    return json.dumps({"outputs": body}).encode()


def error_answer(message: str) -> bytes:
    """TF Serving's error body: {"error": message}."""
    return json.dumps({"error": message}).encode()
