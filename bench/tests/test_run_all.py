"""bench/run_all.py against a real git repository with tiny benchmark scripts.

The scripts are real child processes that hand in sections through
``_common.write_section``, as the real benchmarks do; only the registry and
the repository root are swapped, so the checks on the tree, the stamp and the
document are the ones a full run goes through.

    python -m pytest bench/tests -q
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

import run_all  # noqa: E402
from _document import parse  # noqa: E402

SCRIPT = """
import sys
sys.path.insert(0, {bench!r})
from _common import write_section
marker = sys.argv[1]
if marker == "fail":
    sys.exit(3)
if marker == "touch":
    open("new-file.txt", "w").write("changed while measuring")
write_section({title!r}, f"| goal | measured | |\\n|---|---|---|\\n| be fast | {{marker}} | met |")
"""


def git(root: Path, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args], cwd=root,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with two committed benchmark scripts, ``one`` and ``two``, as run_all's root."""
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    (root / "docs").mkdir()
    for name, title in (("one", "First thing"), ("two", "Second thing")):
        (root / "bench" / f"{name}.py").write_text(SCRIPT.format(bench=str(BENCH), title=title))
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    monkeypatch.setattr(run_all, "ROOT", root)
    monkeypatch.setattr(run_all, "DOC", root / "docs" / "benchmarks.md")
    use(monkeypatch, one=("full-1",), two=("full-2",))
    return root


def use(monkeypatch, **args) -> None:
    """Register benchmarks ``name=(full args)``; their quick args are ``quick-<name>``."""
    monkeypatch.setattr(run_all, "BENCHMARKS", tuple(
        run_all.Benchmark(name, f"bench/{name}.py", full, (f"quick-{name}",)) for name, full in args.items()))


def main(monkeypatch, *argv) -> int:
    monkeypatch.setattr(sys, "argv", ["run_all.py", *argv])
    return run_all.main()


def doc(root: Path) -> str:
    return (root / "docs" / "benchmarks.md").read_text()


def test_a_full_run_at_a_clean_commit_writes_every_section_under_one_stamp(repo, monkeypatch):
    assert main(monkeypatch) == 0
    stamp, sections = parse(doc(repo))
    assert stamp.commit == git(repo, "rev-parse", "HEAD")
    assert stamp.dirty == [] and len(stamp.dates) == 1
    assert [(name, title) for name, title, _ in sections] == [("one", "First thing"), ("two", "Second thing")]
    assert "| be fast | full-1 | met |" in sections[0][2]
    assert f"`{stamp.short}` (clean tree)" in doc(repo)
    assert doc(repo).count("Machine:") == 0  # no per-section stamp under run_all


def test_a_dirty_tree_is_refused_and_allow_dirty_says_so_at_the_top(repo, monkeypatch, capsys):
    (repo / "notes.txt").write_text("untracked counts as a change")
    assert main(monkeypatch) == 2
    assert "not clean" in capsys.readouterr().err
    assert not (repo / "docs" / "benchmarks.md").exists()
    assert main(monkeypatch, "--allow-dirty") == 0
    assert "**not a clean commit**: 1 changed path(s) (`notes.txt`)" in doc(repo)


def test_the_document_itself_changing_does_not_make_the_tree_dirty(repo, monkeypatch):
    (repo / "docs" / "benchmarks.md").write_text("# old figures\n")
    git(repo, "add", "docs/benchmarks.md")
    git(repo, "commit", "-q", "-m", "old document")
    (repo / "docs" / "benchmarks.md").write_text("# old figures, edited\n")
    assert main(monkeypatch) == 0
    assert parse(doc(repo))[0].dirty == []


def test_a_failing_benchmark_leaves_the_document_as_it_was(repo, monkeypatch, capsys):
    (repo / "docs" / "benchmarks.md").write_text("# before\n")
    use(monkeypatch, one=("full-1",), two=("fail",))
    assert main(monkeypatch, "--allow-dirty") == 1
    assert doc(repo) == "# before\n"
    preview = Path(capsys.readouterr().err.split("what was measured: ")[1].split(")")[0])
    assert "| be fast | full-1 | met |" in preview.read_text()  # what did run is kept apart
    preview.unlink()


def test_a_tree_changed_during_the_run_is_not_stamped(repo, monkeypatch, capsys):
    use(monkeypatch, one=("touch",))
    assert main(monkeypatch) == 1
    assert "tree changed during the run" in capsys.readouterr().err
    assert not (repo / "docs" / "benchmarks.md").exists()


def test_quick_runs_the_quick_arguments_and_writes_nothing(repo, monkeypatch, capsys):
    assert main(monkeypatch, "--quick") == 0
    out = capsys.readouterr().out
    assert "bench/one.py quick-one" in out and "docs/benchmarks.md left as it was" in out
    assert "[First thing] be fast · quick-one · met" in out  # the goal lines of the summary
    assert not (repo / "docs" / "benchmarks.md").exists()
    preview = Path(out.split("(preview: ")[1].split(")")[0])
    assert "--quick smoke run: not figures to quote" in preview.read_text()
    preview.unlink()


def test_only_replaces_one_benchmark_in_a_document_of_the_same_commit(repo, monkeypatch):
    assert main(monkeypatch) == 0
    use(monkeypatch, one=("again-1",), two=("again-2",))
    assert main(monkeypatch, "--only", "two") == 0
    _, sections = parse(doc(repo))
    assert [body.splitlines()[-1] for _, _, body in sections] == ["| be fast | full-1 | met |",
                                                                   "| be fast | again-2 | met |"]


def test_only_refuses_a_document_stamped_at_another_commit(repo, monkeypatch, capsys):
    assert main(monkeypatch) == 0
    before = doc(repo)
    (repo / "bench" / "three.py").write_text("")
    git(repo, "add", "bench/three.py")
    git(repo, "commit", "-q", "-m", "a later commit")
    assert main(monkeypatch, "--only", "one") == 1
    assert "another commit" in capsys.readouterr().err
    assert doc(repo) == before
