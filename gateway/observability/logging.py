"""Process-wide logging setup, done once by the CLI before the server starts."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """One stderr handler for the gateway and uvicorn; prompt text is never logged above DEBUG."""
    logging.basicConfig(level=level.upper(), format=_FORMAT, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
