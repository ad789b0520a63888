"""Tests of astra_np.check.vectors: the portable reference vectors and ``validate``."""
import copy
import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import astra_np
from astra_np.check import vectors as V
from astra_np.cli import vectors as cli_vectors
from astra_np.core import registry

pytest.importorskip("mpmath")  # the cross-check at generation needs the mpmath reference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The methods the vectors cover: every registered method.
VECTOR_METHODS = registry.method_names()


@pytest.fixture(scope="module")
def text():
    """The canonical 'all' document, cross-checked against mpmath while generated."""
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        return V.dumps(V.generate("all", check=True))


@pytest.fixture(scope="module")
def doc(text):
    return json.loads(text)


def _float_tensors(doc):
    for entry in doc["functions"].values():
        for case in entry["cases"]:
            for name, t in case["inputs"].items():
                if t["dtype"] == "float64":
                    yield case["id"], "inputs." + name, t
            yield case["id"], "value", case["value"]
            for name, t in case["gradient"].items():
                yield case["id"], "gradient." + name, t


def _package_mapping(**overrides):
    impl = V._package_impl()
    impl.update(overrides)
    return impl


# ------------------------------------------------------------------------------------
# The document
# ------------------------------------------------------------------------------------

def test_loads_with_the_standard_library_and_conforms_to_the_schema(text):
    doc = json.loads(text)  # plain json, no astra_np code involved
    assert doc["format"] == "astra_np reference vectors"
    assert doc["schema_version"] == V.SCHEMA_VERSION == 1
    assert doc["astra_np_version"] == astra_np.__version__
    assert doc["cases"] == "all"
    assert "cross-checked" in doc["reference"]
    assert text.isascii() and text.endswith("}\n")
    assert V.schema_errors(doc) == []
    assert V.load(io.StringIO(text)) == doc


def test_jsonschema_agrees_when_installed(doc):
    jsonschema = pytest.importorskip("jsonschema")
    schema = V.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)
    broken = copy.deepcopy(doc)
    del broken["functions"]["astra"]["cases"][0]["rtol"]
    broken["functions"]["gmn"]["cases"][0]["value"]["hex"][0] = "1.5"
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)
    assert len(V.schema_errors(broken)) == 2


def test_schema_subset_validator_reports_each_violation(doc):
    broken = copy.deepcopy(doc)
    broken["schema_version"] = "1"
    broken["extra"] = 0
    case = broken["functions"]["astra"]["cases"][0]
    case["kind"] = "easy"
    case["atol"] = 0.0
    case["value"]["dtype"] = "float32"
    errors = V.schema_errors(broken)
    joined = "\n".join(errors)
    assert len(errors) == 5, joined
    for fragment in ("$.schema_version", "'extra'", "'easy'", "atol", "float32"):
        assert fragment in joined


def test_every_function_has_ordinary_and_hard_cases_with_usable_tolerances(doc):
    assert list(doc["functions"]) == list(V.FUNCTIONS)
    assert {f"head_loss[{m}]" for m in VECTOR_METHODS} <= set(doc["functions"])
    ids = set()
    for fn, entry in doc["functions"].items():
        kinds = [c["kind"] for c in entry["cases"]]
        assert kinds.count("default") >= 2 and kinds.count("hard") >= 2, fn
        for case in entry["cases"]:
            assert case["id"].startswith(fn + "/" + case["kind"] + "/")
            ids.add(case["id"])
            # tight enough that a relative error of 1e-6 is always flagged ...
            assert 0 < case["rtol"] <= 1e-8, case["id"]
            # ... and never below the smallest normal double
            assert case["atol"] >= V.TINY, case["id"]
            assert set(case["gradient"]) == {a["name"] for a in entry["args"]
                                             if a["differentiable"]}
    assert len(ids) == sum(len(e["cases"]) for e in doc["functions"].values())


