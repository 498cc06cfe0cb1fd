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


def read_signature_defs(saved_model_dir: str) -> dict:
    """The SignatureDef protos of the SavedModel's (first) meta graph, by signature key.

    Args:
        saved_model_dir: a SavedModel directory (holding `saved_model.pb`); may be remote.
    """
    path = storage.join(saved_model_dir, "saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(storage.read_bytes(path))
    if not proto.meta_graphs:
        raise ValueError(f"{path} holds no meta graph")
    return dict(proto.meta_graphs[0].signature_def)


class LoadedVersion:
    """A SavedModel version loaded in this process, ready to answer Predict.

    Args:
        model_name: the name clients address the model by.
        version: the integer version (the directory name under the base path).
        path: the SavedModel directory.
    """

    def __init__(self, model_name: str, version: int, path: str):
        self.model_name = model_name
        self.version = version
        self.path = path
        self.warmup_requests_replayed = 0  # set by the ModelManager after warmup
        self.signature_defs = read_signature_defs(path)
        self._loaded = tf.saved_model.load(path)
        self._functions = dict(self._loaded.signatures)
        # {signature: {input name: tf.TensorSpec}}; signatures are called with keywords only.
        self.input_specs = {
            name: dict(fn.structured_input_signature[1]) for name, fn in self._functions.items()
        }

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

    def predict(
        self, inputs: dict, signature_name: str = "", output_filter=()
    ) -> tuple[str, dict]:
        """Runs one signature on numpy inputs.

        Args:
            inputs: {input name: np.ndarray}.
            signature_name: the signature key; empty means serving_default.
            output_filter: output names to return (all when empty).

        Returns:
            (the resolved signature key, {output name: np.ndarray}).
        """
        name = self.resolve_signature(signature_name)
        specs = self.input_specs[name]
        self._check_input_names(specs, inputs)
        outputs_wanted = self._check_output_filter(name, output_filter)
        feed = {}
        for alias, spec in specs.items():
            feed[alias] = self._checked_tensor(alias, spec, inputs[alias])
        try:
            result = self._functions[name](**feed)
        except tf.errors.OpError as e:
            raise ServingError(code_from_number(e.error_code), e.message) from e
        except (TypeError, ValueError) as e:
            raise invalid_argument(f"signature {name!r} rejected the inputs: {e}") from e
        return name, {k: result[k].numpy() for k in outputs_wanted or result}

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
    def _checked_tensor(alias: str, spec: tf.TensorSpec, value: np.ndarray) -> tf.Tensor:
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
        return tf.constant(value, dtype=spec.dtype)
