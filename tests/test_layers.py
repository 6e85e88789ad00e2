"""Imports in lib/ only point down the layers, and no module imports itself through others (parsed with ast,
lazy imports inside functions included)."""
import ast
import pathlib

LIB = pathlib.Path(__file__).resolve().parent.parent / "lib"

# Each package (or top-level module group) and its layer: a module may import its own package and lower layers.
LAYERS = {
    "config": 0,  # lib/config.py, lib/config_*.py
    "geometry": 1, "utils": 1,
    "specs": 2,
    "dataset": 3, "chips": 3,
    "data": 4, "model": 4,  # the loader and the network meet only in train / inference
    "runtime": 5,
    "train": 6, "inference": 6,
}
ENTRY_SCRIPTS = {"init_paths", "main_train", "main_test", "demo", "scripts", "tests"}


def _module_name(path):
    parts = path.relative_to(LIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module):
    """lib.data.loader -> data; lib.config_values -> config."""
    name = module.split(".")[1] if "." in module else ""
    return "config" if name.startswith("config") else name


def _imports(path):
    """Absolute module names imported anywhere in the file (function bodies too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update("%s.%s" % (node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError("%s: relative import; write lib.<package>.<module>" % path)
    return found


def _graph():
    modules = {_module_name(p): p for p in LIB.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path):
            if imported.split(".")[0] in ENTRY_SCRIPTS:
                targets.add(imported)
            while imported and imported not in modules:  # lib.x.y.name -> lib.x.y
                imported = imported.rpartition(".")[0]
            if imported.startswith("lib") and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def test_every_package_has_a_layer():
    packages = {_package(name) for name in _graph() if name != "lib"}
    assert packages <= set(LAYERS), "packages without a layer in LAYERS: %s" % sorted(packages - set(LAYERS))


def _upward(edges):
    """Descriptions of the imports that do not point down (module -> set of imported modules)."""
    upward = []
    for name, targets in edges.items():
        if name == "lib":
            continue
        own = _package(name)
        for target in targets:
            if target.split(".")[0] in ENTRY_SCRIPTS:
                upward.append("%s imports the entry script %s" % (name, target))
                continue
            other = _package(target)
            if target != "lib" and other != own and LAYERS[other] >= LAYERS[own]:
                upward.append("%s (%s, layer %d) imports %s (%s, layer %d)"
                              % (name, own, LAYERS[own], target, other, LAYERS[other]))
    return sorted(upward)


def test_imports_only_point_down():
    upward = _upward(_graph())
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    edges = _graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_the_rule_reports_up_and_sideways_imports(tmp_path):
    """The checker itself: a function-level import of the tester from lib.dataset, the network importing the
    loader, and an entry script are reported; a downward import is not."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from lib.inference.nms import suppress\n")
    assert "lib.inference.nms" in _imports(bad)
    edges = {"lib.dataset.proposals": {"lib.inference.nms", "lib.geometry.nms"},
             "lib.model.proposal": {"lib.data.anchor_targets"},
             "lib.inference.jobs": {"init_paths", "lib.runtime.devices"}}
    assert _upward(edges) == [
        "lib.dataset.proposals (dataset, layer 3) imports lib.inference.nms (inference, layer 6)",
        "lib.inference.jobs imports the entry script init_paths",
        "lib.model.proposal (model, layer 4) imports lib.data.anchor_targets (data, layer 4)"]
