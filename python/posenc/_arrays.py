"""posenc._arrays - zero-copy views of numpy arrays, __array_interface__ objects and DLPack tensors (torch, ...)."""

import ctypes

import numpy as np

__all__ = ["DType", "DTYPES", "Tensor", "as_tensor", "as_index_array", "as_param_array"]


class DType:
    """One element type the kernels may compute on.

    name: numpy-style name; code: its POSENC_F32 / POSENC_F16 / POSENC_BF16 value; storage: the numpy dtype
    holding its bits; dlpack: (type code, bits) in DLPack; numpy_native: numpy's dtype identifies it (bfloat16
    has no numpy dtype: it reaches the package through DLPack, e.g. torch.bfloat16, and is held as uint16).
    float32 runs on every library; the others need the 0.2 calls on tensor views (Library.tensor_api).
    """

    def __init__(self, name, code, storage, dlpack, numpy_native):
        self.name = name
        self.code = code
        self.storage = np.dtype(storage)
        self.dlpack = dlpack
        self.numpy_native = numpy_native
        self.itemsize = self.storage.itemsize

    def __repr__(self):
        return "posenc dtype %s" % self.name


# Adding an element type is one row here (and its code in the library).
DTYPES = (
    DType("float32", 0, np.float32, (2, 32), True),
    DType("float16", 1, np.float16, (2, 16), True),
    DType("bfloat16", 2, np.uint16, (4, 16), False),
)
FLOAT32 = DTYPES[0]

_BY_NUMPY = {d.storage: d for d in DTYPES if d.numpy_native}
_BY_DLPACK = {d.dlpack: d for d in DTYPES}

# DLPack element types numpy can hold (for index and parameter arrays; kDLInt 0, kDLUInt 1, kDLFloat 2, kDLBool 6).
_DLPACK_NUMPY = {(0, 8): "i1", (0, 16): "i2", (0, 32): "i4", (0, 64): "i8",
                 (1, 8): "u1", (1, 16): "u2", (1, 32): "u4", (1, 64): "u8",
                 (2, 16): "f2", (2, 32): "f4", (2, 64): "f8", (6, 8): "?", (4, 16): "u2"}


# ---- DLPack (the pre-1.0 ABI every producer still exports by default: the "dltensor" capsule) ----------------
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


_KDL_CPU = 1
_DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal", 9: "vpi", 10: "rocm",
                 13: "cuda_managed", 14: "oneapi"}

_capsule_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_IsValid", ctypes.pythonapi))
_capsule_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))


class _Exported:
    """Keeps a DLPack producer and its capsule alive for as long as numpy views of its memory exist.

    The capsule keeps its name "dltensor", so its own destructor calls the producer's deleter when this object
    goes away (the DLPack rule for a capsule its consumer did not rename).
    """

    def __init__(self, interface, owner, capsule):
        self.__array_interface__ = interface
        self._owner = owner
        self._capsule = capsule


def _from_dlpack(obj, name):
    """A numpy view (no copy, writable) of a DLPack tensor's memory, and its (type code, bits)."""
    device = obj.__dlpack_device__()
    device_type = int(device[0])
    if device_type != _KDL_CPU:
        raise ValueError("%s lives on device %s (DLPack device type %d): libposenc runs on the CPU; move it with "
                         ".cpu() first" % (name, _DEVICE_NAMES.get(device_type, "?"), device_type))
    try:
        capsule = obj.__dlpack__()
    except Exception as exc:  # e.g. torch: "Can't export tensors that require gradient, use tensor.detach()"
        raise TypeError("%s: cannot share its memory through DLPack: %s" % (name, exc)) from exc
    if not _capsule_is_valid(capsule, b"dltensor"):
        raise TypeError("%s.__dlpack__() did not return an unconsumed 'dltensor' capsule" % name)
    managed = _DLManagedTensor.from_address(_capsule_get_pointer(capsule, b"dltensor"))
    t = managed.dl_tensor
    key = (t.dtype.code, t.dtype.bits)
    if t.dtype.lanes != 1 or key not in _DLPACK_NUMPY:
        raise TypeError("%s has DLPack type code %d, %d bits, %d lanes: not an element type numpy or libposenc "
                        "handles" % (name, t.dtype.code, t.dtype.bits, t.dtype.lanes))
    storage = np.dtype(_DLPACK_NUMPY[key])
    shape = tuple(t.shape[i] for i in range(t.ndim))
    if t.strides:
        strides = tuple(t.strides[i] * storage.itemsize for i in range(t.ndim))
    else:
        strides = None   # compact row-major
    if 0 in shape or not t.data:
        return np.empty(shape, storage), key
    interface = {"version": 3, "shape": shape, "typestr": storage.str, "strides": strides,
                 "data": (t.data + t.byte_offset, False)}
    return np.asarray(_Exported(interface, obj, capsule)), key


