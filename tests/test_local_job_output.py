"""A local job's output under ``max_log_size``, with real jobs: the cap holds while the job runs and it
is not held up; ``logs``, failed-log capture, ``read_output``, ``read_from`` and ``output_marks`` keep
working on the capped log; a job's end is reported when its process exits, even if a process it left
behind still holds its output."""
from __future__ import annotations

import json
import os
import re
import signal
import sys

import pytest

from agybatch.backends import OUTPUT_HEAD, OUTPUT_TAIL, BackendContext
from agybatch.backends._joboutput import MARKER_SIZE, head_size
from agybatch.backends._supervisor import start_ticks
from agybatch.backends.local import LocalBackend
from agybatch.model import JobState, Task

MB = 1 << 20

#: Numbered 100-byte lines (``line NNNNNNN xxx...``), then an agent's final JSON envelope; exit code argv[2].
NOISE_JOB = ('import sys\n'
             'out = sys.stdout\n'
             'for i in range(int(sys.argv[1])): out.write("line %07d %s\\n" % (i, "x" * 87))\n'
             'out.write(\'{"type": "result", "result": "all done"}\\n\')\n'
             'sys.exit(int(sys.argv[2]))')
#: Bursts of numbered lines; after each, ``end of burst N`` and a wait for the file ``<argv[1]>N``.
BURST_JOB = ('import os, sys, time\n'
             'ack, bursts, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n'
             'for b in range(bursts):\n'
             '    for i in range(lines): sys.stdout.write("b%02d line %05d %s\\n" % (b, i, "y" * 50))\n'
             '    sys.stdout.write("end of burst %d\\n" % b)\n'
             '    sys.stdout.flush()\n'
             '    end = time.time() + 30\n'
             '    while not os.path.exists(ack + str(b)) and time.time() < end: time.sleep(0.005)')


def noise(lines: int) -> bytes:
    return (b"".join(b"line %07d %s\n" % (i, b"x" * 87) for i in range(lines))
            + b'{"type": "result", "result": "all done"}\n')


def bursts(count: int, lines: int) -> list:
    """What BURST_JOB writes, burst by burst."""
    return [b"".join(b"b%02d line %05d %s\n" % (b, i, b"y" * 50) for i in range(lines)) + b"end of burst %d\n" % b
            for b in range(count)]


@pytest.fixture
def backend(tmp_path):
    context = BackendContext(run_id="r", state_dir=tmp_path / "state", run_dir=tmp_path / "state" / "runs" / "r",
                             batch_folder=tmp_path)
    backend = LocalBackend(context)
    yield backend
    backend.close()


def submit(backend, tmp_path, label: str, command: list, cap) -> str:
    task = Task(label=label, command=command, cwd=str(tmp_path), max_log_size=cap)
    return backend.submit(task, f"r.{label}.1").job_id


def run_to_end(backend, job_id: str, during=lambda: None):
    """Wait for the job's end through the backend's events, calling ``during`` every round."""
    for _ in range(6000):
        during()
        status = backend.wait([job_id], 0.05).get(job_id)
        if status is not None and status.state.final:
            return status
    pytest.fail(f"{job_id} did not end")


def test_a_job_writing_30MB_under_a_1MB_cap_keeps_head_marker_and_tail_within_the_cap(backend, tmp_path):
    lines = 300_000
    expected = noise(lines)
    job = submit(backend, tmp_path, "noisy", [sys.executable, "-c", NOISE_JOB, str(lines), "0"], MB)
    log = backend.log_path(job)
    sizes = []
    status = run_to_end(backend, job, lambda: sizes.append(log.stat().st_size if log.exists() else 0))
    assert status.state is JobState.SUCCEEDED, status
    assert max(sizes) <= MB, "the cap holds while the job runs"
    data = log.read_bytes()
    assert 0.74 * MB <= len(data) <= MB, "three quarters of the cap (less a line) at least"
    head = head_size(MB)
    tail = data[head + MARKER_SIZE:]
    dropped = len(expected) - head - len(tail)
    assert data[:head] == expected[:head] and expected.endswith(tail)
    assert data[head:head + MARKER_SIZE].decode().strip() == \
        f"[agybatch: {dropped} bytes of output dropped here (max_log_size)]"
    text = data.decode()
    assert text.startswith("line 0000000 ") and f"line {lines - 1:07d} " in tail.decode()
    assert backend.output_marks([job]) == {job: len(expected)}, "the mark counts every byte written"


