"""posenc._errors - the exceptions: one posenc.Error subclass per libposenc status code, plus ConfigError."""

__all__ = [
    "Error", "NullError", "DimError", "ShapeError", "StrideError", "OverlapError", "EnumError", "ParamError",
    "RangeError", "StructSizeError", "NoMemError", "UnsupportedError", "ConfigError", "LibraryError",
    "error_class",
]


class Error(Exception):
    """A libposenc call returned an error status.

    Attributes: ``code`` (the ``POSENC_ERR_*`` value, an int < 0), ``message`` (``posenc_strerror``'s
    sentence) and ``function`` (the C function that returned it).
    """

    code = None  # the status this class stands for (None: not a C status)

    def __init__(self, message, code=None, function=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.function = function

    def __str__(self):
        if self.function:
            return "%s: %s" % (self.function, self.message)
        return self.message


class NullError(Error, ValueError):
    """POSENC_ERR_NULL: a required pointer argument is NULL."""
    code = -1


class DimError(Error, ValueError):
    """POSENC_ERR_DIM: head_dim / rotary_dim invalid."""
    code = -2


class ShapeError(Error, ValueError):
    """POSENC_ERR_SHAPE: a count is zero where it may not be, or sizes overflow."""
    code = -3


class StrideError(Error, ValueError):
    """POSENC_ERR_STRIDE: strides make two rows overlap."""
    code = -4


class OverlapError(Error, ValueError):
    """POSENC_ERR_OVERLAP: the destination partially overlaps a source."""
    code = -5


class EnumError(Error, ValueError):
    """POSENC_ERR_ENUM: unknown enum value or flag bit."""
    code = -6


class ParamError(Error, ValueError):
    """POSENC_ERR_PARAM: a numeric parameter is non-finite, non-positive or inconsistent."""
    code = -7


class RangeError(Error, ValueError):
    """POSENC_ERR_RANGE: a position lies outside the documented range."""
    code = -8


class StructSizeError(Error):
    """POSENC_ERR_STRUCT_SIZE: a size-tagged struct has a size the library does not accept."""
    code = -9


class NoMemError(Error, MemoryError):
    """POSENC_ERR_NOMEM: memory allocation failed (plan creation only)."""
    code = -10


class UnsupportedError(Error):
    """POSENC_ERR_UNSUPPORTED: unknown ISA name, or an ISA this CPU / build does not support."""
    code = -11


class ConfigError(Error, ValueError):
    """A Hugging Face configuration that RopePlan.from_hf_config cannot map. ``field`` names the culprit."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class LibraryError(OSError):
    """libposenc could not be found or loaded; the message lists every place that was tried."""


_BY_CODE = {cls.code: cls for cls in (NullError, DimError, ShapeError, StrideError, OverlapError, EnumError,
                                      ParamError, RangeError, StructSizeError, NoMemError, UnsupportedError)}


def error_class(code):
    """The Error subclass for a status code (Error itself for a code this package does not know)."""
    return _BY_CODE.get(code, Error)
