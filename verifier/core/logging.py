"""Structured logs: one JSON object per line on stderr.

Every record has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; whatever a
call passes in ``extra=`` (``event``, ``method``, ``path``, ``status``, ``duration_ms``, ...) is
added as fields. ``log_json=False`` gives plain text for a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = (set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)
             | {"message", "asctime", "taskName", "color_message"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, separators=(",", ":"))


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    """Send the service's and uvicorn's logs to stderr in one format (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    text_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(text_format))
    handler.set_name("zkmargin")
    for name in ("zkmargin.verifier", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if h.get_name() != "zkmargin"] + [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # the service logs each request itself
