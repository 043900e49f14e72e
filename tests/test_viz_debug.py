"""minigrad.viz (graph drawing) and minigrad.debug (backward trace, anomaly detection)."""

from __future__ import annotations

import re
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import debug, viz
from minigrad.grad_mode import state

# --- viz.to_dot ---------------------------------------------------------------------------------


def dot_structure(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Parse the DOT that to_dot writes: {node: label} and [(source, target, attributes)]."""
    assert text.startswith("digraph minigrad {") and text.rstrip().endswith("}")
    nodes, edges = {}, []
    for line in text.splitlines()[1:-1]:
        line = line.strip()
        edge = re.fullmatch(r"(\w+) -> (\w+)(?: \[(.*)\])?;", line)
        node = re.fullmatch(r'(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];', line)
        if edge:
            edges.append((edge.group(1), edge.group(2), edge.group(3) or ""))
        elif node:
            nodes[node.group(1)] = node.group(2)
        else:
            assert line.startswith(("rankdir=", "node [", "edge [")), f"unexpected line {line!r}"
    return nodes, edges


def small_graph():
    x = mg.Tensor(np.ones((2, 3)), requires_grad=True)
    w = mg.Tensor(np.full((3, 4), 0.5), requires_grad=True)
    c = mg.Tensor(np.arange(4.0))  # a constant
    y = ((x @ w).tanh() * c).sum(axis=1)
    return x, w, c, y


def test_to_dot_draws_every_op_and_leaf_with_shapes() -> None:
    x, w, c, y = small_graph()
    nodes, edges = dot_structure(viz.to_dot(y, names={"x": x, "w": w}))
    ops = sorted(label.split("\\n")[0] for name, label in nodes.items() if name.startswith("op"))
    assert ops == ["MatMul", "Mul", "Sum", "Tanh"]
    labels = list(nodes.values())
    assert any(lab.startswith("x\\n(2, 3) float64\\nrequires_grad") for lab in labels)
    assert any(lab.startswith("w\\n(3, 4) float64\\nrequires_grad") for lab in labels)
    assert not any("constant" in lab for lab in labels)  # c gets no gradient: not in the graph
    assert any(lab == "Sum\\n-> (2,)" for lab in labels)
    assert any(lab == "MatMul\\n-> (2, 4)" for lab in labels)
    # every edge joins declared boxes; 4 ops + 2 leaves + output = 7 boxes, 6 edges
    assert len(nodes) == 7 and len(edges) == 6
    assert all(s in nodes and t in nodes for s, t, _ in edges)


def test_to_dot_marks_operand_order_and_the_output_of_a_split() -> None:
    a = mg.Tensor([3.0], requires_grad=True)
    b = mg.Tensor([1.0], requires_grad=True)
    nodes, edges = dot_structure(viz.to_dot(a - b, names={"a": a, "b": b}))
    by_label = {label.split("\\n")[0]: name for name, label in nodes.items()}
    into_sub = {s: attrs for s, t, attrs in edges if t == by_label["Sub"]}
    assert 'label=" #0"' in into_sub[by_label["a"]]
    assert 'label=" #1"' in into_sub[by_label["b"]]
    z = mg.Tensor(np.arange(6.0), requires_grad=True)
    _, second, _ = mg.split(z, 3)
    nodes, edges = dot_structure(viz.to_dot(second.tanh()))
    assert any(label == "Split\\n-> 3 x (2,)" for label in nodes.values())
    assert any('label=" [1] (2,)"' in attrs for _, _, attrs in edges)


def test_to_dot_draws_named_and_retained_intermediates() -> None:
    x = mg.Tensor(np.ones(3), requires_grad=True)
    hidden = x * 2.0
    hidden.retain_grad()
    out = (hidden.exp() * 3.0).sum()
    out.backward()
    nodes, _ = dot_structure(viz.to_dot(out, names={"hidden": hidden}))
    label = next(lab for lab in nodes.values() if lab.startswith("hidden\\n"))
    assert "(3,) float64" in label and "grad (3,)" in label


def test_to_dot_shows_gradients_after_backward() -> None:
    x, w, c, y = small_graph()
    y.sum().backward()
    nodes, _ = dot_structure(viz.to_dot(y, names={"w": w}))
    w_label = next(label for label in nodes.values() if label.startswith("w\\n"))
    norm = np.sqrt(np.sum(w.grad**2))
    assert f"grad (3, 4) |g|={norm:.3g}" in w_label


def test_to_dot_of_a_leaf_and_of_a_deep_chain() -> None:
    leaf = mg.Tensor(np.zeros(2), requires_grad=True)
    nodes, edges = dot_structure(viz.to_dot(leaf))
    assert list(nodes.values()) == ["(2,) float64\\nrequires_grad"] and edges == []
    h = leaf
    for _ in range(sys.getrecursionlimit() + 500):  # deeper than recursion could go
        h = h + 1.0
    nodes, edges = dot_structure(viz.to_dot(h))
    assert sum(name.startswith("op") for name in nodes) == sys.getrecursionlimit() + 500


def test_to_dot_escapes_quotes_in_names() -> None:
    x = mg.Tensor([1.0], requires_grad=True)
    nodes, _ = dot_structure(viz.to_dot(x * 2, names={'say "hi"\\': x}))
    assert any(label.startswith('say \\"hi\\"\\\\') for label in nodes.values())


def test_to_dot_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.to_dot(np.ones(2))
    with pytest.raises(ValueError, match="rankdir"):
        viz.to_dot(mg.Tensor([1.0]), rankdir="up")


# --- viz.render ---------------------------------------------------------------------------------


def test_render_without_graphviz_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    _, _, _, y = small_graph()
    with pytest.raises(viz.GraphvizNotFoundError) as info:
        viz.render(y, tmp_path / "g.svg")
    message = str(info.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert not (tmp_path / "g.svg").exists()


def test_render_pipes_dot_text_to_the_dot_program(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A stand-in for Graphviz's `dot`: records its arguments and copies stdin to the -o file.
    fake = tmp_path / "dot"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        "out = args[args.index('-o') + 1]\n"
        "open(out, 'w').write(' '.join(args[:1]) + '\\n' + sys.stdin.read())\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(viz.shutil, "which", lambda name: str(fake) if name == "dot" else None)
    _, _, _, y = small_graph()
    for suffix, flag in ((".svg", "-Tsvg"), (".png", "-Tpng")):
        written = viz.render(y, tmp_path / f"graph{suffix}")
        first, rest = Path(written).read_text().split("\n", 1)
        assert first == flag and rest == viz.to_dot(y)


def test_render_dot_suffix_needs_no_graphviz_and_bad_suffix_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    _, _, _, y = small_graph()
    assert Path(viz.render(y, tmp_path / "g.dot")).read_text() == viz.to_dot(y)
    with pytest.raises(ValueError, match="format"):
        viz.render(y, tmp_path / "g.jpeg")


# --- debug.trace --------------------------------------------------------------------------------


def test_trace_records_nodes_in_topological_order_with_gradient_norms() -> None:
    x = mg.Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    with debug.trace(print_table=False) as t:
        h = x.tanh()
        (h * h + h).sum().backward()
    assert [r.op for r in t.rows] == ["Sum", "Add", "Mul", "Tanh"]
    assert [r.step for r in t.rows] == [0, 1, 2, 3]
    assert [r.shape for r in t.rows] == [(), (3,), (3,), (3,)]
    tanh = np.tanh(x.data)
    # into tanh's output: d(h^2 + h)/dh = 2h + 1, both uses summed before Tanh runs
    np.testing.assert_allclose(t.rows[3].grad_norm, np.linalg.norm(2 * tanh + 1))
    np.testing.assert_allclose(t.rows[3].grad_max, np.max(np.abs(2 * tanh + 1)))
    np.testing.assert_allclose(t.rows[2].grad_norm, np.sqrt(3))  # ones into h * h
    assert all(r.finite and r.dtype == "float64" for r in t.rows)


def test_trace_prints_a_table_and_restores_the_observer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    x = mg.Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    assert state.observers == ()
    with debug.trace():
        (x @ x).sum().backward()
    assert state.observers == ()
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["step", "op", "output", "shape", "dtype", "|grad|", "max|grad|"]
    assert out[2].split()[:3] == ["0", "Sum", "()"]
    assert out[3].split()[:4] == ["1", "MatMul", "(2,", "2)"] and "float32" in out[3]
    assert out[-1] == "backward visited 2 nodes"


def test_trace_limit_flags_nonfinite_and_restores_on_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    x = mg.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with pytest.raises(ZeroDivisionError):
        with debug.trace(limit=1):
            with np.errstate(divide="ignore", invalid="ignore"):
                ((x * 2) ** 0.5).sum().backward()  # d sqrt at 0 is inf
            raise ZeroDivisionError
    assert state.observers == ()
    out = capsys.readouterr().out
    assert "... 2 more rows (see .rows)" in out and "backward visited 3 nodes" in out
    with debug.trace(print_table=False) as t:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = (x**0.5) * 1.0
            y.sum().backward()
    assert capsys.readouterr().out == ""
    assert [r.finite for r in t.rows] == [True, True, True]
    assert "<- NaN/inf" not in t.table()
    # a non-finite gradient arriving at a node is flagged
    z = mg.Tensor(np.array([0.0]), requires_grad=True)
    with debug.trace(print_table=False) as t:
        with np.errstate(divide="ignore", invalid="ignore"):
            (z**0.5 * 1.0).tanh().sum().backward(retain_graph=True)
            ((z**0.5).log() * 1.0).sum().backward()
    assert not all(r.finite for r in t.rows)
    assert "<- NaN/inf" in t.table()


def test_trace_chains_an_existing_observer() -> None:
    seen = []
    outer = lambda node, grads: seen.append(node.fn.__name__)
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    previous = state.observers
    state.observers = (outer,)
    try:
        with debug.trace(print_table=False) as t:
            (x * 3).sum().backward()
        assert state.observers == (outer,)
    finally:
        state.observers = previous
    assert seen == ["Sum", "Mul"] and [r.op for r in t.rows] == ["Sum", "Mul"]


# --- debug.detect_anomaly -----------------------------------------------------------------------


def test_detect_anomaly_names_the_forward_op_and_the_line_that_made_it() -> None:
    x = mg.Tensor(np.array([2.0, 0.5]), requires_grad=True)
    with pytest.raises(FloatingPointError) as info:
        with debug.detect_anomaly(), np.errstate(invalid="ignore"):
            h = x * 3.0
            (h - 4.0).log()  # log(-2.5) is NaN
    message = str(info.value)
    assert message.startswith("Log produced NaN or inf in its output of shape (2,) from finite")
    assert "test_viz_debug.py" in message and "(h - 4.0).log()" in message
    assert state.anomaly is False


def test_detect_anomaly_blames_the_input_when_it_is_already_not_finite() -> None:
    x = mg.Tensor(np.array([np.inf, 1.0]), requires_grad=True)
    with pytest.raises(FloatingPointError) as info:
        with debug.detect_anomaly():
            x * 2.0
    message = str(info.value)
    assert message.startswith("input 0 of Mul (shape (2,)) already contains NaN or inf")
    assert "test_viz_debug.py" in message


def test_detect_anomaly_names_the_backward_op() -> None:
    x = mg.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with pytest.raises(FloatingPointError) as info:
        with debug.detect_anomaly(), np.errstate(divide="ignore"):
            y = (x**0.5).sum()  # finite forward; d sqrt(x)/dx = inf at 0
            y.backward()
    message = str(info.value)
    assert message.startswith("Pow.backward produced NaN or inf in the gradient of input 0")
    assert "y = (x**0.5).sum()" in message


def test_without_detect_anomaly_nan_passes_silently() -> None:
    x = mg.Tensor(np.array([-1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x.log().sum()
    assert np.isnan(y.item())


def test_detect_anomaly_nests_restores_and_decorates() -> None:
    assert not debug.is_anomaly_enabled()
    with debug.detect_anomaly():
        assert debug.is_anomaly_enabled()
        with debug.detect_anomaly(enabled=False):
            assert not debug.is_anomaly_enabled()
        assert debug.is_anomaly_enabled()
    assert not debug.is_anomaly_enabled()

    @debug.detect_anomaly()
    def step(t: mg.Tensor) -> mg.Tensor:
        assert debug.is_anomaly_enabled()
        return (t * 0.0).log()

    with pytest.raises(FloatingPointError, match="^Log produced"):
        with np.errstate(divide="ignore"):
            step(mg.Tensor([1.0], requires_grad=True))
    assert not debug.is_anomaly_enabled()


# --- ops with several outputs (split) --------------------------------------------------------


def split_graph():
    a = mg.Tensor(np.arange(12.0).reshape(2, 6) / 10, requires_grad=True)
    p, q, r = mg.split(a, 3, axis=1)
    return a, p, q, r, (p * q + r).sum()


def test_to_dot_labels_each_output_of_a_multi_output_op() -> None:
    a, *_, y = split_graph()
    nodes, edges = dot_structure(viz.to_dot(y, names={"a": a}))
    split = next(n for n, label in nodes.items() if label.startswith("Split"))
    assert nodes[split].endswith("\\n-> 3 x (2, 2)")
    labels = sorted(attrs for s, _, attrs in edges if s == split)
    assert labels == [
        'label=" #0 [0] (2, 2)"',  # p, operand 0 of p * q
        'label=" #1 [1] (2, 2)"',  # q, operand 1 of p * q
        'label=" #1 [2] (2, 2)"',  # r, operand 1 of (p * q) + r
    ]


def test_trace_reports_the_gradients_of_all_outputs_together() -> None:
    a, p, q, r, y = split_graph()
    with debug.trace(print_table=False) as t:
        y.backward()
    row = next(r for r in t.rows if r.op == "Split")
    assert row.shape == ((2, 2), (2, 2), (2, 2))
    # d/dp = q, d/dq = p, d/dr = 1: the norm over all three gradients together
    expected = np.sqrt(np.sum(q.data**2) + np.sum(p.data**2) + 4)
    np.testing.assert_allclose(row.grad_norm, expected)
    np.testing.assert_allclose(row.grad_max, max(np.abs(p.data).max(), np.abs(q.data).max(), 1))
    assert "3 x (2, 2)" in t.table()


def test_an_lstm_step_draws_its_gates_as_i_f_g_o() -> None:
    cell = mg.nn.LSTMCell(3, 2, rng=0)
    h, c = cell(mg.Tensor(np.ones((1, 3)), requires_grad=True))
    dot = viz.to_dot(h)
    labels = re.findall(r'label=" ([ifgo]) \(1, 2\)"', dot)
    assert sorted(labels) == ["f", "g", "i", "o"]
    assert "[0]" not in dot  # pieces are named, not numbered


def test_split_labels_must_name_every_piece() -> None:
    x = mg.Tensor(np.ones(4), requires_grad=True)
    a, b = mg.split(x, 2, labels="ab")
    assert a.grad_fn.output_labels == "ab"
    with pytest.raises(ValueError, match="split: 3 labels for 2 pieces"):
        mg.split(x, 2, labels="abc")
