"""The ``needs`` graph: cycle detection, dependents, and depth for display."""
from __future__ import annotations


def find_cycle(needs: dict) -> list | None:
    """A cycle in ``{label: [needed labels]}`` as ``[a, b, ..., a]``, or None."""
    state: dict = {}
    path: list = []

    def visit(label):
        state[label] = "open"
        path.append(label)
        for need in needs.get(label, ()):
            if state.get(need) == "open":
                return path[path.index(need):] + [need]
            if need not in state:
                found = visit(need)
                if found:
                    return found
        path.pop()
        state[label] = "done"
        return None

    for label in needs:
        if label not in state:
            found = visit(label)
            if found:
                return found
    return None


def dependents(tasks) -> dict:
    """``{label: [labels of tasks that need it]}``."""
    found: dict = {t.label: [] for t in tasks}
    for task in tasks:
        for need in task.needs:
            found.setdefault(need, []).append(task.label)
    return found