def test_floats_round_trip_exactly_through_decimal_and_hex(doc, text):
    n = 0
    bits = set()
    for case_id, name, t in _float_tensors(doc):
        assert len(t["data"]) == len(t["hex"]) == math.prod(t["shape"]), (case_id, name)
        for dec, hx in zip(t["data"], t["hex"]):
            assert isinstance(dec, float), (case_id, name)
            # repr round trip: the decimal parses back to the very same double
            assert float(repr(dec)) == dec and float.fromhex(hx).hex() == hx
            assert np.float64(dec).view(np.int64) == np.float64(float.fromhex(hx)).view(np.int64)
            bits.add(hx)
            n += 1
    assert n > 20000
    # the hard cases reach subnormals and the extremes of the exponent range
    assert "0x0.0000000000001p-1022" in bits  # 5e-324 (an input of bce and gmn)
    assert any(h.endswith("p-1022") and h.startswith("0x0.") for h in bits)
    assert any(int(h.split("p")[1]) > 300 for h in bits if "p+" in h)  # huge slopes/gradients


def test_hard_cases_cover_the_tails(doc):
    def inputs(fn, kind="hard"):
        for c in doc["functions"][fn]["cases"]:
            if c["kind"] == kind:
                yield c, {k: V.decode(t) for k, t in c["inputs"].items()}

    def points(fn, kind="hard"):
        for _, i in inputs(fn, kind):
            b, x = np.broadcast_arrays(i["b"], i["x"])
            yield from zip(b.ravel().tolist(), x.ravel().tolist())

    for fn in ("astra", "astra_logit"):
        pts = set(points(fn))
        for b in (1.0, V.B_TAU_025, V.B_TAU_005):
            assert {(b, -1000.0), (b, 1000.0), (b, -30.0), (b, 30.0)} <= pts
        assert any(1.0 < b < 1.0 + 1e-9 for b, _ in pts)  # b next to 1
        assert any(b >= 1e6 for b, _ in pts)  # large b
        # the ordinary range stays within |b x| <= 6
        assert all(abs(b * x) <= 6.0 + 1e-12 for b, x in points(fn, "default"))
    ps = {v for _, i in inputs("z_transform") for v in np.ravel(i["p"]).tolist()}
    assert {0.0, 1.0} <= ps
    gmn = list(inputs("gmn"))
    m1 = [int(i["y"].sum()) for _, i in gmn]
    sizes = [i["y"].size for _, i in gmn]
    assert 1 in m1 and 4001 in sizes
    assert any(int(i["y"].sum()) == 1 and i["y"].size == 4001 for _, i in gmn)
    assert any(np.all(i["p"][i["y"] == 1] < 1e-299) for _, i in gmn)  # positives underflowing
    for m in VECTOR_METHODS:
        descs = " ".join(c["description"] for c, _ in inputs(f"head_loss[{m}]"))
        assert "overflow" in descs and "underflow" in descs
    # the m0 = 4000 GMN head: beta = 5.39..., one positive
    (c, i), = [(c, i) for c, i in inputs("head_loss[gmn-astra]") if i["x"].size == 4001]
    assert int(i["y"].sum()) == 1


def test_vectors_cover_every_registered_method(doc):
    assert {f"head_loss[{m}]" for m in astra_np.METHODS} <= set(doc["functions"])


def test_naive_eq4_really_overflows_or_cancels_in_the_hard_cases(doc):
    """The hard ASTra cases are hard: Eq. 4 evaluated literally is wrong there."""
    wrong = 0
    with np.errstate(all="ignore"):
        for c in doc["functions"]["astra"]["cases"]:
            if c["kind"] != "hard" or c["value"]["shape"]:
                continue
            x, b = float(V.decode(c["inputs"]["x"])), float(V.decode(c["inputs"]["b"]))
            naive = 1 - (1 + b * np.exp(b * x)) ** (-1 / b)
            exp = float(V.decode(c["value"]))
            # relative error beyond 1e-10 (far above the 1e-12 the case asks for)
            wrong += not (abs(naive - exp) <= 1e-10 * abs(exp))
    assert wrong >= 10


# ------------------------------------------------------------------------------------
# Determinism and the command line
# ------------------------------------------------------------------------------------

