"""`Module` and `Parameter`: the containers every layer is built from, as in PyTorch.

A Module finds its Parameters and sub-Modules by attribute assignment (`self.weight = ...`),
in the order they were assigned, so `named_parameters()` lists them like PyTorch does. Its
`state_dict()` maps dotted names to array copies; `save` / `load` keep that dict in an `.npz`
archive that is read with `allow_pickle=False`, so loading a file never runs code, and whose
headers are checked before any array is read, so a file cannot make it allocate more than the
model holds.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from os import PathLike
from typing import Any, NamedTuple

import numpy as np

from ..engine import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers and an optimizer updates: it always requires grad."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__().removeprefix("Tensor")


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped: our keys it lacked, and its keys we lack."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models: subclass it, assign Parameters/Modules, write forward."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # --- Registration by attribute assignment ---------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        parameters = self.__dict__.get("_parameters")
        modules = self.__dict__.get("_modules")
        if parameters is None and isinstance(value, (Parameter, Module)):
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning the "
                f"parameter or submodule '{name}'"
            )
        if isinstance(value, Parameter):
            self._forget(name)
            parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        else:
            for registry, role, expected in (
                (parameters, "parameter", "Parameter"),
                (modules, "submodule", "Module"),
            ):
                if registry is not None and name in registry:  # a registered slot: keep its kind
                    if value is not None:
                        raise TypeError(
                            f"{type(self).__name__}: cannot assign a {type(value).__name__} to "
                            f"the {role} '{name}' (a {expected} or None is expected)"
                        )
                    registry[name] = None
                    return
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:  # only reached when ordinary lookup fails
        for registry in ("_parameters", "_modules"):
            entries = self.__dict__.get(registry, {})
            if name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if not self._forget(name):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _forget(self, name: str) -> bool:
        """Remove `name` from wherever it is registered; True if it was anywhere."""
        found = False
        for registry in (self.__dict__, self._parameters, self._modules):
            if name in registry:
                del registry[name]
                found = True
        return found

    # --- Walking the tree ---------------------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule below it (pre-order), each once, with dotted names."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items()]
            stack.extend(reversed([(k, m) for k, m in children if m is not None]))

    def modules(self) -> Iterator[Module]:
        """This module and every submodule below it."""
        for _, module in self.named_modules():
            yield module

    def children(self) -> Iterator[Module]:
        """The direct submodules, in assignment order."""
        yield from (m for m in self._modules.values() if m is not None)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs: a module's own first, then its submodules', each once."""
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for name, parameter in module._parameters.items():
                if parameter is None or id(parameter) in seen:
                    continue
                seen.add(id(parameter))
                yield (f"{prefix}.{name}" if prefix else name), parameter

    def parameters(self) -> Iterator[Parameter]:
        """Every Parameter of this module and its submodules, in `named_parameters` order."""
        for _, parameter in self.named_parameters():
            yield parameter

    def zero_grad(self) -> None:
        """Forget accumulated gradients (set to None, PyTorch's default)."""
        for parameter in self.parameters():
            parameter.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set the `training` flag here and below (no layer of minigrad behaves differently)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Same as `train(False)`."""
        return self.train(False)

    # --- State ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: a copy of the parameter's array}, in `named_parameters` order."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy arrays into the parameters (and every other `state_dict()` entry), after checking
        every key, shape and dtype.

        Floating-point arrays are cast to the entry's dtype, as PyTorch's `load_state_dict`
        copies into the parameter's dtype (so a float32 PyTorch dict loads into a float64 model);
        other dtypes must match. Nothing is assigned unless everything checks out, so a bad dict
        raises an error listing each problem and leaves the module as it was. With
        `strict=False`, missing and unexpected keys are returned instead of raised (shapes and
        dtypes are still checked).
        """
        arrays = {
            key: value.data if isinstance(value, Tensor) else np.asarray(value)
            for key, value in state_dict.items()
        }
        where = f"{type(self).__name__}.load_state_dict"
        return self._load_arrays(where, "dict", self._entry_specs(), arrays, strict)

    def _entry_specs(self) -> dict[str, tuple[str, tuple, np.dtype]]:
        """{state_dict key: (what it is, shape, dtype)}: what a loaded dict must provide."""
        parameters = {name for name, _ in self.named_parameters()}
        return {
            key: ("a parameter" if key in parameters else "an entry", value.shape, value.dtype)
            for key, value in self.state_dict().items()
        }

    def _load_arrays(
        self,
        where: str,
        source: str,
        specs: dict[str, tuple[str, tuple, np.dtype]],
        arrays: Mapping[str, np.ndarray],
        strict: bool,
    ) -> IncompatibleKeys:
        """Check `arrays` against `specs`, cast them, then assign them all (or raise, changing
        nothing)."""
        found = {key: (array.shape, array.dtype) for key, array in arrays.items()}
        missing, unexpected, problems, usable = _compare_state(specs, found, strict, source)
        cast = {}
        for key in usable:
            dtype = specs[key][2]
            cast[key], overflow = _cast_state(arrays[key], dtype)
            if overflow:
                problems.append(
                    f"'{key}' has values too large for {dtype} (largest magnitude "
                    f"{overflow:g}), which casting would make infinite"
                )
        if problems:
            raise RuntimeError(
                f"{where}: nothing was loaded, because of\n  " + "\n  ".join(problems)
            )
        for key, array in cast.items():
            self._assign_state(key, array)
        return IncompatibleKeys(missing, unexpected)

    def _assign_state(self, key: str, array: np.ndarray) -> None:
        """Put `array` where the state_dict key `key` points (a dotted attribute path)."""
        *path, leaf = key.split(".")
        owner = self
        for part in path:
            owner = getattr(owner, part)
        current = getattr(owner, leaf)
        if isinstance(current, Tensor):
            current.data = array  # rebind, never write into an array a live graph has saved
        else:
            setattr(owner, leaf, array)

    def save(self, path: str | PathLike) -> None:
        """Write `state_dict()` to `path` as an uncompressed .npz archive (exactly that path).

        The archive is written to a temporary file in the same folder, then renamed over `path`
        (`os.replace`, atomic), so a failed or interrupted save leaves any previous file intact.
        """
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        name = f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        temporary = os.path.join(folder, name)
        try:
            with open(temporary, "xb") as file:
                np.savez(file, **self.state_dict())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)
            raise

    def load(self, path: str | PathLike, strict: bool = True) -> IncompatibleKeys:
        """Read a `save`d .npz into the module, refusing anything that would need pickle.

        Member names, shapes and dtypes are checked from the .npy headers before any array is
        read, so a file cannot make this allocate more than the model needs; every failure names
        the file and the cause, and leaves the module unchanged.
        """
        where = f"{type(self).__name__}.load: {os.fspath(path)}"
        specs = self._entry_specs()
        with _open_npz(path, where) as archive:
            headers = _npz_headers(archive, where)
            found = {key: (shape, dtype) for key, (_, shape, dtype, _) in headers.items()}
            missing, unexpected, problems, usable = _compare_state(specs, found, strict, "file")
            if problems:
                raise RuntimeError(
                    f"{where}: nothing was loaded, because of\n  " + "\n  ".join(problems)
                )
            arrays = {key: _read_npz_member(archive, headers[key], where) for key in usable}
        self._load_arrays(where, "file", specs, arrays, strict=False)
        return IncompatibleKeys(missing, unexpected)

    # --- Printing ------------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The arguments shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        lines = [
            f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()
        ]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + "\n" + "\n".join(lines) + "\n)"


