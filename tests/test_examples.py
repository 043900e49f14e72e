"""The examples run (their --smoke modes, in subprocesses); their helpers compute what they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

sys.path.insert(0, str(EXAMPLES))
import common  # noqa: E402  (examples/common.py, the examples' shared helpers)


def run_example(script: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{script} {args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def load(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:  # must need no pickle
        return {key: archive[key] for key in archive.files}


# --- char_lstm ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("char")
    result = run_example("char_lstm.py", "--smoke", "--out", str(out))
    return out, result.stdout


def test_char_lstm_smoke_trains_and_saves_a_checkpoint(smoke_run: tuple[Path, str]) -> None:
    out, stdout = smoke_run
    summary = re.search(
        r"training bits/char ([\d.]+) -> ([\d.]+) .*validation ([\d.]+) -> ([\d.]+)", stdout
    )
    assert summary, stdout
    train_before, train_after, valid_before, valid_after = map(float, summary.groups())
    vocab_size = len(set(common_corpus()))
    # an untrained model is near log2(vocabulary); training must bring both losses clearly down
    assert abs(valid_before - np.log2(vocab_size)) < 0.5
    assert train_after < train_before - 0.5 and valid_after < valid_before - 0.5
    assert "--- sample at step 25 ---" in stdout
    checkpoint = load(out / "char_lstm.npz")
    assert int(checkpoint["step"]) == 25
    assert "".join(map(chr, checkpoint["vocab"])) == "".join(sorted(set(common_corpus())))
    assert {"model/embed.weight", "model/rnn.weight_hh_l0", "model/head.bias"} <= set(checkpoint)
    assert checkpoint["model/rnn.weight_hh_l0"].shape == (4 * 24, 24)  # LSTM, hidden 24
    assert int(checkpoint["adam/head.bias/step"]) == 25


def common_corpus() -> str:
    import char_lstm

    return char_lstm.builtin_corpus()


def test_builtin_corpus_is_plain_english_of_the_promised_size() -> None:
    text = common_corpus()
    assert 15_000 <= len(text.encode("utf-8")) <= 30_000
    assert text.isascii() and text.count(" the ") > 100


def test_char_lstm_resume_continues_exactly(smoke_run: tuple[Path, str], tmp_path: Path) -> None:
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    run_example("char_lstm.py", "--smoke", "--steps", "8", "--out", str(straight))
    run_example("char_lstm.py", "--smoke", "--steps", "4", "--out", str(halves))
    resumed = run_example(
        "char_lstm.py", "--smoke", "--resume", "--steps", "4", "--out", str(halves)
    )
    assert "validation bits/char at step 4" in resumed.stdout
    a, b = load(straight / "char_lstm.npz"), load(halves / "char_lstm.npz")
    assert int(a["step"]) == int(b["step"]) == 8
    assert sorted(a) == sorted(b)
    for key in a:  # same parameters, Adam moments and carried state, bit for bit
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_char_lstm_sample_generates_from_the_checkpoint(smoke_run: tuple[Path, str]) -> None:
    out, _ = smoke_run
    result = run_example(
        "char_lstm.py", "--sample", "--out", str(out), "--length", "80", "--prime", "The "
    )
    header, text = result.stdout.split("\n", 1)
    assert header.startswith("[lstm, 25 steps of training")
    generated = text.rstrip("\n")
    assert generated.startswith("The ") and len(generated) == 4 + 80
    assert set(generated) <= set(common_corpus())


def test_char_lstm_refuses_flags_that_contradict_the_checkpoint(
    smoke_run: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = smoke_run
    result = run_example(
        "char_lstm.py", "--sample", "--cell", "gru", "--out", str(out), check=False
    )
    assert result.returncode != 0 and "conflicts with the checkpoint's lstm" in result.stderr
    missing = run_example("char_lstm.py", "--sample", "--out", str(tmp_path), check=False)
    assert missing.returncode != 0 and "no checkpoint at" in missing.stderr


def resume_from(checkpoint: dict, tmp_path: Path) -> str:
    """Run `char_lstm --resume` in-process from these arrays; the one-line exit message."""
    import char_lstm

    path = tmp_path / "edited.npz"
    np.savez(path, **checkpoint)
    with pytest.raises(SystemExit) as info:
        char_lstm.main(["--smoke", "--resume", "--steps", "1", "--checkpoint", str(path)])
    message = info.value.code
    assert isinstance(message, str) and "\n" not in message
    assert message.startswith(f"cannot use the checkpoint {path}: ")
    return message


def spoiled(key: str, value) -> callable:
    return lambda c: c.__setitem__(key, np.asarray(value))


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda c: c.pop("config/hidden"), "'config/hidden' is missing"),
        (spoiled("config/cell", "transformer"), "config/cell is 'transformer'"),
        (spoiled("config/hidden", 2.5), "'config/hidden' should be a single integer"),
        (spoiled("config/lr", float("nan")), "config/lr is nan"),
        (spoiled("step", -3), "step is -3, not >= 0"),
        (lambda c: c.__setitem__("vocab", c["vocab"][[0, 0, 1]]), "vocabulary has repeated"),
        (spoiled("model/head.weight", np.zeros((2, 2), np.float32)), "shape mismatch for 'head."),
        (spoiled("adam/head.bias/exp_avg", np.zeros(3, np.float32)), "'adam/head.bias/exp_avg' is"),
        (spoiled("adam/head.bias/step", 0), "adam/head.bias/step is 0, not >= 1"),
        (lambda c: c["adam/embed.weight/exp_avg_sq"].flat.__setitem__(0, np.nan), "non-finite"),
        (lambda c: c.pop("adam/head.bias/exp_avg"), "'adam/head.bias/exp_avg' is missing"),
        (spoiled("state/0", np.zeros((1, 8, 5), np.float32)), "'state/0' is float32 (1, 8, 5)"),
    ],
    ids=[
        "missing-config",
        "cell",
        "hidden-type",
        "lr",
        "step",
        "vocab",
        "model-shape",
        "adam-shape",
        "adam-step",
        "adam-nan",
        "adam-missing",
        "state",
    ],
)
def test_char_lstm_resume_refuses_a_bad_checkpoint_in_one_line(
    smoke_run: tuple[Path, str], tmp_path: Path, edit, reason: str
) -> None:
    out, _ = smoke_run
    checkpoint = load(out / "char_lstm.npz")
    edit(checkpoint)
    assert reason in resume_from(checkpoint, tmp_path)


def test_char_lstm_unreadable_checkpoint_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "char_lstm.npz"
    path.write_bytes(b"not a checkpoint at all")
    result = run_example("char_lstm.py", "--smoke", "--resume", "--out", str(tmp_path), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "not a readable .npz checkpoint" in result.stderr and str(path) in result.stderr


def test_char_lstm_save_that_fails_part_way_keeps_the_previous_checkpoint(
    smoke_run: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import char_lstm

    out, _ = smoke_run
    path = tmp_path / "char_lstm.npz"
    path.write_bytes((out / "char_lstm.npz").read_bytes())
    good = path.read_bytes()
    vocab = sorted(set(common_corpus()))
    model = char_lstm.CharModel(len(vocab), 4, 6, "gru", "float64")
    config = dict(cell="gru", dtype="float64", hidden=6, embed=4, seq_len=5, batch=2, lr=0.1)
    real_write, calls = np.lib.format.write_array, []

    def write_then_fail(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            fp.write(b"\x93NUMPY partial")
            raise OSError("No space left on device")
        return real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    optimizer = mg.optim.Adam(model.parameters())
    with pytest.raises(OSError, match="No space left"):
        char_lstm.save_checkpoint(path, model, optimizer, 0, None, vocab, config)
    assert path.read_bytes() == good and sorted(os.listdir(tmp_path)) == ["char_lstm.npz"]
    monkeypatch.undo()
    char_lstm.save_checkpoint(path, model, optimizer, 0, None, vocab, config)
    assert load(path)["config/cell"].item() == "gru"


# --- the studies: adding_problem, gradient_flow -------------------------------------------------


def table_rows(text: str) -> list[list[str]]:
    """The cells of a markdown table, header first, the |---:| line left out."""
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines()]
    return [rows[0]] + rows[2:]


# The columns docs/lstm_gru.md quotes from each command's table.
ADDING_COLUMNS = ["cell", "T", "seed", "test MSE", "within 0.04", "first step < 0.1"]
ADDING_COLUMNS += ["first step < 0.01", "steps run", "seconds"]
STATE_COLUMNS = ["cell", "decay per step (init)", "decay per step (trained)"]
STATE_COLUMNS += ["ratio 29 steps back (init)", "ratio 29 back (trained)", "test MSE at T=6"]


def test_adding_problem_smoke_writes_plot_and_table(tmp_path: Path) -> None:
    result = run_example("adding_problem.py", "--smoke", "--out", str(tmp_path))
    assert (tmp_path / "adding_problem.png").read_bytes()[:8] == PNG_MAGIC
    table = (tmp_path / "adding_problem.md").read_text()
    assert table in result.stdout
    header, *rows = table_rows(table)
    assert header == ADDING_COLUMNS
    assert [(r[0], r[1]) for r in rows] == [
        (cell, T) for T in ("6", "12") for cell in ("rnn", "lstm", "lstm-fb1", "gru")
    ]
    errors = np.array([float(r[3]) for r in rows])
    assert np.all(np.isfinite(errors)) and np.all(errors < 1.0)
    assert all(r[7] == "20" for r in rows)  # the smoke budget, no early stop in 20 steps


def test_adding_problem_smoke_is_the_same_compiled_and_eager(tmp_path: Path) -> None:
    tables, outputs = [], []
    for flags in ([], ["--eager"]):
        out = tmp_path / ("eager" if flags else "compiled")
        result = run_example(
            "adding_problem.py", "--smoke", "--lengths", "6", *flags, "--out", str(out)
        )
        outputs.append(result.stdout)
        tables.append([row[:8] for row in table_rows((out / "adding_problem.md").read_text())])
    assert tables[0] == tables[1] and len(tables[0]) == 5  # header and 4 cells, seconds left out
    compiled = r"\(\d+s, compiled in \d+\.\d\ds, test \d+\.\d\ds\)"  # the step's, the test's
    assert re.search(compiled, outputs[0]) and ", eager)" in outputs[1]
    assert "compiled in" not in outputs[1]


def test_adding_problem_takes_any_cell_by_name_and_stops_early(tmp_path: Path) -> None:
    args = ["--smoke", "--cells", "GRUCell", "LSTM(forget_bias=2.0)", "--lengths", "4"]
    args += ["--steps", "400", "--every", "10", "--patience", "1", "--hidden", "12"]
    args += ["--variant", "hochreiter", "--batch", "16", "--out", str(tmp_path)]
    result = run_example("adding_problem.py", *args)
    header, *rows = table_rows((tmp_path / "adding_problem.md").read_text())
    assert "baseline MSE 0.042" in result.stdout
    assert header[5:7] == ["first step < 0.025", "first step < 0.0025"]  # 60% and 6% of 1/24
    assert [r[0] for r in rows] == ["GRUCell", "LSTM(forget_bias=2.0)"]
    for row in rows:  # T=4 is easy: stopped at the first measurement below 0.0025
        solved, ran = int(row[6]), int(row[7])
        assert ran == solved < 400 and float(row[3]) <= 0.0025


@pytest.mark.parametrize(
    ("script", "shown"),
    [
        ("adding_problem.py", "(default: 3000)"),
        ("gradient_flow.py", "(default: 1000)"),
        ("lstm_variants.py", "(default: 100)"),
    ],
)
def test_help_shows_the_defaults(script: str, shown: str) -> None:
    assert shown in run_example(script, "--help").stdout


def test_help_shows_the_paper_settings_as_options() -> None:
    shown = " ".join(run_example("adding_problem.py", "--help").stdout.split())
    assert "--rmsprop-alpha RMSPROP_ALPHA" in shown and "(default: 0.99)" in shown
    assert "--clip-mode {norm,value}" in shown and "(default: norm)" in shown


def test_rmsprop_alpha_reaches_the_optimizer() -> None:
    model = common.SequenceModel("gru", 3, rng=0)
    opt = common.make_optimizer("rmsprop", model.parameters(), None, rmsprop_alpha=0.9)
    assert isinstance(opt, mg.optim.RMSprop)
    assert opt.param_groups[0]["alpha"] == 0.9 and opt.param_groups[0]["lr"] == 1e-3


@pytest.mark.parametrize("mode", ["norm", "value"])
def test_clip_gradients_by_norm_or_by_entry(mode: str) -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((4, 3)) * 3, rng.standard_normal(5) * 3]
    params = [nn.Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.copy()
    common.clip_gradients(params, 0.5, mode)
    got = [p.grad for p in params]
    if mode == "value":
        for g, c in zip(grads, got):
            np.testing.assert_array_equal(c, np.clip(g, -0.5, 0.5))
    else:
        total = np.sqrt(sum(np.sum(g**2) for g in grads))
        for g, c in zip(grads, got):
            np.testing.assert_allclose(c, g * 0.5 / total, rtol=1e-6)
    with pytest.raises(ValueError, match="clip mode must be 'norm' or 'value', got 'max'"):
        common.clip_gradients(params, 0.5, "max")


@pytest.mark.parametrize(("cell", "gates"), [("lstm-fb1", 4), ("gru", 3), ("rnn", 1)])
def test_glorot_init_draws_each_gate_block_as_arjovsky_et_al(cell: str, gates: int) -> None:
    """U(+-sqrt(6 / (fan_in + fan_out))) per gate block, zero biases but the forget gates'."""
    hidden, inputs = 40, 2
    model = common.SequenceModel(cell, hidden, inputs=inputs, rng=0)
    model.glorot_(3)
    params = dict(model.named_parameters())
    bounds = {
        "rnn.weight_ih_l0": np.sqrt(6 / (inputs + hidden)),
        "rnn.weight_hh_l0": np.sqrt(6 / (2 * hidden)),
        "head.weight": np.sqrt(6 / (hidden + 1)),
    }
    for name, bound in bounds.items():
        w = params[name].data
        assert w.shape[0] == (1 if name == "head.weight" else gates * hidden)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
        if w.size > 1000:  # a uniform's variance is bound^2 / 3
            assert np.var(w) == pytest.approx(bound**2 / 3, rel=0.15)
    forget = np.zeros(gates * hidden)
    if cell == "lstm-fb1":
        forget[hidden : 2 * hidden] = 1.0  # PyTorch's gate order: i, f, g, o
    np.testing.assert_array_equal(params["rnn.bias_hh_l0"].data, forget)
    np.testing.assert_array_equal(params["rnn.bias_ih_l0"].data, 0)
    np.testing.assert_array_equal(params["head.bias"].data, 0)
    again = common.SequenceModel(cell, hidden, inputs=inputs, rng=5)
    again.glorot_(3)  # the draws depend on the seed given, not on the model's own
    np.testing.assert_array_equal(again.head.weight.data, model.head.weight.data)


