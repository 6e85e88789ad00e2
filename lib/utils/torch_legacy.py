"""Read a PyTorch state dict saved in the legacy (pre-1.6, non-zip) format with numpy only, without torch.

The legacy file is five things written one after another:
  1. a pickled magic number, 2. a pickled protocol version (1001), 3. a pickled dict of system information,
  4. the pickled object itself, where every tensor refers to its storage by a "persistent id"
     ("storage", storage class, key, location, element count[, view metadata]),
  5. a pickled list of storage keys, then for each key in that order: an 8-byte little-endian element count
     followed by the storage's raw little-endian bytes.
Tensors are rebuilt by `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`. Only those few
globals are accepted; any other global in the file raises ValueError naming it, so loading runs no code.
"""
import collections
import pickle

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                  "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                  "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _StorageRef:
    """A storage named by the object pickle, filled with data once the raw section has been read."""

    def __init__(self, dtype, count):
        self.dtype, self.count, self.data = dtype, count, None


class _TensorRef:
    """A tensor waiting for its storage: a strided view (offset, size, stride in elements)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def to_numpy(self):
        """The tensor as a contiguous numpy array of its storage's dtype."""
        flat = self.storage.data
        if not self.size:
            return flat[self.offset].copy()
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.size,
                                               strides=tuple(s * item for s in self.stride))
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return _TensorRef(storage, offset, size, stride)


class _StorageType:
    """Stands for `torch.FloatStorage` & co. in the pickle: only its dtype matters."""

    def __init__(self, name):
        self.dtype = STORAGE_DTYPES[name]


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals a state dict needs; collects the storages it names."""

    def __init__(self, handle, path):
        super().__init__(handle, encoding="latin1")
        self.path, self.storages = path, {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise ValueError("%s: refusing to load %s.%s (only state dicts of tensors are read)"
                         % (self.path, module, name))

    def persistent_load(self, pid):
        kind, storage_type, key, _location, count = pid[:5]
        if kind != "storage":
            raise ValueError("%s: unknown persistent id %r" % (self.path, kind))
        if key not in self.storages:
            self.storages[key] = _StorageRef(storage_type.dtype, count)
        return self.storages[key]


def _read_storages(handle, keys, storages, path):
    """Fills each storage from the raw section: per key, int64 element count then the bytes."""
    for key in keys:
        ref = storages[key]
        count = int(np.frombuffer(handle.read(8), "<i8")[0])
        raw = handle.read(count * np.dtype(ref.dtype).itemsize)
        if count != ref.count or len(raw) != count * np.dtype(ref.dtype).itemsize:
            raise ValueError("%s: storage %s is truncated or inconsistent" % (path, key))
        ref.data = np.frombuffer(raw, dtype=np.dtype(ref.dtype).newbyteorder("<")).astype(ref.dtype)


def load_legacy_state_dict(source, name=None):
    """{key: np.ndarray} from a legacy-format PyTorch `.pth` state dict (a path or a binary file object);
    ValueError naming the file when it is not one."""
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        with open(source, "rb") as handle:
            return load_legacy_state_dict(handle, name or str(source))
    path = name or getattr(source, "name", "<stream>")
    try:
        if pickle.load(source) != LEGACY_MAGIC:
            raise ValueError("%s: not a legacy PyTorch file (wrong magic number)" % path)
        pickle.load(source)  # protocol version
        pickle.load(source)  # system info (endianness, type sizes)
        unpickler = _Unpickler(source, path)
        state = unpickler.load()
        keys = pickle.load(source)
    except (pickle.UnpicklingError, EOFError, TypeError, KeyError) as err:
        raise ValueError("%s: not a readable legacy PyTorch file (%s)" % (path, err)) from None
    _read_storages(source, keys, unpickler.storages, path)
    if not isinstance(state, dict):
        raise ValueError("%s: holds a %s, not a state dict" % (path, type(state).__name__))
    return collections.OrderedDict((key, t.to_numpy()) for key, t in state.items())
