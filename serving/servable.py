"""One loaded version of a SavedModel, served by its signatures.

`LoadedVersion` knows nothing about the model it serves: it reads the signature defs from
`saved_model.pb` (for metadata, exactly what TF Serving returns), loads the graph with
`tf.saved_model.load` and checks each request against the signature's input specs before calling
it, so a bad request gets TF Serving's status code and a message naming the input.
"""

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from serving.errors import ServingError, code_from_number, invalid_argument
from vre_common import storage

DEFAULT_SIGNATURE = "serving_default"


def _shape_str(shape) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def read_signature_defs(saved_model_dir: str, tags=None) -> dict:
    """The SignatureDef protos of the SavedModel's meta graph, by signature key.

    Args:
        saved_model_dir: a SavedModel directory (holding `saved_model.pb`; may be remote).
        tags: the meta graph's tags (`--saved_model_tags`); None: the first meta graph.
    """
    path = storage.join(saved_model_dir, "saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(storage.read_bytes(path))
    if not proto.meta_graphs:
        raise ValueError(f"{path} holds no meta graph")
    if not tags:
        return dict(proto.meta_graphs[0].signature_def)
    for meta_graph in proto.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return dict(meta_graph.signature_def)
    found = [sorted(m.meta_info_def.tags) for m in proto.meta_graphs]
    raise ValueError(f"{path} has no meta graph tagged {sorted(tags)} (it has {found})")


class LoadedVersion:
    """A SavedModel version loaded in this process, ready to answer Predict.

    Args:
        model_name: the name clients address the model by.
        version: the integer version (the directory name under the base path).
        path: the SavedModel directory (local or remote).
        tags: the meta graph tags to load (`--saved_model_tags`; None: "serve").
    """

    def __init__(self, model_name: str, version: int, path: str, tags=None):
        self.model_name = model_name
        self.version = version
        self.path = path
        self.warmup_requests_replayed = 0  # set by the ModelManager after warmup
        self.signature_defs = read_signature_defs(path, tags)
        self._loaded = tf.saved_model.load(path, tags=list(tags) if tags else None)
        self._functions = dict(self._loaded.signatures)
        # {signature: {input name: tf.TensorSpec}}; signatures are called with keywords only.
        self.input_specs = {
            name: dict(fn.structured_input_signature[1]) for name, fn in self._functions.items()
        }

    def method_name(self, signature_name: str) -> str:
        """The SignatureDef's method_name (e.g. tensorflow/serving/predict)."""
        name = self.resolve_signature(signature_name)
        return self.signature_defs[name].method_name if name in self.signature_defs else ""

    @property
    def signature_names(self) -> list[str]:
        return sorted(self._functions)

    def resolve_signature(self, signature_name: str) -> str:
        """The signature key a request means ('' is serving_default), or FAILED_PRECONDITION."""
        name = signature_name or DEFAULT_SIGNATURE
        if name not in self._functions:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'Serving signature key "{name}" not found.',
            )
        return name

    def predict(self, inputs: dict, signature_name: str = "", output_filter=()) -> tuple[str, dict]:
        """Runs one signature on numpy inputs.

        Args:
            inputs: {input name: np.ndarray}.
            signature_name: the signature key; empty means serving_default.
            output_filter: output names to return (all when empty).

        Returns:
            (the resolved signature key, {output name: np.ndarray}).
        """
        call = self.prepare(inputs, signature_name, output_filter)
        return call.signature, call.select(self.run(call.signature, call.inputs))

    def prepare(self, inputs: dict, signature_name: str = "", output_filter=()) -> "PreparedCall":
        """Checks a request against the signature (names, dtypes, shapes, output filter)."""
        name = self.resolve_signature(signature_name)
        specs = self.input_specs[name]
        self._check_input_names(specs, inputs)
        outputs_wanted = self._check_output_filter(name, output_filter)
        checked = {
            alias: self._checked_array(alias, spec, inputs[alias]) for alias, spec in specs.items()
        }
        return PreparedCall(name, checked, tuple(outputs_wanted))

    def run(self, signature: str, inputs: dict) -> dict:
        """Calls a signature on checked inputs: {output name: np.ndarray} (all outputs)."""
        specs = self.input_specs[signature]
        feed = {
            alias: tf.constant(value, dtype=specs[alias].dtype) for alias, value in inputs.items()
        }
        try:
            result = self._functions[signature](**feed)
        except tf.errors.OpError as e:
            raise ServingError(code_from_number(e.error_code), e.message) from e
        except (TypeError, ValueError) as e:
            raise invalid_argument(f"signature {signature!r} rejected the inputs: {e}") from e
        return {k: v.numpy() for k, v in result.items()}

    @staticmethod
    def _check_input_names(specs: dict, inputs: dict):
        wanted, sent = set(specs), set(inputs)
        if wanted == sent:
            return
        if len(sent) != len(wanted):
            # TF Serving's wording (predict_util.cc VerifyRequestInputsSize).
            raise invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(wanted)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
                f"Missing but required: {{{','.join(sorted(wanted - sent))}}}."
            )
        extra = sorted(sent - wanted)[0]
        raise invalid_argument(
            f"input tensor alias not found in signature: {extra}. "
            f"Inputs expected to be in the set {{{','.join(sorted(wanted))}}}."
        )

    def _check_output_filter(self, name: str, output_filter) -> list[str]:
        known = self._functions[name].structured_outputs
        seen = []
        for alias in output_filter:
            if alias not in known:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias} "
                    f"Outputs expected to be in the set {{{','.join(sorted(known))}}}."
                )
            if alias in seen:
                raise invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.append(alias)
        return seen

    @staticmethod
    def _checked_array(alias: str, spec: tf.TensorSpec, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        if spec.dtype == tf.string:
            ok = value.dtype == object or value.dtype.kind in "SU"
            got = "string" if ok else tf.as_dtype(value.dtype).name
        else:
            try:
                got_dtype = tf.as_dtype(value.dtype)
            except TypeError:
                got_dtype = None
            ok = got_dtype == spec.dtype
            got = got_dtype.name if got_dtype is not None else str(value.dtype)
        if not ok:
            raise invalid_argument(
                f"Expects arg '{alias}' to be {spec.dtype.name} but {got} is provided"
            )
        if not spec.shape.is_compatible_with(value.shape):
            raise invalid_argument(
                f"input '{alias}' has shape {_shape_str(value.shape)} but the signature "
                f"expects {_shape_str(spec.shape.as_list() if spec.shape.rank is not None else [])}"
            )
        return value


class PreparedCall:
    """A checked request: the signature key, its inputs and the outputs asked for.

    Args:
        signature: the resolved signature key.
        inputs: {input name: np.ndarray}, checked against the signature.
        output_filter: the output names wanted (empty: all).
    """

    def __init__(self, signature: str, inputs: dict, output_filter: tuple):
        self.signature = signature
        self.inputs = inputs
        self.output_filter = output_filter

    def select(self, outputs: dict) -> dict:
        return {k: outputs[k] for k in self.output_filter} if self.output_filter else outputs
