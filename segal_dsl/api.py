"""The front end's façade: source -> parse -> build -> validate -> expand -> emit, diagnostics collected.

Nothing here (or anything it imports) imports torch, mmcv or mmseg.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from segal_dsl.diagnostics import Diagnostic, Diagnostics, SegalError, Severity
from segal_dsl.frontend import nodes
from segal_dsl.source import Source, decode


@dataclass
class PointResult:
    """One compiled experiment: the file itself, or one point of its `sweep`."""

    name: str | None  # None when the file has no sweep
    values: dict
    plan: object | None = None       # segal_dsl.spec.plan.Plan
    config: str | None = None
    plan_json: str | None = None
    effective: object | None = None  # segal_dsl.frontend.bases.Effective: the config the runtime will see
    explain_rows: object | None = None  # () -> the (key, value, from) rows of `segal plan --explain`
    experiment: object | None = None  # segal_dsl.frontend.model.Experiment: what the file states
    compiled: object | None = None   # segal_dsl.frontend.emit.Compiled: the config as data
    spans: object | None = None      # where each value of the point was written (for SEG501)

    @property
    def explain(self) -> list:
        """(key, value, where it comes from) for the settings the run depends on (`segal plan --explain`)."""
        return self.explain_rows() if self.explain_rows is not None else []

    def render(self, source: Source, out_path: str | os.PathLike) -> tuple[str, str]:
        """(config text, plan JSON) for a config written at `out_path` (its `_base_` paths depend on it)."""
        from segal_dsl.frontend.emit import plan_json, render

        diags = Diagnostics()
        text = render(self.compiled, source, self.spans, diags, os.path.dirname(str(out_path)) or ".")
        if text is None:
            raise SegalError(diags.sorted(), {source.path: source})
        return text, plan_json(self.plan, source)


@dataclass
class Result:
    """Everything the front end found out about one file: diagnostics, the plan and the compiled config of
    each point (one point without a sweep), and the files it read (parents, bases)."""

    source: Source
    diagnostics: list[Diagnostic] = field(default_factory=list)
    plan: object | None = None  # segal_dsl.frontend.expand.Plan when the file is valid
    config: str | None = None  # compiled config text (compile only)
    plan_json: str | None = None
    parents: list[Source] = field(default_factory=list)  # files reached through `extends`
    points: list[PointResult] = field(default_factory=list)  # one per sweep point (one without a sweep)
    bases: dict[str, Source] = field(default_factory=dict)  # base config files read as data
    bases_unread: list[str] = field(default_factory=list)   # why the base files could not be read (SEG222)

    @property
    def experiment(self):
        """The validated experiment (the first point's, for a sweep); None when the file has errors."""
        return self.points[0].experiment if self.points else None

    @property
    def is_sweep(self) -> bool:
        return any(p.name is not None for p in self.points)

    @property
    def sources(self) -> dict[str, Source]:
        return {**self.bases, **{s.path: s for s in [self.source, *self.parents]}}

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)


def read_source(path: str | os.PathLike) -> Source:
    """Read a .seg file (`source.decode`). OSError / UnicodeDecodeError propagate: `unreadable` turns them
    into a diagnostic of the file."""
    return Source(str(path), decode(Path(path).read_bytes()))


def read_stdin(name: str | None) -> Source:
    """Standard input as a file named `name` (`--stdin-filename`; relative `extends`/`base` paths resolve
    from its folder), `<stdin>` by default."""
    return Source(name or "<stdin>", decode(sys.stdin.buffer.read()))


def read_problem(path: str, err: Exception, data: bytes | None = None) -> str:
    """Why `path` cannot be read, in words (with the line and column of a bad byte when known)."""
    if isinstance(err, UnicodeDecodeError):
        where = f"byte {err.start}"
        if data is None:
            with contextlib.suppress(OSError):
                data = Path(path).read_bytes()
        if data is not None:
            before = data[:err.start]
            line = before.count(b"\n") + 1
            column = len(before) - (before.rfind(b"\n") + 1) + 1
            where = f"line {line}, column {column} (byte {err.start}: {data[err.start:err.start + 1]!r})"
        return f"`{path}` is not UTF-8 text: {err.reason} at {where}"
    if isinstance(err, FileNotFoundError):
        return f"cannot read `{path}`: no such file"
    if isinstance(err, IsADirectoryError):
        return f"cannot read `{path}`: it is a directory (with no .seg file below it)"
    if isinstance(err, OSError):
        return f"cannot read `{path}`: {err.strerror or err}"
    return f"cannot read `{path}`: {err}"  # ValueError: a NUL in the path


READ_ERRORS = (OSError, UnicodeDecodeError, ValueError)