def test_glorot_init_is_refused_for_a_cell_class() -> None:
    result = run_example(
        "adding_problem.py", "--smoke", "--init", "glorot", "--cells", "GRUCell", check=False
    )
    assert result.returncode == 2
    assert "glorot initialisation: only for the layers rnn, lstm, lstm-fb1, gru, not 'GRUCell'" in (
        result.stderr
    )


VARIANT_COLUMNS = ["variant", "cell", "adding T=6 error", "solved", "step solved"]
VARIANT_COLUMNS += ["copy delay 3 error", "solved", "step solved", "seconds"]


def test_lstm_variants_smoke_writes_the_table(tmp_path: Path) -> None:
    result = run_example("lstm_variants.py", "--smoke", "--out", str(tmp_path))
    table = (tmp_path / "lstm_variants.md").read_text()
    assert table in result.stdout
    header, *rows = table_rows(table)
    assert header == VARIANT_COLUMNS
    assert [r[:2] for r in rows] == [["lstm", "lstm"], ["gru", "gru"]]
    for row in rows:
        assert 0 < float(row[2]) < 1.0 and 0 <= float(row[5]) <= 1.0
        assert row[3] == row[6] == "0/1" and row[4] == row[7] == "-"  # 10 steps solve nothing


def test_lstm_variants_smoke_is_the_same_compiled_and_eager(tmp_path: Path) -> None:
    """Both tasks' test measurements (the adding MSE, the copy error) compiled and eager."""
    tables, outputs = [], []
    for flags in ([], ["--eager"]):
        out = tmp_path / ("eager" if flags else "compiled")
        result = run_example("lstm_variants.py", "--smoke", *flags, "--out", str(out))
        outputs.append(result.stdout)
        tables.append([row[:8] for row in table_rows((out / "lstm_variants.md").read_text())])
    assert tables[0] == tables[1] and len(tables[0]) == 3  # header, lstm, gru; seconds left out
    assert outputs[0].count(", test 0.") == 4 and ", test" not in outputs[1]  # 2 cells x 2 tasks


