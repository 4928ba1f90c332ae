"""Application recorders, one module per backend, keeping the key store by the events.

The key store is three tables outside the events table:

- ``strongroom_keys``: one wrapped key per row (data keys, aggregate keys, the
  store key), with the id of the master key that wrapped it;
- ``strongroom_key_index``: one row per aggregate key id ever issued (the
  reSolve-style ``idx``), kept as a tombstone after the key is destroyed;
- ``strongroom_meta``: the master keys the store's keys are wrapped under, and
  counters.

Key rows are inserted and deleted in the same transaction as the events they go
with: callers pass ``key_changes`` (and ``key_index``) to ``Application.save(...)``,
eventsourcing hands them to ``_insert_events``, and the rows are written before the
events under the same transaction, so a failed insert of the events (a duplicate
name, a lost race) leaves no key behind, and a committed ``Deleted`` event never
leaves its data key alive.
"""

from strongroom.infrastructure.recorders.base import (
    EVENTS_TABLE,
    HEADS_TABLE,
    KEK_PREFIX,
    KEY_INDEX_TABLE,
    KEYS_TABLE,
    META_TABLE,
    STORE_KEY_ID,
    HeadChange,
    HeadRow,
    IndexRow,
    KeyChange,
    KeyIndexChange,
    KeyRow,
    KeyStoreRecorder,
)
from strongroom.infrastructure.recorders.postgres import PostgresKeyStoreRecorder
from strongroom.infrastructure.recorders.postgres_errors import (
    CommitOutcomeUnknownError,
    LockWaitTimeoutError,
    is_busy,
)
from strongroom.infrastructure.recorders.sqlite import SQLiteKeyStoreRecorder

__all__ = [
    "EVENTS_TABLE",
    "HEADS_TABLE",
    "KEK_PREFIX",
    "KEYS_TABLE",
    "KEY_INDEX_TABLE",
    "META_TABLE",
    "STORE_KEY_ID",
    "CommitOutcomeUnknownError",
    "HeadChange",
    "HeadRow",
    "IndexRow",
    "KeyChange",
    "KeyIndexChange",
    "KeyRow",
    "KeyStoreRecorder",
    "LockWaitTimeoutError",
    "PostgresKeyStoreRecorder",
    "SQLiteKeyStoreRecorder",
    "is_busy",
]
