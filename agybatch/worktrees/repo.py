"""Questions about the repository a batch runs in: where it is, what a ref is, whether a folder exists."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from ._git import WorktreeError, environment, git, out


def repository_root(path) -> Path:
    """The top folder of the working tree holding ``path`` (a folder or a file).

    Raises :class:`WorktreeError` ``not a git repository: PATH`` when ``path``
    is in no repository, or in one without a working tree (a bare repository,
    the inside of ``.git``).
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not folder.is_dir():
        raise WorktreeError(f"no such folder: {path}")
    proc = git(folder, "rev-parse", "--show-toplevel", ok=(0, 128), retry=False)
    top = proc.stdout.strip()
    if proc.returncode != 0 or not top:
        raise WorktreeError(f"not a git repository: {path}", proc.stderr)
    return Path(top)


def resolve(repo, ref: str = "HEAD") -> str:
    """The full SHA of the commit ``ref`` names in ``repo`` (``ref^{commit}``).

    Raises :class:`WorktreeError` naming the ref when it names no commit, such
    as the ``HEAD`` of a repository with no commit yet.
    """
    if not ref or ref.startswith("-"):
        raise WorktreeError(f"not a commit: {ref!r}")
    proc = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", ok=(0, 1, 128), retry=False)
    if proc.returncode == 128:
        raise WorktreeError(f"not a git repository: {repo}", proc.stderr)
    if proc.returncode != 0:
        raise WorktreeError(f"{ref!r} does not name a commit in {repo}", proc.stderr)
    return proc.stdout.strip()


def path_in_commit(repo, commit: str, relative) -> bool:
    """Whether ``commit`` holds a folder at ``relative`` (a path relative to the repository's top).

    A task's folder maps to the same relative path inside its worktree, so a
    task whose folder is not in the commit (untracked, ignored, outside the
    repository) cannot run there. ``""`` and ``"."`` are the top itself. A path
    leaving the repository (``../x``, absolute) is never in it. Raises
    :class:`WorktreeError` when ``commit`` is not a commit of ``repo``.
    """
    resolve(repo, commit)
    parts = PurePosixPath(str(relative)).parts
    if parts[:1] == ("/",) or ".." in parts:
        return False
    relative = "/".join(part for part in parts if part != ".")
    if not relative:
        return True
    listing = out(repo, "ls-tree", "-d", "-z", "--full-tree", commit, "--", relative,
                  env=environment(GIT_LITERAL_PATHSPECS="1"), retry=False)
    for entry in listing.split("\0"):
        info, _, name = entry.partition("\t")
        if name == relative:
            return info.split(" ")[1:2] == ["tree"]
    return False
