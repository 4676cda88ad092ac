"""Open an HTML report in headless Chromium: a screenshot, the DOM as rendered, and every
console message. Tests fail on a blank page, a missing chart or any console output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Flags for a closed network and no desktop session (no sandbox: CI runs as root).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


@dataclass
class Rendered:
    screenshot: Path
    dom: str
    console: list[str]

    def svg_count(self) -> int:
        return len(re.findall(r"<svg\b", self.dom))

    def inked_fraction(self) -> float:
        """The share of pixels that are not background white."""
        grey = np.asarray(Image.open(self.screenshot).convert("L"))
        return float(np.mean(grey < 240))

    def colours(self) -> int:
        """Distinct colours in the screenshot (a page of charts has many)."""
        rgb = np.asarray(Image.open(self.screenshot).convert("RGB")).reshape(-1, 3)
        return len(np.unique(rgb, axis=0))


def chromium() -> str:
    """The browser; missing, a test fails in CI (.ci/system-packages installs it), else skips."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (Debian: apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return found


def render(page: Path, work: Path, height: int = 4000) -> Rendered:
    browser = chromium()
    profile = work / "chromium-profile"
    shot = work / f"{page.stem}.png"
    base = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size=1280,{height}"]
    url = page.resolve().as_uri()
    shown = subprocess.run(
        [*base, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120
    )
    dumped = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    console = [
        line
        for line in (shown.stderr + dumped.stderr).splitlines()
        if ":CONSOLE" in line or "Uncaught" in line
    ]
    assert shot.is_file(), f"no screenshot: {shown.stderr[-500:]}"
    return Rendered(shot, dumped.stdout, console)
