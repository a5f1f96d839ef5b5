"""The poll schedule: capped backoff without history, targeted polls with it."""
from agybatch.schedule import PollPolicy
from agybatch.schedule import EXPECTED_MARGIN, PollSchedule


def polls_until(schedule, end):
    times = []
    while schedule.next_poll() <= end:
        now = schedule.next_poll()
        times.append(round(now, 3))
        schedule.polled(now)
    return times


def test_without_history_it_is_capped_exponential_backoff():
    schedule = PollSchedule(PollPolicy(initial=2, max=30, factor=2))
    schedule.watch("j", 0.0, None)
    assert polls_until(schedule, 120) == [2, 6, 14, 30, 60, 90, 120]


def test_with_history_it_polls_just_after_the_expected_end_then_backs_off_quickly():
    schedule = PollSchedule(PollPolicy(initial=2, max=30, factor=2))
    schedule.watch("j", 0.0, 40.0)
    times = polls_until(schedule, 45)
    assert times[0] == 30, "one safety-net poll at the cap"
    assert times[1] == 40 + EXPECTED_MARGIN
    late = [b - a for a, b in zip(times[1:], times[2:])]
    assert late == [0.5, 1.0, 2.0][: len(late)] and len(late) == 3
    schedule.forget("j")
    schedule.watch("k", 45.0, None)
    assert schedule.next_poll() == 47.0, "a job without history restarts the backoff"


def test_with_history_for_every_job_the_safety_net_backs_off():
    schedule = PollSchedule(PollPolicy(initial=1, max=2, factor=1.5))
    for i, end in enumerate([10.0, 20.0, 75.0]):
        schedule.watch(f"j{i}", 0.0, end)
    times = []
    while schedule.next_poll() <= 80:
        now = schedule.next_poll()
        times.append(now)
        schedule.polled(now)
        for i, end in enumerate([10.0, 20.0, 75.0]):
            if now >= end:
                schedule.forget(f"j{i}")
    assert len(times) <= 12, times
    assert any(abs(t - (75 + EXPECTED_MARGIN)) < 1e-9 for t in times)