# --- Loading state: shared checks, and reading .npz files without pickle -----------------------

_LEGACY_TORCH = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save's old pickle format
_UNREADABLE = (OSError, EOFError, zipfile.BadZipFile, zlib.error)  # damaged bytes, not headers
_TORCH_HINT = (
    "minigrad cannot read it without pickle. Convert it where PyTorch is installed: "
    "model.load_state_dict({k: v.numpy() for k, v in torch.load(path).items()}), then "
    "model.save(...) writes an .npz"
)


def _compare_state(
    specs: Mapping[str, tuple[str, tuple, np.dtype]],
    found: Mapping[str, tuple[tuple, np.dtype]],
    strict: bool,
    source: str,
) -> tuple[list[str], list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, problems, keys that can be loaded) of `found` (shape,
    dtype) against `specs`."""
    missing = [key for key in specs if key not in found]
    unexpected = [key for key in found if key not in specs]
    problems, usable = [], []
    if strict:
        problems += [
            f"missing key '{key}' ({specs[key][0]} of shape {specs[key][1]}, {specs[key][2]})"
            for key in missing
        ]
        problems += [f"unexpected key '{key}' (the model has no such entry)" for key in unexpected]
    for key, (what, shape, dtype) in specs.items():
        if key not in found:
            continue
        found_shape, found_dtype = found[key]
        if tuple(found_shape) != tuple(shape):
            problems.append(
                f"shape mismatch for '{key}': the {source} has shape {tuple(found_shape)}, "
                f"the {what.split()[-1]} has shape {tuple(shape)}"
            )
        elif not _castable(found_dtype, dtype):
            problems.append(
                f"dtype mismatch for '{key}': the {source} has {found_dtype}, "
                f"the {what.split()[-1]} is {dtype} (only floating-point arrays are cast)"
            )
        else:
            usable.append(key)
    return missing, unexpected, problems, usable


def _castable(source: np.dtype, target: np.dtype) -> bool:
    """Whether a loaded array of dtype `source` may go into an entry of dtype `target`: the
    same dtype, floating point into floating point (PyTorch casts), or a safe integer cast."""
    if source == target:
        return True
    if np.issubdtype(target, np.floating):
        return np.issubdtype(source, np.floating)
    return (
        np.issubdtype(target, np.integer)
        and np.issubdtype(source, np.integer)
        and (np.can_cast(source, target, "safe"))
    )


def _cast_state(array: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, float]:
    """A fresh copy of `array` in `dtype`, and the largest magnitude that overflowed (or 0)."""
    with np.errstate(over="ignore"):
        cast = np.array(array, dtype=dtype, copy=True)
    if array.dtype != dtype and np.issubdtype(dtype, np.floating):
        overflowed = np.isinf(cast) & np.isfinite(array)
        if overflowed.any():
            return cast, float(np.abs(array[overflowed]).max())
    return cast, 0.0


def _open_npz(path: str | PathLike, where: str) -> zipfile.ZipFile:
    """The .npz file as a zip archive, or a ValueError that says what the file is instead."""
    with open(path, "rb") as file:  # a missing file raises FileNotFoundError, naming it
        start = file.read(len(_LEGACY_TORCH))
    if not start:
        raise ValueError(f"{where}: the file is empty (0 bytes), not an .npz archive")
    if start.startswith(np.lib.format.MAGIC_PREFIX):
        raise ValueError(f"{where}: the file holds a single array (.npy), not an .npz archive")
    if start == _LEGACY_TORCH:
        raise ValueError(
            f"{where}: this is a PyTorch file (torch.save, legacy format); " + _TORCH_HINT
        )
    if start[:1] == b"\x80":
        raise ValueError(
            f"{where} is not a plain .npz archive of arrays: it is a pickle file, refused "
            f"because unpickling can run arbitrary code"
        )
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"{where} is not a plain .npz archive: it is not a zip file, or it is cut short (a "
            f"zip's index is at its end) ({error})"
        ) from None
    names = archive.namelist()
    if any(name.endswith("/data.pkl") or name == "data.pkl" for name in names):
        archive.close()
        raise ValueError(
            f"{where}: this is a PyTorch file (torch.save), not an .npz; " + _TORCH_HINT
        )
    return archive


def _npz_headers(
    archive: zipfile.ZipFile, where: str
) -> dict[str, tuple[zipfile.ZipInfo, tuple, np.dtype, bool]]:
    """{key: (member, shape, dtype, fortran_order)} from each member's .npy header alone."""
    headers = {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if key in headers:
            raise ValueError(f"{where}: the archive has two members named '{info.filename}'")
        try:
            with archive.open(info) as stream:
                shape, fortran, dtype = _read_npy_header(stream)
        except _UNREADABLE as error:
            raise ValueError(
                f"{where}: member '{info.filename}' cannot be read ({error})"
            ) from None
        except ValueError as error:
            raise ValueError(
                f"{where}: member '{info.filename}' has no valid .npy header ({error})"
            ) from None
        if dtype.hasobject:
            raise ValueError(
                f"{where}: member '{info.filename}' is an object array, which only pickle can "
                f"load; refused (allow_pickle=False) because unpickling can run arbitrary code"
            )
        headers[key] = (info, shape, dtype, fortran)
    return headers


def _read_npy_header(stream: Any) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy file at `stream`'s position (versions 1 and 2)."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream)
    raise ValueError(f".npy format version {version} is not supported")


def _read_npz_member(
    archive: zipfile.ZipFile,
    header: tuple[zipfile.ZipInfo, tuple, np.dtype, bool],
    where: str,
) -> np.ndarray:
    """The array of one member whose header has been checked: exactly the bytes it promises."""
    info, shape, dtype, fortran = header
    expected = math.prod(shape) * dtype.itemsize
    try:
        with archive.open(info) as stream:
            _read_npy_header(stream)
            data = stream.read(expected)
            extra = stream.read(1)
    except _UNREADABLE as error:
        raise ValueError(f"{where}: member '{info.filename}' cannot be read ({error})") from None
    if len(data) < expected:
        raise ValueError(
            f"{where}: member '{info.filename}' is truncated: its header promises shape {shape} "
            f"{dtype}, so expected {expected} bytes, got {len(data)}"
        )
    if extra:
        raise ValueError(
            f"{where}: member '{info.filename}' has more data than its header (shape {shape} "
            f"{dtype}, {expected} bytes) promises"
        )
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def as_input(x: Any, dtype: np.dtype, where: str, what: str = "input") -> Tensor:
    """`x` as a Tensor of the layer's dtype: arrays are converted, Tensors must already match."""
    if not isinstance(x, Tensor):
        return Tensor(x, dtype=dtype)
    if x.dtype != dtype:
        raise TypeError(
            f"{where}: {what} is {x.dtype} but the parameters are {dtype}; build the layer "
            f"with dtype={x.dtype} or convert the {what}"
        )
    return x
