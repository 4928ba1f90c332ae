"""What both backends' recorders share: the key store's tables, the changes a save
carries, the rows reads return, and the protocol the key ring and repository use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent

EVENTS_TABLE = "strongroom_events"


KEYS_TABLE = "strongroom_keys"


KEY_INDEX_TABLE = "strongroom_key_index"


META_TABLE = "strongroom_meta"


HEADS_TABLE = "strongroom_heads"


STORE_KEY_ID = UUID(int=0)


KEK_PREFIX = "kek:"


_KEY_IDX = "key_idx"


@dataclass(frozen=True, slots=True)
class KeyChange:
    """Insert (``wrapped`` given) or delete (``wrapped`` None) one key row."""

    key_id: UUID
    wrapped: bytes | None = None
    kek: str | None = None

    def __repr__(self) -> str:
        action = "delete" if self.wrapped is None else "insert"
        return f"KeyChange({action} {self.key_id})"


@dataclass(frozen=True, slots=True)
class KeyIndexChange:
    """Issue an aggregate key id (``sealed_key_id`` given) or mark it shredded.

    An issued id gets the next ``idx``, or ``idx`` itself when that is higher (an
    import keeps its source's numbering where it can).
    """

    id: UUID
    sealed_key_id: bytes | None = None
    idx: int | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class HeadChange:
    """Replace an aggregate's head (``state`` given) or delete it (``state`` None).

    ``state`` is sealed like an event at position ``version``; a head is only ever
    replaced by a later one.
    """

    id: UUID
    version: int = 0
    state: bytes | None = None

    def __repr__(self) -> str:
        action = "delete" if self.state is None else f"put v{self.version}"
        return f"HeadChange({action} {self.id})"


class HeadRow(NamedTuple):
    """A head as stored, its aggregate's data key, and the stream's last position."""

    version: int
    state: bytes
    key: KeyRow | None
    last_version: int | None


class KeyRow(NamedTuple):
    """A wrapped key and the id of the master key that wrapped it."""

    wrapped: bytes
    kek: str


class IndexRow(NamedTuple):
    """One issued aggregate key id, with its wrapped key unless it was shredded."""

    idx: int
    id: UUID
    sealed_key_id: bytes
    key: KeyRow | None


class KeyStoreRecorder(Protocol):
    """What the key ring and the key API need from a recorder."""

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, KeyRow]:
        """Wrapped keys of the given ids that exist."""
        ...

    def select_head(self, aggregate_id: UUID) -> HeadRow | None:
        """An aggregate's head with its data key, in one query; None if it has none."""
        ...

    def select_stream_version(self, aggregate_id: UUID) -> int | None:
        """The last version of an aggregate's stream (None: no stream), one query."""
        ...

    def write_within(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """Save on a transaction another recorder holds in the same database."""
        ...

    def hold_keys_within(self, curs: Any, key_ids: Sequence[UUID]) -> None:
        """Keep key rows from being destroyed until ``curs``'s transaction ends;
        the transaction fails if one of them is already gone."""
        ...

    def select_heads(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, HeadRow]:
        """The heads (with data keys) of those of ``aggregate_ids`` that have one."""
        ...

    def initialise_store(
        self, store_key: KeyChange, available: Iterable[str]
    ) -> tuple[KeyRow, set[str]]:
        """Create the store key unless one exists, register the wrapping master key
        if the store key is under an available one, and return the store key row
        and every master key id the store's keys are wrapped under.
        """
        ...

    def register_kek(self, kek: str) -> None:
        """Record that keys may now be wrapped under ``kek``."""
        ...

    def select_keks(self) -> set[str]:
        """Every master key id the store's keys may be wrapped under."""
        ...

    def select_key_index(
        self,
        *,
        start: int,
        limit: int,
        skip: int = 0,
        ids: Sequence[UUID] | None = None,
        include_deleted: bool = False,
    ) -> list[IndexRow]:
        """Issued key ids with ``idx >= start`` in idx order."""
        ...

    def count_key_index(self) -> tuple[int, int]:
        """How many key ids were issued, and how many of them are shredded."""
        ...

    def select_keys_wrapped_by(
        self, kek: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, bytes]]:
        """Key rows wrapped under ``kek``, in id order after ``after``."""
        ...

    def rewrap_keys(self, rows: Sequence[tuple[UUID, str, bytes, str]]) -> int:
        """Replace ``(id, old kek, wrapped, new kek)`` rows still under the old kek."""
        ...

    def count_keys_by_kek(self) -> dict[str, int]:
        """How many key rows each master key wraps."""
        ...

    def retire_kek(self, kek: str) -> bool:
        """Forget a master key id if no key row is wrapped under it any more."""
        ...


def _may_register(store_key: KeyRow, keks: set[str], available: Iterable[str]) -> bool:
    # Only an opener that can unwrap everything may add its master key: a wrong key
    # must never leave a mark that later openers would then require.
    usable = set(available)
    return store_key.kek in usable and keks <= usable


_BATCHABLE = frozenset({"key_changes", "key_index", "heads", "tracking"})


def _batchable(write: tuple[Sequence[StoredEvent], Mapping[str, Any]]) -> bool:
    # eventsourcing passes tracking=None when not processing a notification.
    kwargs = write[1]
    return kwargs.keys() <= _BATCHABLE and kwargs.get("tracking") is None


def _key_changes(kwargs: Mapping[str, Any]) -> Iterable[KeyChange]:
    return kwargs.get("key_changes") or ()


def _index_changes(kwargs: Mapping[str, Any]) -> Iterable[KeyIndexChange]:
    return kwargs.get("key_index") or ()


def _head_changes(kwargs: Mapping[str, Any]) -> Iterable[HeadChange]:
    return kwargs.get("heads") or ()


_HEAD_COLUMNS_FROM = (
    "h.version, h.state, k.wrapped, k.kek, "
    "(SELECT max(e.originator_version) FROM {events} e "
    "WHERE e.originator_id = h.id) AS last_version "
    "FROM {heads} h LEFT JOIN {keys} k ON k.id = h.id WHERE h.id "
)


_SELECT_HEAD = "SELECT " + _HEAD_COLUMNS_FROM + "= "


_SELECT_HEADS = "SELECT h.id, " + _HEAD_COLUMNS_FROM


def _head_row(row: Sequence[Any] | None) -> HeadRow | None:
    return None if row is None else _head(row)


def _head(row: Sequence[Any]) -> HeadRow:
    version, state, wrapped, kek, last_version = row
    key = None if wrapped is None else KeyRow(bytes(wrapped), kek)
    return HeadRow(version, bytes(state), key, last_version)


def _chunks(items: Sequence[UUID], size: int) -> Iterable[Sequence[UUID]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
