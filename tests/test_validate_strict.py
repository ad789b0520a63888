"""``validate`` is strict, its failures explain themselves, shapes and dtypes are exact,
requirement tags can be excluded, and implementations can be built from forward
functions (astra_np.check.vectors: validation, causes, forward; astra_np.cli.vectors)."""
import io
import json
import warnings

import numpy as np
import pytest

import astra_np
from astra_np.check import vectors as V
from astra_np.cli import vectors as cli


@pytest.fixture(scope="module")
def doc():
    """The 'all' document, unchecked (the mpmath cross-check is tested in test_vectors)."""
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        return V.load(json.loads(V.dumps(V.generate("all", check=False))))


def _impl(**overrides):
    impl = V._package_impl()
    impl.update(overrides)
    return impl


def _naive_astra(x, b):
    return 1 - (1 + b * np.exp(b * x)) ** (-1 / b)   # Eq. 4 as printed


# ------------------------------------------------------------------------------------
# Strict by default
# ------------------------------------------------------------------------------------

def test_a_mapping_with_two_functions_is_not_passed(doc):
    two = {"astra": astra_np.astra, "astra_partials": astra_np.astra_partials}
    buf = io.StringIO()
    res = V.validate(two, doc, file=buf)
    assert res.status == "INCOMPLETE" and not res.passed
    assert res.failures == [] and res.report("astra").status == "PASS"
    missing = [r.function for r in res.reports if r.status == "MISSING"]
    assert len(missing) == len(V.FUNCTIONS) - 1
    text = buf.getvalue()
    assert text.rstrip().endswith(": INCOMPLETE")
    assert "not checked in full: astra_logit" in text and "allow_missing=True" in text
    # the explicit opt-ins check a subset
    assert V.validate(two, doc, allow_missing=True, verbose=False).status == "PASS"
    assert V.validate(two, doc, functions=["astra"], verbose=False).status == "PASS"


def test_a_function_without_its_gradient_is_incomplete(doc):
    res = V.validate({"astra": astra_np.astra}, doc, functions=["astra"], verbose=False)
    assert res.status == "INCOMPLETE"
    assert res.report("astra").status == "INCOMPLETE (no astra_partials)"
    assert V.validate({"astra": astra_np.astra}, doc, functions=["astra"], allow_missing=True,
                      verbose=False).passed


def test_guessed_names_are_reported_with_the_closest_expected_name(doc):
    guessed = {"astra_grad": astra_np.astra_partials, "threshold_partials": astra_np.threshold_grad,
               "threshold": astra_np.threshold}
    buf = io.StringIO()
    res = V.validate(guessed, doc, file=buf)
    assert not res.passed and res.status == "INCOMPLETE"
    assert res.unknown["threshold_partials"] == "threshold_grad"
    assert res.unknown["astra_grad"] in V.call_names()
    assert "unknown name 'threshold_partials' in the implementation, not used (did you mean " \
           "'threshold_grad'?)" in buf.getvalue()
    with pytest.raises(ValueError, match=r"unknown name 'head_loss\[gmn_astra\]' \(did you mean "
                                         r"'head_loss\[gmn-astra\]'\?\)"):
        V.validate(astra_np, doc, functions=["head_loss[gmn_astra]"])


def test_the_full_package_passes_and_a_module_is_not_searched_for_unknown_names(doc):
    res = V.validate(astra_np, doc, verbose=False)
    assert res.status == "PASS" and res.unknown == {}
    assert res.checked == sum(len(e["cases"]) for e in doc["functions"].values())


@pytest.fixture
def partial_module(tmp_path, monkeypatch):
    (tmp_path / "partial_astra_impl.py").write_text(
        "from astra_np import astra, astra_partials\n", encoding="ascii")
    (tmp_path / "wrong_astra_impl.py").write_text(
        "import astra_np\nfrom astra_np import astra_partials\n"
        "def astra(x, b):\n    return 1.000001 * astra_np.astra(x, b)\n",
        encoding="ascii")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "v.json"
    path.write_text(V.dumps(V.generate("default", check=False)), encoding="ascii")
    return str(path)


