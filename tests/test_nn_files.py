"""Module.save / load / load_state_dict: atomic saves, headers checked before anything is read,
every failure naming the file and the cause, PyTorch dicts cast as PyTorch copies them."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from oracles import require

from minigrad import nn


class Small(nn.Module):
    def __init__(self, dtype=np.float64):
        super().__init__()
        self.layer = nn.Linear(12, 4, dtype=dtype, rng=0)  # weight (4, 12): 384 bytes in float64
        self.scale = nn.Parameter(np.ones(3), dtype=dtype)


def snapshot(model: nn.Module) -> dict[str, np.ndarray]:
    return {name: p.data.copy() for name, p in model.named_parameters()}


def assert_unchanged(model: nn.Module, before: dict[str, np.ndarray]) -> None:
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)
        assert p.dtype == before[name].dtype


def npy_member(shape: tuple, dtype=np.float64, data: bytes | None = None) -> bytes:
    """A .npy file: a genuine header for (shape, dtype), then `data` (by default: all of it)."""
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False}
    np.lib.format.write_array_header_1_0(buffer, {**header, "shape": shape})
    if data is None:
        data = np.zeros(shape, dtype).tobytes()
    return buffer.getvalue() + data


def write_archive(path: Path, members: dict, compress: bool = False) -> Path:
    """A zip of `members` (name -> bytes, or a list of byte chunks, streamed)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, content in members.items():
            with archive.open(name, "w", force_zip64=True) as member:
                for chunk in [content] if isinstance(content, bytes) else content:
                    member.write(chunk)
    return path


def honest_members(model: nn.Module) -> dict[str, bytes]:
    members = {}
    for key, array in model.state_dict().items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array)
        members[f"{key}.npy"] = buffer.getvalue()
    return members


# --- save: never destroys the previous file ---------------------------------------------------


