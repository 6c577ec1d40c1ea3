"""Parameter constraints declared as tables, checked in one place, one message style for the API and CLI.

Modelled on scikit-learn's ``_param_validation``: each estimator or function declares what each numeric
option accepts, and :func:`validate` raises a :class:`~headstart.errors.ConfigError` naming the
parameter, its command-line flag, what it must be and what it got:

    epochs (--epochs) must be an int in the range [1, inf) or None; got -1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Mapping, Sequence

from .errors import ConfigError


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (``int`` or ``float``) between ``low`` and ``high`` (``None``: unbounded);
    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``. Floats must be finite; bools are
    not numbers here."""

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, Integral if self.kind is int else Real):
            return False
        if not math.isfinite(value):
            return False
        left_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        right_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return left_ok and right_ok

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{'an int' if self.kind is int else 'a number'} in the range {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


Constraint = Interval | Options | None  # None: the value None is accepted


POSITIVE_INT = Interval(int, 1, None)
POSITIVE = Interval(float, 0, None, "neither")
NON_NEGATIVE = Interval(float, 0, None)
FRACTION = Interval(float, 0, 1, "neither")
SEED = Interval(int, 0, 2**32 - 1)
IMAGE_SIZE = Interval(int, 16, 4096)


def validate(params: Mapping[str, Any], constraints: Mapping[str, Sequence[Constraint]], *,
             flags: Mapping[str, str] | None = None) -> None:
    """Check each value in ``params`` against its row of ``constraints`` (any one of the row suffices).

    ``flags`` maps a parameter to its command-line option when that is not ``--`` plus the name with dashes.
    """
    for name, allowed in constraints.items():
        value = params[name]
        if any(value is None if c is None else c.accepts(value) for c in allowed):
            continue
        flag = (flags or {}).get(name, "--" + name.replace("_", "-"))
        described = [str(c) for c in allowed if c is not None] + (["None"] if None in allowed else [])
        raise ConfigError(f"{name} ({flag}) must be {' or '.join(described)}; got {value!r}.",
                          fix=f"Pass {flag} with a value in that range, or leave it out for the default.")
