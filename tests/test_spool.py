"""The disk spool on its own: record codec, segment format, damage, sharing between processes, caps."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrid.records import ErrorRecord, Event, Log, Metric, Resource, Span, SpanEvent
from astrid.spool import (
    FORMAT_VERSION,
    KIND_BATCH,
    MAGIC,
    SegmentDamage,
    Spool,
    decode_record,
    encode_record,
    frame,
    header,
    iter_segment_records,
    read_frames,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the spool needs POSIX advisory locks")

RES = Resource({"service.name": "spool-test"})


def _events(n, start=0):
    return [Event("e%d" % i, {"i": i, "s": "x" * (i % 7)}, 1_700_000_000_000_000_000 + i, id=start + i + 1) for i in range(n)]


def _segments(d):
    return sorted(p for p in os.listdir(d) if p.endswith(".astrid"))


def _all_records(d):
    out = []
    for name in _segments(d):
        with open(os.path.join(d, name), "rb") as f:
            out.extend(iter_segment_records(f.read()))
    return out


# ---------------------------------------------------------------- codec


def test_every_record_type_round_trips_with_its_id():
    span = Span("work", {"k": [1, 2]}, 10, trace_id=0xABC, span_id=0xDEF, parent_span_id=7, id=99)
    span.end_ns, span.status, span.status_message = 20, "error", "boom"
    span.events = [SpanEvent("exception", 15, {"exception.type": "ValueError"})]
    err = ErrorRecord(None, {"exception.type": "KeyError"}, 5, trace_id=3, span_id=4, id=1234)
    err.name, err.body = "KeyError", "KeyError: 'x'"
    metric = Metric("m", "histogram", {"q": "a"}, 1, 2, count=3, sum=4.5, min=0.5, max=2.0, bounds=(1.0, 2.0), bucket_counts=[1, 1, 1], unit="ms", id=5)
    log = Log("hello", 13, {"a": True}, 6, trace_id=8, span_id=9, id=77)
    event = Event("signup", {"plan": "pro", "n": 2**70, "f": 1.5}, 42, trace_id=1, parent_span_id=2, id=2**127 + 5)
    for rec in (span, err, metric, log, event):
        back = decode_record(encode_record(rec))
        assert type(back) is type(rec)
        assert back.to_dict() == rec.to_dict()


# ---------------------------------------------------------------- segment format and damage


def _segment_bytes(batches):
    data = header()
    for i, recs in enumerate(batches):
        import json

        payload = json.dumps({"b": "%032x" % (i + 1), "t": 0, "r": {}, "x": [encode_record(r) for r in recs]}).encode()
        data += frame(KIND_BATCH, payload)
    return data


def test_intact_frames_survive_a_torn_tail_and_appended_garbage():
    data = _segment_bytes([_events(3), _events(2, 10)])
    assert len(list(iter_segment_records(data))) == 5
    torn = data + _segment_bytes([_events(4, 20)])[len(header()) :][:-7]
    frames, damaged = read_frames(torn)
    assert len(frames) == 2 and damaged == 1
    frames, damaged = read_frames(data + b"\x00garbage\xa5\x7e" + os.urandom(50))
    assert len(frames) == 2 and damaged >= 1


def test_a_flipped_byte_costs_only_its_own_batch():
    data = bytearray(_segment_bytes([_events(3), _events(2, 10), _events(1, 20)]))
    first_payload = len(header()) + 11
    data[first_payload + 5] ^= 0xFF
    frames, damaged = read_frames(bytes(data))
    assert len(frames) == 2 and damaged == 1


def test_foreign_and_future_segments_are_refused_not_parsed():
    with pytest.raises(SegmentDamage):
        read_frames(b"not a segment at all")
    future = MAGIC + (FORMAT_VERSION + 1).to_bytes(2, "big") + b"\x00\x00"
    with pytest.raises(SegmentDamage):
        read_frames(future + b"whatever")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_reader_never_raises_on_arbitrary_bytes(blob):
    for data in (blob, header() + blob):
        try:
            frames, damaged = read_frames(data)
        except SegmentDamage:
            continue
        assert damaged >= 0 and all(k in (b"A", b"B") for _, k, _ in frames)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8), st.integers(0, 400))
def test_reader_never_raises_on_mutated_segments(flips, cut):
    data = bytearray(_segment_bytes([_events(3), _events(2, 10)]))
    for pos, value in flips:
        data[pos % len(data)] = value
    data = data[: max(0, len(data) - cut)]
    try:
        frames, _ = read_frames(bytes(data))
    except SegmentDamage:
        return
    for _, kind, payload in frames:  # an intact frame is exactly one we wrote
        assert kind in (b"A", b"B") and payload.startswith(b"{")


# ---------------------------------------------------------------- the spool


def test_files_are_owner_only_and_acknowledged_batches_disappear(tmp_path):
    d = str(tmp_path / "spool")
    sp = Spool(d, ["otlp"])
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    t1 = sp.append(_events(3), RES)
    t2 = sp.append(_events(2, 10), RES)
    assert t1 and t2
    (seg,) = _segments(d)
    assert stat.S_IMODE(os.stat(os.path.join(d, seg)).st_mode) == 0o600
    assert sp.stats()["spooled"] == 5
    sp.ack(t1, "otlp")
    assert sp.stats()["spooled"] == 2
    assert [r.id for r in _all_records(d)] == [11, 12]
    sp.ack(t2, "otlp")
    sp.close()
    assert _segments(d) == []


def test_a_batch_is_kept_until_every_lane_acknowledged_it(tmp_path):
    d = str(tmp_path)
    sp = Spool(d, ["a", "b"])
    tok = sp.append(_events(2), RES)
    sp.ack(tok, "a")
    sp.close()
    other = Spool(d, ["a", "b"])
    assert other.claim_orphans() == 1
    assert other.backlog("a", 100) == []
    (got,) = other.backlog("b", 100)
    assert [r.id for r in got[1]] == [1, 2]
    other.ack(got[0], "b")
    other.close()
    assert _segments(d) == []


def test_split_halves_must_both_be_acknowledged(tmp_path):
    sp = Spool(str(tmp_path), ["x"])
    tok = sp.append(_events(4), RES)
    sp.split(tok, "x")
    sp.ack(tok, "x")
    assert sp.stats()["spooled"] == 4
    sp.ack(tok, "x")
    assert sp.stats()["spooled"] == 0


def test_evicted_batches_come_back_from_disk_once(tmp_path):
    sp = Spool(str(tmp_path), ["x"])
    tok = sp.append(_events(3), RES)
    assert sp.backlog("x", 100) == []  # held in memory
    assert sp.evict(tok, "x")
    (got,) = sp.backlog("x", 100)
    assert got[0] == tok and len(got[1]) == 3
    assert sp.backlog("x", 100) == []  # in memory again
    assert sp.stats()["spool_replayed"] == 3


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from astrid.records import Event, Resource
    from astrid.spool import Spool
    sp = Spool(sys.argv[1], ["otlp"])
    sp.append([Event("held", {}, 1, id=i + 1) for i in range(3)], Resource({}))
    print("ready", flush=True)
    sys.stdin.readline()
    """
)


