"""Reading squeue and sacct output, on lines captured from a real Slurm 22.05 cluster."""
from __future__ import annotations

import time

import pytest
from agybatch.model import JobState
from agybatch_slurm import options as opts
from agybatch_slurm import states

# `squeue -h -t all -j 6,7,8 -O "JobID:|,State:|,StartTime:|,EndTime:|,exit_code:|,Reason:|"`
SQUEUE = """\
6|FAILED|2026-11-26T19:27:09|2026-11-26T19:27:09|768|NonZeroExitCode|
7|FAILED|2026-11-26T19:27:12|2026-11-26T19:27:12|9|JobLaunchFailure|
8|CANCELLED|2026-11-26T19:27:15|2026-11-26T19:27:16|15|None|
2|COMPLETED|2026-11-26T19:26:52|2026-11-26T19:26:52|0|None|
3|PENDING|N/A|N/A|0|Resources|
9|RUNNING|2026-11-26T19:27:15|2026-11-26T19:28:15|0|None|
"""

# `sacct -n -P -X -j 2,3,4,5,12 -o JobID,State,ExitCode,Start,End,Reason`
SACCT = """\
2|COMPLETED|0:0|2026-11-26T19:26:52|2026-11-26T19:26:52|None
3|FAILED|3:0|2026-11-26T19:26:55|2026-11-26T19:26:55|None
4|CANCELLED by 0|0:0|2026-11-26T19:26:54|2026-11-26T19:26:54|None
5|FAILED|0:9|2026-11-26T19:26:58|2026-11-26T19:26:58|None
12|TIMEOUT|0:0|2026-11-26T19:40:01|2026-11-26T19:41:18|None
"""


@pytest.fixture(autouse=True)
def three_hours_east(monkeypatch):
    """Slurm prints local time: read it in a zone of UTC+3 (a POSIX TZ rule, no tz database needed)."""
    monkeypatch.setenv("TZ", "XST-3")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


#: Epoch seconds of 2026-11-26T19:26:52 etc. read in UTC+3 (16:26:52 UTC), worked out apart from the code.
AT_19_26_52 = 1795710412
AT_19_27_15 = 1795710435
AT_19_41_18 = 1795711278


@pytest.mark.parametrize("slurm, expected", [
    ("PENDING", JobState.QUEUED),
    ("RUNNING", JobState.RUNNING), ("COMPLETING", JobState.RUNNING), ("CONFIGURING", JobState.RUNNING),
    ("COMPLETED", JobState.SUCCEEDED),
    ("FAILED", JobState.FAILED), ("OUT_OF_MEMORY", JobState.FAILED),
    ("TIMEOUT", JobState.TIMED_OUT), ("DEADLINE", JobState.TIMED_OUT),
    ("CANCELLED", JobState.CANCELLED), ("CANCELLED by 0", JobState.CANCELLED),
    ("CANCELLED by 1000", JobState.CANCELLED),
    ("NODE_FAIL", JobState.FAILED), ("BOOT_FAIL", JobState.FAILED), ("PREEMPTED", JobState.FAILED),
    ("REQUEUED", JobState.QUEUED), ("SUSPENDED", JobState.RUNNING),
])
def test_the_state_mapping_of_the_issue(slurm, expected):
    assert states.map_state(slurm)[0] is expected


def test_failures_of_the_cluster_keep_their_reason():
    assert "NODE_FAIL" in states.map_state("NODE_FAIL")[1]
    assert "BOOT_FAIL" in states.map_state("BOOT_FAIL")[1]
    assert "PREEMPTED" in states.map_state("PREEMPTED")[1]
    assert "OUT_OF_MEMORY" in states.map_state("OUT_OF_MEMORY")[1]
    assert states.map_state("CANCELLED by 1000")[1] == "cancelled in Slurm (CANCELLED by 1000)"


def test_an_unknown_state_is_still_running_in_squeue_but_lost_in_sacct():
    assert states.map_state("FUTURE_STATE")[0] is JobState.RUNNING
    state, reason = states.map_state("FUTURE_STATE", final_only=True)
    assert state is JobState.LOST and "FUTURE_STATE" in reason


