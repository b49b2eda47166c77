"""The log format: plain lines for a person at a terminal (the demo), or one JSON object a line for a log shipper
(`SIYU_LOG_FORMAT=json`), each carrying the request id."""

from __future__ import annotations

from typing import Any

from pythonjsonlogger.json import JsonFormatter

PLAIN = "%(asctime)s %(levelname)s %(name)s %(request_tag)s%(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d"


class SiyuJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with our field names (`time`, `level`, `logger`) and ISO-8601 UTC times."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        super().__init__(*args, **kwargs)


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """settings.LOGGING for the chosen format ("plain" or "json")."""
    formatter: dict[str, Any] = (
        {"()": "siyu.ops.logs.SiyuJsonFormatter", "fmt": JSON_FIELDS} if fmt == "json" else {"format": PLAIN}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "siyu.ops.requestid.RequestIdFilter"}},
        "formatters": {"siyu": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "siyu", "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
    }
