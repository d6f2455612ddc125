"""Kubernetes resource quantities (``128Mi``, ``0.5``, ``500m``, ``1e3``) as exact decimals."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# The same grammar the CRD's resources pattern and apimachinery's ParseQuantity accept.
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<bin>[KMGTPE]i)|(?P<dec>[numkMGTPE])|[eE](?P<exp>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)))?$"
)


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(value: object) -> Decimal:
    """Parse a quantity (string or number) into a Decimal of base units."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise QuantityError(f"not a quantity: {value!r}")
    match = _QUANTITY.match(value.strip())
    if not match:
        raise QuantityError(f"not a quantity: {value!r}")
    try:
        number = Decimal(match.group("num"))
        if match.group("bin"):
            return number * _BINARY[match.group("bin")]
        if match.group("exp"):
            return number * (Decimal(10) ** Decimal(match.group("exp")))
        return number * _DECIMAL[match.group("dec") or ""]
    except InvalidOperation as error:
        raise QuantityError(f"not a quantity: {value!r}") from error
