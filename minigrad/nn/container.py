"""Containers that register what they hold: `Sequential`, `ModuleList`, `ModuleDict`,
`ParameterList`, with PyTorch's indexing, mutation and repr.

A plain Python list of modules assigned to an attribute is refused (see `Module.__setattr__`):
these are what to use instead.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..engine import Tensor
from .module import Module, Parameter


class _IndexedModules(Module):
    """What Sequential and ModuleList share: modules under the keys "0", "1", ..., in order."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def _index(self, index: Any) -> int:
        return _position(self, index, len(self._modules))

    def _renumber(self, modules: list[Module]) -> None:
        self._modules.clear()
        self._modules.update((str(i), m) for i, m in enumerate(modules))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return list(self._modules.values())[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        key = str(self._index(index))
        self._modules[key] = _checked_module(self, module)

    def __delitem__(self, index: int | slice) -> None:
        modules = list(self._modules.values())
        del modules[index if isinstance(index, slice) else self._index(index)]
        self._renumber(modules)  # keys stay 0, 1, ..., as PyTorch

    def append(self, module: Module) -> _IndexedModules:
        """Add `module` at the end; returns self."""
        self._modules[str(len(self._modules))] = _checked_module(self, module)
        return self

    def extend(self, modules: Iterable[Module]) -> _IndexedModules:
        """Append each of `modules`; returns self."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put `module` before position `index` (as list.insert), renumbering the rest."""
        modules = list(self._modules.values())
        modules.insert(index, _checked_module(self, module))
        self._renumber(modules)

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at `index` (the last by default)."""
        module = self[index]
        del self[index]
        return module

    def __iadd__(self, modules: Iterable[Module]) -> _IndexedModules:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> _IndexedModules:
        return type(self)([*self, *other])


class Sequential(_IndexedModules):
    """Modules applied one after the other: `Sequential(a, b, c)(x)` is `c(b(a(x)))`.

    Takes modules, or one mapping of name -> module (an OrderedDict, as in PyTorch).
    """

    def __init__(self, *args: Any) -> None:
        if len(args) == 1 and isinstance(args[0], Mapping):
            super().__init__()
            for name, module in args[0].items():
                self.add_module(name, _checked_module(self, module))
        else:
            super().__init__(args)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):  # keeps the modules' names, as PyTorch
            return Sequential(dict(list(self._modules.items())[index]))
        return super().__getitem__(index)

    def __setitem__(self, index: int, module: Module) -> None:
        key = list(self._modules)[self._index(index)]
        self._modules[key] = _checked_module(self, module)

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(_IndexedModules):
    """A list of modules whose parameters are registered: index, iterate, append, extend."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__(modules or ())

    def __repr__(self) -> str:
        """PyTorch's: runs of identical modules are shown once, as `(0-2): 3 x Linear(...)`."""
        if not self._modules:
            return "ModuleList()"
        runs: list[list] = []  # [first index, last index, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = [
            (f"({a}): {text}" if a == b else f"({a}-{b}): {b - a + 1} x {text}").replace(
                "\n", "\n  "
            )
            for a, b, text in runs
        ]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, in insertion order."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _checked_module(self, module))

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove and return the module under `key`."""
        return self._modules.pop(key)

    def update(self, modules: Mapping[str, Module] | Iterable[tuple]) -> None:
        """Add (or replace) every (name, module) of a mapping or of an iterable of pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for pair in pairs:
            key, module = pair
            self[key] = module


class ParameterList(Module):
    """A list of Parameters that are registered; Tensors and arrays become Parameters."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        for value in values or ():
            self.append(value)

    def _index(self, index: Any) -> int:
        return _position(self, index, len(self._parameters))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ParameterList(list(self._parameters.values())[index])
        return self._parameters[str(self._index(index))]

    def __setitem__(self, index: int, value: Any) -> None:
        self._parameters[str(self._index(index))] = _as_parameter(value)

    def append(self, value: Any) -> ParameterList:
        """Add a Parameter (a Tensor or array is wrapped in one) at the end; returns self."""
        self._parameters[str(len(self._parameters))] = _as_parameter(value)
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Append each of `values`; returns self."""
        for value in values:
            self.append(value)
        return self

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        """A line per parameter, as PyTorch's `(0): Parameter containing: [float64 of size 3x2]`."""
        return "\n".join(
            f"  ({i}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]"
            for i, p in enumerate(self)
        )


def _position(container: Module, index: Any, length: int) -> int:
    """`index` as a position in [0, length), counting from the end when negative, as a list's."""
    index = operator.index(index)
    if not -length <= index < length:
        raise IndexError(f"{type(container).__name__}: index {index} is out of range for {length}")
    return index % length


def _checked_module(container: Module, module: Any) -> Module:
    if not isinstance(module, Module):
        raise TypeError(
            f"{type(container).__name__}: can only hold Modules, got a {type(module).__name__}"
        )
    return module


def _as_parameter(value: Any) -> Parameter:
    if isinstance(value, Parameter):
        return value
    return Parameter(value.data if isinstance(value, Tensor) else value)
