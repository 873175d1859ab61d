"""Errors raised by the pure sync engine."""


class EngineError(Exception):
    """Base class of every engine error."""

    code = "engine_error"


class ClockSkewError(EngineError):
    """A remote timestamp is further ahead of our wall clock than we accept."""

    code = "clock_ahead"


class ProtocolError(EngineError):
    """A protocol message could not be decoded or does not have the expected shape."""

    code = "bad_message"
