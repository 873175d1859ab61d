"""The catalogue of record types: table, schema, natural key, parent, field policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from marshmallow import Schema, ValidationError, missing

from ..engine.ids import natural_id
from . import schemas
from .fields import DomainField

#: Columns every record table has besides the schema's fields (see migrations).
ROW_COLUMNS = ("id", "village_code")


@dataclass(frozen=True)
class RecordType:
    """One kind of synced row."""

    name: str
    table: str
    schema_class: type[Schema]
    label: str
    #: Fields whose values identify the fact; the row id derives from them.
    natural_key: tuple[str, ...] = ()
    #: ``(record type, field)`` of the row this one belongs to; its village is inherited.
    parent: tuple[str, str] | None = None
    references: dict[str, str] = field(default_factory=dict)

    @cached_property
    def schema(self) -> Schema:
        return self.schema_class()

    @cached_property
    def partial_schema(self) -> Schema:
        return self.schema_class(partial=True)

    @cached_property
    def fields(self) -> dict[str, DomainField]:
        """The data fields (not ``id``/``village_code``), by name, in declaration order."""
        return {name: f for name, f in self.schema.fields.items()
                if name not in ROW_COLUMNS and isinstance(f, DomainField)}

    @cached_property
    def policies(self) -> dict[str, str]:
        """Conflict policy of each field; ``village_code`` moves only after review."""
        policies = {name: f.metadata["policy"] for name, f in self.fields.items()}
        policies["village_code"] = "review"
        return policies

    @cached_property
    def sensitive(self) -> tuple[str, ...]:
        return tuple(name for name, f in self.fields.items() if f.metadata["sensitive"])

    @cached_property
    def json_fields(self) -> tuple[str, ...]:
        return tuple(name for name, f in self.fields.items() if f.json_column)

    def load_fields(self, values: dict[str, Any]) -> dict[str, Any]:
        """Check each given field on its own (type, format, range); no rule spanning fields.

        For a change to an existing row, whose other fields may have changed elsewhere: the
        whole row is checked once merged. Raises ``ValidationError`` with per-field messages.
        """
        loaded: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, value in values.items():
            field = self.schema.fields.get(name)
            if field is None or field.dump_only:
                errors[name] = ["未知字段"]
                continue
            try:
                loaded[name] = field.deserialize(value, name, values)
            except ValidationError as err:
                errors[name] = err.messages
        if errors:
            raise ValidationError(errors)
        return loaded

    def load_row(self, values: dict[str, Any]) -> dict[str, Any]:
        """Load a whole row: what ``schema.load`` does, without its per-call machinery.

        Each field's own ``deserialize`` (required, null, type and range checks), then the rules
        spanning fields (``check_row``) once every field passed. A property test keeps it equal
        to ``schema.load``; it is the hot path of every write and every pushed new row.
        """
        schema = self.schema
        errors: dict[str, Any] = {name: [schema.error_messages["unknown"]]
                                  for name in values if name not in schema.fields}
        loaded: dict[str, Any] = {}
        for name, field in schema.fields.items():
            try:
                value = field.deserialize(values.get(name, missing), name, values)
            except ValidationError as err:
                errors[name] = err.messages
                continue
            if value is not missing:
                loaded[name] = value
        if errors:
            raise ValidationError(errors)
        schema.check_row(loaded)  # type: ignore[attr-defined]
        return loaded

    def natural_row_id(self, values: dict[str, Any]) -> str:
        """The deterministic id of a natural-key fact."""
        return natural_id(self.name, *(values[k] for k in self.natural_key))

    def related_to(self, names: Any) -> list[str]:
        """The fields tied to any of ``names`` by a rule spanning fields (declared as the
        schema's ``related`` groups), in declaration order, without ``names`` themselves."""
        wanted = set(names)
        tied = {n for group in getattr(self.schema_class, "related", ())
                if wanted & set(group) for n in group}
        return [n for n in self.fields if n in tied and n not in wanted]

    def label_of(self, field_name: str) -> str:
        if field_name == "village_code":
            return "所属村"
        if field_name == "_deleted":
            return "删除"
        f = self.fields.get(field_name)
        return f.label if f else field_name


RECORD_TYPES: dict[str, RecordType] = {
    rt.name: rt
    for rt in (
        RecordType("village", "villages", schemas.VillageSchema, "行政村",
                   natural_key=("village_code",)),
        RecordType("household", "households", schemas.HouseholdSchema, "农户"),
        RecordType("person", "persons", schemas.PersonSchema, "家庭成员",
                   parent=("household", "household_id")),
        RecordType("employment", "employments", schemas.EmploymentSchema, "就业状态",
                   natural_key=("person_id",), parent=("person", "person_id")),
        RecordType("post", "posts", schemas.PostSchema, "公益性岗位"),
        RecordType("appointment", "appointments", schemas.AppointmentSchema, "岗位聘任",
                   parent=("post", "post_id"), references={"person_id": "person"}),
        RecordType("attendance", "attendance", schemas.AttendanceSchema, "岗位考勤",
                   natural_key=("post_id", "day"), parent=("post", "post_id"),
                   references={"person_id": "person"}),
        RecordType("training_session", "training_sessions", schemas.TrainingSessionSchema,
                   "培训班"),
        RecordType("signin", "signins", schemas.SignInSchema, "培训签到",
                   natural_key=("session_id", "person_id", "day"),
                   parent=("training_session", "session_id"),
                   references={"person_id": "person"}),
        RecordType("visit", "visits", schemas.VisitSchema, "走访记录",
                   parent=("household", "household_id")),
        RecordType("subsidy_grant", "subsidy_grants", schemas.SubsidyGrantSchema, "已发放补贴",
                   natural_key=("person_id", "kind"), parent=("person", "person_id")),
    )
}


def record_type(name: str) -> RecordType:
    """Look a record type up by name; ``KeyError`` if there is none."""
    return RECORD_TYPES[name]
