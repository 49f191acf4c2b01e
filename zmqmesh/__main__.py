"""``python -m zmqmesh ...``: the same as the ``zmqmesh`` command."""

from __future__ import annotations

import sys

from zmqmesh.launcher.cli import main

if __name__ == "__main__":
    sys.exit(main())
