"""``python -m nnspec_core``: see :mod:`nnspec_core.cli`."""

from nnspec_core.cli import main

raise SystemExit(main())
