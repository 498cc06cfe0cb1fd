"""The one error type of the server: a gRPC status code and a message, as TF Serving reports them.

Both front ends raise and catch `ServingError`; gRPC answers with its code, REST maps it to an
HTTP status exactly as TF Serving's `ToHTTPStatusCode` does (model_servers/http_server.cc).
"""

import grpc

# TF Serving's mapping from status code to HTTP status (FAILED_PRECONDITION and OUT_OF_RANGE are
# client errors there, hence 400; RESOURCE_EXHAUSTED is 429).
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# TensorFlow's error codes are the gRPC codes by number (tensorflow/core/protobuf/error_codes).
_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request failed with a TF Serving status code.

    Args:
        code: the `grpc.StatusCode` to answer with.
        message: what went wrong, naming the input or model at fault.
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return http_status_for(self.code)

    def __repr__(self):
        return f"ServingError({self.code.name}, {self.message!r})"


def http_status_for(code: grpc.StatusCode) -> int:
    """The HTTP status TF Serving's REST API answers for a status code."""
    return _HTTP_STATUS.get(code, 500)


def code_from_number(number: int) -> grpc.StatusCode:
    """The gRPC status code with this number (TensorFlow's `OpError.error_code`)."""
    return _CODE_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)
