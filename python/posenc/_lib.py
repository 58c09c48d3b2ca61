"""posenc._lib - finds and loads libposenc.so, declares its ctypes signatures and struct mirrors, probes features."""

import ctypes
import ctypes.util
import glob
import os
import threading

from ._errors import LibraryError, error_class

__all__ = ["Library", "load", "library", "ENV_VAR", "SONAME"]

ENV_VAR = "POSENC_LIBRARY"
SONAME = "libposenc.so.0"

# ---- constants, as in include/posenc.h -------------------------------------------------------------------------
OK = 0
ERR_STRUCT_SIZE = -9
ERR_UNSUPPORTED = -11

ROPE_INVERSE = 1
ROPE_NO_MSCALE = 2
ROPE_SAME_POSITION = 4

PAIRING = {"half": 0, "interleaved": 1}
SCALING = {"none": 0, "linear": 1, "ntk": 2, "dynamic_ntk": 3, "yarn": 4, "llama3": 5, "longrope": 6,
           "freq_factors": 7}
AXES = {"1d": 0, "mrope": 1, "mrope_interleaved": 2, "vision_2d": 3}

POSITION_NONE, POSITION_CAUSAL, POSITION_SYMMETRIC = 0, 1, 2
POSITION_GRID_EUCLIDEAN, POSITION_GRID_MANHATTAN = 3, 4
SLOPES_NONE, SLOPES_ALIBI, SLOPES_CUSTOM = 0, 1, 2
SOFTMAX_EXACT, SOFTMAX_FAST = 0, 1

MAX_HEAD_DIM = 1024
MAX_POSITION = 2**31 - 1

_double_p = ctypes.POINTER(ctypes.c_double)
_void_p = ctypes.c_void_p


# ---- struct mirrors ---------------------------------------------------------------------------------------------
# Each lists the fields in header order. Fields appended in later library versions follow the first-release ones;
# a field is usable only when the loaded library accepts a struct_size that covers it (Library.has_field), so the
# mirror may run ahead of an older library. tests/python/test_header.py checks the order against posenc.h.

class RopeConfig(ctypes.Structure):
    """Mirror of posenc_rope_config."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("head_dim", ctypes.c_uint32),
        ("rotary_dim", ctypes.c_uint32),
        ("pairing", ctypes.c_int32),
        ("base", ctypes.c_double),
        ("scaling", ctypes.c_int32),
        ("axes", ctypes.c_int32),
        ("factor", ctypes.c_double),
        ("original_max_position", ctypes.c_double),
        ("sequence_length", ctypes.c_double),
        ("beta_fast", ctypes.c_double),
        ("beta_slow", ctypes.c_double),
        ("attention_factor", ctypes.c_double),
        ("mscale", ctypes.c_double),
        ("mscale_all_dim", ctypes.c_double),
        ("low_freq_factor", ctypes.c_double),
        ("high_freq_factor", ctypes.c_double),
        ("short_factors", _double_p),
        ("long_factors", _double_p),
        ("use_long_factors", ctypes.c_int32),
        ("n_sections", ctypes.c_int32),
        ("sections", ctypes.c_int32 * 4),
        ("freq_factors", _double_p),
        # appended in 0.2: YaRN truncate, 1 (default, HF's true) floors / ceils the correction range
        ("truncate", ctypes.c_int32),
    ]


ROPE_CONFIG_FIRST_FIELDS = 23   # posenc_rope_config as released in 0.1 ends with freq_factors


class SoftmaxDesc(ctypes.Structure):
    """Mirror of posenc_softmax_desc."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("position", ctypes.c_int32),
        ("slopes_mode", ctypes.c_int32),
        ("scale", ctypes.c_float),
        ("max_bias", ctypes.c_float),
        ("reserved0", ctypes.c_int32),
        ("slopes", _void_p),
        ("q_pos0", ctypes.c_int64),
        ("k_pos0", ctypes.c_int64),
        ("mask", _void_p),
        ("mask_row_stride", ctypes.c_size_t),
        ("mask_head_stride", ctypes.c_size_t),
        ("sinks", _void_p),
        # appended in 0.2
        ("q_positions", _void_p),
        ("parallel", _void_p),
        ("stats", _void_p),
        ("mask_dtype", ctypes.c_int32),
        ("precision", ctypes.c_int32),
        ("k_positions", _void_p),
        ("grid_width", ctypes.c_int32),
        ("grid_prefix", ctypes.c_int32),
    ]