@pytest.mark.parametrize("failure", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_save_that_fails_part_way_keeps_the_previous_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "model.npz"
    Small().save(path)
    good = path.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def write_then_fail(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first member went out; half of the second, then the failure
            fp.write(b"\x93NUMPY partial")
            raise failure
        return real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    changed = Small()
    changed.scale.data = np.full(3, 7.0)
    with pytest.raises(type(failure)):
        changed.save(path)
    assert len(calls) == 2  # the write really was cut off part-way
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    monkeypatch.undo()
    changed.save(path)  # and the next save replaces it
    loaded = Small()
    loaded.load(path)
    np.testing.assert_array_equal(loaded.scale.data, np.full(3, 7.0))


def test_save_writes_exactly_the_path_with_the_usual_permissions(tmp_path):
    path = tmp_path / "weights.bin"
    Small().save(path)
    assert os.listdir(tmp_path) == ["weights.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# --- load: headers first, never more memory than the model needs -------------------------------


def peak_bytes_of(action) -> int:
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


HUGE = (50_000_000,)  # 400 MB of float64 promised by a header


@pytest.mark.parametrize("compress", [False, True], ids=["stored", "deflated"])
def test_a_header_that_promises_a_huge_member_is_refused_before_reading(tmp_path, compress):
    model = Small()
    before = snapshot(model)
    members = honest_members(model)
    if compress:  # ~100 MB of zeros (of the 400 promised) deflated to a small file: a zip bomb
        members["scale.npy"] = [npy_member(HUGE, data=b""), *[bytes(8_000_000)] * 12]
    else:  # a lying header in front of 24 bytes
        members["scale.npy"] = npy_member(HUGE, data=bytes(24))
    path = write_archive(tmp_path / "crafted.npz", members, compress)
    assert path.stat().st_size < 2_000_000
    errors = []

    def load():
        with pytest.raises(RuntimeError) as info:
            model.load(path)
        errors.append(str(info.value))

    assert peak_bytes_of(load) < 10_000_000
    assert str(path) in errors[0]
    assert "shape mismatch for 'scale': the file has shape (50000000,)" in errors[0]
    assert "the parameter has shape (3,)" in errors[0]
    assert_unchanged(model, before)


def test_unexpected_huge_members_are_never_read_with_strict_false(tmp_path):
    model, source = Small(), Small()
    source.scale.data = np.array([1.0, 2.0, 3.0])
    members = honest_members(source)
    members["surplus.npy"] = npy_member(HUGE, data=bytes(16))
    path = write_archive(tmp_path / "extra.npz", members)
    results = []
    assert peak_bytes_of(lambda: results.append(model.load(path, strict=False))) < 10_000_000
    assert results[0].unexpected_keys == ["surplus"] and results[0].missing_keys == []
    np.testing.assert_array_equal(model.scale.data, [1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"unexpected key 'surplus'"):
        Small().load(path)


# --- load: every failure names the file and the cause -------------------------------------------


def refusal(path: Path, cause: str) -> str:
    """Loading `path` fails with a ValueError matching `cause`, naming the file, and changes
    nothing; the message."""
    model = Small()
    before = snapshot(model)
    with pytest.raises(ValueError, match=cause) as info:
        model.load(path)
    assert str(path) in str(info.value)
    assert_unchanged(model, before)
    return str(info.value)


def test_a_truncated_member_says_how_many_bytes(tmp_path):
    members = honest_members(Small())
    members["layer.weight.npy"] = npy_member((4, 12), data=bytes(40))
    path = write_archive(tmp_path / "short.npz", members)
    assert "layer.weight.npy" in refusal(path, "expected 384 bytes, got 40")


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"", r"empty \(0 bytes\)"),
        (b"just some text, not an archive\n", "not a zip file"),
        (None, "cut short"),  # the first half of a real .npz
    ],
    ids=["empty", "text", "half"],
)
def test_a_file_that_is_no_archive_says_what_it_is(tmp_path, content, cause):
    path = tmp_path / "broken.npz"
    if content is None:
        Small().save(path)
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    refusal(path, cause)


def test_a_bad_member_header_and_a_corrupted_member_are_named(tmp_path):
    members = honest_members(Small())
    members["scale.npy"] = b"this is not a .npy header at all"
    refusal(
        write_archive(tmp_path / "header.npz", members),
        r"member 'scale.npy' has no valid .npy header",
    )
    good = tmp_path / "good.npz"
    Small().save(good)
    raw = bytearray(good.read_bytes())
    raw[raw.index(np.ones(3).tobytes())] ^= 0xFF  # a bit of scale's data (stored uncompressed)
    corrupted = tmp_path / "crc.npz"
    corrupted.write_bytes(bytes(raw))
    refusal(corrupted, r"member 'scale.npy' cannot be read.*CRC")


def test_a_pytorch_file_is_recognised_with_how_to_convert_it(tmp_path):
    torch = require("torch")
    theirs = torch.nn.Linear(12, 4)
    for legacy in (False, True):
        path = tmp_path / f"model{'_legacy' if legacy else ''}.pt"
        torch.save(theirs.state_dict(), path, _use_new_zipfile_serialization=not legacy)
        message = refusal(path, "PyTorch file")
        assert "model.load_state_dict({k: v.numpy() for k, v in torch.load(" in message


def test_strict_false_that_loads_nothing_says_so(tmp_path):
    model = Small()
    before = snapshot(model)
    path = tmp_path / "other.npz"
    np.savez(path, **{f"module.{k}": v for k, v in Small().state_dict().items()})  # wrapped
    result = model.load(path, strict=False)
    assert result.missing_keys == list(model.state_dict())
    assert sorted(result.unexpected_keys) == [
        "module.layer.bias",
        "module.layer.weight",
        "module.scale",
    ]
    assert_unchanged(model, before)


def test_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        Small().load(tmp_path / "nowhere.npz")


# --- dtypes: floating point is cast, as PyTorch copies into the parameter's dtype ---------------


def test_a_float32_pytorch_state_dict_loads_into_a_float64_model():
    torch = require("torch")
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 5)  # float32
    ours = nn.LSTM(3, 5)  # float64
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for name, p in ours.named_parameters():
        assert p.dtype == np.float64
        np.testing.assert_array_equal(p.data, theirs.state_dict()[name].numpy().astype(np.float64))
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    with torch.no_grad():
        expected = theirs.double()(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(ours(x)[0].data, expected, rtol=1e-12, atol=1e-12)


def test_float64_into_float32_casts_but_overflow_and_other_dtypes_are_refused(tmp_path):
    model = Small(np.float32)
    state = {k: v.astype(np.float64) + 0.5 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert all(p.dtype == np.float32 for p in model.parameters())
    np.testing.assert_array_equal(model.scale.data, np.full(3, 1.5, np.float32))
    before = snapshot(model)
    too_big = dict(state, scale=np.array([1.0, 1e300, 2.0]))
    with pytest.raises(RuntimeError, match=r"'scale' has values too large for float32.*1e\+300"):
        model.load_state_dict(too_big)
    ints = dict(state, scale=np.array([1, 2, 3]))
    with pytest.raises(RuntimeError, match=r"dtype mismatch for 'scale': the dict has int64"):
        model.load_state_dict(ints)
    with pytest.raises(RuntimeError, match=r"shape mismatch for 'scale'"):
        model.load_state_dict(dict(state, scale=np.zeros(4)))
    assert_unchanged(model, before)
    path = tmp_path / "float64.npz"
    Small(np.float64).save(path)  # a file: checked from its headers, then cast the same way
    model.load(path)
    assert model.layer.weight.dtype == np.float32
    np.testing.assert_array_equal(model.scale.data, np.ones(3, np.float32))


class WithState(nn.Module):
    """A module whose state_dict() holds more than parameters (as buffers do)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.ones(2))
        self.running = np.zeros(3)
        self.steps = np.array(0)

    def state_dict(self):
        return {**super().state_dict(), "running": self.running.copy(), "steps": self.steps.copy()}


def test_every_state_dict_entry_loads_not_only_parameters(tmp_path):
    model = WithState()
    result = model.load_state_dict(
        {"weight": np.full(2, 3.0), "running": np.arange(3.0), "steps": np.array(7)}
    )
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(model.running, [0.0, 1.0, 2.0])
    assert model.steps == 7
    with pytest.raises(RuntimeError, match=r"missing key 'running' \(an entry of shape \(3,\)"):
        model.load_state_dict({"weight": np.ones(2), "steps": np.array(1)})
    with pytest.raises(RuntimeError, match=r"dtype mismatch for 'steps': the dict has float64"):
        model.load_state_dict({"weight": np.ones(2), "running": np.ones(3), "steps": np.array(1.5)})
    assert model.steps == 7
    path = tmp_path / "state.npz"
    model.save(path)
    fresh = WithState()
    fresh.load(path)
    np.testing.assert_array_equal(fresh.running, [0.0, 1.0, 2.0])
    assert fresh.steps == 7 and fresh.steps.dtype == np.int64


class NamedLikeSavezOptions(nn.Module):
    def __init__(self):
        super().__init__()
        self.allow_pickle = nn.Parameter(np.arange(3.0))  # np.savez's own keywords
        self.file = nn.Parameter(np.arange(2.0) + 10)


def test_entries_named_like_savez_options_are_saved_and_loaded(tmp_path):
    path = tmp_path / "model.npz"
    NamedLikeSavezOptions().save(path)
    with np.load(path) as archive:
        assert sorted(archive.files) == ["allow_pickle", "file"]
    loaded = NamedLikeSavezOptions()
    loaded.allow_pickle.data = np.zeros(3)
    loaded.file.data = np.zeros(2)
    loaded.load(path)
    np.testing.assert_array_equal(loaded.allow_pickle.data, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(loaded.file.data, [10.0, 11.0])
