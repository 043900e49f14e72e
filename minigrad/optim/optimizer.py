"""The optimizer base class: parameter groups, `zero_grad`, `step(closure)` and checkpoints.

An update is plain numpy on each parameter's `.data`, outside the graph. It makes a new array
and rebinds `p.data` to it rather than writing in place: an array that a still-alive graph saved
for backward is locked read-only by the engine, and writing into it would corrupt that graph's
gradients. Rebinding leaves the saved array untouched (and the engine then reports the change
if that old graph's backward is run, instead of silently using the new values).

`state_dict()` follows PyTorch's layout with numpy arrays and Python numbers only, so a
checkpoint needs no pickle; `load_state_dict` checks everything before it changes anything.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..engine import Tensor
from ..grad_mode import enable_grad

ARRAY, COUNT = "array", "count"  # the two kinds of per-parameter state: a moment, a step number


class Optimizer:
    """Holds parameter groups; `step()` applies one update, `zero_grad()` clears the grads.

    `params` is an iterable of Tensors, or of dicts `{"params": [...], "lr": ..., ...}` (one
    parameter group each, options not given taken from `defaults`). `state` maps `id(p)` to
    that parameter's state (moments as arrays, the step count as an int).
    """

    def __init__(
        self, params: Iterable[Tensor] | Iterable[Mapping[str, Any]], defaults: dict[str, Any]
    ) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors or dicts, got a single Tensor "
                f"of shape {params.shape} (wrap it in a list)"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be in an ordered collection, not a set")
        self.defaults = dict(defaults)
        self.state: dict[int, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups: list[Any] = list(params)  # Tensors, or group dicts (add_param_group checks)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group, in order (the indices `state_dict` uses)."""
        return [p for group in self.param_groups for p in group["params"]]

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters, with options that override the optimizer's defaults."""
        name = type(self).__name__
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry")
        unknown = sorted(set(param_group) - set(self.defaults) - {"params"})
        if unknown:
            raise ValueError(
                f"{name}: unknown option(s) {unknown} in a parameter group (the options are "
                f"{sorted(self.defaults)})"
            )
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be in an ordered collection, not a set")
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        start = len(self.params)
        for i, p in enumerate(params, start):
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                raise TypeError(
                    f"{name}: parameter {i} must be a leaf Tensor that requires grad, got {p!r:.60}"
                )
        seen = {id(p) for p in self.params}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError(f"{name}: a parameter appears more than once in the list")
        group = {**self.defaults, **param_group, "params": params}
        self.check_group(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every gradient to None (PyTorch's default), or to zeros with `set_to_none=False`."""
        for p in self.params:
            if p.grad is not None:
                p.grad = None if set_to_none else np.zeros_like(p.grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return `closure()` if one is given.

        The closure (which should zero the grads, compute the loss and call backward) runs
        first, with gradients enabled, as in PyTorch.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        name = type(self).__name__
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = np.asarray(p.grad)
                if grad.shape != p.shape:
                    raise ValueError(
                        f"{name}.step: a gradient of shape {grad.shape} for a parameter of "
                        f"shape {p.shape}"
                    )
                state = self.state.setdefault(id(p), {})
                if not state:
                    state.update(self.initial_state(p.data, group))
                new = self.update(p.data, grad, state, group)
                p.data = new.astype(p.dtype, copy=False)
        return loss

    # --- What each optimizer defines -----------------------------------------------------------

    def check_group(self, group: dict[str, Any]) -> None:
        """Raise a ValueError if a group's options are invalid (PyTorch's checks)."""

    def initial_state(self, value: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        """A parameter's state before its first update: `state_layout`'s zeros."""
        return {
            name: 0 if kind == COUNT else np.zeros_like(value)
            for name, kind in self.state_layout(group).items()
        }

    def state_layout(self, group: dict[str, Any]) -> dict[str, str]:
        """The state each parameter of `group` has once updated: name -> ARRAY or COUNT."""
        return {}

    def update(
        self, value: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> np.ndarray:
        """The parameter's new value (a new array); may rebind entries of `state`."""
        raise NotImplementedError

    # --- Checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """`{"state": {index: {name: array or int}}, "param_groups": [{..., "params": [index]}]}`.

        Parameters are numbered in order across the groups; arrays are copies.
        """
        params = self.params
        state = {}
        for i, p in enumerate(params):
            entries = self.state.get(id(p))
            if entries:
                state[i] = {k: _copy_value(v) for k, v in entries.items()}
        groups, start = [], 0
        for group in self.param_groups:
            packed = {k: _copy_value(v) for k, v in group.items() if k != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore `state_dict()`'s output, after checking every entry; nothing changes on error.

        Numbers may be given as 0-d arrays and tuples as 1-d arrays (as `np.load` returns them).
        Checked: the keys, the number of groups and of parameters in each, every option (as the
        constructor checks it), and each state array's shape, dtype and finiteness.
        """
        where = f"{type(self).__name__}.load_state_dict"
        problems: list[str] = []
        groups, state = self._read_state_dict(state_dict, problems)
        if problems:
            raise ValueError(f"{where}: nothing was loaded, because of\n  " + "\n  ".join(problems))
        for group, new in zip(self.param_groups, groups):
            params = group["params"]
            group.clear()
            group.update(new, params=params)
        self.state = state

    def _read_state_dict(
        self, state_dict: Mapping[str, Any], problems: list[str]
    ) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
        """The groups (without params) and the state it holds, or the problems found in it."""
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(map(str, state_dict)) if isinstance(state_dict, Mapping) else None
            problems.append(f"expected a dict with keys ['param_groups', 'state'], got {keys}")
            return [], {}
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, Sequence) or len(saved_groups) != len(self.param_groups):
            count = len(saved_groups) if isinstance(saved_groups, Sequence) else saved_groups
            problems.append(
                f"the optimizer has {len(self.param_groups)} parameter group(s), the dict "
                f"has {count!r:.60}"
            )
            return [], {}
        groups, param_of_index, group_of_index = [], {}, {}
        for g, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            new = self._read_group(g, group, saved, problems)
            groups.append(new)
            indices = saved.get("params") if isinstance(saved, Mapping) else None
            indices = np.asarray(indices).reshape(-1).tolist() if indices is not None else []
            if len(indices) != len(group["params"]):
                problems.append(
                    f"param_groups[{g}] has {len(indices)} parameter(s), the optimizer's "
                    f"group has {len(group['params'])}"
                )
                continue
            for index, p in zip(indices, group["params"]):
                if not isinstance(index, numbers.Integral) or int(index) in param_of_index:
                    problems.append(
                        f"param_groups[{g}]: parameter index {index!r:.60} is not a whole "
                        "number, or is repeated"
                    )
                else:
                    param_of_index[int(index)], group_of_index[int(index)] = p, new
        state: dict[int, dict[str, Any]] = {}
        if not isinstance(saved_state, Mapping):
            problems.append(f"'state' must be a dict, got {type(saved_state).__name__}")
            return groups, state
        for index, entries in saved_state.items():
            key = int(index) if isinstance(index, numbers.Integral) else None
            if key not in param_of_index:
                problems.append(f"state[{index!r}] is for no parameter of the param_groups")
            elif group_of_index[key]:  # (a group that did not read has been reported)
                p, layout = param_of_index[key], self.state_layout(group_of_index[key])
                state[id(p)] = _read_entries(f"state[{index!r}]", entries, layout, p, problems)
        return groups, state

    def _read_group(
        self, g: int, group: dict[str, Any], saved: Any, problems: list[str]
    ) -> dict[str, Any]:
        """One saved group's options, converted to the types of the optimizer's own."""
        if not isinstance(saved, Mapping):
            problems.append(f"param_groups[{g}] must be a dict, got {type(saved).__name__}")
            return {}
        missing = sorted(set(self.defaults) - set(saved))
        if missing:
            problems.append(f"param_groups[{g}] lacks the option(s) {missing}")
            return {}
        new, known = {}, len(problems)
        for key, value in saved.items():
            if key == "params":
                continue
            like = group.get(key, self.defaults.get(key, 0.0))
            converted = _convert_option(value, like)
            if converted is None:
                problems.append(
                    f"param_groups[{g}]['{key}'] = {value!r:.60} is not like the optimizer's "
                    f"{like!r} (a finite number, a bool or a tuple of numbers)"
                )
            else:
                new[key] = converted
        if len(problems) == known:
            try:
                self.check_group(new)
            except ValueError as error:
                problems.append(f"param_groups[{g}]: {error}")
        return new if len(problems) == known else {}  # {}: its state is not checked


def _copy_value(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def _convert_option(value: Any, like: Any) -> Any:
    """`value` as the same kind of thing as `like` (bool, number, tuple of numbers), or None."""
    if isinstance(like, tuple):
        items = np.asarray(value).reshape(-1).tolist() if _is_array_like(value) else None
        if items is None or len(items) != len(like):
            return None
        converted = [_convert_option(item, 0.0) for item in items]
        return None if any(c is None for c in converted) else tuple(converted)
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            return None
        value = value.item()
    if isinstance(like, (bool, np.bool_)):
        return bool(value) if isinstance(value, (bool, np.bool_)) else None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    if not math.isfinite(value):
        return None
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _is_array_like(value: Any) -> bool:
    return isinstance(value, (tuple, list, np.ndarray))


def _read_entries(
    where: str, entries: Any, layout: dict[str, str], p: Tensor, problems: list[str]
) -> dict[str, Any]:
    """One parameter's saved state, checked against `layout` and the parameter."""
    if not isinstance(entries, Mapping):
        problems.append(f"{where} must be a dict, got {type(entries).__name__}")
        return {}
    if not entries:
        return {}
    if set(entries) != set(layout):
        problems.append(f"{where} has the keys {sorted(entries)}, expected {sorted(layout)}")
        return {}
    out: dict[str, Any] = {}
    for key, kind in layout.items():
        value = entries[key]
        if kind == COUNT:
            count = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
            ok = isinstance(count, numbers.Real) and not isinstance(count, (bool, np.bool_))
            if ok and math.isfinite(count) and count >= 0 and count == int(count):
                out[key] = int(count)
            else:
                problems.append(f"{where}['{key}'] must be a whole number >= 0, got {value!r:.60}")
            continue
        if not isinstance(value, np.ndarray):
            problems.append(f"{where}['{key}'] must be a numpy array, got {type(value).__name__}")
        elif value.shape != p.shape:
            problems.append(
                f"{where}['{key}'] has shape {value.shape}, its parameter has shape {p.shape}"
            )
        elif value.dtype != p.dtype:
            problems.append(f"{where}['{key}'] is {value.dtype}, its parameter is {p.dtype}")
        elif not np.all(np.isfinite(value)):
            problems.append(f"{where}['{key}'] has non-finite values (NaN or infinity)")
        else:
            out[key] = np.array(value, copy=True)
    return out


# --- Option checks, with PyTorch's messages -------------------------------------------------------

MESSAGES = {
    "lr": "Invalid learning rate",
    "momentum": "Invalid momentum value",
    "weight_decay": "Invalid weight_decay value",
    "eps": "Invalid epsilon value",
    "alpha": "Invalid alpha value",
    "lr_decay": "Invalid lr_decay value",
    "initial_accumulator_value": "Invalid initial_accumulator_value value",
}


def check_nonnegative(name: str, group: Mapping[str, Any], *keys: str) -> None:
    """Each option in `keys` must be a real number >= 0 (PyTorch's 'Invalid ...' errors)."""
    for key in keys:
        value = group[key]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name}: {key} must be a real number, got {value!r:.60}")
        if value < 0 or value != value:  # (a NaN is not >= 0 either)
            raise ValueError(f"{name}: {key} must be >= 0 ({MESSAGES[key]}: {value})")


def check_flags(name: str, group: Mapping[str, Any], *keys: str) -> None:
    """Each option in `keys` must be a bool."""
    for key in keys:
        if not isinstance(group[key], (bool, np.bool_)):
            raise ValueError(f"{name}: {key} must be True or False, got {group[key]!r:.60}")


def lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """start + weight * (end - start), rounded as PyTorch's `lerp_` does."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)