def unreadable(path: str, err: Exception, data: bytes | None = None) -> Result:
    """The result of a file that cannot be read: one SEG001 error of that file, so `check` goes on."""
    source = Source(path, "")
    diags = Diagnostics()
    diags.add("SEG001", read_problem(path, err, data), source.whole(),
              help="save the file as UTF-8" if isinstance(err, UnicodeDecodeError) else "check the path")
    return Result(source, diags.sorted())


def analyse_input(path: str, *, stdin_filename: str | None = None, **kw) -> Result:
    """`analyse` of a path (`-`: standard input), or the SEG001 result when it cannot be read."""
    if path == "-":
        try:
            source = read_stdin(stdin_filename)
        except UnicodeDecodeError as err:
            return unreadable(stdin_filename or "<stdin>", err, err.object)
    else:
        try:
            source = read_source(path)
        except READ_ERRORS as err:
            return unreadable(path, err)
    return analyse(source, **kw)


def analyse(source: Source, *, compile_to: str | None = None, emit_config: bool = False) -> Result:
    """Run every stage that the input allows; never raises for bad input (only diagnostics come out)."""
    diags = Diagnostics()
    result = Result(source)
    comments: list = []
    try:
        _pipeline(source, diags, result, compile_to, emit_config, comments)
    except Exception as exc:  # noqa: BLE001 - a bug: say so, with enough to report it
        where = traceback.extract_tb(exc.__traceback__)[-1]
        diags.add("SEG900", f"internal error: {type(exc).__name__}: {exc}", source.whole(),
                  help=f"this is a bug in segal-dsl ({os.path.basename(where.filename)}:{where.lineno}); "
                       "please report it with the input file")
        result.plan = result.config = result.plan_json = None
    result.diagnostics = _unsilenced(source, comments, diags)
    return result


def _unsilenced(source: Source, comments: list, diags: Diagnostics) -> list[Diagnostic]:
    """The diagnostics less those its `# segal: ignore[…]` comments silence (and what the comments
    themselves are told)."""
    if not comments:
        return diags.sorted()
    from segal_dsl import suppress

    own = Diagnostics()
    found = suppress.directives(source, comments, own)
    kept = suppress.apply(diags.items, found, own)
    return sorted(kept + own.items, key=Diagnostic.sort_key)


def _pipeline(source: Source, diags: Diagnostics, result: Result, out_dir: str | None, emit_config: bool,
              comments: list) -> None:
    from segal_dsl.frontend.build import build
    from segal_dsl.frontend.parse import parse

    tree = parse(source, diags, comments)
    if tree is None:
        _check_what_parsed(source, diags)
        return
    experiment = build(tree, source)
    if any(isinstance(i, nodes.Setting) and i.key == "extends" for i in experiment.block.items):
        from segal_dsl.frontend.inherit import resolve

        experiment, result.parents = resolve(experiment, source, diags, _load_parent(diags))
        if any(d.code in ("SEG215", "SEG216") or d.code.startswith("SEG1") for d in diags):
            return  # no parent to validate against
    from segal_dsl.frontend.sweep import expand_sweep

    points = expand_sweep(experiment, diags)
    if points is None:
        points = [None]
    seen: set = set()
    for point in points:
        own = Diagnostics()
        exp = experiment if point is None else point.experiment
        pr = PointResult(None if point is None else point.name, {} if point is None else point.values)
        _point(exp, source, own, pr, out_dir, emit_config, None if point is None else (experiment, point), result)
        for d in own:  # a mistake shared by every point is reported once
            key = (d.code, d.message, d.span)
            if key not in seen:
                seen.add(key)
                diags.items.append(d)
        result.points.append(pr)
    first = result.points[0]
    if all(p.plan is not None for p in result.points):
        result.plan, result.config, result.plan_json = first.plan, first.config, first.plan_json


