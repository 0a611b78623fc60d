"""The `segal` command line. Core commands never import torch, mmcv or mmseg; `run`/`doctor` do, lazily.

Exit codes: 0 clean (warnings allowed unless --strict), 1 errors in the input, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from segal_dsl import __version__

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _expand_inputs(patterns: list[str]) -> list[str]:
    """Files, directories (every *.seg below) and globs, in a stable order, without duplicates."""
    files: list[str] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            import glob

            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise UsageError(f"no file matches `{pattern}`")
            files += matches
        elif os.path.isdir(pattern):
            # A directory without .seg files is reported as that input (SEG001), not as a usage error.
            files += sorted(str(p) for p in Path(pattern).rglob("*.seg")) or [pattern]
        else:
            files.append(pattern)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def _colour(stream) -> bool:
    return stream.isatty() and os.environ.get("NO_COLOR") is None and os.environ.get("TERM") != "dumb"


def _print_diagnostics(results, fmt: str, stream) -> None:
    from segal_dsl import render

    diags = [d for r in results for d in r.diagnostics]
    if fmt == "json":
        stream.write(render.render_json(diags))
        return
    sources = {path: src for r in results for path, src in r.sources.items()}
    for d in diags:
        if fmt == "github":
            print(render.render_github(d), file=stream)
        elif fmt == "concise":
            print(render.render_concise(d), file=stream)
        else:
            print(render.render_text(d, sources.get(d.span.path) if d.span else None, _colour(stream)), file=stream)
            print(file=stream)


def bases_note(results) -> str | None:
    """SEG222, once per run: how many files were checked without their base files, and the first reason."""
    unread = [r for r in results if getattr(r, "bases_unread", None)]
    if not unread:
        return None
    first = unread[0]
    return (f"note[SEG222]: the base files of {len(unread)} of {len(results)} file{'s' * (len(results) != 1)} "
            f"could not be read, so what they set was not checked (first: {first.source.path}: "
            f"{first.bases_unread[0]}); `segal run` reads them")


def _summary(results, strict: bool) -> int:
    errors = sum(d.severity.value == "error" for r in results for d in r.diagnostics)
    warnings = sum(d.severity.value == "warning" for r in results for d in r.diagnostics)
    return EXIT_ERRORS if errors or (strict and warnings) else EXIT_OK


def _read(path: str):
    """A file for the commands that need its text (import, run): unreadable is a usage error (exit 2)."""
    from segal_dsl.api import READ_ERRORS, read_problem, read_source

    try:
        return read_source(path)
    except READ_ERRORS as err:
        raise UsageError(read_problem(path, err)) from None


def _filters(args):
    """(selected codes or None, ignored codes) from --select/--ignore; an unknown name is a usage error."""
    if getattr(args, "select", None) is None and not getattr(args, "ignore", None):
        return None, frozenset()
    from segal_dsl import suppress

    chosen = []
    for names in (getattr(args, "select", None), getattr(args, "ignore", None) or []):
        if names is None:
            chosen.append(None)
            continue
        codes, unknown = suppress.matcher([n for arg in names for n in arg.split(",")])
        if unknown:
            raise UsageError(f"unknown code `{unknown[0]}` (give a code like SEG304, a prefix like SEG3, or a slug)")
        chosen.append(codes)
    return chosen[0], chosen[1]


def _analysed(path: str, args, **kw):
    """`analyse` of one input (`-` is stdin), unreadable files as SEG001, --select/--ignore applied."""
    from segal_dsl.api import analyse_input

    return _filtered(analyse_input(path, stdin_filename=getattr(args, "stdin_filename", None), **kw), args)


def _filtered(result, args):
    selected, ignored = _filters(args)
    if selected is None and not ignored:
        return result
    from segal_dsl import suppress

    return _replaced(result, diagnostics=suppress.select(result.diagnostics, selected, ignored))


def _replaced(result, **changes):
    """A copy of an `api.Result` (a dataclass) or a `check_cache.Cached` (a `values.Value`, which a cache hit
    gives without importing dataclasses) with some fields changed."""
    replace = getattr(result, "replace", None)
    if replace is not None:
        return replace(**changes)
    import dataclasses

    return dataclasses.replace(result, **changes)


def _checked(path: str, args):
    """One file for `segal check`: from the result cache when nothing it depends on changed."""
    from segal_dsl import check_cache

    use_cache = not args.no_cache and path != "-"
    cached = check_cache.load(path) if use_cache else None
    if cached is not None:
        return _filtered(cached, args)
    from segal_dsl.api import analyse_input

    result = analyse_input(path, stdin_filename=args.stdin_filename)
    if use_cache:
        check_cache.store(path, result)
    # Only the diagnostics (and the files they point into) outlive each file: `check dir/` of many files
    # keeps no compiled configs around.
    return _filtered(_replaced(result, points=[], plan=None), args)


def _unreadable(results) -> bool:
    return any(d.code == "SEG001" for r in results for d in r.diagnostics)


# ---- commands ----------------------------------------------------------------------------------------
def cmd_check(args) -> int:
    _filters(args)  # a bad --select/--ignore stops before any file is read
    results = [_checked(path, args) for path in _expand_inputs(args.files)]
    stream = sys.stdout
    _print_diagnostics(results, args.format, stream)
    code = EXIT_USAGE if _unreadable(results) else _summary(results, args.strict)
    if args.format in ("text", "concise") and not args.quiet:
        note = bases_note(results)
        if note:
            print(note, file=sys.stderr)
        errors = sum(d.severity.value == "error" for r in results for d in r.diagnostics)
        warnings = sum(d.severity.value == "warning" for r in results for d in r.diagnostics)
        n = len(results)
        print(f"checked {n} file{'s' * (n != 1)}: {errors} error{'s' * (errors != 1)}, "
              f"{warnings} warning{'s' * (warnings != 1)}", file=sys.stderr)
    return code


def cmd_plan(args) -> int:
    result = _analysed(args.file, args)
    if result.diagnostics:
        _print_diagnostics([result], "json" if args.format == "json" and not result.ok else "text", sys.stderr)
    if not result.ok:
        return EXIT_USAGE if _unreadable([result]) else EXIT_ERRORS
    if args.format == "json":
        import json

        from segal_dsl.frontend.emit import plan_json

        if result.is_sweep:
            docs = [json.loads(plan_json(p.plan, result.source)) for p in result.points]
            sys.stdout.write(json.dumps(docs, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(plan_json(result.plan, result.source))
    else:
        from segal_dsl.frontend.table import render_plan

        if result.is_sweep:
            seeds = sorted({p.plan.sweep["initial_seed"] for p in result.points})
            print(f"sweep of {len(result.points)} points (initial labels shared by the points of each seed: "
                  f"{', '.join(map(str, seeds))})")
            for p in result.points:
                print(f"\n== {p.name}: " + ", ".join(f"{k} = {v}" for k, v in p.values.items()))
                sys.stdout.write(render_plan(p.plan, colour=_colour(sys.stdout)))
        else:
            sys.stdout.write(render_plan(result.plan, colour=_colour(sys.stdout)))
        if args.explain:
            from segal_dsl.frontend.table import render_explain

            for p in result.points:
                if result.is_sweep:
                    print(f"\n== {p.name}: where each value comes from")
                sys.stdout.write(render_explain(p.explain, colour=_colour(sys.stdout)))
    note = bases_note([result])
    if note:
        print(note, file=sys.stderr)
    return _summary([result], args.strict)


def cmd_compile(args) -> int:
    from segal_dsl.api import compile_source, plan_path_for, write_atomic

    out = args.output
    result = _analysed(args.file, args, compile_to=os.path.dirname(out or "config.py") or ".", emit_config=True)
    if result.diagnostics:
        _print_diagnostics([result], args.format, sys.stderr)
    if not result.ok or result.config is None:
        return EXIT_USAGE if _unreadable([result]) else EXIT_ERRORS
    source = result.source
    if args.strict and any(d.severity.value == "warning" for d in result.diagnostics):
        return EXIT_ERRORS
    if result.is_sweep:
        if out is None or out.endswith(".py"):
            raise UsageError("a sweep compiles to one config per point: give a directory, `-o DIR/`")
        result = compile_source(source, os.path.join(out, "point.py"))
        files = {}
        for p in result.points:
            files[Path(out) / f"{p.name}.py"] = p.config
            files[Path(out) / f"{p.name}.plan.json"] = p.plan_json
        try:
            write_atomic(files)
        except OSError as err:
            raise UsageError(f"cannot write into `{out}`: {err.strerror or err}") from None
        print(f"wrote {len(result.points)} configs and plans into {out}", file=sys.stderr)
        return EXIT_OK
    if out is None or out == "-":
        sys.stdout.write(result.config)
        return EXIT_OK
    try:
        write_atomic({Path(out): result.config, plan_path_for(out): result.plan_json})
    except OSError as err:
        raise UsageError(f"cannot write `{out}`: {err.strerror or err}") from None
    print(f"wrote {out} and {plan_path_for(out)}", file=sys.stderr)
    return EXIT_OK


def cmd_fmt(args) -> int:
    """Exit 0: formatted, or already formatted; 1: would reformat (--check/--diff); 2: a file could not be
    read or parsed (it is left as it is). 2 wins over 1."""
    import difflib

    from segal_dsl.api import READ_ERRORS, read_problem, read_source, read_stdin
    from segal_dsl.diagnostics import Diagnostics
    from segal_dsl.frontend.fmt import format_source

    if "-" in args.files and len(args.files) > 1:
        raise UsageError("`-` (standard input) cannot be combined with files")
    changed, failed = False, False
    for path in ["-"] if args.files == ["-"] else _expand_inputs(args.files):
        name = (args.stdin_filename or "<stdin>") if path == "-" else path
        try:
            source = read_stdin(args.stdin_filename) if path == "-" else read_source(path)
        except READ_ERRORS as err:
            print(f"segal: error: {read_problem(name, err, getattr(err, 'object', None))}", file=sys.stderr)
            failed = True
            continue
        diags = Diagnostics()
        text = format_source(source, diags)
        if text is None:
            _print_diagnostics([_as_result(source, diags)], "text", sys.stderr)
            failed = True
            continue
        if path == "-" and not (args.check or args.diff):
            _write_stdout(text)  # the formatted text, changed or not: what an editor pipes through
            continue
        if text == source.text:
            continue
        changed = True
        if args.diff:
            _write_stdout("".join(difflib.unified_diff(source.text.splitlines(True), text.splitlines(True),
                                                       f"a/{name}", f"b/{name}")))
        if args.check or args.diff:
            print(f"would reformat {name}", file=sys.stderr)
        else:
            from segal_dsl.api import write_atomic

            write_atomic({Path(path): text})
            print(f"reformatted {path}", file=sys.stderr)
    if failed:
        return EXIT_USAGE
    return EXIT_ERRORS if changed and (args.check or args.diff) else EXIT_OK


def _write_stdout(text: str) -> None:
    """Write bytes where there are: a CRLF file's line breaks must come out unchanged on every platform."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def _as_result(source, diags):
    from segal_dsl.api import Result

    return Result(source, diags.sorted())


