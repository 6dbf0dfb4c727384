"""`python -m gateway serve …`, the same as the `kvgate` console script."""

from __future__ import annotations

from gateway.cli import main

raise SystemExit(main())
