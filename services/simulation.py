"""The people of a simulated checkpoint declare like anyone else: each identity the
simulator shows gets a real declaration (and so a real signed QR token) through the
declaration service, once; a restarted camera finds the same declaration again (the
same Idempotency-Key)."""

from __future__ import annotations

import hashlib
from datetime import date

from dichte.domain.declaration import DeclarationCreate
from dichte.services.declarations import DeclarationService

QUANG_TRI, DONG_HA_WARD = 44, 19333  # where the simulated travellers live


def sim_declaration(identity: str) -> DeclarationCreate:
    """A plausible, valid declaration for a simulated identity (the same every time)."""
    digest = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big")
    year = 1950 + digest % 55
    born = date(year, 1 + digest % 12, 1 + digest % 28)
    female = bool(digest >> 8 & 1)
    century_sex = (0 if year < 2000 else 2) + (1 if female else 0)
    number = f"045{century_sex}{year % 100:02d}{digest % 1_000_000:06d}"
    return DeclarationCreate.model_validate(
        {
            "full_name": f"Khách mô phỏng {digest % 100_000:05d}",
            "document_type": "cccd",
            "document_number": number,
            "date_of_birth": born.isoformat(),
            "sex": "female" if female else "male",
            "phone": f"09{digest % 100_000_000:08d}",
            "residence": {"province_code": QUANG_TRI, "commune_code": DONG_HA_WARD},
            "coming_from": {"province_code": QUANG_TRI},
            "going_to": {"province_code": QUANG_TRI},
            "vehicle": {"type": "car", "plate": f"74A-{digest % 1000:03d}.{digest % 100:02d}"},
            "biometric_consent": True,
        }
    )


class SimulatedTravellers:
    def __init__(self, declarations: DeclarationService, namespace: str) -> None:
        self._declarations = declarations
        self._namespace = namespace
        self._tokens: dict[str, str] = {}

    async def token(self, identity: str) -> str:
        """The QR token of the identity's declaration, declared on first use."""
        if identity not in self._tokens:
            receipt, _ = await self._declarations.submit(
                sim_declaration(identity), f"sim:{self._namespace}:{identity}"
            )
            self._tokens[identity] = receipt.qr_token
        return self._tokens[identity]