def test_regenerating_in_another_process_gives_identical_bytes(text, tmp_path):
    out = tmp_path / "vectors.json"
    proc = subprocess.run(
        [sys.executable, "-m", "astra_np", "vectors", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stderr
    assert out.read_bytes() == text.encode("ascii")


def test_case_sets_partition_the_cases(doc):
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        default = json.loads(V.dumps(V.generate("default", check=False)))
        hard = json.loads(V.dumps(V.generate("hard", check=False)))
    for fn, entry in doc["functions"].items():
        assert ([c["id"] for c in default["functions"][fn]["cases"]]
                + [c["id"] for c in hard["functions"][fn]["cases"]]
                == [c["id"] for c in entry["cases"]])
        # unchecked documents carry the same numbers
        by_id = {c["id"]: c for c in entry["cases"]}
        for c in default["functions"][fn]["cases"] + hard["functions"][fn]["cases"]:
            assert c == by_id[c["id"]]
    assert default["cases"] == "default" and "not cross-checked" in default["reference"]


def test_main_writes_to_stdout_and_rejects_bad_arguments(capsys):
    assert cli_vectors.main(["--cases", "default", "--no-check"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["cases"] == "default"
    assert cli_vectors.main(["--cases", "some"]) == 2
    assert "invalid choice: 'some'" in capsys.readouterr().err
    assert cli_vectors.main(["--validate", "astra_np.no_such_module"]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_main_validates_an_importable_module(capsys, tmp_path):
    path = tmp_path / "v.json"
    path.write_text(V.dumps(V.generate("default", check=False)), encoding="ascii")
    assert cli_vectors.main(["--validate", "astra_np", "--vectors", str(path), "--cases", "default"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" not in out


def test_generation_fails_when_a_value_disagrees_with_the_reference():
    impl = V._package_impl()
    good = impl["threshold"]
    # off by 1e-9 relative: beyond the cases' 1e-12
    impl["threshold"] = lambda b: np.asarray(good(b)) * (1 + 1e-9)
    with pytest.raises(RuntimeError, match=r"threshold .*relative error 1e-09"):
        V.generate("default", functions=["threshold"], _impl=impl)
    # the unmodified functions pass the same check
    assert V.generate("default", functions=["threshold"])["functions"]["threshold"]["cases"]


def test_generate_rejects_unknown_arguments():
    with pytest.raises(ValueError, match="cases"):
        V.generate("most")
    with pytest.raises(ValueError, match="functions"):
        V.generate("all", functions=["sigmoid"])


# ------------------------------------------------------------------------------------
# load
# ------------------------------------------------------------------------------------

def test_load_rejects_inconsistent_documents(doc, tmp_path):
    bad = copy.deepcopy(doc)
    bad["schema_version"] = 2
    with pytest.raises(ValueError, match="schema"):
        V.load(bad)
    bad = copy.deepcopy(doc)
    t = bad["functions"]["astra"]["cases"][3]["value"]
    t["data"][0] = math.nextafter(t["data"][0], 2.0)  # decimal no longer equals hex
    with pytest.raises(ValueError, match="astra/default/003: value: decimal and hex"):
        V.load(bad)
    bad = copy.deepcopy(doc)
    bad["functions"]["gmn"]["cases"][0]["gradient"]["p"]["data"].pop()
    with pytest.raises(ValueError, match="does not have 10 elements"):
        V.load(bad)
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert V.load(str(path)) == doc


# ------------------------------------------------------------------------------------
# validate
# ------------------------------------------------------------------------------------

def test_validate_passes_astra_np_itself(doc):
    buf = io.StringIO()
    res = V.validate(_package_mapping(), doc, file=buf)
    assert res.passed and not res.failures
    assert [r.function for r in res.reports] == list(V.FUNCTIONS)
    assert all(r.status == "PASS" for r in res.reports)
    # astra_np reproduces its own numbers bit for bit
    assert all(r.worst_rel_error == 0.0 for r in res.reports)
    table = buf.getvalue()
    assert table.splitlines()[0].split()[:4] == ["function", "cases", "failed", "worst"]
    assert "worst case" in table and table.rstrip().endswith("PASS")
    # the module itself works too, with every gradient present
    res = V.validate(astra_np, doc, verbose=False)
    assert res.passed
    assert res.report("slope_for_threshold").missing == ()


@pytest.mark.parametrize("name, fn", [
    ("astra_partials", "astra"),
    ("astra_logit_partials", "astra_logit"),
    ("threshold_grad", "threshold"),
    ("slope_from_beta_grad", "slope_from_beta"),
    ("z_transform_partials", "z_transform"),
    ("bce_grad", "bce"),
    ("gmn_grad", "gmn"),
])
def test_validate_flags_a_gradient_off_by_a_factor_1_000001(doc, name, fn):
    good = V._package_impl()[name]

    def off(*args):
        out = good(*args)
        if isinstance(out, tuple):
            return (np.asarray(out[0]) * 1.000001,) + tuple(out[1:])
        return np.asarray(out) * 1.000001

    res = V.validate(_package_mapping(**{name: off}), doc, verbose=False)
    assert not res.passed
    assert {f.function for f in res.failures} == {fn}
    rep = res.report(fn)
    assert rep.status == "FAIL"
    # every case with a non-zero gradient above atol fails, with relative error 1e-6
    assert rep.failed >= 0.8 * rep.cases
    assert all(abs(f.rel_error - 1e-6) < 1e-8 for f in res.failures)


@pytest.mark.parametrize("method", VECTOR_METHODS)
def test_validate_flags_a_head_gradient_off_by_a_factor_1_000001(doc, method):
    good = astra_np.head_loss

    def head(x, beta, y, **kw):
        value, gx, gbeta = good(x, beta, y, **kw)
        if kw == astra_np.METHODS[method]:
            gx = gx * 1.000001
        return value, gx, gbeta

    res = V.validate({"head_loss": head}, doc, verbose=False)
    assert {f.function for f in res.failures} == {f"head_loss[{method}]"}
    # every case fails but those whose exact gradient is 0 in float64 (the soft F1 with
    # every positive underflowing: TP_apx = e^-10000 makes dJ/dx vanish)
    cases = doc["functions"][f"head_loss[{method}]"]["cases"]
    nonzero = sum(any(v != 0.0 for v in c["gradient"]["x"]["data"]) for c in cases)
    assert nonzero >= len(cases) - 1
    assert res.report(f"head_loss[{method}]").failed == nonzero
    assert {f.quantity for f in res.failures} == {"gradient.x"}


def test_validate_flags_the_beta_gradient_and_values(doc):
    def head(x, beta, y, **kw):
        value, gx, gbeta = astra_np.head_loss(x, beta, y, **kw)
        return value, gx, gbeta * 1.000001

    res = V.validate({"head_loss": head}, doc, verbose=False)
    # beta only matters with ASTra; the sigmoid heads' dL/dbeta is exactly 0
    assert {f.function for f in res.failures} == {f"head_loss[{m.name}]" for m in registry.methods() if m.astra}
    res = V.validate({"astra": lambda x, b: np.asarray(astra_np.astra(x, b)) * (1 + 1e-9)},
                     doc, verbose=False)
    assert res.report("astra").status == "FAIL"
    assert res.report("astra").missing == ("astra_partials",)


def test_validate_reports_exceptions_missing_callables_and_shapes(doc):
    def boom(x, b):
        raise ZeroDivisionError("no")

    buf = io.StringIO()
    res = V.validate({"astra": boom, "threshold": lambda b: np.zeros(3)}, doc,
                     functions=["astra", "threshold", "gmn"], file=buf)
    assert [r.function for r in res.reports] == ["astra", "threshold", "gmn"]
    assert res.report("astra").failed == res.report("astra").cases > 0
    assert "raised ZeroDivisionError: no" in str(res.failures[0])
    assert res.report("threshold").status == "FAIL"
    assert any("has shape (3,)" in f.message for f in res.failures)
    assert res.report("gmn").status == "MISSING" and res.report("gmn").cases == 0
    assert "failing cases (first" in buf.getvalue()
    assert not res.passed
    with pytest.raises(ValueError, match="unknown"):
        V.validate({}, doc, functions=["sigmoid"])
    with pytest.raises(ValueError, match="cases"):
        V.validate({}, doc, cases="tails")


def test_validate_counts_nan_as_failure_and_respects_atol(doc):
    def nan_partials(x, b):
        dx, db = astra_np.astra_partials(x, b)
        return dx, db * np.nan

    res = V.validate({"astra_partials": nan_partials}, doc, functions=["astra"], verbose=False)
    assert res.report("astra").failed == res.report("astra").cases
    # a difference below atol passes where the expected value is 0
    exp, got = np.array([0.0, 1.0]), np.array([1e-310, 1.0 + 1e-13])
    rel, ratio, ok = V._compare(exp, got, 1e-12, V.TINY)
    assert ok.tolist() == [True, True] and ratio[1] == pytest.approx(0.1, rel=1e-2)


def test_validate_generates_vectors_when_none_are_given():
    res = V.validate(astra_np, None, functions=["z_transform"], cases="hard", verbose=False)
    assert res.passed and res.report("z_transform").cases == 17
