"""One error shape for every rejection: a field, a stable code, and a message in
Vietnamese and English, so the phone page can show it next to the field."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message_vi: str
    message_en: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP status the API answers with."""

    def __init__(self, errors: list[FieldError], status: int = 422) -> None:
        super().__init__("; ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors
        self.status = status

    @classmethod
    def single(
        cls, field: str, code: str, message_vi: str, message_en: str, status: int = 422
    ) -> DomainError:
        return cls([FieldError(field, code, message_vi, message_en)], status)

    def __reduce__(self) -> tuple[type[DomainError], tuple[list[FieldError], int]]:
        # Errors cross process boundaries (Ray actors): rebuild from fields, not the message.
        return (DomainError, (self.errors, self.status))

    def body(self) -> dict[str, list[dict[str, str]]]:
        return {"errors": [e.as_dict() for e in self.errors]}
