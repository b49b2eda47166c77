"""Money as integer fen (分) with an explicit currency. No float ever enters a money path."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CURRENCY = "CNY"
CURRENCY_PATTERN = r"^[A-Z]{3}$"  # an ISO 4217 code, as Money requires: for input schemas, so a bad one is a 4xx


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    fen: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if not isinstance(self.fen, int) or isinstance(self.fen, bool):
            raise TypeError(f"Money needs integer fen, got {type(self.fen).__name__}")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.fen + other.fen, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.fen - other.fen, self.currency)

    def __mul__(self, times: int) -> Money:
        if not isinstance(times, int):
            raise TypeError("Money can only be multiplied by an integer")
        return Money(self.fen * times, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.fen, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._check(other)
        return self.fen < other.fen

    def __le__(self, other: Money) -> bool:
        self._check(other)
        return self.fen <= other.fen

    def percent(self, numerator: int, denominator: int = 100) -> Money:
        """Share of this amount, rounded half up to the fen (integer arithmetic only)."""
        if denominator <= 0:
            raise ValueError("denominator must be positive")
        scaled = self.fen * numerator
        sign = -1 if scaled < 0 else 1
        return Money(sign * ((abs(scaled) * 2 + denominator) // (2 * denominator)), self.currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(0, currency)

    def display(self) -> str:
        sign = "-" if self.fen < 0 else ""
        yuan, fen = divmod(abs(self.fen), 100)
        symbol = "¥" if self.currency == "CNY" else f"{self.currency} "
        return f"{sign}{symbol}{yuan:,}.{fen:02d}"

    def __str__(self) -> str:
        return self.display()


def parse_yuan(text: str, currency: str = DEFAULT_CURRENCY) -> Money:
    """Parse a decimal yuan string such as "12.5" or "-3.07" into fen without going through float."""
    raw = text.strip().replace(",", "").lstrip("¥")
    negative = raw.startswith("-")
    if raw.startswith(("+", "-")):
        raw = raw[1:]  # one sign only: "--5" is not an amount
    whole, _, frac = raw.partition(".")
    if not whole.isdigit() and not (whole == "" and frac.isdigit()):
        raise ValueError(f"not an amount: {text!r}")
    if frac and (not frac.isdigit() or len(frac) > 2):
        raise ValueError(f"at most two decimals (fen): {text!r}")
    fen = int(whole or "0") * 100 + int((frac + "00")[:2])
    return Money(-fen if negative else fen, currency)
