"""Which records a month may send: what live batches hold, what changed since, what goes again.

SQL over the iCARE records and batches the actor sees: a service form goes in one live final (an
accepted one changed since is an amendment); a client profile or course setup goes whenever it
changed since the last live batch holding it, was rejected, or its batch was voided.
"""

from __future__ import annotations

from ocms_data.accounts import Actor
from ocms_data.scope import Visible, scope
from ocms_data.store.handle import Handle


def _batched(actor: Visible) -> str:
    """FROM and JOIN of the iCARE records `r` in their batches `b` that `actor` sees (a WHERE follows)."""
    return (
        f"FROM icare_records r JOIN icare_batches b ON b.id = r.batch_id AND {scope(actor, 'icare_batches', 'b')} "
        f"WHERE {scope(actor, 'icare_records', 'r')}"
    )


def not_sent(actor: Visible, entity: str, alias: str) -> str:
    """SQL: a service form in no live final batch (an accepted form changed since is an amendment)."""
    return (
        f"NOT EXISTS (SELECT 1 {_batched(actor)} "
        f"AND r.entity = '{entity}' AND r.rec_id = {alias}.id AND b.voided_at IS NULL AND r.status <> 'rejected' "
        f"AND NOT (r.status = 'accepted' AND {alias}.version > r.rec_version))"
    )


def changed_since_sent(actor: Visible, entity: str, alias: str) -> str:
    """SQL: a client or course never sent, or changed since the last live batch holding it (iCARE updates it)."""
    return (
        f"{alias}.version > coalesce((SELECT max(r.rec_version) {_batched(actor)} "
        f"AND r.entity = '{entity}' AND r.rec_id = {alias}.id AND b.voided_at IS NULL AND r.status <> 'rejected'), 0)"
    )


def eligible(actor: Visible, entity: str, alias: str) -> str:
    """SQL over `alias` (columns id, version): the record may go in a final now (never in two live batches)."""
    if entity == "service_forms":
        return not_sent(actor, entity, alias)
    return changed_since_sent(actor, entity, alias)


def accepted(actor: Visible, entity: str) -> str:
    return (
        f"SELECT r.rec_id, max(r.icare_record_id) AS icare_record_id {_batched(actor)} "
        f"AND r.status = 'accepted' AND b.voided_at IS NULL AND r.entity = '{entity}' GROUP BY r.rec_id"
    )


def sent_again(cur: Handle, actor: Actor, entity: str) -> set[int]:
    """Clients or courses once in a batch whose live iCARE copy is not current.

    That is: changed since, rejected by iCARE, or their batch voided. Their profile or course setup goes
    again whatever services this run holds.
    """
    return set(
        cur.column(
            f"SELECT x.id FROM {entity} x WHERE {scope(actor, entity, 'x')} AND x.id IN (SELECT r.rec_id "
            f"FROM icare_records r WHERE r.entity = '{entity}' AND {scope(actor, 'icare_records', 'r')}) "
            f"AND {changed_since_sent(actor, entity, 'x')}"
        )
    )