SOFTMAX_DESC_FIRST_FIELDS = 13  # posenc_softmax_desc as released in 0.1 ends with sinks


class TensorView(ctypes.Structure):
    """Mirror of posenc_tensor (0.2, frozen)."""
    _fields_ = [
        ("data", _void_p),
        ("dtype", ctypes.c_int32),
        ("reserved", ctypes.c_uint32),
        ("stride_a", ctypes.c_size_t),
        ("stride_b", ctypes.c_size_t),
    ]


class RopeArgs(ctypes.Structure):
    """Mirror of posenc_rope_args (0.2)."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("positions", _void_p),
        ("position_axis_stride", ctypes.c_size_t),
        ("start_pos", ctypes.c_int64),
        ("parallel", _void_p),
    ]


ROPE_ARGS_FIRST_FIELDS = 6


class ParallelHook(ctypes.Structure):
    """Mirror of posenc_parallel (0.2, frozen): the caller's thread pool. parallel_for is the address of a
    C-callable void (*)(void *pool, size_t n_tasks, posenc_task_fn fn, void *task_arg); posenc._pool makes it."""
    _fields_ = [
        ("parallel_for", _void_p),
        ("pool", _void_p),
        ("max_tasks", ctypes.c_size_t),
    ]


def _prefix_size(struct, n_fields):
    """struct_size of the first n_fields fields: up to the next field's offset (or the whole struct), so the
    size covers the padding a C compiler puts there (the library wants multiples of 8)."""
    fields = struct._fields_
    if n_fields < len(fields):
        return getattr(struct, fields[n_fields][0]).offset
    return ctypes.sizeof(struct)


# ---- signatures -------------------------------------------------------------------------------------------------
_size, _i64, _u32, _status = ctypes.c_size_t, ctypes.c_int64, ctypes.c_uint32, ctypes.c_int

_SIGNATURES = {
    # name: (restype, argtypes, required)
    "posenc_strerror": (ctypes.c_char_p, [_status], True),
    "posenc_version": (ctypes.c_char_p, [], True),
    "posenc_version_number": (ctypes.c_uint32, [], True),
    "posenc_isa": (ctypes.c_char_p, [], True),
    "posenc_isa_count": (_size, [], True),
    "posenc_isa_name": (ctypes.c_char_p, [_size], True),
    "posenc_isa_supported": (ctypes.c_int, [_size], True),
    "posenc_set_isa": (_status, [ctypes.c_char_p], True),
    "posenc_isa_forced": (ctypes.c_int, [], False),
    "posenc_rope_config_init": (_status, [_void_p, _size], True),
    "posenc_rope_plan_create": (_status, [_void_p, ctypes.POINTER(_void_p)], True),
    "posenc_rope_plan_destroy": (None, [_void_p], True),
    "posenc_rope_plan_info": (_status, [_void_p, _void_p, _size, _double_p], True),
    "posenc_rope_plan_axes": (_size, [_void_p], True),
    "posenc_rope_apply": (_status, [_void_p, _void_p, _size, _size, _size, _size, _void_p, _i64, _u32], True),
    "posenc_rope_apply_to": (_status, [_void_p, _void_p, _size, _size, _void_p, _size, _size, _size, _size,
                                       _void_p, _i64, _u32], True),
    "posenc_rope_apply_qk": (_status, [_void_p, _void_p, _size, _size, _size, _void_p, _size, _size, _size,
                                       _size, _void_p, _i64, _u32], True),
    "posenc_rope_shift": (_status, [_void_p, _void_p, _size, _size, _size, _size, _i64, _u32], True),
    "posenc_rope_apply_tables": (_status, [_void_p, _void_p, _size, _size, _void_p, _size, _size, _size, _size,
                                           _void_p, _void_p, _size, _u32], True),
    "posenc_softmax_desc_init": (_status, [_void_p, _size], True),
    "posenc_alibi_slopes": (_status, [_size, ctypes.c_float, _void_p], True),
    "posenc_softmax": (_status, [_void_p, _void_p, _size, _size, _void_p, _size, _size, _size, _size, _size],
                       True),
    # 0.2: tensor views
    "posenc_rope_args_init": (_status, [_void_p, _size], False),
    "posenc_rope_rotate": (_status, [_void_p, _void_p, _void_p, _void_p, _size, _size], False),
    "posenc_rope_rotate_qk": (_status, [_void_p, _void_p, _void_p, _void_p, _void_p, _void_p, _size, _size, _size],
                              False),
    "posenc_rope_rotate_tables": (_status, [_void_p, _void_p, _void_p, _void_p, _void_p, _size, _void_p, _size,
                                            _size], False),
    "posenc_softmax_forward": (_status, [_void_p, _void_p, _void_p, _size, _size, _size], False),
    # 0.2: training and split-K (desc.stats is their forward half)
    "posenc_softmax_backward": (_status, [_void_p, _void_p, _void_p, _void_p, _size, _size, _size], False),
    "posenc_softmax_merge": (_status, [_void_p, _void_p, _void_p, _void_p, _size, _size, _size, _size], False),
    "posenc_softmax_merge_concat": (_status, [_void_p, _void_p, _void_p, _void_p, _void_p, _size, _size, _size,
                                              _size], False),
}

_TENSOR_API = ("posenc_rope_args_init", "posenc_rope_rotate", "posenc_rope_rotate_qk", "posenc_rope_rotate_tables",
               "posenc_softmax_forward")


class Library:
    """One loaded libposenc: its functions (as attributes, e.g. ``lib.posenc_isa()``), version and features.

    Attributes: ``path`` (what was loaded), ``version`` ("0.2.0"), ``version_number`` (200),
    ``rope_config_size`` / ``softmax_desc_size`` / ``rope_args_size`` (the struct sizes this library accepts
    from this package's mirrors: the first-release size or more), ``tensor_api`` (True when the 0.2 calls on
    tensor views exist: any element type, axis-major positions; the package then uses them. Tests set it to
    False to drive the 0.1 calls of the same library).
    """

    def __init__(self, path):
        self.path = os.path.abspath(path) if os.sep in path else path     # a loader name stays a name
        self._cdll = ctypes.CDLL(self.path)
        missing = []
        for name, (restype, argtypes, required) in _SIGNATURES.items():
            try:
                fn = getattr(self._cdll, name)
            except AttributeError:
                if required:
                    missing.append(name)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        if missing:
            raise LibraryError("%s is not libposenc 0.1 or later: missing %s" % (path, ", ".join(missing)))
        self.version = self.posenc_version().decode()
        self.version_number = int(self.posenc_version_number())
        self.rope_config_size = self._accepted_size(RopeConfig, ROPE_CONFIG_FIRST_FIELDS,
                                                    self.posenc_rope_config_init)
        self.softmax_desc_size = self._accepted_size(SoftmaxDesc, SOFTMAX_DESC_FIRST_FIELDS,
                                                     self.posenc_softmax_desc_init)
        self.tensor_api = all(hasattr(self, name) for name in _TENSOR_API)
        self.rope_args_size = (self._accepted_size(RopeArgs, ROPE_ARGS_FIRST_FIELDS, self.posenc_rope_args_init)
                               if self.tensor_api else 0)

    @staticmethod
    def _accepted_size(struct, first_fields, init):
        """The largest prefix of the mirror (whole fields) that init() accepts; LibraryError if none."""
        for n in range(len(struct._fields_), first_fields - 1, -1):
            size = _prefix_size(struct, n)
            probe = struct()
            if init(ctypes.byref(probe), size) == OK:
                return size
        raise LibraryError("%s refuses the first-release size of %s" % (init.__name__, struct.__name__))

    def has(self, symbol):
        """True if the library exports `symbol` (e.g. "posenc_rope_rotate", added in 0.2)."""
        return hasattr(self, symbol) or hasattr(self._cdll, symbol)

    def has_field(self, struct, field):
        """True if this library reads `field` of `struct` (RopeConfig, SoftmaxDesc or RopeArgs): the mirror has
        it and the library accepts a struct_size that covers it."""
        if field not in [f[0] for f in struct._fields_]:
            return False
        end = getattr(struct, field).offset + getattr(struct, field).size
        accepted = {RopeConfig: self.rope_config_size, SoftmaxDesc: self.softmax_desc_size,
                    RopeArgs: self.rope_args_size}[struct]
        return end <= accepted

    def strerror(self, status):
        return self.posenc_strerror(status).decode()

    def check(self, status, function):
        """Raise the Error subclass for `status` (nothing for POSENC_OK)."""
        if status != OK:
            raise error_class(status)(self.strerror(status), status, function)

    def new_rope_config(self):
        cfg = RopeConfig()
        self.check(self.posenc_rope_config_init(ctypes.byref(cfg), self.rope_config_size),
                   "posenc_rope_config_init")
        return cfg

    def new_softmax_desc(self):
        desc = SoftmaxDesc()
        self.check(self.posenc_softmax_desc_init(ctypes.byref(desc), self.softmax_desc_size),
                   "posenc_softmax_desc_init")
        return desc

    def new_rope_args(self):
        args = RopeArgs()
        self.check(self.posenc_rope_args_init(ctypes.byref(args), self.rope_args_size), "posenc_rope_args_init")
        return args

    def __repr__(self):
        return "<posenc.Library %s from %s>" % (self.version, self.path)


# ---- finding the library ----------------------------------------------------------------------------------------
_lock = threading.Lock()
_current = None


def _needs_asan(path):
    """True if the file links AddressSanitizer's runtime, which must be preloaded before Python starts."""
    try:
        with open(path, "rb") as f:
            return b"libasan.so" in f.read()
    except OSError:
        return False