@pytest.mark.parametrize("every_step", [False, True])
def test_compiled_test_forward_is_the_eager_one(every_step: bool) -> None:
    """The test measurement's forward, compiled (traced once, forward only) and eager."""
    model = common.SequenceModel("lstm", 6, outputs=3, rng=0)
    compiled = common.evaluation(model, compiled=True, every_step=every_step)
    eager = common.evaluation(model, compiled=False, every_step=every_step)
    x = mg.Tensor(common.adding_batch(np.random.default_rng(1), 9, 16)[0])
    with mg.no_grad():
        expected = model(x, every_step=every_step).data
        for _ in range(3):
            got = compiled(x).data
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(eager(x).data, expected)
        model.head.bias.data += 1.0  # an optimizer step in between: the program reads it anew
        np.testing.assert_allclose(compiled(x).data, expected + 1.0, rtol=1e-5, atol=1e-6)
    assert got.shape == ((9, 16, 3) if every_step else (16, 3))
    assert compiled.compiled is not None and compiled.compiled.traces == 1
    assert compiled.compile_seconds is not None and eager.compile_seconds is None


def test_copy_batch_repeats_the_symbols_after_the_delimiter() -> None:
    import lstm_variants as lv

    x, y = lv.copy_batch(np.random.default_rng(0), 7, 64)
    assert x.shape == (7 + 2 * lv.SYMBOLS, 64, lv.ALPHABET + 2) and x.dtype == np.float32
    ids = x.argmax(axis=-1)
    assert np.all(x.sum(axis=-1) == 1)  # one-hot
    assert np.all((ids[: lv.SYMBOLS] >= 1) & (ids[: lv.SYMBOLS] <= lv.ALPHABET))
    assert np.all(ids[lv.SYMBOLS + 6] == lv.ALPHABET + 1)  # the delimiter, after 6 blanks
    assert np.all(np.delete(ids, list(range(lv.SYMBOLS)) + [lv.SYMBOLS + 6], axis=0) == 0)
    np.testing.assert_array_equal(y[-lv.SYMBOLS :], ids[: lv.SYMBOLS])
    assert np.all(y[: -lv.SYMBOLS] == 0)


