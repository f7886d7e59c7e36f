"""Column types that keep money exact and timestamps unambiguous on SQLite and PostgreSQL.

- ``ExactInteger``: a signed integer of up to 39 decimal digits (pnl and collateral need 97
  bits). PostgreSQL stores it as ``NUMERIC(40, 0)``. SQLite has no exact type that wide: a
  column of NUMERIC affinity silently turns integers beyond 2^63 into floating point, so on
  SQLite the value is stored as canonical decimal *text* (a VARCHAR column has TEXT affinity,
  which SQLite never converts). Either way Python sees an ``int``; floats and bools are refused.
- ``FieldElementText``: a commitment or other field element (< 2^256), as decimal text — the
  form snarkjs's ``public.json`` uses, canonical, so a unique index on it is meaningful.
- ``UtcDateTime``: an aware UTC datetime. SQLite forgets time zones; without this a value
  read back would differ from the one written, and ledger hashes cover timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from verifier.errors import VerifierError

EXACT_INTEGER_DIGITS = 39
FIELD_ELEMENT_DIGITS = 78  # 2^256 has 78 decimal digits

# Autoincrementing surrogate keys: SQLite only autoincrements a column declared INTEGER.
IdentityKey = BigInteger().with_variant(Integer(), "sqlite")


def require_int(value: object, what: str) -> int:
    """Accept exactly a Python int: a float could already have lost the money's last digits."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise VerifierError(f"{what} must be an integer, got {type(value).__name__}")
    return value


def require_aware(value: datetime | None, what: str) -> datetime | None:
    """A naive datetime has no defined instant: refuse it before it reaches a deadline check."""
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise VerifierError(f"{what} must be a timezone-aware datetime")
    return value


class ExactInteger(TypeDecorator[int]):
    """A signed integer with |value| < 10^39, exact on every backend (see the module docstring)."""

    impl = Numeric(EXACT_INTEGER_DIGITS + 1, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(EXACT_INTEGER_DIGITS + 2))
        return dialect.type_descriptor(Numeric(EXACT_INTEGER_DIGITS + 1, 0, asdecimal=True))

    def process_bind_param(self, value: object, dialect: Dialect) -> str | Decimal | None:
        if value is None:
            return None
        number = require_int(value, "an amount")
        if abs(number) >= 10**EXACT_INTEGER_DIGITS:
            raise VerifierError(f"the amount {number} does not fit in {EXACT_INTEGER_DIGITS} digits")
        return str(number) if dialect.name == "sqlite" else Decimal(number)

    def process_result_value(self, value: object, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise VerifierError(f"a stored amount is not an integer: {value}")
            return int(value)
        return int(str(value))

    @property
    def python_type(self) -> type:
        return int


class FieldElementText(TypeDecorator[int]):
    """A non-negative integer below 2^256 stored as canonical decimal text."""

    impl = String(FIELD_ELEMENT_DIGITS)
    cache_ok = True

    def process_bind_param(self, value: object, dialect: Dialect) -> str | None:
        if value is None:
            return None
        number = require_int(value, "a field element")
        if not 0 <= number < 1 << 256:
            raise VerifierError(f"a field element must lie in [0, 2^256), got {number}")
        return str(number)

    def process_result_value(self, value: object, dialect: Dialect) -> int | None:
        return None if value is None else int(str(value))

    @property
    def python_type(self) -> type:
        return int


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive datetimes are refused as ambiguous."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: object, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise VerifierError("timestamps must be timezone-aware datetimes")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: object, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type:
        return datetime


def utc_now() -> datetime:
    """The current time, aware and in UTC, truncated to what every backend stores (microseconds)."""
    return datetime.now(UTC)
