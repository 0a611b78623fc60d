"""Property tests of `segal fmt`: random programs with a comment at every place the grammar allows one keep
the same comments, in the same order, each on its own line or after code as before and next to the same
token, parse to the same tree, and format idempotently."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segal_dsl.diagnostics import Diagnostics
from segal_dsl.frontend.build import build
from segal_dsl.frontend.fmt import comment_texts, format_source
from segal_dsl.frontend.parse import parse
from segal_dsl.source import Source, Span
from segal_dsl.values import Value

C = "\x01"  # where a comment goes; numbered (and given a body) once the program is assembled

# Gaps where the grammar takes any number of separators (`_sep*`: after `{`, `[`, `(`, `dict(`, before the
# closer), between statements and steps (`_sep+`), and after a comma (the COMMA terminal's line breaks).
OPTIONAL = ["", " ", "\n", f"  {C}\n", f"\n{C}\n", f"\n\n    {C}\n\n", " ;", f";  {C}\n", f"\n{C}\n{C}\n"]
REQUIRED = ["\n", "; ", f"  {C}\n", f";  {C}\n", f"\n{C}\n", f"\n\n{C}\n\n", f"  {C}\n\n{C}\n", f" ;\n{C}\n"]
COMMA = [", ", ",\n", f",  {C}\n", f",\n{C}\n", f",  {C}\n    {C}\n", f",\n\n   {C}\n"]
BODIES = ["note", "a; b", "{ x }", "trailing ,", '"quoted" and \'single\'', "# twice", "dict(", ""]


LEAVES = ["1", "-2.5", "1e-4", "1_000", '"s"', "'q'", "True", "None", "x", "train", "schedule"]
ATOMS = ['"a.py"', "1", "2.5", "10%", "64x32", "top", "per", "image", "true"]
KEYS = ["base", "seed", "heuristic", "sample", "k", "train", "query", "dict", "a-b"]
STEPS = ["train 3", "train 2 x4", "query", "warmup 1", "eval 1"]


def commas(draw, items, trailing=None):
    """The items with a comma gap between them, maybe a trailing comma."""
    text = "".join(x + (draw(st.sampled_from(COMMA)) if i + 1 < len(items) else "") for i, x in enumerate(items))
    if items and (draw(st.booleans()) if trailing is None else trailing):
        text += draw(st.sampled_from(COMMA))
    return text


def bracketed(draw, open_, items, close):
    return open_ + draw(st.sampled_from(OPTIONAL)) + commas(draw, items) + draw(st.sampled_from(OPTIONAL)) + close


def literal(draw, depth=0):
    kind = draw(st.integers(0, 5 if depth < 2 else 0))
    if kind <= 1:
        return draw(st.sampled_from(LEAVES))
    size = draw(st.integers(0, 3))
    if kind == 2:
        return bracketed(draw, "[", [literal(draw, depth + 1) for _ in range(size)], "]")
    if kind == 3:
        return bracketed(draw, "(", [literal(draw, depth + 1) for _ in range(size)], ")")
    if kind == 4:
        pairs = [f"{draw(st.sampled_from(LEAVES))}: {literal(draw, depth + 1)}" for _ in range(size)]
        return bracketed(draw, "{", pairs, "}")
    kwargs = [f"{draw(st.sampled_from(['k', 'lr', 'train', 'dict', 'mmseg']))}={literal(draw, depth + 1)}"
              for _ in range(size)]
    return bracketed(draw, "dict(", kwargs, ")")


def block(draw, items, opener="{"):
    body = "".join(x + (draw(st.sampled_from(REQUIRED)) if i + 1 < len(items) else "") for i, x in enumerate(items))
    return opener + draw(st.sampled_from(OPTIONAL)) + body + draw(st.sampled_from(OPTIONAL)) + "}"


def step(draw, depth=0):
    kind = draw(st.integers(0, 3 if depth < 2 else 0))
    if kind <= 1:
        return draw(st.sampled_from(STEPS))
    if kind == 2:
        inner = block(draw, [step(draw, depth + 1) for _ in range(draw(st.integers(1, 3)))], "(")
        return inner[:-1] + f") x{draw(st.integers(1, 3))}"
    if draw(st.booleans()):
        return f"query at 1{draw(st.sampled_from(COMMA))}2k{draw(st.sampled_from(COMMA))}3"
    return f"bogus 1{draw(st.sampled_from(COMMA))}2"


def statement(draw, depth=0):
    kind = draw(st.integers(0, 4))
    if kind == 3:
        head = draw(st.sampled_from(["schedule epochs ", "schedule "]))
        return head + block(draw, [step(draw) for _ in range(draw(st.integers(1, 4)))])
    if kind == 4:
        keys = ["a", "optimizer.lr", "train", "dict.x", "schedule.y", "mmseg"]
        overrides = [f"{draw(st.sampled_from(keys))} = {literal(draw)}" for _ in range(draw(st.integers(0, 3)))]
        return "mmseg " + block(draw, overrides)
    key = draw(st.sampled_from(KEYS))
    values = [" ".join(draw(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=3)))
              for _ in range(draw(st.integers(0, 3)))]
    if kind == 2 and depth < 2:
        inner = [statement(draw, depth + 1) for _ in range(draw(st.integers(0, 3)))]
        return f"{key} {commas(draw, values)} {block(draw, inner)}"
    if kind == 1 and values:
        # A trailing comma takes the line break after it (COMMA): before a statement it needs a `;`.
        return f"{key} {commas(draw, values, trailing=True)};"
    return f"{key} {commas(draw, values, trailing=False)}".rstrip()


@st.composite
def programs(draw):
    head = draw(st.sampled_from(["", f"{C}\n", f"{C}\n\n", f"\n{C}\n{C}\n\n", f";  {C}\n"]))
    body = block(draw, [statement(draw) for _ in range(draw(st.integers(0, 4)))])
    tail = draw(st.sampled_from(["", "\n", f"  {C}", f"  {C}\n", f"\n{C}\n", f"\n\n{C}\n\n{C}\n"]))
    text = head + "experiment e " + body + tail
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    bodies = iter(draw(st.lists(st.sampled_from(BODIES), min_size=text.count(C), max_size=text.count(C))))
    count = iter(range(1, 10**6))
    return re.sub(C, lambda _: f"# c{next(count)} {next(bodies)}".rstrip(), text)


def shape(node):
    """The AST without positions."""
    if isinstance(node, tuple):
        return tuple(shape(x) for x in node)
    if isinstance(node, Value) and not isinstance(node, Span):  # an AST node (frontend/nodes.py)
        return (type(node).__name__, *(shape(v) for v in node.values() if not isinstance(v, Span)))
    return node


def read(text):
    comments = []
    source = Source("p.seg", text)
    tree = parse(source, Diagnostics(), comments)
    assert tree is not None, text
    return shape(build(tree, source)), comments


TOKEN = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|#[^\n]*|[^\s;,#\"'(){}\[\]=:.]+|[(){}\[\]=:.]")


def places(text):
    """Per comment: on its own line or not, and its neighbour: the token after it (own line) or before it."""
    tokens = [m for m in TOKEN.finditer(text)]
    code = [("STR" if m.group()[0] in "\"'" else m.group()) for m in tokens if m.group()[0] != "#"]
    out, seen = [], 0
    for m in tokens:
        if m.group()[0] != "#":
            seen += 1
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        own = not text[line_start:m.start()].strip(" \t\f\r;")
        neighbour = code[seen] if own and seen < len(code) else code[seen - 1] if not own and seen else None
        out.append((own, neighbour))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_comments_everywhere_survive_in_place_and_fmt_is_idempotent(text):
    tree, comments = read(text)
    once = format_source(Source("p.seg", text), Diagnostics())
    assert once is not None, text
    tree_once, comments_once = read(once)
    assert tree_once == tree
    assert comment_texts(comments_once) == comment_texts(comments)
    assert places(once) == places(text)
    assert format_source(Source("p.seg", once), Diagnostics()) == once
    assert once.endswith("\r\n" if text.find("\n") > 0 and text[text.find("\n") - 1] == "\r" else "\n")
