r"""Cross-check of the expected values against the 60-digit mpmath reference.

While :func:`astra_np.check.vectors.generate` writes the document, every expected value
and gradient entry is compared with :mod:`astra_np.check.reference`, which evaluates the
closed forms of Eqs. 4-9 and their hand-derived derivatives at rising precision.
"""
import math

import numpy as np

from ...core.losses import METHODS
from .spec import FUNCTIONS, head_method


class _Reference:
    r"""Reference quantities of one case from :mod:`astra_np.check.reference` (mpmath).

    The reference evaluates the closed forms of Eqs. 4-9 and their hand-derived
    derivatives at rising precision until 60 significant digits are stable.
    """

    def __init__(self):
        import mpmath

        from .. import reference

        self.R = reference
        self.mpmath = mpmath

    def evaluate(self, fn, inputs, outputs):
        """Flat lists of mpf keyed like the outputs ('value', 'gradient.x', ...)."""
        method = head_method(fn)
        if method is not None:
            return self._head(METHODS[method], inputs)
        if FUNCTIONS[fn]["gradient_kind"] == "reduction":   # bce, gmn: R.<fn>, R.<fn>_grad
            return self._reduction(fn, inputs)
        floats = {k: np.asarray(a, dtype=np.float64) for k, a in inputs.items()}
        names = list(floats)
        flat = [np.ravel(a) for a in np.broadcast_arrays(*floats.values())]
        out = {}
        for point in zip(*flat):
            for key, val in self._point(fn, dict(zip(names, map(float, point)))).items():
                out.setdefault(key, []).append(val)
        return out

    def _point(self, fn, f):
        """Reference value and partials of an elementwise function at one point."""
        R, mp = self.R, self.mpmath.mp
        if fn in ("astra", "astra_logit"):
            d = R.astra_all(f["x"], f["b"])
            if fn == "astra":
                return {"value": d["y"], "gradient.x": d["dy_dx"], "gradient.b": d["dy_db"]}
            return {"value": d["logit"], "gradient.x": d["dl_dx"], "gradient.b": d["dl_db"]}
        if fn == "threshold":
            d = R.astra_all(0.0, f["b"])
            return {"value": d["y"], "gradient.b": d["dy_db"]}
        if fn == "slope_for_threshold":
            b = R.slope_for_threshold(f["tau"])
            with mp.workdps(R.DPS + 40):
                grad = 1 / R.astra_terms_mp(mp.mpf(0), b)["dy_db"]
            return {"value": b, "gradient.tau": grad}
        if fn == "slope_from_beta":
            beta = f["beta"]
            return {"value": R.slope_from_beta(beta), "gradient.beta": R.slope_from_beta_grad(beta)}
        if fn == "z_transform":
            p, tau = f["p"], f["tau"]
            dz_dp, dz_dtau = R.z_transform_partials(p, tau)
            return {"value": R.z_transform(p, tau), "gradient.p": dz_dp, "gradient.tau": dz_dtau}
        raise KeyError(fn)  # pragma: no cover

    def _reduction(self, fn, inputs):
        p = [float(e) for e in np.ravel(inputs["p"])]
        y = [int(v) for v in np.ravel(inputs["y"])]
        value = getattr(self.R, fn)(p, y)
        grad = getattr(self.R, fn + "_grad")(p, y)
        return {"value": [value], "gradient.p": list(grad)}

    def _head(self, kw, inputs):
        x = [float(e) for e in np.ravel(inputs["x"])]
        y = [int(v) for v in np.ravel(inputs["y"])]
        d = self.R.head_loss_details(x, float(inputs["beta"]), y, **kw)
        return {"value": [d["loss"]], "gradient.x": list(d["dL_dx"]),
                "gradient.beta": [d["dL_dbeta"]]}


def _reference():
    """The mpmath reference used for the cross-check."""
    return _Reference()


def _cross_check(ref, fn, raw, outputs):
    """Compare one case with the reference.

    Returns ``(messages, worst)``: a message for every quantity that disagrees beyond
    the case's tolerance, and the largest ``|got - ref| / (atol + rtol |ref|)``.
    """
    expected = ref.evaluate(fn, raw["inputs"], outputs)
    mp = ref.mpmath.mp
    bad, worst = [], 0.0
    with mp.workdps(80):
        rtol, atol = mp.mpf(raw["rtol"]), mp.mpf(raw["atol"])
        for key, ref_vals in expected.items():
            got = np.ravel(outputs[key])
            if got.size != len(ref_vals):
                bad.append(f"{fn} {raw['tag']}: {key} has {got.size} elements, "
                           f"reference {len(ref_vals)}")
                continue
            for i, (g, r) in enumerate(zip(got, ref_vals)):
                g = float(g)
                if not math.isfinite(g):
                    ratio, rel = math.inf, math.inf
                else:
                    err = abs(mp.mpf(g) - r)
                    ratio = float(err / (atol + rtol * abs(r)))
                    rel = float(err / abs(r)) if r != 0 else (0.0 if err == 0 else math.inf)
                worst = max(worst, ratio)
                if ratio > 1.0:
                    bad.append(f"{fn} {raw['tag']}: {key}[{i}] = {g!r}, reference "
                               f"{mp.nstr(r, 20)}, relative error {rel:.3g}, "
                               f"rtol {raw['rtol']:.3g}, atol {raw['atol']:.3g}")
    return bad, worst

