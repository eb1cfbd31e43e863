"""``python -m vizlab`` is the same as the ``vizlab`` command."""

from vizlab.cli import main

raise SystemExit(main())