def _asan_loaded():
    try:
        with open("/proc/self/maps") as f:
            return "libasan.so" in f.read()
    except OSError:
        return False


def _try(path, tried):
    """Load `path` (a file path or a loader name); record the failure in `tried` and return None on error."""
    if os.sep in path and _needs_asan(path) and not _asan_loaded():
        tried.append("%s: built with AddressSanitizer; start Python with LD_PRELOAD=$(gcc "
                     "-print-file-name=libasan.so) to load it" % path)
        return None
    try:
        return Library(path)
    except (OSError, LibraryError) as exc:
        tried.append("%s: %s" % (path, exc))
        return None


def source_tree_libraries():
    """libposenc.so files in build*/ directories of the source checkout this package runs from (build/ first)."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(package_dir))          # <root>/python/posenc
    if not (os.path.isfile(os.path.join(root, "include", "posenc.h"))
            and os.path.isfile(os.path.join(root, "src", "dispatch.c"))):
        return []
    dirs = sorted(d for d in glob.glob(os.path.join(root, "build*")) if os.path.isdir(d))
    dirs.sort(key=lambda d: os.path.basename(d) != "build")
    found = []
    for d in dirs:
        for name in (SONAME, "libposenc.so"):
            path = os.path.join(d, name)
            if os.path.isfile(path):
                found.append(path)
                break
    return found


def _search(path):
    tried = []
    if path is not None:
        lib = _try(os.fspath(path), tried)
        if lib:
            return lib
        raise LibraryError("could not load libposenc from the path given:\n  " + "\n  ".join(tried))
    env = os.environ.get(ENV_VAR)
    if env:
        lib = _try(env, tried)
        if lib:
            return lib
        raise LibraryError("could not load libposenc from %s=%s (set it to a libposenc.so file, or unset it to "
                           "search the system and the build tree):\n  %s" % (ENV_VAR, env, "\n  ".join(tried)))
    names = [SONAME]
    found = ctypes.util.find_library("posenc")
    if found and found not in names:
        names.append(found)
    for name in names:
        lib = _try(name, tried)
        if lib:
            return lib
    build = source_tree_libraries()
    for candidate in build:
        lib = _try(candidate, tried)
        if lib:
            return lib
    if not build:
        tried.append("build tree: no build*/libposenc.so* next to a libposenc source checkout")
    raise LibraryError("libposenc not found. Tried, in order:\n  %s\nInstall libposenc (meson install), set %s "
                       "to the .so, or call posenc.load(path)." % ("\n  ".join(tried), ENV_VAR))


def load(path=None):
    """Load libposenc and make it the one every later call uses; return the Library.

    Search order: `path` if given; else the POSENC_LIBRARY environment variable if set (used alone: a wrong
    value is an error, not a fallback); else the system loader (libposenc.so.0, then ctypes.util.find_library);
    else build*/libposenc.so* of the source checkout this package runs from. Raises LibraryError listing
    everything tried. Plans keep the library they were made with.
    """
    global _current
    with _lock:
        lib = _search(path)
        _current = lib
        return lib


def library():
    """The current Library, loading the default one on first use."""
    global _current
    lib = _current
    if lib is None:
        with _lock:
            if _current is None:
                _current = _search(None)
            lib = _current
    return lib


def reset_for_tests():
    """Forget the current library (tests of the search order only)."""
    global _current
    with _lock:
        _current = None
