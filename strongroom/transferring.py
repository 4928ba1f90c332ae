"""Moving secrets between stores, on SecretsManager's face: export and import,
each delegated to the transfer service."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from strongroom._store_errors import translate_store_errors
from strongroom.services.transfer import Transfer


@translate_store_errors
class TransferFace:
    """Export and import of ``SecretsManager`` (a base class: use ``SecretsManager``)."""

    _transfer: Transfer

    def export_secrets(
        self,
        *,
        plaintext: bool = False,
        transport_key: bytes | str | None = None,
    ) -> Iterator[str]:
        """NDJSON lines, one per live secret: its current value and metadata.

        In listing order, read page by page, so memory stays flat at any size.
        Values leave the store in the clear only with ``plaintext=True``; with a
        ``transport_key`` (32 bytes) each value is sealed to it (``"sealed"``
        replaces ``"value"``), and only ``import_secrets`` with that key reads it.
        Deleted secrets are not exported: their values are shredded.
        """
        return self._transfer.export_secrets(
            plaintext=plaintext, transport_key=transport_key
        )

    def import_secrets(
        self,
        lines: Iterable[str | bytes],
        *,
        transport_key: bytes | str | None = None,
        actor: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Create the secrets of an ``export_secrets`` stream; the number created.

        Each secret is created in one transaction, revoked ones already revoked.
        A line that is invalid or names a taken address stops the import with its
        error, which says the line and how many secrets were created before it.
        """
        return self._transfer.import_secrets(
            lines, transport_key=transport_key, actor=actor, progress=progress
        )
