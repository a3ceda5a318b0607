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
    assert importers <= {"k2l_course.stack", "k2l_course.pipeline.training"}


#: The package's layers, bottom up: a module imports only from its own layer or below.
LAYERS = [
    {"k2l_course", "k2l_course.stack", "k2l_course.quiet", "k2l_course.files", "k2l_course.stats", "k2l_course.seed",
     "k2l_course.nengo_loihi_numpy2", "k2l_course.import_hooks"},
    {"k2l_course.pipeline"},
    {"k2l_course.chip"},
    {"k2l_course.reproduce"},
    {"k2l_course.exercises"},
    {"k2l_course.grading"},
    {"k2l_course.site"},
    {"k2l_course.cli"},
]


def layer_of(name):
    """The index in LAYERS of the module or subpackage ``name`` belongs to."""
    for index in reversed(range(len(LAYERS))):
        if any(name == top or name.startswith(top + ".") for top in LAYERS[index] - {"k2l_course"}):
            return index
    assert name == "k2l_course", f"{name} is in no layer: add it to LAYERS"
    return 0


def test_every_module_belongs_to_a_layer():
    for name in MODULES:
        layer_of(name)


def test_imports_go_one_way_from_the_bottom_layer_up():
    upward = sorted(
        f"{name} imports {other}"
        for name in MODULES
        for other in own_imports(name)
        if layer_of(other) > layer_of(name)
    )  # fmt: skip
    assert upward == []


def test_the_layer_check_catches_an_upward_import():
    assert layer_of("k2l_course.grading.sandbox.wire") > layer_of("k2l_course.pipeline.model")
    assert layer_of("k2l_course.site.book") > layer_of("k2l_course.chip.loihi")