# ---- tensors ------------------------------------------------------------------------------------------------
class Tensor:
    """A validated view: ``array`` (numpy, storage dtype), ``dtype`` (DType), ``strides`` (in elements),
    ``ptr`` (address of element 0) and ``source`` (the object the caller passed)."""

    __slots__ = ("array", "dtype", "strides", "ptr", "source")

    def __init__(self, array, dtype, source):
        self.array = array
        self.dtype = dtype
        self.source = source
        item = dtype.itemsize
        if array.size == 0:      # nothing is addressed: report the strides of a packed array of this shape
            dims = [max(n, 1) for n in array.shape]
            self.strides = tuple(int(np.prod(dims[i + 1:], dtype=np.int64)) for i in range(len(dims)))
        else:
            self.strides = tuple(s // item if n > 1 else 0 for s, n in zip(array.strides, array.shape))
        self.ptr = array.ctypes.data

    @property
    def shape(self):
        return self.array.shape


def _layout_problem(array):
    """Why the kernels cannot address `array` directly, or None. Axes of length <= 1 have no stride to check."""
    item = array.dtype.itemsize
    if array.size == 0:
        return None
    for axis, (n, s) in enumerate(zip(array.shape, array.strides)):
        if n <= 1:
            continue
        if s < 0:
            return "axis %d has a negative stride (%d bytes)" % (axis, s)
        if s % item:
            return "axis %d has a stride of %d bytes, not a whole number of %d-byte elements" % (axis, s, item)
    if array.ndim and array.shape[-1] > 1 and array.strides[-1] != item:
        return "its last axis is not contiguous (stride %d bytes, element %d bytes)" % (array.strides[-1], item)
    return None


def _adapt(obj, name):
    """(numpy array sharing obj's memory, DType or None, DLPack key or None); TypeError if obj is no array."""
    if isinstance(obj, np.ndarray):
        return obj, _BY_NUMPY.get(obj.dtype), None
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        array, key = _from_dlpack(obj, name)
        return array, _BY_DLPACK.get(key), key
    if hasattr(obj, "__array_interface__") or hasattr(obj, "__array_struct__"):
        array = np.asarray(obj)
        return array, _BY_NUMPY.get(array.dtype), None
    return None, None, None


def _accepted_names():
    return ", ".join(d.name for d in DTYPES)


def as_tensor(obj, name, writable=False, copy=False):
    """Validate `obj` as a kernel operand and return a Tensor sharing its memory.

    Accepts numpy arrays, objects with __array_interface__ / __array_struct__, and DLPack tensors (torch:
    zero-copy, without importing torch). The element type must be one of DTYPES, every stride a non-negative
    whole number of elements and the last axis contiguous. With copy=True an input (writable=False) that fails
    these (or is a list, or another dtype) is converted to a contiguous float32 copy instead of refused.
    """
    array, dtype, key = _adapt(obj, name)
    if array is None:
        if copy and not writable:
            return Tensor(np.ascontiguousarray(obj, dtype=np.float32), FLOAT32, obj)
        raise TypeError("%s must be an array (numpy, an object with __array_interface__, or a DLPack tensor such "
                        "as torch.Tensor), not %s; pass copy=True to convert other inputs" % (name,
                                                                                           type(obj).__name__))
    if dtype is None:
        if copy and not writable:
            array = np.ascontiguousarray(array, dtype=np.float32)
            return Tensor(array, FLOAT32, obj)
        what = array.dtype.name if key is None else "DLPack code %d/%d bits" % key
        raise TypeError("%s has element type %s; libposenc computes on %s%s" % (
            name, what, _accepted_names(), "" if writable else " (copy=True converts inputs to float32)"))
    problem = _layout_problem(array)
    if problem:
        if writable or not copy:
            raise ValueError("%s cannot be passed without a copy: %s. Strides must be non-negative whole "
                             "elements with a contiguous last axis%s" % (
                                 name, problem, "" if writable else "; copy=True makes a contiguous copy"))
        array = np.ascontiguousarray(array)   # bit for bit, also for bfloat16's uint16 storage
    if writable and not array.flags.writeable:
        raise ValueError("%s is read-only" % name)
    return Tensor(array, dtype, obj)


def as_index_array(obj, name):
    """A C-contiguous int64 copy-or-view of integer positions (lists, numpy, DLPack). Positions are small
    parameters: they are converted, never refused for their layout."""
    array, _, _ = _adapt(obj, name)
    if array is None:
        array = np.asarray(obj)
    if array.dtype.kind == "b" or (array.dtype.kind not in "iu" and array.size):
        raise TypeError("%s must hold integers, not %s" % (name, array.dtype.name))
    if array.dtype.kind == "u" and array.size and array.dtype.itemsize == 8 and array.max() > np.iinfo(np.int64).max:
        raise OverflowError("%s has values above the int64 range" % name)
    return np.ascontiguousarray(array, dtype=np.int64)


def as_param_array(obj, name, dtype, length):
    """A C-contiguous copy-or-view of a small parameter vector (slopes, sinks, factors) of exactly `length`."""
    array, _, _ = _adapt(obj, name)
    if array is None:
        array = np.asarray(obj)
    if array.dtype.kind not in "fiu":
        raise TypeError("%s must hold numbers, not %s" % (name, array.dtype.name))
    if array.ndim > 1:
        raise ValueError("%s must be one-dimensional, not of shape %s" % (name, array.shape))
    array = np.ascontiguousarray(array, dtype=dtype).reshape(-1)
    if length is not None and array.shape[0] != length:
        raise ValueError("%s has %d entries, expected %d" % (name, array.shape[0], length))
    return array
