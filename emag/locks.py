"""The per-account sync lock: one that dies with the process holding it.

On PostgreSQL a session-level advisory lock (`pg_try_advisory_lock`) is taken on
the connection of the thread that runs the sync, before its run row becomes
`running`, and released after the row reaches its end state. If the process dies
(even SIGKILL), PostgreSQL drops the connection and the lock with it. So, for
whoever holds the lock, a `running` row of the same account has a dead holder.

SQLite has no such lock. There the claim is the run row itself: the conditional
unique constraint `syncrun_one_active_per_account` lets one active row exist, and
its heartbeat (refreshed by the running sync) says whether its holder is alive.
`AccountLock` is then a no-op that always succeeds, and staleness decides.
"""

import zlib

from django.db import connections

# The first key of the two-int advisory lock: MagFlow's namespace plus the sync kind,
# so the lock of account 7's offers never collides with anything else using locks.
_NAMESPACE = 0x4D46_0000  # "MF"


def _kind_key(kind: str) -> int:
    return _NAMESPACE + (zlib.crc32(kind.encode()) & 0xFFFF)


def uses_advisory_locks(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


class AccountLock:
    """`pg_try_advisory_lock(kind, account_id)` on the current thread's connection; a no-op on SQLite."""

    def __init__(self, account_id: int, kind: str = "offers", using: str = "default") -> None:
        self.account_id = int(account_id)
        self.kind = kind
        self.using = using
        self.is_held = False

    def __repr__(self) -> str:
        return f"<AccountLock {self.kind}:{self.account_id} held={self.is_held}>"

    @property
    def is_real(self) -> bool:
        return uses_advisory_locks(self.using)

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another session holds it."""
        if self.is_held:
            return True
        if not self.is_real:
            self.is_held = True
            return True
        with connections[self.using].cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_kind_key(self.kind), self.account_id])
            self.is_held = bool(cursor.fetchone()[0])
        return self.is_held

    def release(self) -> None:
        if not self.is_held:
            return
        self.is_held = False
        if not self.is_real:
            return
        connection = connections[self.using]
        if connection.connection is None:
            # The connection is gone, and the lock with it.
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_kind_key(self.kind), self.account_id])

    def __enter__(self) -> "AccountLock":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def is_locked_elsewhere(account_id: int, kind: str = "offers", using: str = "default") -> bool | None:
    """Whether another session holds the account's lock: None where locks are not real (SQLite)."""
    if not uses_advisory_locks(using):
        return None
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_kind_key(kind), int(account_id)])
        acquired = bool(cursor.fetchone()[0])
        if acquired:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_kind_key(kind), int(account_id)])
    return not acquired
