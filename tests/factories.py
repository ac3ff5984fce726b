"""A valid declaration to start from; each test changes what it is about."""

from __future__ import annotations

import copy
import itertools
from datetime import timedelta
from typing import Any

from dichte.domain.clock import today_in_vietnam

# Quảng Trị is province 44 since July 2025; Phường Đồng Hới is one of its communes.
QUANG_TRI = 44
DONG_HOI_WARD = 18880
HUE = 46

_counter = itertools.count()


def declaration(**overrides: Any) -> dict[str, Any]:
    today = today_in_vietnam()
    body: dict[str, Any] = {
        "full_name": "Nguyễn Văn An",
        "document_type": "cccd",
        # 045 = Quảng Trị (MPS code), 0 = male born 1900-1999, 90 = born 1990
        "document_number": "045090123456",
        "date_of_birth": "1990-05-17",
        "sex": "male",
        "phone": "0912345678",
        "residence": {
            "province_code": QUANG_TRI,
            "commune_code": DONG_HOI_WARD,
            "street": "12 Lê Lợi",
        },
        "coming_from": {"province_code": HUE},
        "going_to": {"province_code": QUANG_TRI},
        "vehicle": {"type": "car", "plate": "74A-123.45"},
        "travel_history": [{"province_code": HUE, "date": str(today - timedelta(days=3))}],
        "symptoms": {"cough": True},
        "exposure": {"contact_with_case": False},
        "vaccination_doses": 3,
        "biometric_consent": True,
    }
    body = copy.deepcopy(body)
    body.update(overrides)
    return body


def distinct_declaration() -> dict[str, Any]:
    """Another person's declaration: a different body, so not an idempotent retry."""
    n = next(_counter)
    return declaration(
        full_name=f"Trần Thị Bình {n}",
        sex="female",
        document_number=f"045190{n % 1_000_000:06d}",
        residence={
            "province_code": QUANG_TRI,
            "commune_code": DONG_HOI_WARD,
            "street": f"{n} Hùng Vương",
        },
    )