def _point(exp, source: Source, diags: Diagnostics, pr: PointResult, out_dir, emit_config: bool, sweep,
           result: Result) -> None:
    from segal_dsl.frontend import bases
    from segal_dsl.frontend.emit import config_dict
    from segal_dsl.frontend.expand import Sampling, check_pool, check_schedule, expand
    from segal_dsl.frontend.validate import validate
    from segal_dsl.spec.plan import Pool, plan_of

    validated = validate(exp, diags)
    if validated.experiment is None:
        check_schedule(validated, diags)
        return
    model = validated.experiment
    schedule = expand(validated, diags)
    if schedule is None:
        return
    sweep_info = None
    if sweep is not None:
        base, point = sweep
        sweep_info = {"name": base.name, "point": point.name, "values": dict(point.values),
                      "initial_seed": model.seed if model.seed is not None else 0}  # this point's seed
        if point.reference is not None:  # emit.py writes active_learning.reference
            sweep_info["reference"] = point.reference
    inherited = bases.read_bases(model.base, source)
    result.bases.update(inherited.sources)
    if inherited.values is None:
        result.bases_unread = list(inherited.problems)
    compiled = config_dict(model, schedule, source, inherited.values, sweep_info)
    start = len(diags.items)
    effective, contract = bases.check(compiled, inherited, source, validated.spans, diags)
    if contract is None:
        return
    plan = plan_of(contract, Pool(model.pool.images, model.pool.resolution))
    sampling = Sampling(contract.mode, contract.initial_spec, contract.settings.budget_per_round,
                        contract.sample_evenly, contract.sample_threshold, contract.radius,
                        tuple(contract.settings.budget_per_query or ()),
                        getattr(contract.settings, "superpixel_segments", None))
    if not schedule.warmup_only:
        check_pool(sampling, model.pool, plan.queries, validated.spans, diags)
    if any(d.severity is Severity.ERROR for d in diags.items[start:]):
        return
    pr.plan, pr.effective, pr.compiled, pr.spans = plan, effective, compiled, validated.spans
    pr.experiment = model
    pr.explain_rows = lambda: bases.explain_rows(effective, contract, validated.spans, source)
    if emit_config:
        from segal_dsl.frontend.emit import plan_json, render

        pr.config = render(compiled, source, validated.spans, diags, out_dir)
        pr.plan_json = plan_json(plan, source) if pr.config is not None else None


# After a syntax error, what the statements that did parse can still be told: unknown keys, types, ranges,
# shapes. Not what needs the whole file (missing keys, the schedule's sequence, budgets against the pool,
# the bases), which the blanked lines could change.
_LOCAL_CODES = frozenset(f"SEG2{n:02d}" for n in range(1, 30)) - {"SEG203", "SEG215", "SEG216", "SEG221",
                                                                   "SEG222", "SEG223", "SEG224", "SEG225"}


def _check_what_parsed(source: Source, diags: Diagnostics) -> None:
    from segal_dsl.frontend.build import build
    from segal_dsl.frontend.parse import recover
    from segal_dsl.frontend.validate import validate

    recovered = recover(source, diags)
    if recovered is None:
        return
    own = Diagnostics()
    validate(build(recovered.tree, recovered.source), own)
    diags.extend([d for d in own if d.code in _LOCAL_CODES and d.span is not None
                  and d.span.line not in recovered.blanked and d.span.path == source.path])


def _load_parent(diags: Diagnostics):
    """Read and parse a parent `.seg`; its syntax errors are reported against its own file."""
    from segal_dsl.frontend.build import build
    from segal_dsl.frontend.parse import parse

    def load(path: str):
        try:
            source = read_source(path)
        except READ_ERRORS:  # ValueError: a NUL in the path (open() refuses it)
            return None, None
        tree = parse(source, diags)
        return (build(tree, source), source) if tree is not None else (None, source)

    return load


def check_file(path: str | os.PathLike) -> Result:
    return analyse(read_source(path))


@dataclass
class CompileResult:
    """Where `compile_file` wrote the config and its plan, and the analysis behind them."""

    config_path: Path
    plan_path: Path
    result: Result


def plan_path_for(config_path: str | os.PathLike) -> Path:
    """`cfg.py` -> `cfg.plan.json`, next to it."""
    p = Path(config_path)
    return p.with_name((p.name[:-3] if p.name.endswith(".py") else p.name) + ".plan.json")


def compile_source(source: Source, out_path: str | os.PathLike) -> Result:
    """Compile in memory; relative `_base_` paths are rewritten for the directory of `out_path`."""
    return analyse(source, compile_to=os.path.dirname(str(out_path)) or ".", emit_config=True)


def compile_file(seg_path: str | os.PathLike, out_path: str | os.PathLike) -> CompileResult:
    """Compile `seg_path` to `out_path` (+ `.plan.json`), atomically. Raises SegalError on errors:
    then nothing is written and existing outputs stay untouched."""
    source = read_source(seg_path)
    result = compile_source(source, out_path)
    if not result.ok or result.config is None:
        raise SegalError(result.diagnostics, {source.path: source})
    config_path, plan_path = Path(out_path), plan_path_for(out_path)
    write_atomic({config_path: result.config, plan_path: result.plan_json})
    return CompileResult(config_path, plan_path, result)


def write_atomic(files: dict[Path, str]) -> None:
    """Write every file to a temporary sibling first, then rename all: a failure leaves old files intact."""
    temps: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append((tmp, path))
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a compiled config is an ordinary file
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, path in temps:
            os.replace(tmp, path)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