def test_a_live_processes_segment_is_not_claimed_until_it_dies(tmp_path):
    d = str(tmp_path)
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src"))
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, d], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        assert p.stdout.readline().strip() == b"ready"
        sp = Spool(d, ["otlp"])
        assert sp.claim_orphans() == 0
        p.kill()
        p.wait(10)
        assert sp.claim_orphans() == 1
        rival = Spool(d, ["otlp"])
        assert rival.claim_orphans() == 0  # claimed by sp: nobody else replays it
        (got,) = sp.backlog("otlp", 100)
        assert sorted(r.id for r in got[1]) == [1, 2, 3]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_stray_and_future_files_are_counted_and_left_alone(tmp_path):
    d = str(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    future = MAGIC + (FORMAT_VERSION + 1).to_bytes(2, "big") + b"\x00\x00" + b"x" * 20
    (tmp_path / "seg-1-0000abcd-0.astrid").write_bytes(future)
    sp = Spool(d, ["otlp"])
    assert sp.claim_orphans() == 0
    assert sp.claim_orphans() == 0
    s = sp.stats()
    assert s["spool_damaged"] == 2
    assert sorted(os.listdir(d)) == ["notes.txt", "seg-1-0000abcd-0.astrid"]


def test_caps_delete_the_oldest_segments_and_count_them(tmp_path):
    sp = Spool(str(tmp_path), ["x"], max_bytes=64 * 1024, segment_bytes=8 * 1024)
    for i in range(100):
        sp.append(_events(20, i * 100), RES)
    s = sp.stats()
    assert s["spool_bytes"] <= 64 * 1024 + 8 * 1024
    assert s["spool_dropped"] > 0
    assert s["spooled"] + s["spool_dropped"] == 100 * 20


def test_an_unusable_directory_means_memory_only(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    sp = Spool(str(blocker / "spool"), ["x"])
    assert sp.append(_events(1), RES) is None
    assert sp.stats()["spool"] == "unavailable"
    assert sp.claim_orphans() == 0


_FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from astrid.records import Event, Resource
    from astrid.spool import Spool
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sp = Spool(sys.argv[1], ["x"])
    first = sp.append([Event("a", {}, 1, id=1)], Resource({}))
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
    second = sp.append([Event("b", {"pad": "y" * 500}, 1, id=2)], Resource({}))
    print(bool(first), second, sp.stats()["spool_errors"])
    """
)


def test_a_full_disk_is_counted_and_never_raises(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src"))
    out = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "None", "1"]
    assert out.stderr == ""


def test_a_fork_child_never_writes_into_its_parents_segment(tmp_path):
    d = str(tmp_path)
    sp = Spool(d, ["x"])
    sp.append(_events(1), RES)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            sp.after_fork()
            code = 0 if sp.append(_events(1, 50), RES) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    segs = _segments(d)
    assert len(segs) == 2
    pids = {int(s.split("-")[1]) for s in segs}
    assert pids == {os.getpid(), pid}
