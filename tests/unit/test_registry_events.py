from __future__ import annotations

from pathlib import Path

from modelpack.registry import events as ev


def _event(kind: str, version: int, **details: object) -> dict[str, object]:
    return ev.make_event(kind, "m", ev.Actor("u", "h", 1), ev.utc_now(), version=version, **details)


def test_append_returns_previous_size_and_reads_back(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    assert ev.append(log, [_event("registered", 1)], durable=False) == 0
    size = log.stat().st_size
    assert ev.append(log, [_event("registered", 2), _event("alias_set", 2, alias="a")], durable=False) == size
    parsed = ev.read(log)
    assert [e["version"] for e in parsed.events] == [1, 2, 2]
    assert not parsed.bad_lines and not parsed.torn_tail
    assert [e["version"] for e in ev.read(log, limit_bytes=size).events] == [1]


def test_torn_tail_is_hidden_and_cut_before_the_next_append(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    ev.append(log, [_event("registered", 1)], durable=False)
    with log.open("ab") as fh:
        fh.write(b'{"event": "regis')
    parsed = ev.read(log)
    assert parsed.torn_tail and len(parsed.events) == 1
    ev.append(log, [_event("registered", 2)], durable=False)
    parsed = ev.read(log)
    assert [e["version"] for e in parsed.events] == [1, 2]
    assert not parsed.torn_tail and not parsed.bad_lines


def test_garbage_lines_are_reported(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    ev.append(log, [_event("registered", 1)], durable=False)
    with log.open("ab") as fh:
        fh.write(b"not json\n[1, 2]\n")
    ev.append(log, [_event("registered", 2)], durable=False)
    parsed = ev.read(log)
    assert parsed.bad_lines == [2, 3]
    assert len(parsed.events) == 2


def test_replay_rebuilds_state() -> None:
    events = [
        _event("registered", 1),
        _event("registered", 2),
        _event("registered", 3),
        _event("stage_changed", 1, to="Production"),
        _event("stage_changed", 2, to="Production"),
        _event("stage_changed", 1, to="Archived"),
        _event("alias_set", 2, alias="champion"),
        _event("alias_set", 3, alias="candidate"),
        _event("alias_removed", 3, alias="candidate"),
        _event("alias_set", 3, alias="next"),
        _event("deleted", 3),
        _event("stage_changed", 1, to="None"),
    ]
    state = ev.replay(events)
    assert state.versions == {1, 2, 3}
    assert state.stages == {2: "Production"}
    assert state.aliases == {"champion": 2}
    assert set(state.deleted) == {3}
    assert state.count == len(events)
