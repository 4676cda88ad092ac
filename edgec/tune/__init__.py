"""``edgec tune``: the most accurate build of a model that fits a board's flash, RAM and time
budgets, found by compiling and validating candidate option sets on the board's emulator as
Ray tasks (``search.py``; the candidates in ``space.py``, one evaluation in ``evaluate.py``)."""

from edgec.tune.search import TuneOptions, TuneResult, tune

__all__ = ["TuneOptions", "TuneResult", "tune"]