def test_logs_tail_read_output_and_failed_log_capture_work_on_a_capped_log(project):
    project.batch("b", f"""
        [[task]]
        label = "noisy"
        command = [{json.dumps(sys.executable)}, "-c", {json.dumps(NOISE_JOB)}, "300000", "1"]
        max_log_size = "1MiB"
    """)
    result = project.run("run", "b", "--json")
    assert result.code == 1, result
    task = result.json()["tasks"][0]
    last_40 = b"".join(noise(300_000).splitlines(keepends=True)[-40:]).decode()
    assert open(task["log_path"]).read() == last_40, "the failed log holds the last 40 lines"
    shown = project.run("logs", "noisy", "--tail", "40")
    assert shown.code == 0 and shown.out == last_40
    full = project.run("logs", "noisy")
    assert full.out.count("bytes of output dropped here (max_log_size)]") == 1
    assert full.out.startswith("line 0000000 ") and full.out.endswith(last_40)


def test_read_output_ends_with_the_final_envelope_after_30MB_of_noise(backend, tmp_path):
    capped = submit(backend, tmp_path, "capped", [sys.executable, "-c", NOISE_JOB, "300000", "0"], MB)
    uncapped = submit(backend, tmp_path, "uncapped", [sys.executable, "-c", NOISE_JOB, "30000", "0"], None)
    for job in (capped, uncapped):
        assert run_to_end(backend, job).state is JobState.SUCCEEDED
    envelope = '{"type": "result", "result": "all done"}\n'
    output = backend.read_output(capped)
    assert output.endswith("\nline 0299999 " + "x" * 87 + "\n" + envelope)
    assert output == backend.log_path(capped).read_text(), "a log within OUTPUT_HEAD + OUTPUT_TAIL comes whole"
    expected = noise(30000)
    assert len(expected) > OUTPUT_HEAD + OUTPUT_TAIL
    assert backend.log_path(uncapped).read_bytes() == expected, "without a cap the log is the output"
    assert backend.read_output(uncapped).encode() == expected[:OUTPUT_HEAD] + b"\n" + expected[-OUTPUT_TAIL:]


def test_a_follower_sees_every_kept_byte_once_in_order_through_compactions(backend, tmp_path, wait):
    """``read_from`` in a loop, as ``agybatch logs --follow`` does. In even bursts the follower reads
    while the job writes (and the supervisor compacts); in odd ones it waits until the job has
    written the whole burst, four times the cap, so that most of it is dropped before it reads."""
    cap, count, per_burst = 64 * 1024, 6, 4000
    expected_bursts = bursts(count, per_burst)
    expected = b"".join(expected_bursts)
    ack = str(tmp_path / "ack")
    job = submit(backend, tmp_path, "bursts", [sys.executable, "-c", BURST_JOB, ack, str(count), str(per_burst)], cap)
    offset, got, dropped_total, drops = 0, bytearray(), 0, 0

    def follow() -> None:
        nonlocal offset, dropped_total, drops
        out = backend.read_from(job, offset)
        data = out.text.encode()
        assert data == expected[offset + out.dropped:out.next_offset], "each byte at its own offset"
        got.extend(data)
        dropped_total += out.dropped
        drops += out.dropped > 0
        offset = out.next_offset

    for b in range(count):
        end_of_burst = sum(len(x) for x in expected_bursts[:b + 1])
        if b % 2:
            wait(lambda: backend.output_marks([job])[job] == end_of_burst)
        while offset < end_of_burst:
            follow()
        assert backend.log_path(job).stat().st_size <= cap
        open(f"{ack}{b}", "w").close()
    assert run_to_end(backend, job).state is JobState.SUCCEEDED
    follow()
    assert offset == len(expected) and len(got) + dropped_total == len(expected), "drops account for the rest"
    assert drops >= count // 2, "the cap dropped output the follower had not read"
    whole = [line[:14] for line in bytes(got).split(b"\n") if re.fullmatch(rb"b\d\d line \d{5} y{50}", line)]
    assert whole == sorted(set(whole)), "every whole line once, in order"
    assert {b"b%02d line %05d" % (b, per_burst - 1) for b in range(count)} <= set(whole), "each burst's last line"


