"""Events read back for the read models are the ones the library's mapper gives."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eventsourcing.persistence import Notification

from projections.applied import Decoder, applied
from qualify.bootstrap import Backend
from tests.support import busy_scenario


def _notifications(backend: Backend) -> list[Notification]:
    return list(backend.log.recorder.select_notifications(start=1, limit=100_000))


def _same(ours: Any, theirs: Any) -> None:
    assert type(ours) is type(theirs)
    assert vars(ours) == vars(theirs)
    assert [type(v) for v in vars(ours).values()] == [
        type(v) for v in vars(theirs).values()
    ]


def test_every_decoded_event_equals_the_mappers_with_its_text(
    backend: Backend,
) -> None:
    busy_scenario(backend)
    decode = Decoder(backend.log.mapper)

    notifications = _notifications(backend)

    assert len({n.topic for n in notifications}) > 10
    for notification in notifications:
        expected = backend.log.mapper.to_domain_event(notification)
        item = decode(notification)
        _same(item.event, expected)
        assert item.position == notification.id
        assert item.aggregate_id == str(expected.originator_id)
        assert item.occurred_at == expected.timestamp.isoformat()


def test_a_state_holding_another_stored_type_goes_through_the_mapper(
    backend: Backend,
) -> None:
    busy_scenario(backend)
    decode = Decoder(backend.log.mapper)
    notification = _notifications(backend)[-1]
    # A field named as the transcoder marks its types: plain JSON would keep it.
    state = notification.state.replace(b'"actor":', b'"_type_":"x","actor":', 1)
    changed = replace(notification, state=state)

    item = decode(changed)

    _same(item.event, backend.log.mapper.to_domain_event(changed))


def test_text_is_read_from_the_stored_state_as_formatting_would_give_it(
    backend: Backend,
) -> None:
    busy_scenario(backend)

    for notification in _notifications(backend):
        event = backend.log.mapper.to_domain_event(notification)
        from_state = applied(notification.id, event, notification.state)
        assert from_state == applied(notification.id, event)
