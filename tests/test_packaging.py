"""A non-editable install from the built wheel works outside the source tree.

Builds the wheel, installs it with its dependencies (from pip's cache or the configured
registries) into a fresh venv, and runs the installed ``edgec`` from an unrelated folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, shared_path

# Each step's limit; the whole test takes ~30 s with a warm pip cache.
STEP_TIMEOUT = 600

pytestmark = pytest.mark.slow


def run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_and_runs_outside_the_source_tree(tmp_path):
    # One test, not three: each xdist worker would rebuild a module-scoped fixture.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, ROOT], tmp_path, env)
    (wheel,) = dist.glob("edgec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "edgec/templates/README.md" in names
    assert "edgec/targets/README.md" in names
    assert "edgec/cli.py" in names
    assert not any(n.startswith(("tests/", "edgec/tests/")) for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], tmp_path, env)
    bin_dir = venv / "bin"
    run([bin_dir / "python", "-m", "pip", "install", wheel], tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    help_text = run([bin_dir / "edgec", "--help"], elsewhere, env).stdout
    assert "analyze" in help_text
    model = shared_path("models", "ad_autoencoder", "ad01_fp32.onnx")
    data = json.loads(run([bin_dir / "edgec", "analyze", model, "--json"], elsewhere, env).stdout)
    assert data["totals"]["macs"] == 640 * 128 * 2 + 128 * 128 * 6 + 128 * 8 * 2

    probe = (
        "import json, edgec, edgec.resources as r; "
        "print(json.dumps([edgec.__file__, str(r.templates_dir()), str(r.targets_dir())]))"
    )
    out = run([bin_dir / "python", "-c", probe], elsewhere, env).stdout
    package_file, templates, targets = (Path(p) for p in json.loads(out))
    package = package_file.resolve().parent
    assert package.is_relative_to(venv.resolve()), package  # not the source checkout
    assert templates.resolve() == package / "templates"
    assert targets.resolve() == package / "targets"
    assert (package / "templates" / "README.md").is_file()
    assert (package / "targets" / "README.md").is_file()
