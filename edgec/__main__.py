"""``python -m edgec``: the same as the ``edgec`` command."""

from edgec.cli import main

raise SystemExit(main())
