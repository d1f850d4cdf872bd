"""Bulk issue jobs (DESIGN §8.4): an issuePromotion too long for one request, run in the background.

Plain Python: the job as it is stored, its states and which moves between them are allowed, the
lease that says which process runs it, and how the error a job ended with is kept (its kind and
message: the GraphQL face rebuilds the domain error, and with it the error type, from those).

States. QUEUED (stored by startIssueJob) → RUNNING (claimed by a runner) → SUCCEEDED, FAILED or
CANCELLED, the final ones. A RUNNING job whose lease ran out (its process died) is claimed again
and resumes at `processed`: the ids are stored in issue order and every chunk commits its entries
and the job's progress in one transaction, so `processed` never counts a chunk that was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.domain import errors
from app.domain.errors import DomainError, InvalidRequest

DEFAULT_MAX_JOB_IDS = 1_000_000
# At most 30 s (DESIGN §8.4): how long a process that stopped renewing it (killed, hung, cut off
# from the database) keeps its job from the others.
MAX_LEASE_MS = 30_000


class JobState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
CLAIMABLE_STATES = (JobState.QUEUED, JobState.RUNNING)

# The errors a job can end with, by the name it is stored under: those the runner's checks raise.
_ERROR_KINDS: dict[str, type[DomainError]] = {
    kind.__name__: kind
    for kind in (
        errors.CustomerNotFound,
        errors.PromotionNotFound,
        errors.PromotionExpired,
        errors.PromotionTypeNotSupported,
        errors.EarnNotSupported,
        errors.MaxActivePromotionsExceeded,
        errors.EarnedFromTypeChanged,
        errors.EarnLimitExceeded,
        errors.InvalidRequest,
        errors.InternalFailure,
    )
}


@dataclass(frozen=True, slots=True)
class JobError:
    """How a failed job's error is stored: `kind` names the domain error class."""

    kind: str
    message: str

    @classmethod
    def of(cls, error: DomainError) -> JobError:
        kind = type(error).__name__
        return cls(kind if kind in _ERROR_KINDS else errors.InternalFailure.__name__, error.message)

    def rebuild(self, missing_customer_ids: Sequence[int] = ()) -> DomainError:
        """The domain error again (CustomerNotFound with the job's missing ids)."""
        kind = _ERROR_KINDS.get(self.kind, errors.InternalFailure)
        if kind is errors.CustomerNotFound:
            return errors.CustomerNotFound(self.message, customer_ids=missing_customer_ids)
        return kind(self.message)


@dataclass(frozen=True, slots=True)
class IssueJob:
    """A job without its ids (up to a million: read apart, by the runner only). `total` counts the
    distinct ids; `processed` those whose chunk is committed (issued, repeats and missing ones)."""

    org_id: int
    id: str
    state: JobState
    promotion_id: str
    context_id: str
    skip_missing: bool
    actor: str
    total: int
    processed: int
    issued_count: int
    already_issued_count: int
    missing_count: int
    error: JobError | None
    created_at: int
    started_at: int | None
    finished_at: int | None
    # Set once the whole-list checks (missing customers, 713) passed: a resumed job skips them.
    checked: bool = False

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class Lease:
    """Who runs a job until when: the fence of every write the runner makes for it. Renewed `at`
    an instant when it must not have run out yet: a runner that stalled past its lease stops and
    claims the job again like any other runner, even when nobody took it meanwhile."""

    job_id: str
    owner: str
    at: int
    until: int


@dataclass(frozen=True, slots=True)
class ChunkProgress:
    """What one committed chunk adds to its job."""

    processed: int
    issued: int
    already_issued: int


def lease_ms(seconds: float) -> int:
    ms = int(seconds * 1000)
    if not 0 < ms <= MAX_LEASE_MS:
        raise ValueError(f"a job lease is 1 ms to {MAX_LEASE_MS} ms")
    return ms


def check_cancellable(job: IssueJob) -> None:
    if job.is_final:
        raise InvalidRequest(f"Job {job.id} is {job.state.value}: it cannot be cancelled", field="id")
