"""Every shell and Python block of the README and of the guides in ``docs/`` runs as
written, and the README is a map that reaches each guide in one click.

How a document's blocks run
---------------------------
* Each document runs in a fresh directory of its own, holding ``data.csv`` (a small
  labelled CSV with a header, ``x0 ... x8, y``: the file a reader brings) and links to
  the repository's ``examples/`` and ``benchmarks/``. Its blocks run in order there, so a file one block
  writes is there for the next.
* ``python`` blocks run in a fresh interpreter each; ``bash`` blocks run with
  ``bash -eu -o pipefail``. Blocks of other languages (``text``, output transcripts) are
  not run.
* In a shell block, ``pip install ...`` (up to ``&&``) is left out, since the suite runs
  after the install, and so is ``python -m pytest``, the suite itself: CI runs both.
* A block may say, in HTML comments on the lines right above it, how it runs small:
  ``<!-- doctest: sub OLD => NEW -->`` replaces the text OLD by NEW before running (the
  reader sees the full-size command; the test names the change).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README] + GUIDES
README_MAX_CHARS = 12_000
RUN_LANGUAGES = ("python", "bash")
BLOCK_TIMEOUT = 900

_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*doctest:\s*(.*?)\s*-->\s*$")
_SUB = re.compile(r"^sub (.+?) => (.*)$")


def blocks(path):
    """``[(language, code, directives, line)]`` of the fenced blocks of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        directives, k = [], i - 1
        while k >= 0 and _DIRECTIVE.match(lines[k]):
            directives.insert(0, _DIRECTIVE.match(lines[k]).group(1))
            k -= 1
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        out.append((m.group(1), "\n".join(lines[i + 1:j]) + "\n", directives, i + 1))
        i = j + 1
    return out


def _apply(code, directives, where):
    for d in directives:
        m = _SUB.match(d)
        assert m, f"{where}: unknown doctest directive {d!r}"
        assert m.group(1) in code, f"{where}: 'sub {m.group(1)}' does not occur in the block"
        code = code.replace(m.group(1), m.group(2))
    return code


def _shell(code):
    """The shell block without the install and test-suite commands CI runs anyway."""
    kept = []
    for line in code.splitlines():
        line = re.sub(r"^pip install [^&]*&&\s*", "", line)
        if line.startswith("pip install") or re.match(r"^python -m pytest\b", line):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def _cases():
    cases = []
    for path in DOCUMENTS:
        for k, (lang, _, _, line) in enumerate(blocks(path)):
            if lang in RUN_LANGUAGES:
                cases.append(pytest.param(path, k, id=f"{path.relative_to(ROOT)}:{line}"))
    return cases


_WORKDIRS = {}


def _workdir(path, tmp_path_factory):
    """The document's directory: data.csv, examples/ and benchmarks/, shared by its
    blocks in order."""
    if path not in _WORKDIRS:
        d = tmp_path_factory.mktemp(path.stem)
        from astra_np.study.datasets import make_imbalanced

        X, y = make_imbalanced(n_samples=2000, n_positives=20, random_state=0)
        header = ",".join([f"x{j}" for j in range(X.shape[1])] + ["y"])
        np.savetxt(d / "data.csv", np.column_stack([X, y]), delimiter=",", header=header,
                   comments="", fmt=["%.17g"] * X.shape[1] + ["%d"])
        for folder in ("examples", "benchmarks"):
            (d / folder).symlink_to(ROOT / folder)
        _WORKDIRS[path] = d
    return _WORKDIRS[path]


@pytest.mark.slow
@pytest.mark.parametrize("path, k", _cases())
def test_every_block_runs_as_written(path, k, tmp_path_factory):
    # the blocks of a document run in order: the ones before this one first
    workdir = _workdir(path, tmp_path_factory)
    lang, code, directives, line = blocks(path)[k]
    where = f"{path.relative_to(ROOT)}:{line}"
    code = _apply(code, directives, where)
    env = dict(os.environ, MPLBACKEND="Agg", PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    if lang == "python":
        cmd = [sys.executable, "-c", code]
    else:
        cmd = ["bash", "-eu", "-o", "pipefail", "-c", _shell(code)]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT)
    assert proc.returncode == 0, f"{where} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_the_blocks_are_found_and_every_directive_is_known():
    assert len(_cases()) >= 10
    for path in DOCUMENTS:
        for _, _, directives, line in blocks(path):
            for d in directives:
                assert _SUB.match(d), f"{path.name}:{line}: unknown directive {d!r}"
    # the harness leaves out exactly the install and suite commands
    assert _shell('pip install -e ".[plot]" && python -m astra_np figures\n') == "python -m astra_np figures\n"
    assert _shell("python -m pytest -q\n").strip() == ""


def test_the_readme_is_a_map_to_one_guide_per_reader():
    text = README.read_text(encoding="utf-8")
    assert len(text) < README_MAX_CHARS, len(text)
    for guide in ("learn", "validate", "protocol", "performance", "errors"):
        assert (ROOT / "docs" / f"{guide}.md").is_file(), guide
        assert f"(docs/{guide}.md)" in text, guide
    # the two commands open it: install + main job, install test extras + the suite
    fences = [code for lang, code, _, _ in blocks(README) if lang == "bash"][:2]
    assert fences[0].strip().startswith("pip install") and "python -m astra_np" in fences[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert fences[1].strip() in ci


def test_links_between_the_documents_resolve():
    for path in DOCUMENTS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+://", target):
                continue
            assert (path.parent / target).exists(), f"{path.name}: broken link {target}"


_NUMBER_WORDS = {"three": 3, "nine": 9, "seventeen": 17}


def test_counts_quoted_in_the_guides_are_the_code_s():
    from astra_np.check import vectors as V

    text = (ROOT / "docs" / "validate.md").read_text(encoding="utf-8")
    doc = V.generate("all", check=False)
    subnormal = sum("subnormal" in c.get("requires", ()) for e in doc["functions"].values() for c in e["cases"])
    quoted = {
        r"Instead of (\w+) wrappers": len(V.call_names()),
        r"write the (\w+) forward functions": len(V.forward_names()),
        r"every case but the (\w+) with\s+subnormal inputs": subnormal,
    }
    for pattern, value in quoted.items():
        m = re.search(pattern, text)
        assert m, pattern
        assert _NUMBER_WORDS[m.group(1)] == value, (pattern, value)
