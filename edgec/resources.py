"""Where edgec's data folders live: ``templates/`` and ``targets/``.

An installed wheel carries them inside the package (``edgec/templates``, ``edgec/targets``);
a source checkout (or an editable install) keeps them at the top level beside ``edgec/``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import jinja2

from edgec.errors import EdgecError


def _data_dir(name: str) -> Path:
    """The folder ``name`` from the installed package, else from the source checkout."""
    packaged = files("edgec") / name
    if packaged.is_dir():
        # A wheel installed into site-packages is a plain folder, so this is a real path.
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise EdgecError(
        f"edgec's {name}/ folder is missing (looked in {packaged} and {checkout}); reinstall edgec"
    )


def templates_dir() -> Path:
    """The Jinja2 templates of generated code and firmware, and the C kernel sources."""
    return _data_dir("templates")


def targets_dir() -> Path:
    """The board descriptions, one ``<name>.toml`` per target."""
    return _data_dir("targets")


def jinja_environment(folder: str) -> jinja2.Environment:
    """The templates under ``templates/<folder>`` (``c``, ``firmware``): undefined names are
    errors, and block tags leave no blank lines behind."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / folder)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
