"""The read replica that reports and monitoring read from (DATABASE_REPLICA_URL): how far
behind the primary it is, as their pages say it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from caseapp.db import get_read_session, has_replica
from caseapp.runtime import settings

# In recovery (a standby): the time since the last transaction it replayed was committed on the
# primary; NULL when it has replayed none yet. Not in recovery: not a standby at all.
_LAG = text(
    "SELECT pg_is_in_recovery(), EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
)


@dataclass(frozen=True)
class ReplicaLag:
    """``standby``: the replica is a streaming standby (in recovery); ``seconds``: how far
    behind it is (None: not a standby, or it has replayed no transaction yet)."""

    standby: bool
    seconds: float | None
    warn_seconds: int

    @property
    def late(self) -> bool:
        """Worth a warning: a standby too far behind, or one whose lag cannot be told."""
        return self.standby and (self.seconds is None or self.seconds > self.warn_seconds)

    @property
    def minutes(self) -> int:
        return round((self.seconds or 0) / 60)


def lag_of(session: Session) -> ReplicaLag:
    """The lag of the database behind ``session``. SQLite has no standby: never one."""
    warn = settings().replica_lag_warn_seconds
    if session.get_bind().dialect.name != "postgresql":
        return ReplicaLag(standby=False, seconds=None, warn_seconds=warn)
    in_recovery, seconds = session.execute(_LAG).one()
    if not in_recovery:
        return ReplicaLag(standby=False, seconds=None, warn_seconds=warn)
    # A clock a little ahead on the standby would give a negative lag.
    return ReplicaLag(
        standby=True,
        seconds=None if seconds is None else max(0.0, float(seconds)),
        warn_seconds=warn,
    )


def replica_lag() -> ReplicaLag | None:
    """The read replica's lag, for the pages that read from it; None without a replica (the
    pages then say nothing: their figures are the primary's)."""
    if not has_replica():
        return None
    return lag_of(get_read_session())
