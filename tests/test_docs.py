"""The docs are code: every ```python block of docs/*.md and README.md runs, in order, per file.

Blocks of one page share a namespace (later blocks use names from earlier ones) and run in a
fresh temporary directory, so a page that writes files leaves nothing behind. Pointers of the form
`engine.NAME`, `ops.NAME`, `minigrad.X.NAME` written in the prose must name things that exist.
A block fenced as ```python quote=PATH quotes code from the file PATH (it is not run): each of
its lines must appear in that file, in the same order.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

try:
    import matplotlib

    matplotlib.use("Agg")  # a page that plots must not need a display
except ImportError:  # pages that do not plot still run
    pass

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
QUOTE = re.compile(r"^```python quote=(\S+)\n(.*?)^```", re.DOTALL | re.MULTILINE)
POINTER = re.compile(r"`((?:minigrad\.)?(?:engine|ops|functional|gradcheck)\.[A-Za-z_][\w.]*)")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, source) of each ```python fenced block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def test_block_extraction_sees_fences_only() -> None:
    text = (
        "intro\n```python\na = 1\n```\n```bash\nrm -rf /\n```\n```python\nb = a\n```\n"
        "```python quote=x.py\nnot run\n```\n"
    )
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "b = a\n")]
    assert QUOTE.findall(text) == [("x.py", "not run\n")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_quoted_code_matches_the_source(page: Path) -> None:
    for path, block in QUOTE.findall(page.read_text(encoding="utf-8")):
        source = [line.strip() for line in (ROOT / path).read_text(encoding="utf-8").splitlines()]
        position = 0
        for line in (line.strip() for line in block.splitlines()):
            if not line:
                continue
            assert line in source[position:], (
                f"{page.name}: the quote of {path} has a line that is not in the file (or not "
                f"in this order): {line!r}"
            )
            position = source.index(line, position) + 1


def test_docs_pages_exist() -> None:
    names = {p.name for p in PAGES}
    assert {"index.md", "autograd.md", "lstm_gru.md", "api.md", "README.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for line, source in python_blocks(page.read_text(encoding="utf-8")):
        code = compile(source, f"{page.name}:{line}", "exec")
        try:
            exec(code, namespace)
        except Exception as error:
            raise AssertionError(
                f"{page.name}: the ```python block starting at line {line} raised {error!r}"
            ) from error


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_pointers_name_real_functions(page: Path) -> None:
    missing = []
    for pointer in POINTER.findall(page.read_text(encoding="utf-8")):
        parts = pointer.removeprefix("minigrad.").split(".")
        if parts[-1] == "py":  # a file name such as `ops.py`, not a pointer
            continue
        obj = importlib.import_module(f"minigrad.{parts[0]}")
        for part in parts[1:]:
            if not hasattr(obj, part):
                missing.append(pointer)
                break
            obj = getattr(obj, part)
    assert not missing, f"{page.name} points at names that do not exist: {missing}"


def test_local_links_resolve() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.name} -> {target}")
    assert not broken, f"links to missing files: {broken}"


# --- docs/api.md must match the code ------------------------------------------------------------

API = ROOT / "docs" / "api.md"
ENTRY = re.compile(r"`(minigrad(?:\.\w+)+)(?:\(([^`]*)\))?`")
COVERED = [
    "minigrad",
    "minigrad.nn",
    "minigrad.nn.functional",
    "minigrad.optim",
    "minigrad.testing",
    "minigrad.viz",
    "minigrad.debug",
]


def resolve(dotted: str) -> object:
    """The object a dotted name refers to, importing modules along the way."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if not hasattr(obj, part):
            obj = importlib.import_module(".".join(parts[: i + 1]))  # a submodule
        else:
            obj = getattr(obj, part)
    return obj


def split_arguments(text: str) -> list[str]:
    """Top-level comma-separated pieces of an argument list (commas inside brackets kept)."""
    pieces, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        else:
            depth += ch in "([{"
            depth -= ch in ")]}"
        if ch == "," and depth == 0 and not quote:
            pieces.append(current.strip())
            current = ""
        else:
            current += ch
    return [p for p in [*pieces, current.strip()] if p]


def parameter_problems(label: str, obj: object, arguments: str) -> list[str]:
    """Each documented parameter of `obj` must exist, and a documented default be the real one."""
    import inspect

    import numpy as np

    parameters = inspect.signature(obj).parameters
    problems = []
    for piece in split_arguments(arguments):
        name, _, default = piece.lstrip("*").partition("=")
        name = name.strip()
        if name not in parameters:
            problems.append(f"{label}: no parameter {name!r}")
        elif default:
            actual = parameters[name].default
            documented = eval(default, {"np": np})  # noqa: S307 - our own docs
            if actual is inspect.Parameter.empty or actual != documented:
                problems.append(f"{label}: {name} defaults to {actual!r}, not {default}")
    return problems


def test_split_arguments() -> None:
    assert split_arguments('a, b=(1, 2), *shape, c="x,y"') == ["a", "b=(1, 2)", "*shape", 'c="x,y"']


def test_api_entries_exist_with_the_documented_parameters_and_defaults() -> None:

    problems = []
    entries = ENTRY.findall(API.read_text(encoding="utf-8"))
    assert len(entries) > 60
    for dotted, arguments in entries:
        try:
            obj = resolve(dotted)
        except (ImportError, AttributeError):
            problems.append(f"{dotted} does not exist")
            continue
        if arguments:
            problems += parameter_problems(dotted, obj, arguments)
    assert not problems, "docs/api.md is out of date:\n" + "\n".join(problems)


def test_api_documents_every_public_name() -> None:
    import inspect

    documented = {dotted for dotted, _ in ENTRY.findall(API.read_text(encoding="utf-8"))}
    missing = []
    for module_name in COVERED:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:  # the functions and classes defined in the module itself
            names = [
                n
                for n, obj in vars(module).items()
                if not n.startswith("_") and getattr(obj, "__module__", None) == module_name
            ]
        for name in names:
            if inspect.ismodule(getattr(module, name)):
                continue
            if f"{module_name}.{name}" not in documented:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"docs/api.md does not document: {missing}"
