"""State dicts in files and back: .npz archives written atomically and read without pickle.

`save_npz` writes to a temporary file beside the target and renames it, so a failed save never
destroys the previous file. Reading goes header first: `npz_headers` gives every member's shape
and dtype from its .npy header alone, so a caller can refuse a file before inflating anything,
and `read_npz_member` then reads exactly the bytes a header promises. `compare_state` and
`cast_state` are the checks `Module.load_state_dict` and `Module.load` share.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import zipfile
import zlib
from collections.abc import Mapping
from os import PathLike
from typing import Any, BinaryIO

import numpy as np

_LEGACY_TORCH = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save's old pickle format
_UNREADABLE = (OSError, EOFError, zipfile.BadZipFile, zlib.error)  # damaged bytes, not headers
_TORCH_HINT = (
    "minigrad cannot read it without pickle. Convert it where PyTorch is installed: "
    "model.load_state_dict({k: v.numpy() for k, v in torch.load(path).items()}), then "
    "model.save(...) writes an .npz"
)


def compare_state(
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
        elif not castable(found_dtype, dtype):
            problems.append(
                f"dtype mismatch for '{key}': the {source} has {found_dtype}, "
                f"the {what.split()[-1]} is {dtype} (only floating-point arrays are cast)"
            )
        else:
            usable.append(key)
    return missing, unexpected, problems, usable


def castable(source: np.dtype, target: np.dtype) -> bool:
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


def cast_state(array: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, float]:
    """A fresh copy of `array` in `dtype`, and the largest magnitude that overflowed (or 0)."""
    with np.errstate(over="ignore"):
        cast = np.array(array, dtype=dtype, copy=True)
    if array.dtype != dtype and np.issubdtype(dtype, np.floating):
        overflowed = np.isinf(cast) & np.isfinite(array)
        if overflowed.any():
            return cast, float(np.abs(array[overflowed]).max())
    return cast, 0.0


def open_npz(path: str | PathLike, where: str) -> zipfile.ZipFile:
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


def npz_headers(
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


def read_npz_member(
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


def save_npz(path: str | PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` to `path` as an uncompressed .npz, via a temporary file in the same folder
    renamed over `path` (`os.replace`, atomic): a failed or interrupted save keeps the old file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    temporary = os.path.join(folder, name)
    try:
        with open(temporary, "xb") as file:  # "x": never clobber, and the usual permissions
            _write_npz(file, arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def _write_npz(file: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """What `np.savez(file, **arrays)` writes (a stored zip of `name.npy` members), but for every
    name: savez would take an entry named `allow_pickle` as its option and drop it, and choke on
    one named `file`."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array))
