r"""The JSON Schema of the document and a small validator for the subset of it used."""
import json
import re


def schema():
    r"""The JSON Schema of the document (``astra_np/check/schema/vectors.schema.json``)."""
    from importlib import resources

    text = resources.files("astra_np.check").joinpath("schema", "vectors.schema.json").read_text(
        encoding="utf-8")
    return json.loads(text)


_JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(instance, schema_doc=None):
    r"""Violations of the schema by ``instance`` (an empty list when it conforms).

    A small validator for the subset of JSON Schema (draft 2020-12) the vectors schema
    uses: ``$ref`` (local ``#/$defs/...``), ``type``, ``enum``, ``const``, ``required``,
    ``properties``, ``additionalProperties``, ``items``, ``minItems``, ``maxItems``,
    ``minimum``, ``exclusiveMinimum``, ``minLength`` and ``pattern``. Other keywords are
    ignored; use the ``jsonschema`` package for full validation.

    Parameters
    ----------
    instance : object
        Parsed JSON.
    schema_doc : dict, optional
        The schema; default :func:`schema`.

    Returns
    -------
    list of str
        One message per violation, with the JSON path.
    """
    root = schema() if schema_doc is None else schema_doc
    errors = []

    def resolve(s):
        while "$ref" in s:
            ref = s["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"unsupported $ref {ref!r}")
            node = root
            for part in ref[2:].split("/"):
                node = node[part]
            s = node
        return s

    def check(v, s, path):
        s = resolve(s)
        if s is True or s == {}:
            return
        if s is False:
            errors.append(f"{path}: not allowed")
            return
        t = s.get("type")
        if t is not None:
            types = [t] if isinstance(t, str) else t
            if not any(_JSON_TYPES[x](v) for x in types):
                errors.append(f"{path}: expected {t}, got {type(v).__name__}")
                return
        if "enum" in s and v not in s["enum"]:
            errors.append(f"{path}: {v!r} not in {s['enum']!r}")
        if "const" in s and v != s["const"]:
            errors.append(f"{path}: {v!r} is not {s['const']!r}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in s and v < s["minimum"]:
                errors.append(f"{path}: {v!r} < minimum {s['minimum']!r}")
            if "exclusiveMinimum" in s and v <= s["exclusiveMinimum"]:
                errors.append(f"{path}: {v!r} <= exclusiveMinimum {s['exclusiveMinimum']!r}")
        if isinstance(v, str):
            if "minLength" in s and len(v) < s["minLength"]:
                errors.append(f"{path}: shorter than {s['minLength']}")
            if "pattern" in s and not re.search(s["pattern"], v):
                errors.append(f"{path}: {v!r} does not match {s['pattern']!r}")
        if isinstance(v, list):
            if "minItems" in s and len(v) < s["minItems"]:
                errors.append(f"{path}: fewer than {s['minItems']} items")
            if "maxItems" in s and len(v) > s["maxItems"]:
                errors.append(f"{path}: more than {s['maxItems']} items")
            if "items" in s:
                for i, item in enumerate(v):
                    check(item, s["items"], f"{path}[{i}]")
        if isinstance(v, dict):
            for r in s.get("required", ()):
                if r not in v:
                    errors.append(f"{path}: missing required {r!r}")
            props = s.get("properties", {})
            extra = s.get("additionalProperties", True)
            for k, item in v.items():
                if k in props:
                    check(item, props[k], f"{path}.{k}")
                elif extra is False:
                    errors.append(f"{path}: unexpected property {k!r}")
                elif isinstance(extra, dict):
                    check(item, extra, f"{path}.{k}")

    check(instance, root, "$")
    return errors

