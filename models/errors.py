"""Refused input (a photo, a thermal file): a stable `code` and messages in English and
Vietnamese, so the API answers in its one error shape and the CLI says why."""

from __future__ import annotations

from typing import ClassVar


class InputError(ValueError):
    """`detail` is technical and language-neutral (sizes, offsets, format names)."""

    MESSAGES: ClassVar[dict[str, tuple[str, str]]] = {}  # code → (English, Vietnamese)
    DEFAULT: ClassVar[tuple[str, str]] = ("Invalid input", "Dữ liệu không hợp lệ")

    def __init__(self, code: str, detail: str = "") -> None:
        # args == constructor arguments, so the error pickles across Ray processes
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        en, vi = self.MESSAGES.get(code, self.DEFAULT)
        self.message_en = f"{en} ({detail})" if detail else en
        self.message_vi = f"{vi} ({detail})" if detail else vi

    def __str__(self) -> str:
        return f"{self.code}: {self.message_en}"
