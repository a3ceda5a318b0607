"""The package's architecture: imports that go one way, the heavy stack in one place.

Every import of the package's own modules (at the top of a module or inside
a function) is read from the source: the graph they form has no cycle.
"""

import ast
from pathlib import Path

import k2l_course

PACKAGE = Path(k2l_course.__file__).parent


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(path):
    """Every module imported anywhere in ``path`` (absolute names)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def own_imports(name):
    return {other for other in imports(MODULES[name]) if other in MODULES and other != name}


def find_cycle(graph):
    """One cycle of ``graph`` (a list of nodes, first = last), or None."""
    done, trail = set(), []

    def visit(node):
        if node in trail:
            return trail[trail.index(node):] + [node]
        if node in done:
            return None
        trail.append(node)
        for nxt in sorted(graph[node]):
            cycle = visit(nxt)
            if cycle:
                return cycle
        trail.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def test_finding_a_cycle_works():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_import_graph_has_no_cycle():
    graph = {name: own_imports(name) for name in MODULES}
    assert find_cycle(graph) is None


def test_tensorflow_and_nengo_dl_are_imported_only_by_the_stack_module():
    heavy = ("tensorflow", "keras", "nengo_dl", "tqdm.keras")
    importers = {
        name for name in MODULES
        if any(module == h or module.startswith(h + ".") for module in imports(MODULES[name]) for h in heavy)
    }  # fmt: skip
    # training also loads tqdm's Keras callback, after the stack (it imports Keras itself).
    assert importers <= {"k2l_course.stack", "k2l_course.training"}
