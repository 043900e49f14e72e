"""Every name docs/api.md documents exists: dotted names through the page's own import aliases
(`mg.x`, `nn.X`, `F.x`, `Tensor.x`, ...) and the members a class entry lists after
"Attributes:", "Methods:", "It has" or "fields" (with their parameters and defaults).

`tests/test_docs.py` checks the `minigrad.*` entries themselves; this checks what they mention.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from test_docs import parameter_problems, resolve

import minigrad

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"
SPAN = re.compile(r"`([^`]+)`")
FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
HEAD = re.compile(r"^- `(minigrad(?:\.\w+)+)(?:\([^`]*\))?`")
DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)+)")
MEMBER = re.compile(r"^([A-Za-z_]\w*)(?:\((.*)\))?$")
MARKERS = re.compile(r"\b(Attributes:|Methods:|It has|fields)")
SOURCES = ["minigrad", "minigrad.nn", "minigrad.optim", "minigrad.debug", "minigrad.viz"]


def aliases(text: str) -> dict[str, object]:
    """Names the page's ```python blocks import (`import minigrad as mg`, `from x import y`),
    and the public classes of minigrad's modules (so `Tensor.x` and `Module.x` resolve)."""
    names: dict[str, object] = {}
    for module in SOURCES:
        for name, obj in vars(importlib.import_module(module)).items():
            if inspect.isclass(obj) and not name.startswith("_"):
                names.setdefault(name, obj)
    for line in re.findall(r"^(?:from \S+ )?import .+$", text, re.MULTILINE):
        source, _, imported = line.removeprefix("from ").partition(" import ")
        if line.startswith("import "):
            imported, source = line.removeprefix("import "), ""
        for piece in imported.split(","):
            name, _, alias = piece.strip().partition(" as ")
            full = f"{source}.{name}" if source else name
            try:
                obj = importlib.import_module(full)
            except ImportError:
                obj = getattr(importlib.import_module(source), name)
            names[alias or name] = obj
    return names


def has_member(cls: type, name: str) -> bool:
    """An attribute, property, slot or field of `cls`, or one its methods assign (`self.x =`)."""
    if hasattr(cls, name):
        return True
    assigned = re.compile(rf"\bself\.{name}\s*(?::[^=\n]+)?=(?!=)")
    for klass in cls.__mro__:
        if name in getattr(klass, "__dataclass_fields__", {}):
            return True
        if name in vars(klass).get("__annotations__", {}):
            return True
        try:
            if assigned.search(inspect.getsource(klass)):
                return True
        except (OSError, TypeError):  # builtins have no source
            continue
    return False


def bullets(text: str) -> list[str]:
    """The page's list items, each with its continuation lines joined."""
    items, current = [], None
    for line in text.splitlines():
        if line.startswith("- "):
            current = [line]
            items.append(current)
        elif current is not None and line.startswith("  "):
            current.append(line.strip())
        else:
            current = None
    return [" ".join(item) for item in items]


def top_level_spans(sentence: str) -> list[str]:
    """Backticked spans not inside parentheses of the prose (asides such as "(the `Node`...)")."""
    spans, depth = [], 0
    for i, piece in enumerate(re.split(r"(`[^`]*`)", sentence)):
        if i % 2:
            if depth == 0:
                spans.append(piece[1:-1])
        else:
            depth = max(0, depth + piece.count("(") - piece.count(")"))
    return spans


def dotted_problems(text: str, roots: dict[str, object]) -> list[str]:
    problems = []
    prose = FENCED.sub("", text)  # the code blocks run (tests/test_docs.py): prose only here
    for match in SPAN.finditer(prose):
        if re.search(r"PyTorch(?:'s)?\s+$", prose[: match.start()]):
            continue  # PyTorch's `F.linear` names PyTorch's function, not ours
        for root, rest in DOTTED.findall(match.group(1)):
            if root not in roots or root == "minigrad":  # minigrad.*: tests/test_docs.py
                continue
            dotted = f"{roots[root].__name__}{rest}" if inspect.ismodule(roots[root]) else None
            try:
                if dotted and dotted.startswith("minigrad"):
                    resolve(dotted)
                else:
                    obj = roots[root]
                    for part in rest.split(".")[1:]:
                        obj = getattr(obj, part)
            except (ImportError, AttributeError):
                problems.append(f"`{root}{rest}` does not exist")
    return problems


def member_problems(text: str) -> list[str]:
    problems = []
    for item in bullets(text):
        head = HEAD.match(item)
        if not head:
            continue
        try:
            cls = resolve(head.group(1))
        except (ImportError, AttributeError):
            continue  # reported by tests/test_docs.py
        if not inspect.isclass(cls):
            continue
        for sentence in re.split(r"(?<=[.;])\s+(?=[A-Z`])", item):
            if not MARKERS.search(sentence):
                continue
            for span in top_level_spans(sentence[MARKERS.search(sentence).start() :]):
                for word in span.split() if "(" not in span else [span]:
                    member = MEMBER.match(word)
                    if not member:
                        continue  # operators, `x=...`, `.npz`, ...
                    name, arguments = member.groups()
                    label = f"{cls.__name__}.{name}"
                    if not has_member(cls, name):
                        problems.append(f"{head.group(1)} lists `{name}`, which it does not have")
                    elif arguments:
                        problems += parameter_problems(label, getattr(cls, name), arguments)
    return problems


def test_the_checker_finds_wrong_names():
    page = (
        "```python\nimport minigrad as mg\nfrom minigrad import nn\n```\n"
        "- `minigrad.Node`: a record. It has `fn`, `saved_tensors` and `inputs`.\n"
        "- `minigrad.Tensor`: an array. Attributes: `data` (or `None`), `bogus`. Methods:\n"
        "  `exp nope`, `sum(axis, keepdims)`, `sum(dims)`.\n"
        "- `minigrad.nn.Module`: Methods: `train(mode=False)`. See `mg.gradcheck`, `mg.nothing`,\n"
        "  `nn.Linear.forward`, `nn.Nowhere` and PyTorch's `nn.Nowhere`.\n"
    )
    roots = aliases(page)
    assert roots["mg"] is minigrad and roots["Tensor"] is minigrad.Tensor
    assert member_problems(page) == [
        "minigrad.Node lists `inputs`, which it does not have",
        "minigrad.Tensor lists `bogus`, which it does not have",
        "minigrad.Tensor lists `nope`, which it does not have",
        "Tensor.sum: no parameter 'dims'",
        "Module.train: mode defaults to True, not False",
    ]
    assert dotted_problems(page, roots) == [
        "`mg.nothing` does not exist",
        "`nn.Nowhere` does not exist",
    ]


def test_every_name_the_api_page_mentions_exists():
    text = API.read_text(encoding="utf-8")
    problems = dotted_problems(text, aliases(text)) + member_problems(text)
    assert not problems, "docs/api.md names things that do not exist:\n" + "\n".join(problems)