def test_output_marks_grow_while_a_capped_job_writes_and_its_log_stays_the_same_size(backend, tmp_path, wait):
    cap, count, per_burst = 64 * 1024, 4, 4000
    expected_bursts = bursts(count, per_burst)
    ack = str(tmp_path / "ack")
    job = submit(backend, tmp_path, "bursts", [sys.executable, "-c", BURST_JOB, ack, str(count), str(per_burst)], cap)
    marks, sizes = [], []
    for b in range(count):
        end_of_burst = sum(len(x) for x in expected_bursts[:b + 1])
        wait(lambda: backend.output_marks([job])[job] == end_of_burst)
        marks.append(backend.output_marks([job])[job])
        sizes.append(backend.log_path(job).stat().st_size)
        open(f"{ack}{b}", "w").close()
    run_to_end(backend, job)
    assert len(set(marks)) == count and marks == sorted(marks)
    assert all(0.7 * cap <= size <= cap for size in sizes), sizes


#: Prints "final" and exits, leaving a child that holds its output until the file argv[1] exists.
LEAVES_A_CHILD = 'echo final; (while [ ! -e "$1" ]; do sleep 0.01; done; echo late) & exit 0'


def test_a_jobs_end_is_reported_when_it_exits_though_a_child_it_left_still_writes(backend, tmp_path, wait):
    release = tmp_path / "release"
    job = submit(backend, tmp_path, "parent", ["sh", "-c", LEAVES_A_CHILD, "sh", str(release)], MB)
    status = run_to_end(backend, job)
    assert status.state is JobState.SUCCEEDED
    assert backend.logs(job) == "final\n", "what it wrote before it exited is in the log before its end"
    supervisor = backend._events.started[job]["pid"]
    backend.close()  # the runner goes; the supervisor stays while the child holds the job's output
    release.touch()
    wait(lambda: backend.logs(job) == "final\nlate\n")
    wait(lambda: start_ticks(supervisor) is None, timeout=10)


#: Waits for the file argv[1], then writes 1 MiB and an envelope into a 1 MiB pipe in one go and exits.
LAST_WORDS = ('import fcntl, os, sys, time\n'
              'fcntl.fcntl(1, 1031, 1 << 20)  # F_SETPIPE_SZ\n'
              'while not os.path.exists(sys.argv[1]): time.sleep(0.005)\n'
              'os.write(1, b"x" * ((1 << 20) - 100) + b"\\n{\\"result\\": \\"last words\\"}\\n")')


def test_what_a_job_wrote_before_it_exited_is_in_its_log_when_its_end_is_reported(backend, tmp_path, wait):
    go = tmp_path / "go"
    jobs = [submit(backend, tmp_path, f"last{i}", [sys.executable, "-c", LAST_WORDS, str(go)], 4 * MB)
            for i in range(8)]
    started = wait(lambda: backend._events.read_new() or all(j in backend._events.started for j in jobs))
    started = [backend._events.started[j] for j in jobs]
    supervisor = started[0]["pid"]
    os.kill(supervisor, signal.SIGSTOP)  # it reads nothing until every job has written 1 MiB and exited
    try:
        go.touch()
        wait(lambda: all(start_ticks(s["child"]) is None for s in started))
    finally:
        os.kill(supervisor, signal.SIGCONT)
    ended = {}
    while len(ended) < len(jobs):
        ended.update(backend.wait(jobs, 1.0))
    assert [backend.logs(job, 1) for job in ended] == ['{"result": "last words"}\n'] * len(jobs)
    assert {s.state for s in ended.values()} == {JobState.SUCCEEDED}


def test_jobs_that_write_nothing_have_empty_logs_and_marks_of_zero(backend, tmp_path):
    jobs = [submit(backend, tmp_path, f"quiet{i}", ["true"], MB) for i in range(20)]
    for job in jobs:
        assert run_to_end(backend, job).state is JobState.SUCCEEDED
    assert {backend.log_path(job).read_bytes() for job in jobs} == {b""}
    assert set(backend.output_marks(jobs).values()) == {0}
    assert backend.read_from(jobs[0], 0).text == "" and backend.logs(jobs[0], 40) == ""