def test_cli_exit_codes_incomplete_pass_and_fail(partial_module, capsys):
    base = ["--validate", "partial_astra_impl", "--vectors", partial_module, "--cases", "default"]
    assert cli.main(base) == 3
    assert capsys.readouterr().out.rstrip().endswith("INCOMPLETE")
    assert cli.main(base + ["--allow-missing"]) == 0
    assert cli.main(base + ["--functions", "astra"]) == 0
    assert cli.main(["--validate", "wrong_astra_impl", "--vectors", partial_module,
                     "--functions", "astra"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert cli.main(base + ["--functions", "sigmoid"]) == 2
    assert "unknown name 'sigmoid'" in capsys.readouterr().err
    assert cli.main(base + ["--exclude-tag", "denormal"]) == 2
    assert "invalid choice: 'denormal'" in capsys.readouterr().err
    assert cli.main(["--allow-missing"]) == 2   # a validation option without --validate
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--allow-missing: meaningless without --validate" in err[0]


def test_the_command_table_dispatches_to_the_cli_module():
    from astra_np.__main__ import COMMANDS

    assert COMMANDS["vectors"][0] == "astra_np.cli.vectors"
    assert callable(cli.main) and not hasattr(V, "main")  # the checking tools import no CLI


# ------------------------------------------------------------------------------------
# Exact shapes and dtypes
# ------------------------------------------------------------------------------------

def test_a_reduction_gradient_of_shape_n_by_1_fails(doc):
    res = V.validate(_impl(bce_grad=lambda p, y: astra_np.bce_grad(p, y)[:, None]), doc,
                     functions=["bce"], verbose=False)
    assert res.status == "FAIL"
    assert res.report("bce").failed == res.report("bce").cases
    f = res.failures[0]
    assert f.quantity == "gradient.p" and f.cause == "shape/dtype"
    assert "gradient.p has shape (8, 1), expected (8,)" in f.message


def test_a_scalar_returned_as_shape_1_and_stacked_partials_fail(doc):
    res = V.validate(_impl(gmn=lambda p, y: np.atleast_1d(astra_np.gmn(p, y))), doc,
                     functions=["gmn"], verbose=False)
    assert res.report("gmn").failed == res.report("gmn").cases
    assert "value has shape (1,), expected ()" in res.failures[0].message

    def stacked(x, b):
        return np.stack(np.broadcast_arrays(*astra_np.astra_partials(x, b)))

    res = V.validate(_impl(astra_partials=stacked), doc, functions=["astra"], verbose=False)
    assert res.report("astra").failed == res.report("astra").cases
    assert ("astra_partials returned one array of shape (2,), expected a tuple of 2 results "
            "(gradient.x, gradient.b)") in str(res.failures[0])


def test_a_broadcast_argument_needs_elementwise_partials(doc):
    """gradient.b of an array x and a scalar b is d value[i] / d b, not its sum."""
    def summed(x, b):
        dx, db = astra_np.astra_partials(x, b)
        return dx, (np.sum(db) if np.ndim(b) == 0 else db)

    res = V.validate(_impl(astra_partials=summed), doc, functions=["astra"], verbose=False)
    failed = res.failed_cases()
    array_cases = [c["id"] for c in doc["functions"]["astra"]["cases"]
                   if c["inputs"]["x"]["shape"] and not c["inputs"]["b"]["shape"]]
    assert array_cases and failed == sorted(array_cases)
    assert all("gradient.b has shape ()" in f.message for f in res.failures)


def test_complex_results_fail_with_a_message_and_no_complex_warning(doc):
    def complex_astra(x, b):
        return np.asarray(astra_np.astra(x, b)) + 0j

    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a ComplexWarning would raise here
        res = V.validate(_impl(astra=complex_astra), doc, functions=["astra"], verbose=False)
    assert res.report("astra").failed == res.report("astra").cases
    assert "value is complex (complex128), expected float64" in res.failures[0].message


def test_float32_is_named(doc):
    def astra32(x, b):
        return np.asarray(astra_np.astra(x, b), dtype=np.float32)

    buf = io.StringIO()
    res = V.validate(_impl(astra=astra32), doc, functions=["astra"], file=buf)
    assert res.report("astra").failed == res.report("astra").cases
    assert "value has dtype float32, expected float64: computed in single precision" in buf.getvalue()
    assert {f.cause for f in res.failures} == {"float32"}

    # rounded to float32 and handed back as float64: recognised from the numbers
    def rounded(x, b):
        return np.asarray(astra_np.astra(x, b), dtype=np.float32).astype(np.float64)

    res = V.validate(_impl(astra=rounded), doc, functions=["astra"], cases="default",
                     verbose=False)
    value_failures = [f for f in res.failures if f.quantity == "value"]
    assert value_failures
    assert all(f.cause == "float32" and "float32" in f.explanation for f in value_failures)


# ------------------------------------------------------------------------------------
# Failure lines a person can act on
# ------------------------------------------------------------------------------------

def test_the_failure_line_carries_the_case_its_inputs_and_a_cause(doc):
    buf = io.StringIO()
    with np.errstate(all="ignore"):
        res = V.validate({"astra": _naive_astra, "astra_partials": astra_np.astra_partials},
                         doc, functions=["astra"], file=buf, max_failures=100)
    (f,) = [f for f in res.failures if f.case == "astra/hard/001"]
    text = str(f)
    assert text.splitlines()[0] == "astra/hard/001  left tail, tau=0.5 (b=1.0,x=-100.0)"
    assert "inputs: x = -100.0, b = 1.0" in text
    assert "value[0] = 0.0, expected 3.720075976020836e-44" in text
    assert "x the tolerance (rtol 1e-12" in text
    assert f.cause == "zero" and "likely cause: zero where the reference is 3.72e-44" in text
    # the decimals round-trip: the printed expected value is the document's double
    assert float("3.720075976020836e-44") == f.expected
    out = buf.getvalue()
    assert text.replace("\n", "\n  ") in out
    # counts are in cases, consistently in the table, the verdict and the failure list
    n_failed = len(res.failed_cases())
    assert res.failed == res.report("astra").failed == n_failed
    assert f"{res.checked} cases, {n_failed} failed: FAIL" in out
    assert f"failing cases (first {n_failed} of {n_failed};" in out


def test_long_inputs_are_summarised_at_the_failing_entry(doc):
    def gmn_grad(p, y):
        g = np.array(astra_np.gmn_grad(p, y))
        g[-1] = -g[-1] if g[-1] else 1.0
        return g

    res = V.validate(_impl(gmn_grad=gmn_grad), doc, functions=["gmn"], verbose=False)
    big = [f for f in res.failures if f.case == "gmn/hard/003"]
    assert big and "p: shape (4001,)" in big[0].inputs and "p[4000] = " in big[0].inputs
    assert "y: 4001 labels, 1 positive at [2718]" in big[0].inputs


@pytest.mark.parametrize("got, expected, cause", [
    (float("nan"), 1.0, "nan"),
    (float("inf"), 1e300, "inf"),
    (0.0, 4.25e-18, "zero"),
    (-2.0, 2.0, "sign"),
    (1.5, 1.0, "value"),
    (1.0 + 1e-9, 1.0, "digits"),
])
def test_causes_are_read_from_the_numbers(got, expected, cause):
    rel = abs(got - expected) / abs(expected) if got == got else float("inf")
    assert V.classify(expected, got, rel, {"x": np.float64(1.0)})[0] == cause
    # a subnormal input is named first
    label, text = V.classify(expected, got, rel, {"p": np.array([0.5, 5e-324])})
    assert label == "subnormal" and "p[1] = 5e-324" in text and "--exclude-tag subnormal" in text


def test_a_zero_gradient_points_to_the_expm1_pitfall_a_zero_value_does_not():
    _, value = V.classify(3.7e-44, 0.0, 1.0, {}, "value")
    _, grad = V.classify(3.7e-44, 0.0, 1.0, {}, "gradient.x", "astra")
    assert "zero where the reference is 3.7e-44" in value and "expm1" not in value
    assert "expm1: 1 + expm1(h)" in grad and "derivations/astra.md" in grad


def test_a_gradient_wrong_by_a_constant_factor_is_named(doc):
    def off(p, y):
        return np.asarray(astra_np.bce_grad(p, y)) * 1.000001

    res = V.validate(_impl(bce_grad=off), doc, functions=["bce"], verbose=False)
    assert res.failures and {f.cause for f in res.failures} == {"factor"}
    assert "constant factor 1.000001 " in res.failures[0].explanation
    # the same point failing twice (a scalar case and an array case) is not a factor
    assert V.classify(1.0, 1.1, 0.1, {})[0] == "digits"


# ------------------------------------------------------------------------------------
# Requirement tags
# ------------------------------------------------------------------------------------

def test_requires_tags_mark_exactly_the_cases_with_subnormal_inputs(doc):
    tagged, expected = set(), set()
    for entry in doc["functions"].values():
        for c in entry["cases"]:
            if "requires" in c:
                assert c["requires"] == ["subnormal"]
                tagged.add(c["id"])
            inputs = {k: V.decode(t) for k, t in c["inputs"].items()}
            if any(a.dtype.kind == "f" and np.any((a != 0) & (np.abs(a) < V.TINY))
                   for a in inputs.values()):
                expected.add(c["id"])
    assert tagged == expected
    assert {"gmn/hard/001", "gmn/hard/002"} <= tagged
    assert doc["requirements"]["tags"] == V.REQUIREMENTS


def test_exclude_leaves_out_tagged_cases_and_says_how_many(doc):
    n_tagged = sum("requires" in c for e in doc["functions"].values() for c in e["cases"])
    n_all = sum(len(e["cases"]) for e in doc["functions"].values())
    buf = io.StringIO()
    res = V.validate(astra_np, doc, exclude=("subnormal",), file=buf)
    assert res.passed and res.excluded == {"subnormal": n_tagged}
    assert res.checked == n_all - n_tagged
    assert f"left out {n_tagged} cases requiring 'subnormal'" in buf.getvalue()
    assert f"{n_all - n_tagged} cases, 0 failed, {n_tagged} left out: PASS" in buf.getvalue()
    # a flush-to-zero implementation fails exactly the tagged GMN cases without exclude
    def ftz(a):
        a = np.array(a, dtype=np.float64)
        a[np.abs(a) < V.TINY] = 0.0
        return a

    flushed = _impl(gmn=lambda p, y: astra_np.gmn(ftz(p), y),
                    gmn_grad=lambda p, y: astra_np.gmn_grad(ftz(p), y))
    res = V.validate(flushed, doc, functions=["gmn"], verbose=False)
    assert res.failed_cases() == ["gmn/hard/001", "gmn/hard/002"]
    # (the flushed gmn/hard/002 has no positive output left: astra_np.gmn raises)
    assert {f.cause for f in res.failures if f.case == "gmn/hard/001"} == {"subnormal"}
    assert V.validate(flushed, doc, functions=["gmn"], exclude="subnormal", verbose=False).passed
    with pytest.raises(ValueError, match="exclude: unknown requirement tag 'denormal'"):
        V.validate(astra_np, doc, exclude=["denormal"])


# ------------------------------------------------------------------------------------
# Implementations from forward functions
# ------------------------------------------------------------------------------------

def complex_step_grad(fun, argnums):
    """A NumPy 'framework' gradient operator (jax.grad's convention) by the complex step:
    d fun / d a[j] = Im fun(a + i h e_j) / h, exact to rounding for analytic fun."""
    h = 1e-200

    def gradient(*args):
        out = []
        for i in argnums:
            a = np.asarray(args[i], dtype=np.float64)
            g = np.empty(a.shape)
            for j in np.ndindex(a.shape):
                shifted = [np.asarray(v, dtype=complex) for v in args]
                shifted[i][j] += 1j * h
                g[j] = np.imag(fun(*shifted)) / h
            out.append(g)
        return tuple(out)
    return gradient


def complex_step_vjp(fun, *primals):
    """jax.vjp's convention for an elementwise or scalar fun, by the complex step."""
    out = fun(*primals)

    def pullback(cotangent):
        return complex_step_grad(lambda *a: np.sum(fun(*a) * cotangent),
                                 tuple(range(len(primals))))(*primals)
    return out, pullback


def _np_forward():
    return {"astra": _naive_astra,
            "z_transform": lambda p, tau: p * (1 - tau) / (p * (1 - tau) + (1 - p) * tau),
            "bce": lambda p, y: np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))}


