"""The registry of losses and methods: every entry complete, every consumer derived from it."""
import ast
import pathlib
import re

import numpy as np
import pytest

from astra_np.check import _complex as cx
from astra_np.check import reference as ref
from astra_np.core import registry
from astra_np.core.losses import METHODS, head_loss
from astra_np.learn.kernel import EpochKernel
from astra_np.learn.nn import method_flags
from astra_np.study import figures, report

ROOT = pathlib.Path(__file__).resolve().parents[1]
LOSS_NAMES = [loss.name for loss in registry.losses()]
METHOD_NAMES = registry.method_names()


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_loss_names_resolvable_forms_and_a_derivation(name):
    loss = registry.get_loss(name)
    assert callable(loss.function("value_and_grad"))
    assert callable(cx.loss_form(loss)) and callable(ref.loss_terms(loss))  # derived by the checking tools
    assert loss.fused in registry.FUSED_TERMS
    assert (loss.counts is not None) == (loss.fused == "counts"), name
    if loss.counts is not None:
        assert callable(loss.function("counts"))
        assert callable(loss.definition) and callable(loss.log_form)
    assert (ROOT / "derivations" / loss.derivation).is_file(), loss.derivation


def test_methods_are_every_loss_times_every_output_in_column_order():
    ms = registry.methods()
    assert [m.name for m in ms] == [l + s for s in ("", "-astra") for l in LOSS_NAMES]
    assert list(METHODS) == METHOD_NAMES
    for m in ms:
        assert METHODS[m.name] == dict(loss=m.loss.name, astra=m.astra, z=m.astra)
        assert method_flags(m.name) == METHODS[m.name]
        assert registry.get_method(m.name) is m
    assert set(registry.paper_method_names()) <= set(METHOD_NAMES)
    assert report.METHOD_LABELS == {m.name: m.label for m in ms}
    assert figures.METHOD_NAMES == report.METHOD_LABELS


def test_the_papers_four_methods_keep_their_names_labels_and_order():
    assert registry.paper_method_names()[:4] == ["bce", "gmn", "bce-astra", "gmn-astra"]
    assert [registry.get_method(m).label for m in registry.paper_method_names()[:4]] == [
        "BCE", "GMN", "BCE-ASTra", "GMN-ASTra"]


def test_figure_styles_are_distinct_per_method():
    styles = [tuple(sorted(figures.method_style(m).items())) for m in METHOD_NAMES]
    assert len(set(styles)) == len(styles)


@pytest.mark.parametrize("bad", ["", "GMN", "gmn-ASTRA", "focal", None, 3, "bce "])
def test_an_unknown_name_is_a_value_error_everywhere(bad):
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1, 0, 0])
    with pytest.raises(ValueError, match="loss must be one of"):
        head_loss(x, 0.3, y, loss=bad)
    with pytest.raises(ValueError, match="method must be one of"):
        registry.get_method(bad)
    with pytest.raises(ValueError, match="method must be one of"):
        method_flags(bad)
    with pytest.raises(ValueError, match="method must be one of"):
        EpochKernel(np.ones((3, 2)), y, (2, 1), method=bad)
    with pytest.raises(ValueError):
        figures.method_style(bad)


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_head_loss_dispatches_to_the_registered_function(method):
    m = registry.get_method(method)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=7), np.array([1, 0, 0, 1, 0, 0, 0])
    value, gx, _ = head_loss(x, 0.4, y, **m.head_kwargs())
    from astra_np.core.losses import head_logits

    ref_value, ref_grad = m.loss.function("value_and_grad")(head_logits(x, 0.4, astra=m.astra, z=m.z), y)
    assert value == ref_value
    if not m.astra:
        np.testing.assert_array_equal(gx, ref_grad)


def _method_spellings(path, names):
    r"""``(line, text)`` of each place where code spells a method or loss name as a method:
    a comparison with it, a default of an argument called ``method``/``loss``, or a
    list, tuple, set or dict keys of two or more of them and nothing else (``__all__``
    excepted: the functions ``bce`` and ``gmn`` share the losses' names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_name = lambda node: isinstance(node, ast.Constant) and node.value in names  # noqa: E731
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            skip.update(id(n) for n in ast.walk(node.value))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare) and any(is_name(n) for n in [node.left, *node.comparators]):
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            args = node.args
            pos = args.posonlyargs + args.args
            pairs = list(zip(pos[len(pos) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            for arg, default in pairs:
                if arg.arg in ("method", "loss") and is_name(default):
                    yield node.lineno, f"{arg.arg}={default.value!r}"
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)) and _a_list_of_names(node.elts, is_name):
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.Dict) and _a_list_of_names([k for k in node.keys if k is not None], is_name):
            yield node.lineno, ast.unparse(node)[:60]


def _a_list_of_names(elements, is_name):
    """Two or more strings, every one a method or loss name (a table of functions that
    merely includes ``bce`` and ``gmn`` among others is not a list of methods)."""
    strings = [e for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return len(strings) >= 2 and all(map(is_name, strings))


def test_method_names_are_spelled_in_code_only_by_the_registry():
    # Docstrings and prose may name methods; code that compares, defaults to or lists
    # method names derives them from the registry (astra_np/core/registry.py).
    names = set(METHOD_NAMES) | set(LOSS_NAMES)
    offenders = []
    for path in sorted((ROOT / "astra_np").rglob("*.py")):
        if path.name == "registry.py":
            continue
        for line, text in _method_spellings(path, names):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert not offenders, "method or loss names spelled outside the registry:\n" + "\n".join(offenders)


@pytest.mark.parametrize("code, caught", [
    ('def f(method):\n    return 1 if method == "gmn-astra" else 2\n', True),
    ('def f(x, loss="bce"):\n    return x\n', True),
    ('ORDER = ("bce", "gmn", "bce-astra", "gmn-astra")\n', True),
    ('LABELS = {"bce": "BCE", "gmn": "GMN"}\n', True),
    ('TABLE = {"astra": 1, "bce": 2, "gmn": 3}\n', False),   # a table of functions
    ('__all__ = ["bce", "gmn"]\n', False),
    ('def f():\n    """Methods such as "gmn-astra" are named in prose."""\n', False),
])
def test_the_spelling_check_finds_what_it_must(tmp_path, code, caught):
    path = tmp_path / "m.py"
    path.write_text(code)
    found = list(_method_spellings(path, set(METHOD_NAMES) | set(LOSS_NAMES)))
    assert bool(found) is caught, found


def test_layers_point_one_way():
    # core names no module of check (nor any other layer); no layer but cli imports cli
    imports = re.compile(r"^\s*(?:from|import)\s+(\S+)", re.M)
    for path in sorted((ROOT / "astra_np").rglob("*.py")):
        rel = path.relative_to(ROOT / "astra_np")
        text = path.read_text(encoding="utf-8")
        targets = imports.findall(text)
        if rel.parts[0] == "core":
            assert not [v for v in _code_strings(text) if "astra_np.check" in v or "check." in v], rel
            assert not [t for t in targets if t.startswith("..") or t.startswith("astra_np.")], rel
        if rel.parts[0] in ("core", "learn", "study", "check"):
            assert not [t for t in targets if "cli" in t.split(".")], rel


def _code_strings(text):
    """String constants of a module that are not docstrings."""
    tree = ast.parse(text)
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]
