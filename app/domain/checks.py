"""Named checks, run through a `Checks`: the redemption runs each one bare (`UNRECORDED`: a failing
check raises its error, as it always did); explainRedemption (DESIGN §8.5) runs the very same
checks through a `CheckRecorder`, which writes down each outcome with a human detail instead.

A check is a function of values already loaded; it returns what later checks need or raises the
DomainError that redeemPromotions answers. `detail` words a passed check (naming the values it
compared); a failed check's detail is its error's message, which names them too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from app.domain.errors import DomainError

T = TypeVar("T")


class Checks(Protocol):
    def run(self, name: str, check: Callable[[], T], detail: Callable[[T], str]) -> T:
        """The check's value; a failed check ends the run (its error, or `ChecksStopped`)."""
        ...

    def run_or(
        self,
        name: str,
        check: Callable[[], T],
        detail: Callable[[T], str],
        otherwise: T,
        *,
        on_failure: Callable[[DomainError], str] | None = None,
    ) -> T:
        """As `run`, except that a recorder goes on after a failure with `otherwise` (for checks
        that do not depend on each other, such as the coverage of each promotion); `on_failure`
        words the failure (default: the error's message)."""
        ...


class _Unrecorded:
    """What the redemption uses: each check just runs; nothing is worded."""

    def run(self, name: str, check: Callable[[], T], detail: Callable[[T], str]) -> T:
        return check()

    def run_or(
        self,
        name: str,
        check: Callable[[], T],
        detail: Callable[[T], str],
        otherwise: T,
        *,
        on_failure: Callable[[DomainError], str] | None = None,
    ) -> T:
        return check()


UNRECORDED: Checks = _Unrecorded()


class ChecksStopped(Exception):
    """A recorder's run ended at a failed check (the failure is recorded, not raised)."""


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    name: str
    passed: bool
    detail: str
    code: int | None = None  # the documented code of a failed check


@dataclass
class CheckRecorder:
    """Records every check; `error` is the first failure: what the redemption would answer."""

    outcomes: list[CheckOutcome] = field(default_factory=list)
    error: DomainError | None = None

    def failed(self, name: str, error: DomainError, detail: str | None = None) -> None:
        """Record a failure met outside a check (a lookup the checks stand on)."""
        self._failed(name, error, detail)

    def _failed(self, name: str, error: DomainError, detail: str | None = None) -> None:
        self.outcomes.append(
            CheckOutcome(name, passed=False, detail=detail or error.message, code=int(error.code))
        )
        if self.error is None:
            self.error = error

    def run(self, name: str, check: Callable[[], T], detail: Callable[[T], str]) -> T:
        try:
            value = check()
        except DomainError as error:
            self._failed(name, error)
            raise ChecksStopped(name) from error
        self.outcomes.append(CheckOutcome(name, passed=True, detail=detail(value)))
        return value

    def run_or(
        self,
        name: str,
        check: Callable[[], T],
        detail: Callable[[T], str],
        otherwise: T,
        *,
        on_failure: Callable[[DomainError], str] | None = None,
    ) -> T:
        try:
            value = check()
        except DomainError as error:
            self._failed(name, error, on_failure(error) if on_failure else None)
            return otherwise
        self.outcomes.append(CheckOutcome(name, passed=True, detail=detail(value)))
        return value