@pytest.mark.parametrize("operator", ["grad", "vjp"])
def test_implementation_from_forward_builds_every_call_of_the_given_functions(doc, operator):
    op = {"grad": complex_step_grad, "vjp": complex_step_vjp}[operator]
    impl = V.implementation_from_forward(_np_forward(), **{operator: op})
    assert sorted(impl) == sorted(["astra", "astra_partials", "z_transform",
                                   "z_transform_partials", "bce", "bce_grad"])
    res = V.validate(impl, doc, cases="default", functions=["astra", "z_transform", "bce"],
                     verbose=False)
    assert res.status == "PASS", "\n".join(map(str, res.failures[:5]))
    # broadcast cases included: gradient.b is elementwise in the broadcast b
    assert any(c["inputs"]["x"]["shape"] and not c["inputs"]["b"]["shape"]
               for c in doc["functions"]["astra"]["cases"] if c["kind"] == "default")
    # strict: the other functions are missing
    assert V.validate(impl, doc, cases="default", verbose=False).status == "INCOMPLETE"


def test_implementation_from_forward_covers_the_protocol_and_rejects_bad_arguments():
    names = V.forward_names()
    assert names == ["astra", "astra_logit", "threshold", "slope_for_threshold",
                     "slope_from_beta", "z_transform", "bce", "gmn", "head_loss"]
    impl = V.implementation_from_forward({n: astra_np.astra for n in names},
                                         grad=complex_step_grad)
    assert sorted(impl) == sorted(V.call_names())
    with pytest.raises(ValueError, match="exactly one of grad"):
        V.implementation_from_forward({}, grad=complex_step_grad, vjp=complex_step_vjp)
    with pytest.raises(ValueError, match="exactly one of grad"):
        V.implementation_from_forward({})
    with pytest.raises(ValueError, match=r"unknown name 'astra_logits' \(did you mean "
                                         r"'astra_logit'\?\)"):
        V.implementation_from_forward({"astra_logits": astra_np.astra_logit},
                                      grad=complex_step_grad)


