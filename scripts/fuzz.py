"""Fuzz the whole front end: grammar-aware programs (hypothesis) and mutations of every .seg we ship.

Every input goes through `analyse`, `compile_source` and `fmt.format_source`; the oracle (`check`) wants
diagnostics or a compiled output, never an exception or SEG900; compiled configs literal-only Python;
fmt output that re-parses, is idempotent and keeps the diagnostics. Why a script and not only a test:
the long run (>= 100,000 inputs) keeps going after a failure and saves every failing input for triage.

    .venv/bin/python scripts/fuzz.py --long                 # 100,000 inputs, half grammar, half mutation
    .venv/bin/python scripts/fuzz.py -n 2000 --seed 3       # a quick look
    .venv/bin/python scripts/fuzz.py --replay fuzz-crashes/ # re-check saved failures
CI runs a few hundred inputs through tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import random
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from segal_dsl.api import analyse, compile_source  # noqa: E402
from segal_dsl.diagnostics import Diagnostics  # noqa: E402
from segal_dsl.frontend.fmt import format_source  # noqa: E402
from segal_dsl.source import Source  # noqa: E402

CORPUS_DIRS = (ROOT / "examples", ROOT / "tests" / "fixtures")


class FuzzFailure(AssertionError):
    """An input broke an invariant; `stage` names which one."""

    def __init__(self, stage: str, detail: str):
        super().__init__(f"{stage}: {detail}")
        self.stage = stage


# ----------------------------------------------------------------------------------------- the oracle


def literal_only(text: str) -> None:
    """Every statement `NAME = literal`, `dict(k=v)` the only call (tests/test_emit.py's rule, kept here
    so the script runs without the test tree on sys.path)."""
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise FuzzFailure("literal", f"compiled config is not Python: {e}") from e
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise FuzzFailure("literal", f"statement is not NAME = value: {ast.dump(stmt)[:200]}")
        for node in ast.walk(stmt.value):
            if isinstance(node, ast.Call):
                if not (isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args):
                    raise FuzzFailure("literal", f"call other than dict(k=v): {ast.dump(node)[:200]}")
            elif isinstance(node, ast.Name):
                if node.id != "dict":
                    raise FuzzFailure("literal", f"name {node.id!r} in a value")
            elif not isinstance(node, (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.keyword, ast.Load,
                                       ast.UnaryOp, ast.USub)):
                raise FuzzFailure("literal", f"non-literal node {ast.dump(node)[:200]}")


def _no_internal(result, stage: str) -> None:
    bad = [d for d in result.diagnostics if d.code == "SEG900"]
    if bad:
        raise FuzzFailure(stage, f"SEG900 {bad[0].message} ({bad[0].help})")


def check(text: str, path: str = "fuzz.seg") -> str:
    """Run the front end on `text`; raise FuzzFailure on a broken invariant, return an outcome tag."""
    source = Source(path, text)
    try:
        result = analyse(source)
    except Exception as e:
        raise FuzzFailure("analyse", _trace(e)) from e
    _no_internal(result, "analyse")
    try:
        compiled = compile_source(source, "fuzz-out/cfg.py")
    except Exception as e:
        raise FuzzFailure("compile", _trace(e)) from e
    _no_internal(compiled, "compile")
    if compiled.ok != result.ok:
        raise FuzzFailure("compile", f"analyse ok={result.ok} but compile ok={compiled.ok}")
    outcome = "error"
    if compiled.ok:
        configs = [p.config for p in compiled.points] or [compiled.config]
        if any(c is None for c in configs):
            raise FuzzFailure("compile", "no errors but no compiled config")
        for config in configs:
            literal_only(config)
        outcome = "compiled"
    _check_fmt(source, path, sorted(d.code for d in result.diagnostics))
    return outcome


def _check_fmt(source: Source, path: str, codes: list[str]) -> None:
    diags = Diagnostics()
    try:
        once = format_source(source, diags)
    except Exception as e:
        raise FuzzFailure("fmt", _trace(e)) from e
    if once is None:
        return
    d2 = Diagnostics()
    try:
        twice = format_source(Source(path, once), d2)
    except Exception as e:
        raise FuzzFailure("fmt-reparse", _trace(e)) from e
    if twice is None:
        raise FuzzFailure("fmt-reparse", f"formatted text does not parse: {[x.message for x in d2][:3]}")
    if twice != once:
        raise FuzzFailure("fmt-idempotent", "fmt(fmt(x)) != fmt(x)")
    after = analyse(Source(path, once))
    _no_internal(after, "fmt-analyse")
    if sorted(d.code for d in after.diagnostics) != codes:
        raise FuzzFailure("fmt-meaning", f"codes {codes} became {sorted(d.code for d in after.diagnostics)}")


def _trace(e: BaseException) -> str:
    return "".join(traceback.format_exception(type(e), e, e.__traceback__)[-6:])


# ----------------------------------------------------------------------------- grammar-aware generator

HOSTILE = ['"', "\\", "\\n", "'", "__import__('os')", "{{ x }}", "{% raw %}", "${x}", "é", "\u2028", "\x00",
           "\t", "#", ";", "}", "\\\"", "a" * 300, "%s", "dict(", "\r"]
WORDS = ["pixel", "region", "image", "random", "entropy", "margin", "least_confidence", "ripu", "mps", "true",
         "false", "active", "multitask", "epochs", "iters", "top", "per", "round", "image", "px", "images",
         "regions", "every", "text", "None", "True", "inf", "nan", "x", "×"]


def _ident() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["a", "exp", "toy_pixel", "x1", "_", "a-b", "dict", "schedule", "query",
                                      "train", "experiment", "mmseg"]),
                     st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True))


def _number() -> st.SearchStrategy[str]:
    return st.one_of(st.integers(-5, 10**6).map(str), st.sampled_from(
        ["0", "1", "0.5", "1e3", "1_000", ".5", "+3", "-1", "1e400", "9" * 40, "0.0001", "1e-400", "2975", "19"]),
        st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(abs(f))))


def _string() -> st.SearchStrategy[str]:
    body = st.one_of(st.sampled_from(["m.py", "configs/_base_/models/x.py", "../toy.py", "viz", "", "a b"]),
                     st.lists(st.sampled_from(HOSTILE), max_size=4).map("".join),
                     st.text(max_size=20))
    quote = st.sampled_from(['"', "'"])
    return st.tuples(quote, body).map(
        lambda t: t[0] + t[1].replace("\\", "\\\\").replace(t[0], "\\" + t[0]).replace("\n", "\\n") + t[0])


def _amount() -> st.SearchStrategy[str]:
    unit = st.sampled_from(["", "px", "px per image", "% per image", "%", "images", "regions",
                            "regions per image", "per image per round", "pixels", "furlongs"])
    value = st.one_of(_number(), st.sampled_from(["1%", "0.5%", "100%", "200%", "0%", "5 %"]))
    return st.tuples(value, unit).map(lambda t: f"{t[0]} {t[1]}".strip())


def _arg() -> st.SearchStrategy[str]:
    return st.one_of(_number(), _string(), st.sampled_from(WORDS), _ident(), st.just(","),
                     st.tuples(st.integers(1, 4096), st.integers(1, 4096)).map(lambda t: f"{t[0]}x{t[1]}"),
                     st.sampled_from(["5%", "1%", "top 5%"]))


def _sep() -> st.SearchStrategy[str]:
    return st.sampled_from(["\n", "; ", "\n\n", " ;\n", "  # note\n", "\r\n", ";;", "\n    "])


def _literal(depth: int = 0) -> st.SearchStrategy[str]:
    leaf = st.one_of(_number(), _string(), st.sampled_from(["True", "False", "None", "inf", "x", "__import__"]))
    if depth >= 2:
        return leaf
    inner = st.lists(_literal(depth + 1), max_size=3)
    return st.one_of(
        leaf, leaf,
        inner.map(lambda xs: "[" + ", ".join(xs) + "]"),
        inner.map(lambda xs: "(" + ", ".join(xs) + ("," if len(xs) == 1 else "") + ")"),
        st.lists(st.tuples(_literal(depth + 1), _literal(depth + 1)), max_size=2).map(
            lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
        st.lists(st.tuples(_ident(), _literal(depth + 1)), max_size=3).map(
            lambda ps: "dict(" + ", ".join(f"{k}={v}" for k, v in ps) + ")"),
    )


def _mmseg_block() -> st.SearchStrategy[str]:
    key = st.lists(st.one_of(st.sampled_from(["optimizer", "lr", "data", "samples_per_gpu", "model",
                                              "decode_head", "num_classes", "runner", "workflow", "_base_",
                                              "active_learning", "__class__"]), _ident()),
                   min_size=1, max_size=4).map(".".join)
    override = st.tuples(key, _literal()).map(lambda t: f"{t[0]} = {t[1]}")
    return st.tuples(st.lists(override, max_size=4), _sep()).map(lambda t: "mmseg { " + t[1].join(t[0]) + " }")


def _sched_item(depth: int = 0) -> st.SearchStrategy[str]:
    n = st.one_of(st.integers(0, 30).map(str), st.sampled_from(["1.5", "-1", "1e9", "0"]))
    leaf = st.one_of(
        n.map(lambda v: f"train {v}"),
        st.tuples(n, st.integers(0, 5), st.sampled_from(["x", "×", "x "])).map(lambda t: f"train {t[0]} {t[2]}{t[1]}"),
        st.just("query"), st.just("query"),
        n.map(lambda v: f"warmup {v}"),
        st.sampled_from(["val 1", "tran 3", "query 2", "eval"]),
    )
    if depth >= 2:
        return leaf
    group = st.tuples(st.lists(_sched_item(depth + 1), min_size=1, max_size=4), _sep(), st.integers(0, 4)).map(
        lambda t: f"({t[1].join(t[0])}) x{t[2]}")
    return st.one_of(leaf, leaf, leaf, group)


def _schedule() -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["epochs", "iters", "", "steps"]),
                     st.lists(_sched_item(), min_size=1, max_size=8), _sep()).map(
        lambda t: f"schedule {t[0]} {{ {t[2].join(t[1])} }}".replace("  ", " "))


def _block(depth: int) -> st.SearchStrategy[str]:
    return st.tuples(st.lists(_setting(depth + 1), max_size=4), _sep()).map(
        lambda t: "{ " + t[1].join(t[0]) + " }")


def _setting(depth: int = 0) -> st.SearchStrategy[str]:
    """Realistic statements most of the time, random `key arg* block?` the rest."""
    real = st.sampled_from([
        'base "configs/m.py"', 'base "a.py", "b.py"', 'base "../segal_dsl/runtime/toy/configs/toy_unet.py"',
        'imports "experiments._base_.dataset_gtav"', 'load_from "model.pth"', "seed 0", "deterministic true",
        "source_free true", "source_free false", "runner active", "runner multitask", "reset_each_round true",
        "pool { images 2975; resolution 1280x640 }", "heuristic entropy", "heuristic ripu { k 1; use_entropy true }",
        "heuristic margin", "heuristic random", "visualize { size 4; overlay true; dir \"viz\" }",
        "log every 8 iters { text }", 'log every 50 iters { text; wandb { project "p"; name "n" } }',
        "evaluation every 1 epochs", "checkpoint every 1 epochs", 'work_dir "work_dirs/x"',
        "sample pixel { budget 1% per image per round }", "sample region { budget 1% per image per round; radius 1 }",
        "sample image { initial 10 images; budget 5 images }",
        "sweep { heuristic random, entropy }", "sweep { seed 0, 1, 2 }",
    ])
    sample = st.tuples(st.sampled_from(["pixel", "region", "image", "pixels"]),
                       st.lists(st.one_of(
                           _amount().map(lambda a: f"initial {a}"), _amount().map(lambda a: f"budget {a}"),
                           st.sampled_from(["5%", "top 5%", "0%", "101%", "top 50 %"]).map(lambda a: f"threshold {a}"),
                           st.sampled_from(["true", "false", "1"]).map(lambda a: f"evenly {a}"),
                           _number().map(lambda a: f"radius {a}"), _number().map(lambda a: f"ignore_index {a}"),
                           _number().map(lambda a: f"entropy_prop {a}")), max_size=5), _sep()).map(
        lambda t: f"sample {t[0]} {{ {t[2].join(t[1])} }}")
    pool = st.tuples(_number(), _arg()).map(lambda t: f"pool {{ images {t[0]}; resolution {t[1]} }}")
    generic = st.tuples(_ident(), st.lists(_arg(), max_size=4), st.booleans()).map(
        lambda t: f"{t[0]} {' '.join(t[1])}".strip())
    if depth < 2:
        generic = st.one_of(generic, st.tuples(generic, _block(depth)).map(" ".join))
    return st.one_of(real, real, sample, pool, _schedule(), _mmseg_block(), generic)


def programs() -> st.SearchStrategy[str]:
    """A `.seg` file: mostly a well-formed experiment (with valid and invalid values), sometimes near-valid."""
    body = st.tuples(st.lists(_setting(), min_size=0, max_size=12), _sep())
    core = st.tuples(
        st.sampled_from(["", "# header\n", "\n\n", "\ufeff", "#!x\n"]),
        st.sampled_from(["experiment", "experiment", "experiment", "experment", "Experiment"]),
        _ident(), body, st.sampled_from(["\n", "", "\n# trailing\n", "\n\n\n", "}"]))

    def assemble(t) -> str:
        head, kw, name, (stmts, sep), tail = t
        return f"{head}{kw} {name} {{\n    " + sep.join(stmts) + f"\n}}{tail}"

    near = st.tuples(core.map(assemble), st.integers(0, 10**6), st.sampled_from(
        ["", "{", "}", ";", "\n", '"', "(", ")", "x2", "=", "#", "\\", "%"]))
    return st.one_of(core.map(assemble), _valid(), _valid(),
                     near.map(lambda t: t[0][: t[1] % (len(t[0]) + 1)] + t[2] + t[0][t[1] % (len(t[0]) + 1):]))


def _valid() -> st.SearchStrategy[str]:
    """A complete experiment (base, sample, heuristic, schedule) plus extras: reaches plan and emit."""
    sample = st.sampled_from([
        "sample pixel { budget 1% per image per round }", "sample pixel { initial 1% per image; budget 10 px per image }",
        "sample pixel { budget 1% per image per round; threshold top 5%; evenly true }",
        "sample pixel { budget 1000 px; evenly false }", "sample region { budget 1% per image per round; radius 2 }",
        "sample region { budget 2 regions per image; radius 1 }", "sample image { initial 10 images; budget 5 images }",
        "sample pixel { budget 1% per image per round; entropy_prop 0.5 }"])
    heuristic = st.sampled_from(["heuristic entropy", "heuristic random", "heuristic margin", "heuristic mps",
                                 "heuristic least_confidence", "heuristic ripu { k 1; use_entropy true; categories 19 }"])
    train = st.integers(1, 30).map(lambda v: f"train {v}")
    sched = st.tuples(train, st.lists(st.one_of(
        st.tuples(st.integers(1, 9), st.integers(1, 4)).map(lambda t: f"train {t[0]} x{t[1]}"),
        st.tuples(st.integers(1, 9), st.integers(1, 3)).map(lambda t: f"(train {t[0]}; query) x{t[1]}"),
        st.just("query; train 2")), max_size=4), st.sampled_from(["epochs", "iters"])).map(
        lambda t: f"schedule {t[2]} {{ {t[0]}; query; " + "; ".join(t[1] + ["train 1"]) + " }")
    extras = st.lists(st.one_of(st.sampled_from([
        "seed 3", "deterministic true", "reset_each_round true", "pool { images 2975; resolution 1280x640 }",
        'visualize { size 4; overlay true; dir "viz" }', "log every 8 iters { text }",
        'log every 50 iters { text; wandb { project "p"; name "n" } }', 'work_dir "work_dirs/x"',
        'load_from "m.pth"', 'imports "a.b"', "source_free false", "sweep { seed 0, 1 }",
        "sweep { heuristic random, entropy }"]), _mmseg_block(), _setting()), max_size=5)
    comment = st.sampled_from(["", "  # c", "  # {{ }} \"'"])
    return st.tuples(_ident(), st.lists(_string(), min_size=1, max_size=3), sample, heuristic, sched, extras,
                     comment, st.randoms(use_true_random=False)).map(_assemble_valid)


def _assemble_valid(t) -> str:
    name, bases, sample, heuristic, sched, extras, comment, rnd = t
    stmts = ["base " + ", ".join(bases), sample, heuristic, sched, *extras]
    rnd.shuffle(stmts)
    return f"experiment {name} {{{comment}\n    " + f"{comment}\n    ".join(stmts) + "\n}\n"


# ------------------------------------------------------------------------------------- mutation fuzzer


def corpus() -> list[tuple[str, str]]:
    """(path, text) of every .seg file in examples/ and tests/fixtures (the mutation seeds)."""
    files = sorted(p for d in CORPUS_DIRS for p in d.rglob("*.seg"))
    return [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in files]


def _tokens(text: str) -> list[str]:
    import re

    return re.findall(r"\s+|#[^\n]*|\"(?:[^\"\\\n]|\\.)*\"|[A-Za-z_][\w-]*|\d[\d_.]*%?|.", text)


INSERTS = ["{", "}", "(", ")", ";", "\n", '"', "'", "#", "x2", "×3", "query", "train 0", "%", ",", "=", "\\\n",
           "\x00", "é", "\u2028", "1e400", "-1", "dict(", "[", "]", "experiment e {", "top", "per image",
           "__import__('os').system('x')", "{{", "}}", "\r", "\t", "0x10", "1280x640", "9" * 30]


def mutate(rng: random.Random, seeds: list[tuple[str, str]]) -> tuple[str, str]:
    """One mutant: 1-4 byte/token edits (insert, delete, swap, duplicate) or a splice between two files."""
    path, text = rng.choice(seeds)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        op = rng.randrange(7)
        if op == 6:  # splice: a prefix of this file + a suffix of another one
            _, other = rng.choice(seeds)
            text = text[: rng.randint(0, len(text))] + other[rng.randint(0, len(other)):]
            continue
        toks = _tokens(text) if op >= 2 else None
        if op == 0:  # byte insertion
            i = rng.randint(0, len(text))
            ins = rng.choice(INSERTS) if rng.random() < 0.7 else chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000)]))
            text = text[:i] + ins + text[i:]
        elif op == 1 and text:  # byte deletion
            i = rng.randrange(len(text))
            text = text[:i] + text[i + rng.randint(1, 3):]
        elif op == 2 and toks:  # token deletion
            del toks[rng.randrange(len(toks))]
        elif op == 3 and len(toks) > 1:  # token swap
            i, j = rng.randrange(len(toks)), rng.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        elif op == 4 and toks:  # token (run) duplication
            i = rng.randrange(len(toks))
            toks[i:i] = toks[i: i + rng.randint(1, 6)]
        elif op == 5 and toks:  # token replacement by a token of another file
            _, other = rng.choice(seeds)
            toks[rng.randrange(len(toks))] = rng.choice(_tokens(other) or ["x"])
        if toks is not None:
            text = "".join(toks)
    return path, text


# ------------------------------------------------------------------------------------------ driver


class Tally:
    """Counts per outcome and the failures, saved by content hash (so a rerun does not duplicate them)."""

    def __init__(self, save_dir: Path | None):
        self.counts: dict[str, int] = {}
        self.failures: dict[str, tuple[str, str, str]] = {}
        self.save_dir = save_dir

    def run(self, kind: str, text: str, path: str = "fuzz.seg", bounded: bool = False) -> None:
        try:
            outcome = (check_bounded if bounded else check)(text, path)
        except FuzzFailure as f:
            outcome = "FAIL"
            key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
            if key not in self.failures:
                self.failures[key] = (f.stage, str(f), text)
                if self.save_dir:
                    self.save_dir.mkdir(parents=True, exist_ok=True)
                    (self.save_dir / f"{key}.seg").write_text(text, encoding="utf-8", errors="surrogatepass")
                    (self.save_dir / f"{key}.txt").write_text(f"{kind} {path}\n{f}\n", encoding="utf-8")
        self.counts[f"{kind}:{outcome}"] = self.counts.get(f"{kind}:{outcome}", 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# ------------------------------------------------------------------------------------- resource bombs
VALID_HEAD = ('experiment bomb {\n    base "m.py"\n    sample pixel { budget 1% per image }\n'
               '    heuristic entropy\n')
BOMB_PEAK_BYTES = 256 * 2**20  # what one bomb may allocate (tracemalloc peak); a sane file needs ~1 MiB


def bombs() -> st.SearchStrategy[str]:
    """Inputs built to exhaust time, memory or the stack: deep literals and groups, repeat counts that
    multiply, thousands of overrides, long lines, huge numbers. The front end must answer each with
    diagnostics (or a compiled config) and bounded memory."""
    depth = st.integers(1, 5000)
    deep_literal = depth.map(lambda d: VALID_HEAD + "    schedule epochs { train 1; query; train 1 }\n"
                             f"    mmseg {{ a = {'[' * d}1{']' * d} }}\n}}\n")
    deep_dict = depth.map(lambda d: "experiment e { mmseg { a = " + "dict(b=" * d + "1" + ")" * d + " } }\n")
    deep_groups = depth.map(lambda d: VALID_HEAD + "    schedule epochs { train 1; " + "(" * d + "train 1; query"
                            + ") x2" * d + "; train 1 }\n}\n")
    unclosed = depth.map(lambda d: "experiment e { mmseg { a = " + "[" * d + "\n")
    repeats = st.tuples(st.integers(1, 10**9), st.integers(1, 10**6), st.integers(1, 4)).map(
        lambda t: VALID_HEAD + "    schedule epochs { train 1; " + "(" * t[2] + f"train 1 x{t[1]}"
        + f") x{t[0]}" * t[2] + "; train 1 }\n}\n")
    overrides = st.integers(1, 20000).map(lambda n: VALID_HEAD + "    schedule epochs { train 1; query; train 1 }\n"
                                          "    mmseg {\n" + "".join(f"        k{i % 97}.s{i} = {i}\n" for i in range(n))
                                          + "    }\n}\n")
    long_line = st.integers(1, 2 * 10**6).map(lambda n: VALID_HEAD + f'    work_dir "{"w" * n}"\n'
                                              "    schedule epochs { train 1; query; train 1 }\n}\n")
    huge_number = st.sampled_from(["1e309", "9" * 5000, "-" + "9" * 5000 + ".5", "1" + "0" * 4300, "1e-400"]).map(
        lambda v: VALID_HEAD + f"    seed {v}\n    schedule epochs {{ train {v}; query; train {v} x{v[:6]} }}\n}}\n")
    huge_words = st.sampled_from(["x" + "9" * 5000, "x" + "9" * 40]).map(
        lambda r: VALID_HEAD + f"    pool {{ images {'9' * 5000}; resolution {'9' * 5000}x2 }}\n"
        f"    schedule epochs {{ train 1; query; train 1 {r} }}\n}}\n")
    return st.one_of(deep_literal, deep_dict, deep_groups, unclosed, repeats, overrides, long_line, huge_number,
                     huge_words)


def check_bounded(text: str, path: str = "bomb.seg") -> str:
    """`check`, and the input must not make the front end allocate more than BOMB_PEAK_BYTES."""
    import tracemalloc

    tracemalloc.start()
    try:
        outcome = check(text, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if peak > BOMB_PEAK_BYTES + 8 * len(text):
        raise FuzzFailure("memory", f"peak {peak / 2**20:.0f} MiB for a {len(text):,}-character input")
    return outcome


def run_bombs(n: int, seed: int, tally: Tally, on_input: Callable[[], None] = lambda: None) -> None:
    """`n` resource bombs through `check_bounded`."""

    @settings(max_examples=n, deadline=None, database=None, derandomize=False, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(bombs())
    def one(text):
        tally.run("bomb", text, bounded=True)
        on_input()

    import hypothesis

    hypothesis.seed(seed)(one)()


def run_grammar(n: int, seed: int, tally: Tally, on_input: Callable[[], None] = lambda: None) -> None:
    """`n` hypothesis-generated programs, generation phase only: keep going past failures (no shrinking)."""

    @settings(max_examples=n, deadline=None, database=None, derandomize=False, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def one(text):
        tally.run("grammar", text)
        on_input()

    import hypothesis

    hypothesis.seed(seed)(one)()


def run_mutation(n: int, seed: int, tally: Tally, on_input: Callable[[], None] = lambda: None) -> None:
    rng = random.Random(seed)
    seeds = corpus()
    # Valid files weigh 5x: one edit away from a compiled config is where emit bugs hide.
    seeds += [s for s in seeds if analyse(Source(*s)).ok] * 4
    for _ in range(n):
        path, text = mutate(rng, seeds)
        # Keep the real path: `extends "../toy_pixel.seg"` then resolves as in the original file.
        tally.run("mutation", text, path)
        on_input()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=2000, help="inputs in all (half grammar, half mutation)")
    p.add_argument("--long", action="store_true", help="100,000 inputs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=["both", "grammar", "mutation", "bombs"], default="both",
                   help="both = grammar + mutation; bombs = resource bombs (memory-bounded)")
    p.add_argument("--save", type=Path, default=ROOT / "fuzz-crashes", help="where failing inputs go")
    p.add_argument("--replay", type=Path, help="re-check the *.seg inputs of a directory and exit")
    a = p.parse_args(argv)
    tally = Tally(None if a.replay else a.save)
    if a.replay:
        for f in sorted(a.replay.glob("*.seg")):
            tally.run("replay", f.read_text(encoding="utf-8", errors="surrogatepass"), "fuzz.seg")
        print(json.dumps(tally.counts, sort_keys=True))
        for key, (_stage, msg, _) in tally.failures.items():
            print(f"FAIL {key} {msg.splitlines()[0]}")
        return 1 if tally.failures else 0
    n = 100_000 if a.long else a.n
    start = time.perf_counter()
    last = [start]

    def progress() -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"  {tally.total:,} inputs, {len(tally.failures)} failures, "
                  f"{tally.total / (last[0] - start):.0f}/s", flush=True)

    modes = ["grammar", "mutation"] if a.mode == "both" else [a.mode]
    for i, mode in enumerate(modes):
        share = n // len(modes) + (1 if i < n % len(modes) else 0)
        runner = {"grammar": run_grammar, "mutation": run_mutation, "bombs": run_bombs}[mode]
        runner(share, a.seed, tally, progress)
    took = time.perf_counter() - start
    print(f"fuzz: {tally.total:,} inputs in {took:.0f} s ({tally.total / took:.0f}/s), "
          f"{len(tally.failures)} distinct failures")
    print(json.dumps(tally.counts, sort_keys=True))
    for key, (stage, msg, _) in sorted(tally.failures.items()):
        print(f"FAIL {key} [{stage}] {msg.splitlines()[0][:200]}  (input: {a.save / (key + '.seg')})")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
