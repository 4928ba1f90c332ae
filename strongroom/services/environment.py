"""Secrets as a process's environment (``strongroom run`` and ``env``): select them
by prefix or name, map each to a variable (refusing collisions before reading any
value), reveal them all under one caller, and record every read in one commit."""

from __future__ import annotations

from collections.abc import Iterable

from strongroom.domain import validation as check
from strongroom.domain.environment import Wanted, as_text, assign, parse_spec
from strongroom.domain.errors import describe
from strongroom.domain.reads import Reveal
from strongroom.domain.results import Injected, Injection
from strongroom.projections.rows import ListFilter
from strongroom.services.base import Service, Store, now
from strongroom.services.reveals import Reveals

_PAGE = 1000


class Environments(Service):
    """``environment``: the variables a command runs with."""

    def __init__(self, store: Store, reveals: Reveals) -> None:
        super().__init__(store)
        self._reveals = reveals

    def environment(
        self,
        *,
        namespace: str | None = None,
        prefixes: Iterable[str] = (),
        names: Iterable[str] = (),
        app: str | None = None,
        env: str | None = None,
        expand: bool = False,
        actor: str | None = None,
    ) -> Injection:
        """Variables from the secrets named (``NAME[#field][=VAR]``) or under
        ``prefixes`` (every live one in the namespace if neither is given)."""
        namespace = check.check_namespace(namespace)
        prefixes = [check.check_label(p, "prefix") for p in prefixes]
        wanted = [parse_spec(check.check_label(n, "name")) for n in names]
        caller = self._reveals.caller(None, app, env)
        actor = self._who(actor)
        position = self._store.log.max_notification_id() or 0
        named = {w.name for w in wanted}
        if prefixes or not wanted:
            wanted += [
                Wanted(name)
                for name in self._listed(namespace, prefixes or [""])
                if name not in named
            ]
        assigned = assign(wanted, prefixes, namespace)
        variables: dict[str, str] = {}
        sources: list[Injected] = []
        records: list[Reveal] = []
        for variable, item in sorted(assigned.items()):
            value, secret, read = self._reveals.traced(
                item.name, namespace, caller=caller, actor=actor, expand=expand
            )
            where = describe(item.name, namespace)
            variables[variable] = as_text(value, item.field, where)
            records += read
            sources.append(
                Injected(
                    variable=variable,
                    name=item.name,
                    namespace=namespace,
                    secret_id=secret.id,
                    version=read[0].version,
                    field=item.field,
                    expires_at=secret.expires_at,
                )
            )
        if records:
            self._repo.save(*records)
        return Injection(
            variables=variables,
            sources=tuple(sources),
            watched=frozenset(r.secret_id for r in records),
            position=position,
        )

    def _listed(self, namespace: str | None, prefixes: list[str]) -> list[str]:
        """Names of live, unexpired secrets in ``namespace`` under ``prefixes``."""
        self._catch_up.run()
        moment = now()
        found: dict[str, None] = {}
        for prefix in prefixes:
            filters = ListFilter(
                namespace=namespace,
                scope="global" if namespace is None else "namespace",
                prefix=prefix or None,
                status="active",
            )
            after = None
            while True:
                rows = self._view.list_rows(filters, after, _PAGE)
                for row in rows:
                    if row.expires_at is None or row.expires_at > moment:
                        found[row.name] = None
                if len(rows) < _PAGE:
                    break
                after = (rows[-1].ns_key, rows[-1].name)
        return list(found)