def cmd_import(args) -> int:
    from segal_dsl.api import write_atomic
    from segal_dsl.importer import import_source

    source = _read(args.file)
    out = args.output if args.output not in (None, "-") else None
    result = import_source(source.text, source.path, seg_path=out)
    if result.diagnostics:
        _print_diagnostics([result], args.format, sys.stderr)
    if not result.ok:
        return EXIT_ERRORS
    if out is None:
        sys.stdout.write(result.seg_text)
        return EXIT_OK
    try:
        write_atomic({Path(out): result.seg_text})
    except OSError as err:
        raise UsageError(f"cannot write `{out}`: {err.strerror or err}") from None
    print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def cmd_schema(args) -> int:
    import json

    from segal_dsl.frontend.language import schema

    text = json.dumps(schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        from segal_dsl.api import write_atomic

        write_atomic({Path(args.output): text})
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_explain(args) -> int:
    from segal_dsl.codes import CODES, explain, render_catalogue

    if args.all:
        sys.stdout.write(render_catalogue())
        return EXIT_OK
    if not args.code:
        raise UsageError("name a code, e.g. `segal explain SEG304`, or use --all")
    from segal_dsl.suppress import SLUGS, resolve_code

    code = resolve_code(args.code)
    if code is None:
        from segal_dsl.frontend.validate import did_you_mean

        upper = args.code.upper()
        hint = did_you_mean(upper, CODES) if upper.startswith("SEG") else did_you_mean(args.code.lower(), SLUGS)
        raise UsageError(f"unknown code `{args.code}` {hint or ''}".strip())
    print(explain(code))
    return EXIT_OK


RUNTIME_STACK = (("torch", "torch"), ("mmcv", "mmcv-full"), ("mmseg", "mmsegmentation"))


def _missing_runtime() -> list[str]:
    """The runtime packages that are not installed, found without importing any of them."""
    import importlib.util

    def absent(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is None
        except (ImportError, ValueError):  # a broken or blocked package counts as missing
            return True

    return [dist for mod, dist in RUNTIME_STACK if absent(mod)]


def cmd_run(args) -> int:
    checked = None
    if args.verbose:  # read by runtime/console.py, also in the processes this run starts
        os.environ["SEGAL_VERBOSE"] = "1"
    else:  # mmcv's import-time notice of its 2.0 release says nothing about this run
        import warnings

        warnings.filterwarnings("ignore", message="On January 1, 2023, MMCV will release v2.0.0")
    if not args.file.endswith(".py"):  # the front end, once: its errors come before any runtime question
        from segal_dsl.api import analyse

        checked = analyse(_read(args.file))
        if checked.diagnostics:
            _print_diagnostics([checked], "text", sys.stderr)
        if not checked.ok:
            return EXIT_ERRORS
    missing = _missing_runtime()
    if missing:
        print(f"segal run needs the runtime stack, which is not installed here (missing: {', '.join(missing)}); "
              "fix: bash scripts/setup.sh, then `segal doctor`", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.nnodes is not None or args.nproc_per_node is not None:  # torchrun around this same command
            from segal_dsl.runtime.launch import run_torchrun, torchrun_command

            try:
                cmd = torchrun_command(_run_argv(args), nnodes=args.nnodes or 1, node_rank=args.node_rank,
                                       nproc_per_node=args.nproc_per_node or 1, rdzv_endpoint=args.rdzv_endpoint)
            except ValueError as err:
                raise UsageError(str(err)) from None
            return run_torchrun(cmd)
        from segal_dsl.runtime.launch import run_experiment

        return run_experiment(args.file, work_dir=args.work_dir, resume=args.resume, seed=args.seed,
                              launcher=args.launcher, print_commands=args.print_commands, dry_run=args.dry_run,
                              checked=checked, executor=args.executor, cluster=_cluster_settings(args, checked),
                              wait=args.wait)
    except ImportError as err:  # a broken install (e.g. mmcv-full built against another torch)
        print(f"segal run: the runtime stack does not import ({type(err).__name__}: {err}); "
              "fix: bash scripts/setup.sh, then `segal doctor`", file=sys.stderr)
        return EXIT_USAGE


def _run_argv(args) -> list[str]:
    """`segal run`'s own arguments again, for the processes torchrun starts."""
    argv = [args.file] + (["--work-dir", args.work_dir] if args.work_dir else []) + (["--resume"] if args.resume else [])
    return argv + (["--seed", str(args.seed)] if args.seed is not None else [])


def _cluster_settings(args, checked):
    """The job's size: the file's `launch { slurm { … } }` block, then the command line over it."""
    if args.executor == "none":
        return None
    from segal_dsl.runtime.slurm import ClusterSettings

    exp = checked.points[0].experiment if checked is not None else None
    block = exp.launch.slurm if exp is not None and exp.launch is not None else None
    stated = {k: v for k, v in (block.model_dump() if block else {}).items() if v is not None}
    if "time" in stated:
        stated["time_min"] = stated.pop("time")
    given = {"partition": args.partition, "nodes": args.nodes, "gpus_per_node": args.gpus_per_node,
             "tasks_per_node": args.tasks_per_node, "cpus_per_task": args.cpus_per_task, "time_min": args.time,
             "account": args.account, "max_parallel": args.max_parallel}
    stated.update({k: v for k, v in given.items() if v is not None})
    stated["sbatch"] = tuple(stated.get("sbatch", ())) + tuple(args.sbatch or ())
    return ClusterSettings(**stated)


def cmd_status(args) -> int:
    import json

    from segal_dsl.cluster import format_status, slurm_status

    rows = slurm_status(args.dir)
    if rows is None:  # run here, not submitted: the work dir's own record (segal_dsl/workdir.py)
        return local_status(args)
    print(json.dumps(rows, indent=2) if args.json else format_status(rows))
    return EXIT_OK


def local_status(args) -> int:
    """Where a run (or each point of a sweep) stands, from its work dir: no torch is imported."""
    import json

    from segal_dsl.workdir import read_status, read_sweep

    sweep = read_sweep(args.dir)
    found = sweep[1] if sweep is not None else [read_status(args.dir)]
    if sweep is None and found[0].state == "not started" and not os.path.isdir(args.dir):
        raise UsageError(f"{args.dir} is not a work dir (no such directory)")
    if args.json:
        print(json.dumps([s.as_dict() for s in found], indent=2, sort_keys=True))
    else:
        if sweep is not None:
            print(f"sweep {sweep[0].get('sweep')}: " + ", ".join(
                f"{n} {s}" for s, n in sorted(_counts(st.state for st in found).items())))
        for st in found:
            print("\n".join(st.lines()))
    return EXIT_OK


def _counts(states) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in states:
        out[s] = out.get(s, 0) + 1
    return out


def cmd_report(args) -> int:
    from segal_dsl.report import write_report

    try:
        html, data = write_report(args.dirs, args.output, fraction=args.fraction, ceiling=args.ceiling)
    except ImportError as err:
        print(f"segal report draws its plots with matplotlib, which does not import here ({err}); "
              "fix: pip install matplotlib", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERRORS
    print(f"report: {html} (numbers: {data})", file=sys.stderr)
    from segal_dsl.report.page import versus_markdown
    from segal_dsl.workdir import read_json

    print(versus_markdown(read_json(data) or {"groups": []}), end="")  # each strategy vs random, as Markdown
    return EXIT_OK


def cmd_cancel(args) -> int:
    from segal_dsl.cluster import cancel

    ids = cancel(args.dir)
    if not ids:
        raise UsageError(f"nothing was submitted from {args.dir} (no {args.dir}/slurm/jobs.json)")
    print(f"cancelled: {', '.join(ids)}", file=sys.stderr)
    return EXIT_OK


def cmd_doctor(args) -> int:
    try:
        from segal_dsl.runtime.doctor import doctor
    except ImportError as err:
        print(f"cannot load the runtime diagnostics: {err}\nfix: bash scripts/setup.sh", file=sys.stderr)
        return EXIT_USAGE
    return doctor()


def cmd_completion(args) -> int:
    from segal_dsl.completion import script

    sys.stdout.write(script(args.shell, build_parser()))
    return EXIT_OK


def cmd_lsp(args) -> int:
    try:  # pygls only here: no other command pays for importing it
        from segal_dsl.lsp.server import serve
    except ImportError as err:
        raise UsageError(f"segal lsp needs pygls ({err}); fix: pip install 'pygls>=2,<3'") from None
    serve()
    return EXIT_OK


class _Skipped:
    """Stands in for the sub-parser of a command that is not being run: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, its width read from the terminal as `shutil.get_terminal_size` does but without
    importing `shutil` (which imports bz2, lzma, …: ~3 ms of a cached `segal check`); argparse makes one for
    every argument it adds."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None, **kwargs):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width, **kwargs)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only`, just that command: argparse spends ~1 ms per argument on
    help formatters, which a `segal check` answered from the cache would otherwise pay for every command."""
    p = argparse.ArgumentParser(prog="segal", description="Check, plan, compile and run active-learning "
                                "experiments for semantic segmentation (.seg files).", formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"segal-dsl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_):
        if only is not None and name != only:
            return _Skipped()
        sp = sub.add_parser(name, help=help_, description=help_, formatter_class=_Formatter)
        sp.set_defaults(func=func)
        return sp

    fmt_help = "diagnostics format (default: text)"
    def inputs(sp):
        sp.add_argument("--stdin-filename", metavar="PATH",
                        help="the name of the file read from `-` (for messages and relative extends/base paths)")
        sp.add_argument("--select", action="append", metavar="CODES",
                        help="show only these warnings and notes (codes, prefixes like SEG3, or slugs; comma-"
                        "separated or repeated); errors are always shown")
        sp.add_argument("--ignore", action="append", metavar="CODES",
                        help="hide these warnings and notes (as --select); a line's own `# segal: ignore[CODE]` "
                        "and a file's `# segal: ignore-file[CODE]` do the same in the file")

    sp = add("check", cmd_check, "validate .seg files (files, directories, globs, `-` for stdin); what CI calls. "
             "Exit 0 clean, 1 errors (or warnings with --strict), 2 a file could not be read or bad usage")
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.add_argument("--format", choices=["text", "concise", "json", "github"], default="text", help=fmt_help)
    sp.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    sp.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    sp.add_argument("--no-cache", action="store_true",
                    help="analyse every file again (results are otherwise kept per file content, tool version and "
                    "the files it reads, in ~/.cache/segal-dsl/check; SEGAL_NO_CACHE=1 does the same)")
    inputs(sp)

    sp = add("plan", cmd_plan, "print the expanded round-by-round plan")
    sp.add_argument("file", metavar="FILE", help="a .seg file, or `-` for stdin")
    inputs(sp)
    sp.add_argument("--format", choices=["table", "json"], default="table")
    sp.add_argument("--explain", action="store_true",
                    help="also show each setting the run depends on and where its value comes from (the .seg line, "
                    "a base file, or the default)")
    sp.add_argument("--strict", action="store_true", help="exit 1 on warnings too")

    sp = add("compile", cmd_compile, "write the mmseg config (and CFG.plan.json next to it)")
    sp.add_argument("file", metavar="FILE", help="a .seg file, or `-` for stdin")
    inputs(sp)
    sp.add_argument("-o", "--output", metavar="CFG.py", help="output config (default: print to stdout)")
    sp.add_argument("--format", choices=["text", "concise", "json", "github"], default="text", help=fmt_help)
    sp.add_argument("--strict", action="store_true", help="fail on warnings too")

    sp = add("fmt", cmd_fmt, "format .seg files canonically, every comment kept in its place (files, directories, "
             "globs; `-` reads stdin and writes the result to stdout). Line breaks stay those of the file (CRLF "
             "stays CRLF) and the text ends with one. Exit 0 formatted or already formatted, 1 a file would be "
             "reformatted (--check, --diff), 2 a file could not be read or parsed (left as it is)")
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.add_argument("--check", action="store_true",
                    help="change nothing, print nothing on stdout; name each file that would change on stderr")
    sp.add_argument("--diff", action="store_true", help="print a unified diff of each file that would change; "
                    "change nothing")
    sp.add_argument("--stdin-filename", metavar="PATH", help="the name of the file read from `-` (for messages)")

    sp = add("import", cmd_import, "convert a reference-style mmseg config (.py) into .seg, without running it")
    sp.add_argument("file", metavar="LEGACY.py")
    sp.add_argument("-o", "--output", metavar="EXP.seg", help="output .seg file (default: print to stdout)")
    sp.add_argument("--format", choices=["text", "concise", "json", "github"], default="text", help=fmt_help)

    sp = add("schema", cmd_schema, "describe the .seg language as JSON: blocks, keys, what each means, values, units, defaults")
    sp.add_argument("-o", "--output", metavar="FILE")

    sp = add("explain", cmd_explain, "explain a diagnostic code, e.g. SEG304 or query-after-last-train")
    sp.add_argument("code", nargs="?", metavar="CODE")
    sp.add_argument("--all", action="store_true", help="print the whole catalogue as Markdown")

    sp = add("run", cmd_run, "compile and run the whole active-learning experiment")
    sp.add_argument("file", metavar="FILE")
    sp.add_argument("--work-dir", metavar="DIR", help="default: work_dirs/<experiment name>")
    sp.add_argument("--resume", action="store_true", help="continue a killed run from its last completed step")
    sp.add_argument("--seed", type=int, help="override the experiment's seed")
    sp.add_argument("--launcher", choices=["none", "pytorch"], default="none")
    sp.add_argument("--print-commands", action="store_true",
                    help="for a sweep: compile every point and print one training command per point")
    sp.add_argument("--dry-run", action="store_true",
                    help="load the compiled config as the run would, check paths and imports, print the plan "
                    "against the pool on disk; train nothing")
    sp.add_argument("-v", "--verbose", action="store_true",
                    help="show mmcv's log on stderr too (it is always in the work dir's log file)")

    g = sp.add_argument_group("cluster (docs/cluster.md)")
    g.add_argument("--executor", choices=["none", "slurm", "local"], default="none",
                   help="submit the run (a sweep: a job array) through submitit instead of running it here")
    g.add_argument("--wait", action="store_true", help="with --executor slurm: wait for the jobs to end")
    g.add_argument("--partition")
    g.add_argument("--nodes", type=int)
    g.add_argument("--gpus-per-node", type=int)
    g.add_argument("--tasks-per-node", type=int, help="ranks per node (default: one per GPU, else 1)")
    g.add_argument("--cpus-per-task", type=int)
    g.add_argument("--time", type=int, metavar="MINUTES", help="the job's time limit")
    g.add_argument("--account")
    g.add_argument("--sbatch", action="append", metavar="--FLAG[=VALUE]", help="an extra sbatch flag (repeatable)")
    g.add_argument("--max-parallel", type=int, help="a sweep's points running at once")
    g.add_argument("--nnodes", type=int, help="torchrun without Slurm: the number of nodes")
    g.add_argument("--node-rank", type=int, default=0, help="torchrun: this node's rank")
    g.add_argument("--nproc-per-node", type=int, help="torchrun: processes (ranks) on this node")
    g.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="torchrun: node 0's address, the same on every node")

    sp = add("status", cmd_status, "the state of the jobs submitted from a work dir or sweep dir: state, round, "
             "last mIoU, logs")
    sp.add_argument("dir", metavar="WORK_DIR_OR_SWEEP")
    sp.add_argument("--json", action="store_true")
    sp = add("cancel", cmd_cancel, "cancel the jobs submitted from a work dir or sweep dir")
    sp.add_argument("dir", metavar="WORK_DIR_OR_SWEEP")

    sp = add("report", cmd_report, "one self-contained HTML page (and its numbers as JSON) of runs or sweeps: "
             "learning curves with bootstrap intervals over seeds, per-class IoU and labels, query pictures")
    sp.add_argument("dirs", nargs="+", metavar="WORK_DIR")
    sp.add_argument("-o", "--output", default="report.html", metavar="REPORT.html",
                    help="the page (default report.html); the numbers go next to it as REPORT.data.json")
    sp.add_argument("--fraction", type=float, default=0.9,
                    help="labels needed to reach this fraction of the best mIoU (default 0.9)")
    sp.add_argument("--ceiling", type=float, metavar="MIOU",
                    help="the full-supervision mIoU (0..1), drawn as a line, when no run records it")

    add("doctor", cmd_doctor, "report the installed runtime stack and what is missing")

    sp = add("completion", cmd_completion, "print a shell completion script: eval \"$(segal completion bash)\"")
    sp.add_argument("shell", choices=["bash", "zsh", "fish"])

    sp = add("lsp", cmd_lsp, "run the language server on stdin/stdout (for editors: docs/editor.md)")
    sp.add_argument("--stdio", action="store_true", help="accepted for editors that pass it; stdio is the only transport")
    if only is not None and only not in sub.choices:
        return build_parser()  # not a command: the whole parser says so, with the list of commands
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.func is cmd_run:
            return cmd_run(args)
        return args.func(args)
    except UsageError as err:
        print(f"segal: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
