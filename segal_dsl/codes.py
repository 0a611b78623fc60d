"""The catalogue of diagnostic codes: one entry per rule, the source of docs/diagnostics.md.

SEG0xx files and ignore comments, SEG1xx syntax, 2xx values and schema, 3xx schedule, 4xx budget and
sampling, 5xx emit, 6xx import, 9xx internal.
Codes are stable: never renumber or reuse one.
"""

from __future__ import annotations

import enum

from segal_dsl.values import Value


class Severity(enum.Enum):
    """How bad a diagnostic is: errors fail `check`, warnings fail it only with --strict, notes never."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Code(Value):
    """One rule of the catalogue: its stable code, slug, default severity and the text of `segal explain`."""

    __slots__ = ("code", "name", "default", "summary", "why", "example", "fix")
    code: str
    name: str  # slug naming the problem, not the fix
    default: str  # "error" | "warning" | "note"
    summary: str
    why: str
    example: str
    fix: str

    @property
    def severity(self) -> Severity:
        return Severity(self.default)


_ALL = [
    # ---- SEG0xx: files and ignore comments --------------------------------------------------------
    Code("SEG001", "unreadable-file", "error", "A file given to segal cannot be read as UTF-8 text.",
         "It is missing, a directory, not readable, or not UTF-8. `check` reports it as a diagnostic of "
         "that file and goes on with the others (like ruff's E902), so CI sees every file's findings.",
         "segal check missing.seg", "Fix the path, the permissions or the encoding (save the file as UTF-8)."),
    Code("SEG002", "bad-ignore-comment", "warning", "A `# segal: ignore[…]` comment that silences nothing.",
         "It names an unknown code, names no code, or stands on a line of its own (a line comment "
         "silences the line it ends). A typo in an ignore comment would otherwise hide nothing, silently.",
         "experiment a {\n    seed 1  # segal: ignore[SEG9999]\n}",
         "Name a code or its slug: `# segal: ignore[SEG304]`, `# segal: ignore[query-after-last-train]`; "
         "`# segal: ignore-file[…]` silences a code in the whole file."),
    Code("SEG003", "ignored-error", "warning", "An ignore comment names the code of an error.",
         "Only warnings and notes can be silenced: an error means the file cannot compile, so it stays.",
         "experiment a {\n    seed -1  # segal: ignore[SEG205]\n}", "Fix the error instead."),
    # ---- SEG1xx: syntax --------------------------------------------------------------------------
    Code("SEG100", "syntax-error", "error", "The text does not follow the grammar.",
         "The parser met a token it cannot place; the message names what it expected in words.",
         "experiment a { seed = 3 }", "Write settings as `key value`: `seed 3`."),
    Code("SEG101", "unterminated-string", "error", "A string literal is not closed on its line.",
         "Strings cannot span lines; an unclosed quote swallows the rest of the line.",
         'load_from "model.pth', 'Close the quote: `load_from "model.pth"`.'),
    Code("SEG102", "unclosed-block", "error", "The file ends inside a `{ … }` block or a group.",
         "Every `{` and `(` needs its closing partner before the end of the file.",
         "experiment a {\n  seed 1\n", "Add the missing `}`."),
    Code("SEG103", "unexpected-character", "error", "A character that no token of the language starts with.",
         "Only names, numbers, strings, percentages, punctuation `{ } ( ) [ ] , ; = : .` and comments are valid.",
         "seed 3 @", "Remove the character, or put the text in quotes."),
    Code("SEG104", "missing-separator", "error", "Two statements on one line without `;` between them.",
         "Statements are separated by a line break or `;`.",
         "schedule epochs { train 1 query }", "Add `;`: `train 1; query`."),
    Code("SEG105", "nested-too-deeply", "error", "Brackets, braces or schedule groups nested more than 64 deep.",
         "Deep nesting is a generated or broken file, not a config; it is refused in one linear scan before "
         "parsing, so no stage can run out of stack on it.",
         "experiment a {\n    mmseg { a = " + "[" * 65 + "1" + "]" * 65 + " }\n}",
         "Flatten the nesting: a real config nests a few levels."),
    # ---- SEG2xx: values and schema ---------------------------------------------------------------
    Code("SEG201", "unknown-key", "error", "A setting name that this block does not have.",
         "Hand-written mmseg configs silently ignore a misspelt key; segal-dsl rejects it.",
         "sample pixel { budjet 1% per image }", "Use one of the listed keys (`budget`)."),
    Code("SEG202", "duplicate-key", "error", "A setting appears twice in one block.",
         "The second value would silently win; say it once.",
         "seed 1\nseed 2", "Remove one of them."),
    Code("SEG203", "missing-key", "error", "A required setting is absent.",
         "The reference crashed with AttributeError at run time when keys such as `sample_mode` were missing.",
         "experiment a { base \"m.py\" }", "Add the setting named in the message."),
    Code("SEG204", "wrong-type", "error", "A value has the wrong type.",
         "Types are checked before anything runs, in strict mode: no silent coercion.",
         'seed "3"', "Write a value of the expected type: `seed 3`."),
    Code("SEG205", "out-of-range", "error", "A number is outside the range the setting accepts.",
         "Zero or negative sizes, intervals and counts crash or silently disable features at run time.",
         "visualize { size 0 }", "Use a value in the stated range."),
    Code("SEG206", "unknown-name", "error", "A value is not one of the names this setting accepts.",
         "Runner kinds, sample modes, heuristics and units are closed sets.",
         "heuristic entorpy", "Use one of the listed names (`entropy`)."),
    Code("SEG207", "malformed-value", "error", "The words after a setting do not have the expected shape.",
         "Each setting has a fixed shape, e.g. `log every 20 iters`, `budget 1% per image`.",
         "log 20", "Write the value in the shape the help line shows."),
    Code("SEG208", "parameter-not-taken", "error", "A heuristic parameter that the chosen heuristic does not take.",
         "The reference raised NotImplementedError for `heuristic_cfg` with any heuristic but RIPU/MPS.",
         "heuristic entropy { k 1 }", "Remove the parameter, or pick a heuristic that takes it."),
    Code("SEG209", "multitask-needs-pixel-or-region", "error", "The multitask runner with image sampling.",
         "MultiTaskActiveRunner masks segmentation labels per pixel; image sampling is not supported by it.",
         'runner multitask\nsample image { budget 10 images }', "Use `sample pixel` or `sample region`, or `runner active`."),
    Code("SEG210", "multitask-only-setting", "error", "A setting that only the multitask runner reads.",
         "The reference silently ignored `mae_viz_dir` etc. with the plain runner.",
         "runner active { mae_viz_dir \"x\" }", "Remove it, or use `runner multitask`."),
    Code("SEG211", "override-conflict", "error", "Two pass-through overrides set the same key, or a key and a key inside it.",
         "`a.b = 1` and `a.b.c = 2` cannot both hold.", "mmseg { optimizer.lr = 0.1; optimizer.lr = 0.2 }",
         "Keep one override per key."),
    Code("SEG212", "override-has-syntax", "error", "A pass-through override sets a key that has its own statement.",
         "Keys such as `workflow`, `runner` and `active_learning` are generated from the experiment; overriding them "
         "would bypass every check.", "mmseg { workflow = [] }", "Use the dedicated statement (`schedule`)."),
    Code("SEG213", "unrepresentable-number", "error", "A number that is not finite or not representable.",
         "`1e999` is infinity, which is not a Python literal.", "mmseg { optimizer.lr = 1e999 }",
         "Use a finite number."),
    Code("SEG214", "unknown-override-constant", "error", "A bare name in an override that is not a literal constant.",
         "Only `true`/`false`/`True`/`False`/`None`/`null` are constants; anything else must be quoted.",
         "mmseg { model.type = EncoderDecoder }", "Quote it: `\"EncoderDecoder\"`."),
    Code("SEG215", "parent-not-found", "error", "The file named by `extends` cannot be read.",
         "`extends` paths are relative to the file that names them.", 'extends "missing.seg"',
         "Fix the path (relative to this file)."),
    Code("SEG216", "extends-cycle", "error", "A chain of `extends` that comes back to a file already in it.",
         "Inheritance must end at a file that extends nothing.",
         'extends "cycle_a.seg"   # cycle_a.seg extends cycle_b.seg, which extends cycle_a.seg',
         "Remove the `extends` that closes the loop."),
    Code("SEG217", "nothing-to-delete", "error", "`delete NAME` names nothing inherited in this block.",
         "An explicit delete that removes nothing is most likely a typo.", 'extends "base.seg"\ndelete visualise',
         "Name an inherited statement of the same block."),
    Code("SEG218", "not-a-sweep-axis", "error", "A `sweep` axis that names nothing that can be swept.",
         "Axes replace a statement's words: top-level settings, `sample` keys and `lr`.",
         "sweep { heuristics random, entropy }", "Use one of the listed axes (`heuristic`)."),
    Code("SEG219", "sweep-too-large", "error", "A sweep with more than 1000 points.",
         "Each point is a full training run; a typo in an axis can multiply the cost by accident.",
         'sweep {\n    seed 0, 1, 2, 3, 4, 5, 6, 7, 8, 9\n    lr 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n'
         '    radius 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n}',
         "Split the sweep into several files."),
    Code("SEG220", "override-key-not-a-name", "error", "A pass-through override whose top-level key is not a Python name.",
         "Top-level keys become assignments in the compiled config (`key = …`); `a-b` or `class` there would be a "
         "syntax error that mmcv reports only at run time. Keys below the first may be anything.",
         "mmseg { norm-cfg = 1 }", "Use a Python identifier that is not a keyword (`norm_cfg`)."),
    Code("SEG221", "base-contradicts-experiment", "error", "A value a `base` file sets cannot run with this experiment.",
         "`check` reads the base files as data and merges them as mmcv does, then reads the result exactly as "
         "the runtime will: a `data.train` list while the experiment is source-free, a `runner.max_iters`, a "
         "model that the chosen runner cannot train would otherwise fail only after `segal run` started.",
         'base "bases/ada_data.py"   # data.train = [source, target]\nsource_free true',
         "State the value in the experiment (`source_free false`, or `mmseg { … }`), or use another base."),
    Code("SEG222", "bases-not-read", "note", "The base files could not be read, so inherited values are unknown.",
         "CI without the data or model configs can still check everything else; what the bases set is checked "
         "when they are present (and always by `segal run`).",
         'base "configs/missing.py"', "Nothing to do in CI; check the paths where the experiment runs."),
    Code("SEG223", "base-value-replaced", "note", "A value from the base files that the experiment replaces on purpose.",
         "The schedule decides the runner (a base's `IterBasedRunner` with `max_iters` cannot drive an "
         "active-learning run) and the heuristic decides its parameters; the compiled config replaces those "
         "inherited values with `_delete_=True`, and says so.",
         'base "bases/iter_schedule.py"   # runner = dict(type="IterBasedRunner", max_iters=80000)',
         "Nothing to do: the note says what is replaced."),
    Code("SEG224", "categories-differ-from-model", "warning", "`categories` of `ripu`/`mps` is not the model's number of classes.",
         "RIPU normalises impurity and entropy by log(categories); another number skews the scores silently.",
         'base "bases/five_classes.py"   # model.decode_head.num_classes = 5\n'
         'sample region { budget 1% per image }\nheuristic ripu { categories 19 }',
         "Use the model's number of classes, or leave `categories` out (it defaults to it)."),
    Code("SEG225", "runtime-refuses-override", "error", "An `mmseg { … }` override that the runtime cannot run.",
         "The compiled config is read through the runtime's contract before anything runs; this override "
         "breaks it (e.g. `lr_config = dict(policy=\"poly\")` in an iteration schedule leaves mmcv's default "
         "`by_epoch=True`).", "experiment a {\n    base \"m.py\"\n    sample pixel { budget 1% per image }\n"
         "    heuristic entropy\n    schedule iters { train 100; query; train 100 }\n"
         "    mmseg { lr_config = dict(policy=\"poly\") }\n}", "Change the override as the message says."),
    Code("SEG226", "duplicate-sweep-point", "error", "Two values of a sweep axis name the same point.",
         "Each point compiles to a file named after its values; two equal values (`seed 0, 1, 1`) would write "
         "one config over the other and run one point twice.",
         "experiment a {\n    sweep { seed 0, 1, 1 }\n}", "Give each value once."),
    Code("SEG227", "duplicate-dict-key", "error", "A dict literal in `mmseg { … }` gives one key twice.",
         "Python keeps the last of two equal keys without a word (and `dict(a=1, a=2)` does not compile).",
         "experiment a {\n    mmseg { optimizer = dict(lr=0.01, lr=0.1) }\n}", "Keep one of them."),
    Code("SEG228", "not-a-module-name", "error", "An `imports` entry that is not a dotted module name.",
         "mmcv imports each entry with importlib when it loads the config: a path or a file name fails "
         "there, at the start of the run.", 'experiment a {\n    imports "experiments/dataset.py"\n}',
         "Write the module name: `imports \"experiments.dataset\"`."),
    Code("SEG229", "bad-path", "error", "A path that holds a NUL or a line break.",
         "No file system names a file so; it is a typo (often a `\\n` inside quotes) that would fail at run time.",
         'experiment a {\n    load_from "ckpt\\n.pth"\n}', "Remove the character."),
    Code("SEG230", "user-heuristic", "note", "A heuristic that is not built in, looked up after the `imports`.",
         "A module named in `imports` can register its own scoring function; the front end cannot see it, so "
         "the name and its parameters are checked at run time, before any training (an unregistered name "
         "stops the run with the modules it imported).",
         'experiment a {\n    imports "my_scores"\n    heuristic my_score { alpha 0.5 }\n}',
         "Register the function in that module: `@segal_dsl.runtime.heuristics.register(\"my_score\")`. "
         "A misspelt built-in name lands here too: check the spelling."),
    Code("SEG231", "heuristic-mode-mismatch", "error", "A heuristic used in a sample mode it does not work in.",
         "`kcenter` chooses whole images from features pooled per image, so it has nothing to say about pixels "
         "or regions within an image.",
         'experiment a {\n    sample pixel { budget 1% per image }\n    heuristic kcenter\n}',
         "Use `sample image { … }` with it, or a pixel heuristic."),
    Code("SEG232", "mc-dropout-without-dropout", "error", "An MC-dropout heuristic on a model without dropout.",
         "`bald` and `variation_ratio` compare forward passes with the dropout layers on; with every head's "
         "`dropout_ratio` 0 (and no other dropout in the model config) the passes are identical, and the first "
         "query stops the run after the first round's training.",
         'base "bases/no_dropout.py"   # model.decode_head.dropout_ratio = 0\n'
         'sample pixel { budget 1% per image }\nheuristic bald { passes 10 }',
         "Turn dropout on: `mmseg { model.decode_head.dropout_ratio = 0.1 }` (mmseg's default), or use another "
         "heuristic."),
    # ---- SEG3xx: schedule ------------------------------------------------------------------------
    Code("SEG301", "schedule-without-train", "error", "The schedule never trains.",
         "An AL experiment trains between queries; without training no labels are used.",
         "schedule epochs { query }", "Add `train N` steps."),
    Code("SEG302", "schedule-without-query", "warning", "The schedule never queries.",
         "Without a query no labels are bought: the run trains on the initial labels only (the reference's "
         "long warm-up runs do this on purpose, with a large `initial`). Usually a `query` was forgotten.",
         "schedule epochs { train 10 }", "Add `query` between trainings, e.g. `train 5; query; train 5`, or "
         "keep it for a run on the initial labels."),
    Code("SEG303", "consecutive-queries", "error", "Two queries with no training between them.",
         "The reference's `('query', 2)` silently bought twice the budget from the same model.",
         'schedule epochs { train 5; query; query; train 5 }', "Remove one `query`, or double the budget."),
    Code("SEG304", "query-after-last-train", "warning", "A query after the last training step.",
         "It buys labels no model will use.",
         'schedule epochs { train 10; query; train 14; query }', "Remove this `query`, or add a `train` step after it."),
    Code("SEG305", "query-before-train", "warning", "The schedule starts with a query.",
         "The first query scores the pool with the weights the run starts from: those of `load_from` (the "
         "reference's source-free runs query a source-trained model first), else a randomly initialised model, "
         "whose scores are noise.", 'schedule epochs { query; train 10 }', "Start with `train N`, or set `load_from` to a trained model."),
    Code("SEG306", "zero-length-training", "error", "A `train` step of zero (or negative) length.",
         "A zero-length round silently skips training before a query.",
         'schedule epochs { train 0; query; train 5 }', "Use a positive length, or remove the step."),
    Code("SEG307", "bad-repeat", "error", "A repeat count `xK` below 1.",
         "`x0` would silently drop the steps.", 'schedule epochs { train 2 x0; train 5 }', "Use K ≥ 1."),
    Code("SEG308", "unknown-schedule-step", "error", "A schedule step that is not `train`, `query`, `warmup` or a group.",
         "The schedule language has exactly these steps.", "schedule epochs { trian 10 }", "Use `train N`."),
    Code("SEG309", "misplaced-warmup", "error", "`warmup N` anywhere but first, or without the multitask runner.",
         "MAE warm-up is a reconstruction-only stage before the first round of the multitask runner.",
         'runner multitask\nschedule epochs { train 5; warmup 2; query; train 5 }', "Put `warmup N` first and use `runner multitask`."),
    Code("SEG310", "unknown-schedule-unit", "error", "A schedule unit other than `epochs` or `iters`.",
         "Training lengths count epochs or iterations.", 'schedule steps { train 5; query; train 5 }',
         "Write `schedule epochs` or `schedule iters`."),
    Code("SEG311", "query-position-out-of-range", "error", "A `query at` position outside the training.",
         "`query at P` queries after P epochs (or iterations) of training, counted from the start (after an MAE "
         "warm-up); a position past the last training, or inside the warm-up, never comes.",
         'schedule iters { train 20k; query at 10k, 25k }',
         "Use positions from 0 to the total training (here 20k), or train longer."),
    Code("SEG312", "query-positions-not-increasing", "error", "`query at` positions that are not in increasing order.",
         "Each position is a separate query; a repeated or earlier position is a typo (and two queries at one "
         "position would buy twice from the same model).", 'schedule iters { train 20k; query at 12k, 10k }',
         "List the positions in increasing order, each once."),
    Code("SEG313", "query-at-in-group", "error", "`query at` inside a repeated group.",
         "Its positions are absolute: repeating them would query at the same positions again.",
         'schedule epochs { (train 2; query at 1) x3; train 4 }',
         "Move `query at …` out of the group, or write a plain `query` in it."),
    # ---- SEG4xx: budget and sampling -------------------------------------------------------------
    Code("SEG320", "schedule-too-long", "error", "The schedule unrolls into more than 10,000 steps.",
         "Repeat counts multiply (`(train 1; query x10) x1000`); the limit is checked before anything is "
         "unrolled, so a typo in a repeat count costs no time or memory.",
         "experiment a {\n    schedule epochs { (train 1; query) x100000000 }\n}",
         "Check the repeat counts: an active-learning schedule has tens of rounds."),
    Code("SEG321", "epochs-in-iteration-schedule", "error", "An epoch-counted hook in a schedule that counts iterations.",
         "`schedule iters` counts the run in iterations; an `evaluation`/`checkpoint` every N epochs, or an "
         "`lr_config` with `by_epoch=True`, would fire on a clock the runner does not keep.",
         "experiment a {\n    evaluation every 1 epochs\n    schedule iters { train 100; query; train 100 }\n}",
         "Count it in iterations: `evaluation every 200 iters`; `by_epoch=False` in `lr_config`."),
    Code("SEG401", "non-positive-budget", "error", "A budget of zero or less in a schedule that queries.",
         "A query that buys nothing wastes a round; the reference silently bought 0 px when budget < images. "
         "(A schedule without a query may state `budget 0`.)",
         'sample pixel { budget 0 px }', "Use a positive budget."),
    Code("SEG402", "unit-mode-mismatch", "error", "A unit that the sample mode cannot use.",
         "Image sampling counts images; pixel sampling counts pixels; regions need region sampling.",
         "sample image { budget 1% per image }", "Use a unit of the mode (see the help line)."),
    Code("SEG403", "budget-exceeds-pool", "error", "Initial labels plus all queries buy more than the pool holds.",
         "Later queries would find nothing left to label.",
         'pool { images 10 }\nsample image { initial 8 images; budget 2 images }\nschedule epochs { train 1 x2; train 1 }',
         "Lower the budget or the number of queries."),
    Code("SEG404", "budget-below-one-per-image", "error", "A total pixel budget smaller than the number of images with even allocation.",
         "The reference floored `budget // N` to 0 and silently labelled nothing.",
         "pool { images 2975 }\nsample pixel { budget 1000 px }", "Raise the budget, or state it per image."),
    Code("SEG405", "threshold-out-of-range", "error", "A threshold outside (0, 100].",
         "The threshold is the top-t% candidate pool; the reference asserted t > 0 and rejected `False`.",
         'sample pixel { budget 1% per image; threshold top 0% }', "Use 0 < t ≤ 100, or omit `threshold` for strict top-k."),
    Code("SEG406", "threshold-pool-smaller-than-quota", "warning", "The top-t% candidate pool holds fewer pixels than one query's quota.",
         "The reference crashed with ValueError; segal-dsl widens the pool to the quota, which makes the pick deterministic top-k.",
         'sample pixel { budget 5% per image; threshold top 1% }', "Raise the threshold above the per-image budget."),
    Code("SEG407", "region-needs-even-allocation", "error", "Region sampling with `evenly false`.",
         "Regions are allocated per image.", 'sample region { budget 1% per image; evenly false }', "Remove `evenly false`."),
    Code("SEG408", "fractional-count", "error", "A pixel, region or image count that is not a whole number.",
         "Labels are bought in whole pixels, regions and images.", 'sample pixel { budget 10.5 px }', "Use an integer."),
    Code("SEG409", "unusual-ignore-index", "warning", "An ignore_index other than 255.",
         "mmseg pads segmentation maps with 255 (`seg_pad_val`); another value makes padding count as a class.",
         'sample pixel { budget 1% per image; ignore_index 0 }', "Use 255 unless your pipelines pad with the same value."),
    Code("SEG410", "initial-exceeds-pool", "error", "The initial labels alone exceed the pool or an image.",
         "The reference raised ValueError/AssertionError at start-up.", 'sample pixel { initial 120% per image; budget 1% per image }',
         "Lower `initial`."),
    # ---- SEG5xx: emit ----------------------------------------------------------------------------
    Code("SEG411", "threshold-without-percent", "warning", "A `threshold top` written without `%`.",
         "The threshold is a percentage of the top scores: `threshold top 0.05` picks among the top 0.05%, "
         "which is rarely what was meant (PixelPick writes 5%).",
         "experiment a {\n    sample pixel { budget 1% per image; threshold top 0.05 }\n}",
         "Write the `%`: `threshold top 5%` (or `threshold top 0.05%` if that is what you meant)."),
    Code("SEG412", "threshold-with-random", "warning", "A `threshold` with a heuristic whose scores say nothing.",
         "`heuristic random` scores uniformly at random; picking at random among its top scores is the same "
         "random pick, so the threshold changes nothing.",
         "experiment a {\n    sample pixel { budget 1% per image; threshold top 5% }\n    heuristic random\n}",
         "Remove `threshold`, or choose an informative heuristic."),
    Code("SEG413", "suppression-needs-even-allocation", "error", "Neighbourhood suppression with `evenly false`.",
         "`suppress r` picks pixels image by image (RIPU's pixel selection); one top-k over the pool has no "
         "per-image order to suppress in.",
         'sample pixel { budget 10 px per image; evenly false; suppress 32 }', "Remove `evenly false` or `suppress`."),
    Code("SEG414", "keep-suppressed-without-suppress", "error", "`keep_suppressed` without `suppress`.",
         "`keep_suppressed true` keeps the suppressed squares of earlier queries; without `suppress r` there are none.",
         'sample pixel { budget 10 px per image; keep_suppressed true }', "Add `suppress r`, or remove `keep_suppressed`."),
    Code("SEG415", "superpixels-exceed-segments", "warning", "More superpixels bought per image than SLIC makes.",
         "`segments N` asks SLIC for about N superpixels per image (it often makes fewer); when the initial labels "
         "and the queries buy more than N per image, the later queries find nothing left to buy in many images "
         "and the budget the plan shows is not spent.",
         'sample superpixel { budget 40 superpixels per image; segments 32 }',
         "Raise `segments`, or lower the budget or the number of queries."),
    Code("SEG416", "class-balance-conflict", "error", "`class_balanced` with a setting that undoes it.",
         "Class-balanced selection spreads each image's quota over its predicted classes and buys each class's "
         "top scores; a pool-wide top-k (`evenly false`), a random pick from a threshold pool, neighbourhood "
         "suppression or entropy's `prop` would each pick the pixels another way.",
         'experiment a {\n    sample pixel { budget 1% per image; class_balanced true; threshold top 5% }\n'
         '    heuristic entropy\n}',
         "Keep one of them."),
    Code("SEG501", "unrepresentable-value", "error", "A value that cannot be written as a Python literal.",
         "Everything in the compiled config is a literal, so no string from a .seg file can become code.",
         "(internal)", "Report the value; use a string, number, bool or container of them."),
    Code("SEG502", "compiled-config-breaks-contract", "error", "The compiled config fails the runtime's own reading of it.",
         "`check` reads the config it would write through the same typed contract as the runtime; a failure "
         "that no other rule caught is a bug in segal-dsl, reported before anything runs.",
         "(internal)", "Report the input file."),
    # ---- SEG6xx: import of legacy (reference-style) Python configs ------------------------------------
    Code("SEG601", "not-a-constant-expression", "error", "A value in a legacy config that `segal import` will not evaluate.",
         "`segal import` never runs the config: it evaluates only constants, arithmetic on numbers, names bound "
         "earlier in the file, `int`/`float`/`round`, string concatenation, f-strings and literal containers. "
         "A function call, attribute access, comprehension or conditional could run arbitrary code.",
         "BUDGET = compute_budget(2975)\nDATA = os.path.join('data', 'cs')",
         "Replace the expression by its value (`BUDGET = 24371200`), or by arithmetic on constants."),
    Code("SEG602", "unsupported-statement", "error", "A statement in a legacy config other than an assignment.",
         "Imports, function definitions, loops and conditionals execute code; a config for import is a list of "
         "`name = value` assignments (docstrings and comments are fine).",
         "import os\nif USE_WANDB:\n    log_config = dict(interval=50)", "Remove the statement, or write its result as an assignment."),
    Code("SEG603", "legacy-workflow-fails", "warning", "A workflow round that the reference crashes on.",
         "`(('train', 14))` is not a one-round tuple but the pair `('train', 14)`: the reference accepts it at start-up "
         "and fails with `ValueError: too many values to unpack` only when that round starts, after every earlier "
         "round trained. The imported schedule does not have the problem.",
         "workflow = [(('train', 10), ('query', 1)), (('train', 14))]",
         "Nothing to do for the .seg file; in the legacy config write `(('train', 14),)`."),
    Code("SEG604", "sample-rounds-mismatch", "warning", "`runner.sample_rounds` disagrees with the workflow.",
         "With the irregular (nested) workflow the reference asserts `len(workflow) == sample_rounds + 1` and stops "
         "before training; with the regular form `sample_rounds` counts training rounds, so there is one query fewer "
         "than the guide's wording suggests (reported as a note). The imported schedule follows the workflow as the "
         "reference would run it, and `sample_rounds` is derived from it.",
         "workflow = [(('train', 3), ('query', 1)), (('train', 1), ('query', 1)), (('train', 10),)]\n"
         "runner = dict(type='ActiveLearningRunner', sample_mode='pixel', sample_rounds=5)",
         "Check the schedule in the imported .seg (`segal plan`); `sample_rounds` is no longer written by hand."),
    Code("SEG605", "key-without-syntax-goes-to-mmseg", "note", "Config keys with no statement of their own go to the `mmseg { … }` block.",
         "Keys such as `model`, `data`, `optimizer` and `lr_config` are passed through unchanged, so nothing is lost; "
         "logger hooks other than the text and W&B loggers become `custom_hooks` entries. Upper-case helper constants "
         "(`BUDGET`, `DATA_ROOT`) only feed other values and are not kept.",
         "optimizer = dict(type='SGD', lr=0.01)", "Nothing to do; move values to dedicated statements where they exist."),
    Code("SEG606", "guide-spelling", "warning", "`heuristics` / `heuristics_cfg`, as the reference's guide spells them.",
         "The reference's code reads `heuristic` and `heuristic_cfg`; with the guide's spelling it fails with KeyError "
         "at start-up. The import reads them as meant.",
         "active_learning = dict(heuristics='entropy', …)", "Nothing to do for the .seg file; the legacy key is `heuristic`."),
    Code("SEG607", "workflow-not-expressible", "error", "A workflow that the schedule language cannot express.",
         "`('val', k)` steps crash the reference with mask pipelines, and `('query', n)` with n > 1 buys n budgets "
         "from one model (SEG303 in .seg); a workflow must be a list of `(mode, n)` pairs or of rounds of them.",
         "workflow = [(('train', 5), ('query', 2)), (('train', 5),)]",
         "Use one query per round (double the budget instead of querying twice), and drop `val` steps."),
    Code("SEG608", "value-not-expressible", "error", "A value of a key with its own statement that has no .seg form.",
         "Such keys (`active_learning`, `runner`, `evaluation`, …) cannot go to the pass-through block (SEG212), so a value "
         "of another shape (a budget unit that does not exist, a runner that is not an AL runner, a non-string path) "
         "stops the import. An optional detail that cannot be written (e.g. an `evaluation` option) is dropped with a "
         "warning instead.",
         "active_learning = dict(settings=dict(pixel=dict(budget_per_round=dict(value=1, unit='furlongs'))))",
         "Write the value in a form the reference documents (docs/compiled-config.md)."),
    Code("SEG609", "imported-experiment-invalid", "error", "The imported experiment fails the .seg checks.",
         "The import maps values one to one, then checks and compiles the result; a value that the checker rejects "
         "(a threshold of 0%, an unknown heuristic, …) is reported at the legacy line it came from, with the check's "
         "own code in the message.",
         "sample_threshold=0", "Fix the legacy value as the quoted check says."),
    Code("SEG610", "import-changes-value", "note", "Compiling the imported experiment gives a different value for a config key.",
         "The import is checked by compiling the .seg and comparing every top-level value with the legacy config; "
         "a difference means the .seg runs something other than the legacy file (usually a fix: a derived "
         "`sample_rounds`, `WandbLoggerHookWithVal`, a pass-through hook).",
         "runner = dict(type='ActiveLearningRunner', sample_mode='pixel', sample_rounds=6)   # 5 rounds in workflow",
         "Review the difference; change the .seg if the legacy value was the one you meant."),
    Code("SEG611", "key-ignored-by-reference", "note", "A key the reference never reads, left out of the .seg file.",
         "Unused `settings` sub-dicts, `runner.max_epochs` (derived from the workflow), parameters of another "
         "heuristic and `segal_meta` have no effect in the reference; the .seg file leaves them out.",
         "active_learning = dict(settings=dict(image=dict(…), pixel=dict(…)))   # sample_mode='pixel'",
         "Nothing to do."),
    Code("SEG612", "key-assigned-twice", "warning", "A config key assigned more than once.",
         "Python keeps the last assignment, silently; the guide's 'two options' examples leave both in place.",
         "workflow = [('train', 5), ('query', 1)]\nworkflow = [(('train', 3), ('query', 1)), (('train', 10),)]",
         "Keep one assignment."),
    Code("SEG613", "legacy-setting-misbehaves", "warning", "A legacy setting that the reference misreads or crashes on.",
         "`sample_threshold=False` (the guide's way to disable it) fails an assertion; without `sample_evenly` pixel "
         "sampling labels almost every pixel in the first query; without `reset_each_round` the reference resets weights "
         "but not the LR schedule; `heuristic_cfg` with a heuristic other than RIPU/MPS raises NotImplementedError. The "
         "import writes what was meant, which this warning states.",
         "pixel=dict(sample_threshold=False, budget_per_round=BUDGET, ignore_index=255)",
         "Check the stated meaning in the imported .seg file."),
    # ---- SEG9xx: internal ------------------------------------------------------------------------
    Code("SEG614", "legacy-bases-not-read", "warning", "A legacy config whose `_base_` files cannot be read.",
         "The import writes the statements the language needs from the config merged with its bases, and "
         "compares the result with that merge; without the bases it can use and check only the file's own "
         "values.", "_base_ = ['../missing.py']", "Run `segal import` where the config's `_base_` files are."),
    Code("SEG615", "reference-cannot-run", "warning", "A legacy config the reference stops on, imported anyway.",
         "The reference reads some keys without a default (`source_free`, and `mae_val_iter` in a `warmup_only` "
         "run) and stops with AttributeError; segal-dsl has a default for each, and the import says which it used.",
         "runner = dict(type='ActiveLearningRunner', sample_mode='pixel')   # no source_free anywhere",
         "Check that the default is what the experiment meant; state it in the .seg file otherwise."),
    Code("SEG900", "internal-error", "error", "A bug in segal-dsl.",
         "The front end should only ever produce diagnostics; this means it crashed.",
         "(none)", "Please report it with the input file."),
]

CODES: dict[str, Code] = {c.code: c for c in _ALL}
assert len(CODES) == len(_ALL), "duplicate diagnostic code"


def render_catalogue() -> str:
    """docs/diagnostics.md, generated from this table (a test keeps the file in sync)."""
    out = [
        "# Diagnostics",
        "",
        "Every check of segal-dsl has a stable code. `segal explain CODE` prints one entry.",
        "SEG0xx files and ignore comments · SEG1xx syntax · SEG2xx values and schema · SEG3xx schedule · SEG4xx budget and sampling · "
        "SEG5xx emit · SEG6xx import of legacy configs · SEG9xx internal.",
        "This file is generated from `segal_dsl/codes.py` (`segal explain --all > docs/diagnostics.md`).",
        "",
        "| code | name | severity | summary |",
        "|---|---|---|---|",
    ]
    out += [f"| [{c.code}](#{c.code.lower()}) | `{c.name}` | {c.default} | {c.summary} |" for c in _ALL]
    for c in _ALL:
        out += ["", explain(c.code, markdown=True)]
    return "\n".join(out) + "\n"


# Examples that are not `.seg` text (tests/test_doc_snippets.py checks every `.seg` example for its code).
_NOT_SEG = {"SEG001": "text", "SEG222": "text", "SEG501": "text", "SEG502": "text", "SEG900": "text"}


def explain(code: str, markdown: bool = False) -> str:
    c = CODES[code.upper()]
    fence = "```"
    if markdown:
        lang = "python" if c.code.startswith("SEG6") else _NOT_SEG.get(c.code, "seg")
        marker = f"<!-- segal: expect {c.code} -->\n" if lang == "seg" else ""
        return (f"## {c.code}\n\n`{c.name}` ({c.default}): {c.summary}\n\n{c.why}\n\n"
                f"Example:\n\n{marker}{fence}{lang}\n{c.example}\n{fence}\n\nFix: {c.fix}")
    return (f"{c.code} {c.name} ({c.default})\n\n{c.summary}\n\nWhy: {c.why}\n\n"
            f"Example:\n    " + c.example.replace("\n", "\n    ") + f"\n\nFix: {c.fix}")
