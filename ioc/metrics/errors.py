"""The error of a bad query parameter (HTTP 400 / exit 2), naming the parameter."""

from __future__ import annotations


class QueryError(ValueError):
    """A bad parameter: ``param`` names it (e.g. 'district', 'from'), the message says why."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message
