"""``python -m pixity`` is the ``pixity`` command."""

from pixity.cli import main

raise SystemExit(main())
