"""A TVM build on a board: ``--device ssh://USER@HOST`` (copy OUT, run the runner over ssh's
stdio) with stand-in ``ssh``/``scp`` that run here, and ``--device PORT`` with the runner
started on the far end of a pseudo-terminal pair, as on a board's serial gadget."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import tty

import numpy as np
import onnx
import pytest

from edgec.errors import ValidationError
from edgec.harness.linux import SshAddress, parse_ssh
from tests.conftest import shared_path
from tests.tvm_cases import shared_inputs
from tests.tvm_helpers import (
    check_float_validation,
    compile_tvm,
    onnxruntime_outputs,
    validate_cli,
)

FAKE_SSH = """#!/usr/bin/env bash
# Stand-in for ssh: drops the options and the host, runs the command in the fake board's home.
while [[ $1 == -* ]]; do case $1 in -o|-p) shift 2 ;; *) shift ;; esac; done
echo "$1" >> "$FAKE_BOARD/hosts"
shift
cd "$FAKE_BOARD/home" && exec bash -c "$*"
"""
FAKE_SCP = """#!/usr/bin/env bash
# Stand-in for scp: copies into the fake board's home (HOST:PATH -> $FAKE_BOARD/home/PATH).
args=()
while (($#)); do case $1 in -o|-P) shift 2 ;; -r) shift ;; *) args+=("$1"); shift ;; esac; done
dest=${args[-1]#*:}
unset 'args[-1]'
cp -r "${args[@]}" "$FAKE_BOARD/home/$dest"
"""


@pytest.fixture
def fake_board(tmp_path, monkeypatch):
    board = tmp_path / "board"
    (board / "home").mkdir(parents=True)
    bin_dir = board / "bin"
    bin_dir.mkdir()
    for name, text in (("ssh", FAKE_SSH), ("scp", FAKE_SCP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    # The board's python3 is this one (it has numpy and the TVM runtime).
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_BOARD", str(board))
    return board


def _hello_world(tmp_path):
    model = shared_path("models", "hello_world_sine", "hello_world_float.onnx")
    x = shared_inputs("hello_world")
    np.savez(tmp_path / "data.npz", x=x)
    out = tmp_path / "out"
    compile_tvm(model, out, "host")
    name = onnx.load(str(model)).graph.input[0].name
    return out, onnxruntime_outputs(model, {name: x})


def test_ssh_device_copies_the_build_and_runs_it_over_stdio(tmp_path, fake_board):
    out, expected = _hello_world(tmp_path)
    status, report, saved = validate_cli(out, tmp_path / "data.npz", "ssh://pi@board.local")
    check_float_validation(status, report, saved, expected)
    assert report["device"] == "ssh:pi@board.local"
    assert report["timing"] == "wall-clock on the board (pi@board.local)"
    copied = next((fake_board / "home").glob("edgec-*"))
    assert (copied / "model.so").read_bytes() == (out / "model.so").read_bytes()
    assert (copied / "runner" / "edgec" / "protocol.py").is_file()
    assert set((fake_board / "hosts").read_text().split()) == {"pi@board.local"}


def test_ssh_addresses():
    assert parse_ssh("ssh://pi@rpi:2222/models/kws", "d") == SshAddress(
        "pi@rpi", 2222, "models/kws"
    )
    assert parse_ssh("ssh://rpi", "edgec-x") == SshAddress("rpi", None, "edgec-x")
    with pytest.raises(ValidationError, match="expected ssh://USER@HOST"):
        parse_ssh("ssh://pi@rpi:notaport", "d")


def _bridge(a: int, b: int, stop: threading.Event) -> None:
    """Copy bytes both ways between two pty masters: a null-modem cable."""
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(a, selectors.EVENT_READ, b)
    selector.register(b, selectors.EVENT_READ, a)
    while not stop.is_set():
        for key, _ in selector.select(0.05):
            try:
                data = os.read(key.fd, 65536)
            except OSError:
                return
            os.write(key.data, data)


def test_serial_device_talks_to_a_runner_started_on_the_board(tmp_path):
    out, expected = _hello_world(tmp_path)
    board_master, board_slave = os.openpty()
    host_master, host_slave = os.openpty()
    # A board's UART does not echo; a fresh pty would, until the runner makes it raw.
    tty.setraw(board_slave)
    stop = threading.Event()
    bridge = threading.Thread(target=_bridge, args=(board_master, host_master, stop), daemon=True)
    bridge.start()
    runner = subprocess.Popen(
        [sys.executable, str(out / "runner" / "runner.py"), "--serial", os.ttyname(board_slave)]
    )
    try:
        status, report, saved = validate_cli(out, tmp_path / "data.npz", os.ttyname(host_slave))
        check_float_validation(status, report, saved, expected)
        assert report["device"] == os.ttyname(host_slave)
    finally:
        runner.kill()
        runner.wait()
        stop.set()
        bridge.join()
        for fd in (board_master, board_slave, host_master, host_slave):
            os.close(fd)


def test_board_without_tvm_runtime_is_named(tmp_path, fake_board, capsys):
    out, _ = _hello_world(tmp_path)
    # A board whose Python has no site packages: neither numpy nor TVM.
    (fake_board / "bin" / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    status, _, _ = validate_cli(out, tmp_path / "data.npz", "ssh://pi@board.local")
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err
    assert "needs numpy and the TVM runtime (pip install apache-tvm)" in err
