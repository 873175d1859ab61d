"""cunsync device kit: the sync engine, the domain record types and the device-side store."""

__version__ = "0.1.0"
