"""Sample data readers: .npz, folders of .npy and raw .bin with labels, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.data import PortSpec, load_dataset
from edgec.errors import ValidationError

SPEC = PortSpec("x", np.dtype(np.float32), (1, 2, 3))


def test_npz_accepts_both_stackings(tmp_path, rng):
    data = rng.normal(size=(4, 1, 2, 3)).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=data, y=np.arange(4))
    np.savez(tmp_path / "b.npz", x=data[:, 0])  # the batch dim replaced by N
    a = load_dataset(tmp_path / "a.npz", [SPEC])
    b = load_dataset(tmp_path / "b.npz", [SPEC])
    assert np.array_equal(a.inputs["x"], b.inputs["x"]) and a.inputs["x"].shape == (4, 1, 2, 3)
    assert a.labels.tolist() == [0, 1, 2, 3] and b.labels is None


def test_npz_by_input_name(tmp_path):
    specs = [
        PortSpec("a", np.dtype(np.float32), (1, 2)),
        PortSpec("b", np.dtype(np.float32), (1, 3)),
    ]
    np.savez(
        tmp_path / "d.npz", a=np.ones((2, 1, 2), np.float32), b=np.zeros((2, 1, 3), np.float32)
    )
    data = load_dataset(tmp_path / "d.npz", specs)
    assert len(data) == 2 and data.sample(1)["b"].shape == (1, 3)


def test_npy_folder_in_name_order(tmp_path):
    for i in (2, 0, 1):
        np.save(tmp_path / f"s{i}.npy", np.full((1, 2, 3), i, np.float32))
    data = load_dataset(tmp_path, [SPEC])
    assert [float(data.inputs["x"][i].flat[0]) for i in range(3)] == [0, 1, 2]


def test_bin_folder_with_labels_and_dequantization(tmp_path):
    for i in range(3):
        np.array([i, -i, 1, 2, 3, 4], np.int8).tofile(tmp_path / f"f{i}.bin")
    (tmp_path / "labels.csv").write_text("f0.bin,9,4\nf1.bin,9,5\nf2.bin,9,6\n")
    data = load_dataset(
        tmp_path,
        [SPEC],
        tmp_path / "labels.csv",
        input_dtype="int8",
        data_scale=0.5,
        data_zero_point=1,
    )
    assert data.labels.tolist() == [4, 5, 6]
    assert data.inputs["x"][2].reshape(-1)[:2].tolist() == [0.5, -1.5]  # (q - 1) * 0.5


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda d: np.savez(d / "x.npz", x=np.zeros((2, 5), np.float32)), "does not fit"),
        (
            lambda d: np.savez(d / "x.npz", z=np.zeros((2, 1, 2, 3), np.float32)),
            "no array for input",
        ),
        (
            lambda d: np.savez(d / "x.npz", x=np.full((2, 1, 2, 3), np.inf, np.float32)),
            "NaN or Inf",
        ),
        (lambda d: (d / "x.npz").write_bytes(b"not a zip"), "unreadable"),
    ],
)
def test_bad_npz(tmp_path, setup, match):
    setup(tmp_path)
    with pytest.raises(ValidationError, match=match):
        load_dataset(tmp_path / "x.npz", [SPEC])


def test_bin_of_wrong_size_names_the_file(tmp_path):
    np.zeros(5, np.float32).tofile(tmp_path / "bad.bin")
    with pytest.raises(ValidationError, match=r"bad\.bin: 20 bytes, expected 24"):
        load_dataset(tmp_path, [SPEC])


def test_labels_that_do_not_match_the_files(tmp_path):
    np.zeros(6, np.float32).tofile(tmp_path / "a.bin")
    (tmp_path / "labels.csv").write_text("other.bin,1\n")
    with pytest.raises(ValidationError, match="no label for 1 sample"):
        load_dataset(tmp_path, [SPEC], tmp_path / "labels.csv")


def test_integer_data_for_a_float_input_needs_its_scale(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 1, 2, 3), np.int8))
    with pytest.raises(ValidationError, match="--data-scale"):
        load_dataset(tmp_path / "x.npz", [SPEC])


def test_float_data_for_an_int8_input_is_quantized_with_its_parameters(tmp_path):
    spec = PortSpec("x", np.dtype(np.int8), (1, 2), scale=0.5, zero_point=-3)
    np.savez(tmp_path / "x.npz", x=np.array([[[1.0, -2.25]]], np.float32))
    data = load_dataset(tmp_path / "x.npz", [spec])
    assert data.inputs["x"].tolist() == [[[-1, -7]]]  # round(2) - 3; round(-4.5) = -4 (even), - 3
