"""`Module` and `Parameter`: the containers every layer is built from, as in PyTorch.

A Module finds its Parameters and sub-Modules by attribute assignment (`self.weight = ...`),
in the order they were assigned, so `named_parameters()` lists them like PyTorch does. Its
`state_dict()` maps dotted names to array copies; `save` / `load` keep that dict in an `.npz`
archive that is read with `allow_pickle=False`, so loading a file never runs code, and whose
headers are checked before any array is read, so a file cannot make it allocate more than the
model holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from os import PathLike
from typing import Any, NamedTuple

import numpy as np

from ..engine import Tensor
from .serialization import (
    cast_state,
    compare_state,
    npz_headers,
    open_npz,
    read_npz_member,
    save_npz,
)


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
        missing, unexpected, problems, usable = compare_state(specs, found, strict, source)
        cast = {}
        for key in usable:
            dtype = specs[key][2]
            cast[key], overflow = cast_state(arrays[key], dtype)
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
        save_npz(path, self.state_dict())

    def load(self, path: str | PathLike, strict: bool = True) -> IncompatibleKeys:
        """Read a `save`d .npz into the module, refusing anything that would need pickle.

        Member names, shapes and dtypes are checked from the .npy headers before any array is
        read, so a file cannot make this allocate more than the model needs; every failure names
        the file and the cause, and leaves the module unchanged.
        """
        where = f"{type(self).__name__}.load: {os.fspath(path)}"
        specs = self._entry_specs()
        with open_npz(path, where) as archive:
            headers = npz_headers(archive, where)
            found = {key: (shape, dtype) for key, (_, shape, dtype, _) in headers.items()}
            missing, unexpected, problems, usable = compare_state(specs, found, strict, "file")
            if problems:
                raise RuntimeError(
                    f"{where}: nothing was loaded, because of\n  " + "\n  ".join(problems)
                )
            arrays = {key: read_npz_member(archive, headers[key], where) for key in usable}
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