# ------------------------------------------------------------------------------------
# One place per loss, methods from METHODS
# ------------------------------------------------------------------------------------

def test_head_functions_follow_methods_and_unknown_losses_are_refused():
    from astra_np.core.losses import METHODS

    heads = [k for k in V.FUNCTIONS if V.head_method(k) is not None]
    assert heads == [V.head_key(m) for m in METHODS]
    for m, kw in METHODS.items():
        assert V.FUNCTIONS[V.head_key(m)]["kwargs"] == kw
        assert V.loss_traits(kw["loss"])["description"] in V.FUNCTIONS[V.head_key(m)]["formula"]
    with pytest.raises(ValueError, match="loss must be one of .* got 'focal'"):
        V.loss_traits("focal")


def test_public_names_stay_importable():
    import astra_np.check.vectors as package

    for name in ["SCHEMA_VERSION", "CASE_SETS", "FUNCTIONS", "generate", "dumps", "write",
                 "load", "decode", "schema", "schema_errors", "validate", "ValidationResult",
                 "FunctionReport", "CaseFailure", "TINY", "EPS", "B_TAU_025",
                 "B_TAU_005", "FORMAT_NAME"]:
        assert hasattr(package, name), name
    from astra_np import validate

    assert validate is V.validate


def test_an_unwritable_output_path_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    def no_generation(*args, **kwargs):
        raise AssertionError("generated although the path cannot be written")

    monkeypatch.setattr("astra_np.check.vectors.document.generate", no_generation)
    missing_dir = tmp_path / "no_such_dir" / "v.json"
    assert cli.main(["--out", str(missing_dir), "--no-check"]) == 2
    assert "path: the directory of" in capsys.readouterr().err
    assert cli.main(["--out", str(tmp_path), "--no-check"]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert not missing_dir.parent.exists()


# ------------------------------------------------------------------------------------
# Implementations that misbehave: each call fails its case, the rest still run
# ------------------------------------------------------------------------------------

def _astra_only(res):
    return [f for f in res.failures if f.function == "astra"]


def test_an_implementation_that_calls_sys_exit_fails_each_case(doc):
    def exiting(x, b):
        raise SystemExit(0)

    res = V.validate(_impl(astra=exiting), doc, functions=["astra"], cases="default", verbose=False)
    assert res.status == "FAIL" and res.report("astra").failed == res.report("astra").cases > 1
    assert all(f.cause == "raised" and "SystemExit" in f.message for f in _astra_only(res))


def test_an_implementation_that_modifies_its_inputs_fails_and_gets_copies(doc):
    seen = []

    def in_place(x, b):
        seen.append(x)
        out = astra_np.astra(x, b)
        if np.ndim(x):
            x[...] = 0.0  # changes its argument
        return out

    res = V.validate(_impl(astra=in_place), doc, functions=["astra"], cases="default", verbose=False)
    bad = [f for f in _astra_only(res) if f.cause == "modified input"]
    assert bad and all("modified its input x in place" in f.message for f in bad)
    # later cases are not affected: the document's inputs were never touched
    assert V.validate(_impl(), doc, functions=["astra"], cases="default", verbose=False).status == "PASS"
    assert len({id(a) for a in seen}) == len(seen)


def test_a_call_that_never_returns_fails_after_the_timeout(doc):
    calls = []

    def stuck(x, b):
        calls.append(1)
        if len(calls) == 1:
            while True:
                pass
        return astra_np.astra(x, b)

    res = V.validate(_impl(astra=stuck), doc, functions=["astra"], cases="default", verbose=False, timeout=0.2)
    timed_out = [f for f in _astra_only(res) if f.cause == "timeout"]
    assert len(timed_out) == 1 and "did not return within 0.2 s" in timed_out[0].message
    assert res.report("astra").failed == 1  # the other cases ran and passed
    with pytest.raises(ValueError, match="timeout must be None or a number of seconds > 0"):
        V.validate(_impl(), doc, timeout=0)


@pytest.mark.parametrize("vectors", [5, 0, 2.5, True])
def test_api_arguments_of_the_wrong_kind_are_refused(vectors):
    with pytest.raises(ValueError, match=r"vectors must be a file path, a text file or a parsed document"):
        V.validate(_impl(), vectors, verbose=False)
    with pytest.raises(ValueError, match="max_failures must be an integer in"):
        V.validate(_impl(), {}, max_failures=-1)


def test_deeply_nested_vectors_file_is_one_line(tmp_path):
    path = tmp_path / "v.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match="not valid JSON \\(nested too deeply\\)") as err:
        V.load(str(path))
    assert "\n" not in str(err.value)
    assert cli.main(["--validate", "astra_np", "--vectors", str(path)]) == 2


@pytest.mark.parametrize("functions", [5, b"astra", 2.0])
def test_functions_of_the_wrong_kind_are_a_value_error(doc, functions):
    with pytest.raises(ValueError, match="functions and exclude must be names or lists of names"):
        V.validate(astra_np, doc, functions=functions, verbose=False)