def test_parse_squeue_lines():
    jobs = states.parse_squeue(SQUEUE)
    assert (jobs["6"].state, jobs["6"].exit_code) == (JobState.FAILED, 3)  # wait status 768 = exit 3
    assert (jobs["7"].state, jobs["7"].exit_code) == (JobState.FAILED, -9)  # killed by SIGKILL
    assert (jobs["8"].state, jobs["8"].exit_code) == (JobState.CANCELLED, -15)
    assert (jobs["2"].state, jobs["2"].exit_code) == (JobState.SUCCEEDED, 0)
    assert jobs["2"].started_at == jobs["2"].ended_at == AT_19_26_52
    assert (jobs["3"].state, jobs["3"].started_at, jobs["3"].reason) == (JobState.QUEUED, None, "pending (Resources)")
    # A running job's EndTime is its expected end: not reported.
    assert (jobs["9"].state, jobs["9"].ended_at, jobs["9"].exit_code) == (JobState.RUNNING, None, None)
    assert jobs["9"].started_at == AT_19_27_15


def test_parse_sacct_lines():
    jobs = states.parse_sacct(SACCT)
    assert (jobs["2"].state, jobs["2"].exit_code) == (JobState.SUCCEEDED, 0)
    assert (jobs["3"].state, jobs["3"].exit_code, jobs["3"].reason) == (JobState.FAILED, 3, None)
    assert (jobs["4"].state, jobs["4"].exit_code) == (JobState.CANCELLED, None)  # 0:0 would read as success
    assert "CANCELLED by 0" in jobs["4"].reason
    assert (jobs["5"].state, jobs["5"].exit_code) == (JobState.FAILED, -9)
    assert (jobs["12"].state, jobs["12"].reason) == (JobState.TIMED_OUT, "Slurm time limit reached (TIMEOUT)")
    assert jobs["12"].ended_at == AT_19_41_18


def test_blank_and_foreign_lines_are_ignored():
    assert states.parse_squeue("\nslurm_load_jobs error: Invalid job id specified\n") == {}
    assert states.parse_sacct("") == {}


def test_a_key_is_found_in_the_comment_or_the_submit_line_only_as_a_whole_word():
    # `sacct -n -P -X -o JobID,Comment,SubmitLine` without AccountingStoreFlags=job_comment: no comment.
    line = ("41||sbatch --parsable --job-name ok --output /p/%x-%j.log --comment agybatch:20261126-192914-a12f.0.1 "
            "--chdir /p --export ALL --wrap exec true")
    rows = states.parse_keys(line)
    assert rows[0][0] == "41"
    assert states.marks_key(rows[0][1], "agybatch:20261126-192914-a12f.0.1")
    assert not states.marks_key(rows[0][1], "agybatch:20261126-192914-a12f.0.11")
    assert not states.marks_key(rows[0][1], "agybatch:20261126-192914-a12f.0")
    assert states.marks_key("agybatch:k.1.1|", "agybatch:k.1.1")  # squeue's comment column
    # A multi-line string command continues the submit line on lines of its own.
    assert states.parse_keys("42||sbatch --comment agybatch:k.1.1 --wrap echo a\necho b|c\n") == [
        ("42", "|sbatch --comment agybatch:k.1.1 --wrap echo a")]


@pytest.mark.parametrize("value, expected", [
    ("90m", "90"), ("30s", "1"), (61, "2"), ("2h", "120"), ("1-12:00:00", "1-12:00:00"), ("30:00", "30:00"),
])
def test_time_values(value, expected):
    assert opts.slurm_time(value) == expected


@pytest.mark.parametrize("value, expected", [(512, "512M"), ("4G", "4G"), ("4GiB", "4G"), ("200mb", "200M")])
def test_mem_values(value, expected):
    assert opts.slurm_mem(value) == expected


def test_job_names_are_safe_in_file_names_and_the_wrap_script_quotes_argv():
    assert opts.job_name("generate:article a/../%j") == "generate_article_a_.._j"
    assert opts.job_name("::") == "task"
    assert opts.output_pattern("/data/100%/run") == "/data/100%%/run/%x-%j.log"
    script = opts.script(["echo", "it's $HOME; rm -rf /"])
    assert script.endswith("exec echo 'it'\"'\"'s $HOME; rm -rf /'")
    assert script.startswith('AGYBATCH_JOB_ID="$SLURM_JOB_ID"; export AGYBATCH_JOB_ID; exec echo')
    assert "\n" not in script