def test_cell_names_are_refused_before_training() -> None:
    for cell, message in [
        ("Transformer", "minigrad.nn has no module class 'Transformer'"),
        ("LSTM(", "cell 'LSTM(': expected a class name"),
        ("LSTM(forget_bias=x)", "expected a class name, optionally with keywords"),
    ]:
        bad = run_example("adding_problem.py", "--smoke", "--cells", cell, check=False)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr


def test_gradient_flow_smoke_writes_plots_and_tables(tmp_path: Path) -> None:
    result = run_example("gradient_flow.py", "--smoke", "--out", str(tmp_path))
    for name in ("gradient_flow", "state_gradients"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        assert (tmp_path / f"{name}.md").read_text() in result.stdout
    rows = table_rows((tmp_path / "gradient_flow.md").read_text())
    assert rows[0][1:5] == ["rnn (init)", "gru (init)", "lstm (init)", "lstm-fb1 (init)"]
    distance_zero = [float(c) for c in rows[1][1:]]
    assert distance_zero == [1.0] * 8  # each profile is relative to the last step
    ratios = np.array([[float(c) for c in row[1:]] for row in rows[1:-1]])
    assert np.all(np.isfinite(ratios)) and np.all(ratios > 0)
    header, *states = table_rows((tmp_path / "state_gradients.md").read_text())
    assert header == STATE_COLUMNS
    assert [r[0] for r in states] == ["rnn", "gru", "lstm", "lstm-fb1"]
    decays = np.array([[float(c) for c in r[1:3]] for r in states])
    assert np.all((decays > 0) & (decays < 1.5))


def test_gradient_profile_matches_finite_differences() -> None:
    import gradient_flow

    model = common.SequenceModel("lstm", 3, dtype=np.float64, rng=3)
    rng = np.random.default_rng(0)
    x, y = common.adding_batch(rng, 5, 2, dtype=np.float64)
    profile = gradient_flow.gradient_profile(model, x, y)
    numeric = numeric_gradient(lambda values: loss_of(model, values, y), x)
    norms = np.sqrt((numeric**2).sum(axis=(1, 2)))[::-1]
    np.testing.assert_allclose(profile, norms / norms[0], rtol=1e-5)


def loss_of(model: common.SequenceModel, x: np.ndarray, y: np.ndarray) -> float:
    with mg.no_grad():
        return nn.functional.mse_loss(model(x), y).item()


def numeric_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of f at x, one entry at a time."""
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (f(up) - f(down)) / (2 * eps)
    return numeric


@pytest.mark.parametrize("cell", ["rnn", "lstm-fb1", "gru"])
def test_state_gradient_norms_match_finite_differences(cell: str) -> None:
    """||dL/dh_t||, read by the hooks, against perturbing h_t itself mid-sequence."""
    import gradient_flow

    model = common.SequenceModel(gradient_flow.CELLS[cell], 3, dtype=np.float64, rng=5)
    x, y = common.adding_batch(np.random.default_rng(2), 4, 2, dtype=np.float64)
    norms = gradient_flow.state_gradient_norms(model, x, y)
    assert all(p.grad is not None for p in model.parameters())  # one real backward ran
    recurrent = model.rnn.cell
    for t in range(4):
        with mg.no_grad():
            state = None
            for s in range(t + 1):
                state = recurrent(x[s], state)

        def finish(h: np.ndarray, t=t, state=state) -> float:
            with mg.no_grad():
                current = (mg.Tensor(h), state[1]) if isinstance(state, tuple) else mg.Tensor(h)
                for s in range(t + 1, 4):
                    current = recurrent(x[s], current)
                last = current[0] if isinstance(current, tuple) else current
                return nn.functional.mse_loss(model.head(last), y).item()

        h_t = (state[0] if isinstance(state, tuple) else state).data
        numeric = numeric_gradient(finish, h_t)
        np.testing.assert_allclose(norms[t], np.linalg.norm(numeric), rtol=1e-5)


def test_norm_does_not_underflow_where_the_entries_are_representable() -> None:
    import gradient_flow

    tiny = np.array([3e-200, 4e-200])
    assert np.linalg.norm(tiny) == 0.0  # the squares underflow
    assert gradient_flow.norm(tiny) == pytest.approx(5e-200)
    assert gradient_flow.norm(np.zeros(3)) == 0.0


def test_decay_per_step_recovers_a_geometric_rate() -> None:
    import gradient_flow

    norms = 3.0 * 0.8 ** np.arange(50)[::-1]  # ||dL/dh_t|| = 3 * 0.8^(T - t)
    assert gradient_flow.decay_per_step(norms) == pytest.approx(0.8)
    norms[:10] = 0.0  # underflowed steps are left out of the fit
    assert gradient_flow.decay_per_step(norms) == pytest.approx(0.8)


def test_adding_batch_marks_two_steps_and_sums_them() -> None:
    x, y = common.adding_batch(np.random.default_rng(1), 9, 50)
    assert x.shape == (9, 50, 2) and y.shape == (50, 1) and x.dtype == y.dtype == np.float32
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:4].sum(axis=0) == 1)  # one mark in each half
    assert 0 <= x[..., 0].min() and x[..., 0].max() < 1
    expected = [x[markers[:, b] == 1, b, 0].sum() for b in range(50)]
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-6)


def test_adding_batch_hochreiter_variant() -> None:
    x, y = common.adding_batch(np.random.default_rng(4), 40, 400, "hochreiter", np.float64)
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2) and np.all(markers[20:].sum(axis=0) == 0)
    assert np.all(markers[:10].sum(axis=0) >= 1)  # the first mark within the first ten steps
    assert x[..., 0].min() < -0.9 and x[..., 0].max() > 0.9
    expected = [0.5 + x[markers[:, b] == 1, b, 0].sum() / 4 for b in range(400)]
    np.testing.assert_allclose(y[:, 0], expected)
    assert abs(np.mean((y - 0.5) ** 2) - common.BASELINES["hochreiter"]) < 0.006


def mse_of(model: common.SequenceModel):
    return lambda x, y: nn.functional.mse_loss(model(x), y)


def test_adding_training_lowers_the_test_error() -> None:
    model = common.SequenceModel("gru", 8, rng=0)
    test_x, test_y = common.adding_batch(np.random.default_rng(9), 4, 256)
    error = lambda: common.adding_scores(model, test_x, test_y)[0]  # noqa: E731
    curve = common.train(
        model,
        lambda rng: common.adding_batch(rng, 4, 16),
        mse_of(model),
        error,
        steps=60,
        every=20,
        rng=np.random.default_rng(0),
    )
    assert curve.steps == [0, 20, 40, 60]
    assert curve.errors[-1] < 0.7 * curve.errors[0]
    assert curve.compile_seconds is not None and curve.compile_seconds > 0


@pytest.mark.parametrize(
    ("cell", "dtype"),
    [("lstm", np.float32), ("gru", np.float32), ("LayerNormLSTMCell", np.float64)],
)
def test_compiled_and_eager_training_reach_the_same_test_error(cell: str, dtype) -> None:
    """40 steps: the compiled step's test errors are the eager step's, to float rounding.

    (Layer norm in float64: in float32 the rounding of its near-zero gradients, which Adam
    scales up to full-size steps, moves the errors by about 1% within 40 steps.)"""
    finals = []
    for compiled in (True, False):
        model = common.SequenceModel(cell, 8, dtype=dtype, rng=1)
        test_x, test_y = common.adding_batch(np.random.default_rng(3), 10, 64, dtype=dtype)
        curve = common.train(
            model,
            lambda rng: common.adding_batch(rng, 10, 8, dtype=dtype),
            mse_of(model),
            lambda: common.adding_scores(model, test_x, test_y)[0],  # noqa: B023
            steps=40,
            every=20,
            compiled=compiled,
            rng=np.random.default_rng(2),
        )
        assert (curve.compile_seconds is not None) == compiled
        finals.append(curve.errors)
    assert finals[0][0] == finals[1][0]  # the same model before any step
    assert finals[0][-1] != pytest.approx(finals[0][0], rel=1e-3)  # the steps changed it
    np.testing.assert_allclose(finals[0], finals[1], rtol=1e-5)


def test_a_step_that_cannot_be_compiled_runs_eagerly_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = common.SequenceModel("rnn", 4, rng=0)
    taken = []

    def reads_a_value(x: mg.Tensor, y: mg.Tensor) -> mg.Tensor:
        loss = nn.functional.mse_loss(model(x), y)
        taken.append(loss.item())  # a value read inside: mg.compile refuses it
        return loss

    curve = common.train(
        model,
        lambda rng: common.adding_batch(rng, 5, 4),
        reads_a_value,
        lambda: 1.0,
        steps=3,
        every=3,
        rng=np.random.default_rng(0),
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "cannot compile" in lines[0] and "running it eagerly" in lines[0]
    assert "reads_a_value" in lines[0]
    assert curve.steps == [0, 3] and curve.compile_seconds is None
    assert len(taken) == 3  # the trace stopped at .item(); then 3 eager steps, none lost


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_char_lstm_other_cells_train_on_a_given_text(cell: str, tmp_path: Path) -> None:
    text = tmp_path / "mine.txt"
    text.write_text(common_corpus()[:3000], encoding="utf-8")
    out = tmp_path / "out"
    result = run_example(
        "char_lstm.py", "--smoke", "--cell", cell, "--text", str(text), "--out", str(out)
    )
    assert f"{cell.upper()} char model" in result.stdout and "mine.txt" in result.stdout
    checkpoint = load(out / "char_lstm.npz")
    assert checkpoint["config/cell"].item() == cell
    assert "state/0" in checkpoint and "state/1" not in checkpoint  # h only: no LSTM cell state
    resume = ["char_lstm.py", "--smoke", "--resume", "--steps", "2", "--out", str(out)]
    resumed = run_example(*resume, "--text", str(text))
    assert "validation bits/char at step 27" in resumed.stdout
    other = run_example(*resume, check=False)  # the built-in corpus has characters mine lacks
    assert other.returncode != 0 and "vocabulary lacks" in other.stderr


def test_progress_falls_back_to_plain_lines_without_tqdm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `from tqdm import tqdm` fail
    progress = common.Progress(40, desc="training")
    assert progress.bar is None
    for step in range(40):
        progress.update(loss=1.0 / (step + 1))
    progress.write("a sample")
    progress.close()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 21 and lines[-1] == "a sample"  # every 2 steps (5%), then the write
    assert lines[0].startswith("training 2/40  loss 0.500") and "40/40" in lines[-2]


def test_lstm_graph_writes_dot_and_prints_the_trace(tmp_path: Path) -> None:
    result = run_example("lstm_graph.py", "--smoke", "--out", str(tmp_path))
    dot = (tmp_path / "lstm_step.dot").read_text()
    assert dot.startswith("digraph minigrad {") and "Split" in dot and "weight_hh" in dot
    svg_written = (tmp_path / "lstm_step.svg").exists()
    assert svg_written == ("wrote " + str(tmp_path / "lstm_step.svg") in result.stdout)
    assert svg_written or "apt-get install graphviz" in result.stdout
    assert re.search(r"^backward visited \d+ nodes$", result.stdout, re.MULTILINE)
    assert re.search(r"^\d+ +Sigmoid +\(2, 4\)", result.stdout, re.MULTILINE)
