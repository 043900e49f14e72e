"""`Module` and `Parameter`: the containers every layer is built from, as in PyTorch.

A Module finds its Parameters, buffers and sub-Modules by attribute assignment
(`self.weight = ...`) or by `register_parameter` / `register_buffer` / `add_module`, in the order
they were registered, so `named_parameters()` lists them like PyTorch does. Its `state_dict()`
maps dotted names to array copies (parameters and persistent buffers); `save` / `load` keep that
dict in an `.npz` archive that is read with `allow_pickle=False`, so loading a file never runs
code, and whose headers are checked before any array is read, so a file cannot make it allocate
more than the model holds. Calling a module runs its forward pre-hooks, `forward`, then its
forward hooks.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from os import PathLike
from typing import Any, NamedTuple, TypeVar

import numpy as np

from ..autograd.hooks import RemovableHandle
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
    """A Tensor that a Module registers and an optimizer updates; it requires grad unless frozen."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__().removeprefix("Tensor")


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped: our keys it lacked, and its keys we lack."""

    missing_keys: list[str]
    unexpected_keys: list[str]


_Member = TypeVar("_Member", bound=Tensor)
_Hooks = dict[int, tuple[Callable[..., Any], bool]]  # handle id -> (hook, with_kwargs)


class Module:
    """Base class of layers and models: subclass it, assign Parameters/Modules, write forward."""

    training: bool

    def __init__(self) -> None:
        for name in ("_parameters", "_buffers", "_modules", "_forward_pre_hooks", "_forward_hooks"):
            object.__setattr__(self, name, {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        pre_hooks: _Hooks | None = self.__dict__.get("_forward_pre_hooks")
        hooks: _Hooks | None = self.__dict__.get("_forward_hooks")
        if not pre_hooks and not hooks:  # the common case: no hooks, no overhead
            return self.forward(*args, **kwargs)
        assert pre_hooks is not None and hooks is not None  # __init__ sets both
        for hook, with_kwargs in list(pre_hooks.values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = _checked_args_and_kwargs(self, hook, result)
            else:
                result = hook(self, args)
                if result is not None:  # new positional arguments (a single one may be bare)
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in list(hooks.values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        return output

    # --- Hooks ----------------------------------------------------------------------------------

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call `hook(module, args)` before every forward; a non-None result replaces `args`.

        With `with_kwargs=True` it is `hook(module, args, kwargs)`, returning None or a new
        `(args, kwargs)` pair. `prepend=True` runs it before the hooks already registered.
        """
        return _add_hook(self._forward_pre_hooks, (hook, with_kwargs), prepend)

    def register_forward_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call `hook(module, args, output)` after every forward; a non-None result replaces it.

        With `with_kwargs=True` it is `hook(module, args, kwargs, output)`.
        """
        return _add_hook(self._forward_hooks, (hook, with_kwargs), prepend)

    # --- Registration ---------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        parameters = self.__dict__.get("_parameters")
        if parameters is None and isinstance(value, (Parameter, Module)):
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning the "
                f"parameter or submodule '{name}'"
            )
        if isinstance(value, Parameter):
            assert parameters is not None  # (refused above)
            self._forget(name)
            parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif parameters is not None and name in self._buffers:  # a buffer stays a buffer
            self._buffers[name] = _as_buffer(self, name, value)
        else:
            for registry, role, expected in (
                (parameters, "parameter", "Parameter"),
                (self.__dict__.get("_modules"), "submodule", "Module"),
            ):
                if registry is not None and name in registry:  # a registered slot: keep its kind
                    if value is not None:
                        raise TypeError(
                            f"{type(self).__name__}: cannot assign a {type(value).__name__} to "
                            f"the {role} '{name}' (a {expected} or None is expected)"
                        )
                    registry[name] = None
                    return
            _refuse_plain_container(self, name, value)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:  # only reached when ordinary lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
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
        for registry in (self.__dict__, self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                found = True
        self._non_persistent_buffers.discard(name)
        return found

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add `param` (a Parameter, or None for an absent slot) under `name`."""
        self._check_new_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"{type(self).__name__}.register_parameter: '{name}' must be a Parameter or None, "
                f"got a {type(param).__name__} (wrap it: nn.Parameter(value))"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Add a state tensor that is not a parameter (no optimizer sees it), under `name`.

        It is in `state_dict()` unless `persistent=False`, is cast by `float()` / `double()`,
        and is never in `parameters()`. Arrays are converted to Tensors; None is allowed.
        """
        self._check_new_name(name, "buffer")
        self._buffers[name] = _as_buffer(self, name, tensor)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add `module` (or None) as the submodule `name`, like assigning `self.name = module`."""
        self._check_new_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}.add_module: '{name}' must be a Module or None, got a "
                f"{type(module).__name__}"
            )
        self._modules[name] = module

    register_module = add_module

    def _check_new_name(self, name: Any, kind: str) -> None:
        where = f"{type(self).__name__}: {kind} name"
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before registering the {kind} "
                f"{name!r}"
            )
        if not isinstance(name, str):
            raise TypeError(f"{where} must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{where} must be non-empty and contain no '.', got {name!r}")
        registry = {"parameter": "_parameters", "buffer": "_buffers", "module": "_modules"}[kind]
        if name not in self.__dict__[registry] and hasattr(self, name):
            raise KeyError(f"{type(self).__name__}: attribute '{name}' already exists")

    # --- Walking the tree ---------------------------------------------------------------------

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and every submodule below it (pre-order), each once, with dotted names."""
        seen: set[int] = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
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

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, submodule) for the direct submodules, in registration order, each once."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct submodules, in registration order."""
        for _, module in self.named_children():
            yield module

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs: a module's own first, then its submodules', each once."""
        yield from self._named_members(_parameters_of, prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of this module (and, with `recurse`, its submodules), each once."""
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs, in the order of `named_parameters`."""
        yield from self._named_members(_buffers_of, prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer of this module (and, with `recurse`, its submodules), each once."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def _named_members(
        self,
        registry: Callable[[Module], Mapping[str, _Member | None]],
        prefix: str,
        recurse: bool,
        remove_duplicate: bool,
    ) -> Iterator[tuple[str, _Member]]:
        """(dotted name, tensor) of one registry (parameters or buffers) over the tree."""
        seen: set[int] = set()
        modules: Iterable[tuple[str, Module]]
        if recurse:
            modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        else:
            modules = [(prefix, self)]
        for module_prefix, module in modules:
            for name, tensor in registry(module).items():
                if tensor is None or (remove_duplicate and id(tensor) in seen):
                    continue
                seen.add(id(tensor))
                yield (f"{module_prefix}.{name}" if module_prefix else name), tensor

    # --- Bulk changes ---------------------------------------------------------------------------

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every submodule (children first, as PyTorch) and then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients: set them to None (PyTorch's default) or to zeros."""
        for parameter in self.parameters():
            if set_to_none or parameter.grad is None:
                parameter.grad = None
            else:
                parameter.grad = np.zeros_like(parameter.grad)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient recording for every parameter on or off (`False` freezes them)."""
        for parameter in self.parameters():
            parameter.requires_grad = bool(requires_grad)
        return self

    def float(self) -> Module:
        """Cast every parameter, gradient and buffer to float32, in place; returns self."""
        return self._cast(np.float32)

    def double(self) -> Module:
        """Cast every parameter, gradient and buffer to float64, in place; returns self."""
        return self._cast(np.float64)

    def _cast(self, dtype: type[np.floating]) -> Module:
        tensors = itertools.chain(self.parameters(), self.buffers())
        for tensor in tensors:
            tensor.data = tensor.data.astype(dtype, copy=False)  # rebind: live graphs keep theirs
            if tensor.grad is not None:
                tensor.grad = tensor.grad.astype(dtype, copy=False)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set the `training` flag here and below (no layer of minigrad behaves differently)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Same as `train(False)`."""
        return self.train(False)

    # --- State ---------------------------------------------------------------------------------

    def state_dict(self, *, prefix: str = "", keep_vars: bool = False) -> dict[str, Any]:
        """{dotted name: a copy of the array} for every parameter and persistent buffer.

        Each module contributes its own parameters, then its own buffers, before its
        submodules' (PyTorch's order); a tensor shared under two names is listed once. With
        `keep_vars=True` the values are the live Tensors themselves, not copies of their arrays.
        """
        state: dict[str, Any] = {}
        seen: set[int] = set()
        for module_prefix, module in self.named_modules(prefix=prefix):
            buffers = module._buffers
            kept = [(n, b) for n, b in buffers.items() if n not in module._non_persistent_buffers]
            for name, tensor in [*module._parameters.items(), *kept]:
                if tensor is None or id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                key = f"{module_prefix}.{name}" if module_prefix else name
                state[key] = tensor if keep_vars else tensor.data.copy()
        return state

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
        """PyTorch's layout: `Name(extra)`, or one indented line per extra line and submodule."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): {_indent(repr(m))}" for name, m in self._modules.items()]
        if len(lines) == 1 and not children:
            return f"{type(self).__name__}({lines[0]})"
        body = lines + children
        return f"{type(self).__name__}(" + ("\n  " + "\n  ".join(body) + "\n" if body else "") + ")"


def _parameters_of(module: Module) -> dict[str, Parameter | None]:
    return module._parameters


def _buffers_of(module: Module) -> dict[str, Tensor | None]:
    return module._buffers


def _indent(text: str) -> str:
    """Indent every line of a nested repr but the first by two spaces (PyTorch's _addindent)."""
    return text.replace("\n", "\n  ")


def _add_hook(
    hooks: _Hooks, entry: tuple[Callable[..., Any], bool], prepend: bool
) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = entry
    if prepend:  # dicts keep insertion order: rebuild with the new hook first
        others = [(k, v) for k, v in hooks.items() if k != handle.id]
        hooks.clear()
        hooks.update([(handle.id, entry), *others])
    return handle


def _checked_args_and_kwargs(module: Module, hook: Any, result: Any) -> tuple[tuple, dict]:
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        raise RuntimeError(
            f"{type(module).__name__}: the forward pre-hook {hook!r} (registered with "
            f"with_kwargs=True) must return None or a tuple (args, kwargs), got {result!r}"
        )
    args, kwargs = result
    return (args if isinstance(args, tuple) else (args,)), kwargs


def _as_buffer(module: Module, name: str, value: Any) -> Tensor | None:
    """A buffer's value: a Tensor (as given), an array (converted) or None."""
    if value is None or isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value)
    raise TypeError(
        f"{type(module).__name__}: cannot use a {type(value).__name__} as the buffer '{name}' "
        f"(a Tensor, a numpy array or None is expected)"
    )


def _refuse_plain_container(module: Module, name: str, value: Any) -> None:
    """A list, tuple or dict of Modules/Parameters would hide them: refuse it, naming the fix."""
    items: Collection[object]
    if isinstance(value, (list, tuple)):
        items, kind = value, type(value).__name__
    elif isinstance(value, dict):
        items, kind = value.values(), "dict"
    else:
        return
    has_module = any(isinstance(item, Module) for item in items)
    if not has_module and not any(isinstance(item, Parameter) for item in items):
        return
    if has_module:
        container = "nn.ModuleDict({...})" if kind == "dict" else "nn.ModuleList([...])"
        what, fix = "modules", f"self.{name} = {container}"
    elif kind == "dict":  # there is no ParameterDict
        what, fix = "parameters", "self.register_parameter(key, parameter) for each entry"
    else:
        what, fix = "parameters", f"self.{name} = nn.ParameterList([...])"
    raise TypeError(
        f"{type(module).__name__}: '{name}' is a plain {kind} of {what}, which a Module does "
        f"not look inside: their parameters would be missing from parameters(), state_dict() "
        f"and the optimizer. Use {fix} instead"
    )


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
