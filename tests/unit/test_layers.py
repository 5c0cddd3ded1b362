"""The features are layered in one direction: a module imports only from its own
feature and the layers below it (imports inside functions and under TYPE_CHECKING
count too), so there are no circles. docs/architecture.md draws the same picture."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# Lowest first; features on one line may not import each other.
LAYERS = [
    {"auth"},
    {"programs"},
    {"notifications"},
    {"schedule", "safety"},
    {"checkins", "messages", "needs", "shell"},
    {"reviews"},
    {"staff", "record"},
]
# The app factory, the console command, the demo (and its made-up history), the scale
# seed and the models list wire everything.
WIRING = {"__init__", "cli", "demo", "demo_history", "models", "seed"}


def _layer_of(feature: str) -> int:
    return next(n for n, layer in enumerate(LAYERS, start=1) if feature in layer)


def _imported_features(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {
        name.split(".")[2]
        for name in names
        if name.startswith("portal.blueprints.") and name.count(".") >= 2
    }


def _modules():
    for path in sorted(PORTAL.rglob("*.py")):
        parts = path.relative_to(PORTAL).parts
        if parts[0] == "blueprints" and len(parts) > 2:
            yield path, parts[1]
        elif len(parts) == 1 and path.stem not in WIRING:
            yield path, None  # the core


def test_every_feature_has_a_layer():
    features = {p.name for p in (PORTAL / "blueprints").iterdir() if p.is_dir()}
    features.discard("__pycache__")
    assert features == set().union(*LAYERS)


def test_no_module_imports_a_feature_above_or_beside_its_own():
    wrong = []
    for path, feature in _modules():
        own = _layer_of(feature) if feature else 0
        for imported in _imported_features(path) - {feature}:
            if _layer_of(imported) >= own:
                wrong.append(f"{path.relative_to(PORTAL)} imports {imported}")
    assert wrong == []
