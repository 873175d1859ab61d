"""The domain: record types of the village work teams, declared once as marshmallow schemas."""

from .registry import RECORD_TYPES, RecordType, record_type

__all__ = ["RECORD_TYPES", "RecordType", "record_type"]
