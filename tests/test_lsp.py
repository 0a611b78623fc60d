"""The real language server (`.venv/bin/segal lsp`) driven over stdio with Content-Length framed JSON-RPC:
diagnostics on open and change, hover, completion, formatting, definition; and `segal schema`, the
language description hover and completion read."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from segal_dsl.codes import explain
from segal_dsl.frontend import language
from segal_dsl.lsp import scan
from segal_dsl.spec.heuristics import HEURISTIC_NAMES

SEGAL = Path(sys.executable).parent / "segal"
WAIT = 60  # seconds before a missing answer fails the test instead of hanging it


class Client:
    """A minimal LSP client: requests wait for their answer, notifications are queued by method."""

    def __init__(self, cwd: Path):
        env = {**os.environ, "NO_COLOR": "1"}
        self.proc = subprocess.Popen([str(SEGAL), "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd, env=env)
        self.answers: dict[int, queue.Queue] = {}
        self.notes: dict[str, queue.Queue] = {}
        self.next_id = 0
        self.lock = threading.Lock()
        self.stderr: list[bytes] = []  # drained, so that a chatty server never blocks on a full pipe
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _queue(self, table: dict, key) -> queue.Queue:
        with self.lock:
            return table.setdefault(key, queue.Queue())

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            message = json.loads(out.read(length))
            if "id" in message and "method" not in message:
                self._queue(self.answers, message["id"]).put(message)
            elif "method" in message:
                self._queue(self.notes, message["method"]).put(message.get("params"))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def request(self, method: str, params) -> object:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        answer = self._queue(self.answers, self.next_id).get(timeout=WAIT)
        assert "error" not in answer, answer
        return answer["result"]

    def notify(self, method: str, params) -> None:
        self.send({"method": method, "params": params})

    def notification(self, method: str) -> dict:
        return self._queue(self.notes, method).get(timeout=WAIT)

    def close(self) -> int:
        self.request("shutdown", None)
        self.notify("exit", None)
        try:
            return self.proc.wait(timeout=WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def uri(path: Path) -> str:
    return path.resolve().as_uri()


def position(text: str, needle: str, delta: int = 0) -> dict:
    """The LSP position of `needle` (plus `delta` characters) in `text` (ASCII, so UTF-16 = characters)."""
    offset = text.index(needle) + delta
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


BAD = """experiment lsp_demo {
    base "m.py"
    sample pixel {
        budjet 1% per image per round
    }
    heuristic entropy
    schedule epochs { train 2; query; train 2 }
}
"""
GOOD = BAD.replace("budjet", "budget")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lsp")
    shutil.copy(FIXTURES / "bad" / "m.py", root / "m.py")  # a readable base: no SEG222 note in the way
    (root / "parent.seg").write_text(GOOD.replace("lsp_demo", "parent"))
    return root


@pytest.fixture(scope="module")
def client(workspace):
    c = Client(workspace)
    result = c.request("initialize", {"processId": os.getpid(), "rootUri": uri(workspace), "capabilities": {}})
    caps = result["capabilities"]
    assert caps["hoverProvider"] and caps["definitionProvider"] and caps["documentFormattingProvider"]
    assert "completionProvider" in caps and caps["textDocumentSync"]["change"] == 1  # full text on change
    c.notify("initialized", {})
    yield c
    assert c.close() == 0


def open_doc(client, path: Path, text: str) -> dict:
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri(path), "languageId": "seg", "version": 1,
                                                             "text": text}})
    return client.notification("textDocument/publishDiagnostics")


def test_diagnostics_on_open_then_cleared_by_a_fix(client, workspace):
    path = workspace / "exp.seg"
    published = open_doc(client, path, BAD)
    assert published["uri"] == uri(path)
    d = next(d for d in published["diagnostics"] if d["code"] == "SEG201")  # (a missing `budget` may follow)
    assert d["source"] == "segal" and d["severity"] == 1
    start = position(BAD, "budjet")
    assert d["range"] == {"start": start, "end": {"line": start["line"], "character": start["character"] + 6}}
    assert "did you mean `budget`?" in d["message"]
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": 2},
                                             "contentChanges": [{"text": GOOD}]})
    fixed = client.notification("textDocument/publishDiagnostics")
    assert fixed["uri"] == uri(path) and fixed["diagnostics"] == [] and fixed["version"] == 2


def test_diagnostics_match_segal_check(client, workspace):
    """The same analysis as `segal check`: every code and position of a file with several mistakes."""
    src = (ROOT / "examples" / "invalid" / "typos_and_types.seg")
    path = workspace / "typos.seg"
    text = src.read_text()
    shutil.copytree(src.parent.parent / "configs", workspace / "configs", dirs_exist_ok=True)
    path.write_text(text)
    checked = subprocess.run([str(SEGAL), "check", "--format", "json", str(path)], capture_output=True, text=True)
    expected = sorted((d["code"], d["start"]["line"] - 1, d["start"]["column"] - 1) for d in json.loads(checked.stdout))
    published = open_doc(client, path, text)
    got = sorted((d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"])
                 for d in published["diagnostics"] if d["code"] != "SEG222")
    assert got == expected and len(got) >= 3


def test_hover_on_a_key_and_on_a_diagnostic(client, workspace):
    path = workspace / "hover.seg"
    open_doc(client, path, BAD)
    doc = {"uri": uri(path)}
    on_key = client.request("textDocument/hover", {"textDocument": doc, "position": position(BAD, "sample", 2)})
    text = on_key["contents"]["value"]
    assert "**`sample`**" in text and language.blocks()["experiment"].keys["sample"].doc in text
    assert "`pixel`" in text and "`region`" in text  # the modes it takes, with what each buys
    on_word = client.request("textDocument/hover", {"textDocument": doc, "position": position(BAD, "entropy", 1)})
    assert "prediction entropy" in on_word["contents"]["value"]
    on_code = client.request("textDocument/hover", {"textDocument": doc, "position": position(BAD, "budjet", 3)})
    assert explain("SEG201") in on_code["contents"]["value"]
    assert on_code["range"]["start"] == position(BAD, "budjet")


def test_hover_on_a_value_with_a_warning_explains_then_means(client, workspace):
    text = GOOD.replace("sample pixel", "sample region").replace("per round", "per round; evenly false")
    path = workspace / "hover3.seg"
    published = open_doc(client, path, text)
    assert [d["code"] for d in published["diagnostics"]] == ["SEG407"]
    hovered = client.request("textDocument/hover", {"textDocument": {"uri": uri(path)},
                                                    "position": position(text, "false", 1)})
    value = hovered["contents"]["value"]
    assert value.index(explain("SEG407")) < value.index("**`evenly`**")


def test_hover_on_a_heuristic_parameter_and_a_code_in_a_comment(client, workspace):
    text = GOOD.replace("heuristic entropy", "heuristic ripu { k 2 }   # see SEG208")
    path = workspace / "hover2.seg"
    open_doc(client, path, text)
    doc = {"uri": uri(path)}
    on_param = client.request("textDocument/hover", {"textDocument": doc, "position": position(text, "k 2")})
    assert "(2k+1)x(2k+1)" in on_param["contents"]["value"] and "default: `1`" in on_param["contents"]["value"]
    on_comment = client.request("textDocument/hover", {"textDocument": doc, "position": position(text, "SEG208", 2)})
    assert explain("SEG208") in on_comment["contents"]["value"]


def labels(result) -> list[str]:
    items = result["items"] if isinstance(result, dict) else result
    return [i["label"] for i in items]


def test_completion_lists_what_is_valid_at_the_cursor(client, workspace):
    text = GOOD.replace("    heuristic entropy\n", "    heuristic \n    \n").replace(
        "        budget 1% per image per round\n", "        budget 1% per image per round\n        \n")
    path = workspace / "complete.seg"
    open_doc(client, path, text)
    doc = {"uri": uri(path)}
    heuristics = labels(client.request("textDocument/completion",
                                       {"textDocument": doc, "position": position(text, "heuristic ", 10)}))
    assert heuristics == list(HEURISTIC_NAMES)
    top = labels(client.request("textDocument/completion",
                                {"textDocument": doc, "position": position(text, "heuristic \n    \n", 15)}))
    assert {"seed", "pool", "runner", "mmseg", "visualize"} <= set(top)
    assert not {"sample", "base", "schedule", "budget"} & set(top)  # set already, or not a key of this block
    assert "delete" not in top  # only with `extends`
    in_sample = labels(client.request("textDocument/completion",
                                      {"textDocument": doc, "position": position(text, "round\n        \n", 14)}))
    assert set(in_sample) == {k.name for k in language.keys_in("sample", ("pixel",))} - {"budget"}
    assert "radius" not in in_sample  # a region setting


def test_completion_of_parameters_units_and_prefixes(client, workspace):
    text = GOOD.replace("heuristic entropy", "heuristic mps { mix_factor 0.5;  }\n    runner multitask").replace(
        "budget 1% per image per round", "budget 8 ")
    path = workspace / "complete2.seg"
    open_doc(client, path, text)
    doc = {"uri": uri(path)}
    params = labels(client.request("textDocument/completion",
                                   {"textDocument": doc, "position": position(text, "0.5; ", 5)}))
    assert set(params) == {"k", "use_entropy", "categories", "crop_size", "exploration"}
    units = labels(client.request("textDocument/completion",
                                  {"textDocument": doc, "position": position(text, "budget 8 ", 9)}))
    assert units == ["px", "px per image"]  # pixel mode, after a plain number: no `%`, no images or regions
    typed = "schedule ep"
    text2 = GOOD.replace("schedule epochs", typed + "ochs")
    path2 = workspace / "complete3.seg"
    open_doc(client, path2, text2)
    result = client.request("textDocument/completion", {"textDocument": {"uri": uri(path2)},
                                                        "position": position(text2, typed, len(typed))})
    item = next(i for i in result["items"] if i["label"] == "epochs")
    start = position(text2, typed, len("schedule "))
    assert item["textEdit"]["range"]["start"] == start  # replaces what was typed of the word


def test_formatting_returns_what_segal_fmt_prints(client, workspace):
    messy = "experiment   messy{\nbase \"m.py\"\n  sample pixel {budget 1% per image per round}\nheuristic entropy\n" \
            "schedule epochs {train 2;query;train 2}\n}\n"
    path = workspace / "messy.seg"
    open_doc(client, path, messy)
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri(path)},
                                                       "options": {"tabSize": 4, "insertSpaces": True}})
    fmt = subprocess.run([str(SEGAL), "fmt", "-"], input=messy, capture_output=True, text=True)
    assert fmt.returncode == 0 and fmt.stdout != messy
    [edit] = edits
    assert edit["newText"] == fmt.stdout
    assert edit["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": messy.count("\n"), "character": 0}}


def test_definition_of_extends_and_base_paths(client, workspace):
    text = 'experiment child {\n    extends "parent.seg"\n    seed 3\n}\n'
    path = workspace / "child.seg"
    published = open_doc(client, path, text)
    assert published["diagnostics"] == []  # the parent resolves next to the file the editor named
    doc = {"uri": uri(path)}
    parent = client.request("textDocument/definition", {"textDocument": doc, "position": position(text, "parent", 2)})
    assert parent["uri"] == uri(workspace / "parent.seg")
    base = client.request("textDocument/definition", {"textDocument": {"uri": uri(workspace / "exp.seg")},
                                                      "position": position(GOOD, '"m.py"', 2)})
    assert base["uri"] == uri(workspace / "m.py")
    assert client.request("textDocument/definition", {"textDocument": doc, "position": position(text, "seed")}) is None


def test_a_mistake_in_the_parent_is_shown_on_extends(client, workspace):
    (workspace / "bad_parent.seg").write_text(BAD.replace("lsp_demo", "bad_parent"))
    text = 'experiment child2 {\n    extends "bad_parent.seg"\n}\n'
    published = open_doc(client, workspace / "child2.seg", text)
    d = next(d for d in published["diagnostics"] if d["code"] == "SEG201")
    assert d["range"]["start"] == position(text, "extends")
    assert d["message"].startswith("bad_parent.seg:4:9: ")
    assert d["relatedInformation"][0]["location"]["uri"] == uri(workspace / "bad_parent.seg")


# ---- the pieces the server is made of, and the start-up promise ----------------------------------------
def test_the_scanner_follows_blocks_through_half_typed_text():
    text = 'experiment x {\n  sample region { radius 1; thre'
    cur = scan.cursor(text, len(text))
    assert [(f.key, f.words) for f in cur.blocks] == [("experiment", ("x",)), ("sample", ("region",))]
    assert cur.token.text == "thre" and cur.before == () and cur.siblings == ("radius",)
    unclosed = scan.tokens('load_from "ckpt\nseed 1')
    assert [t.kind for t in unclosed] == ["word", "string", "sep", "word", "number"]


def test_positions_count_utf16_units_and_every_line_break():
    from segal_dsl.lsp.features import Lines

    text = 'seed 1\r\nload_from "😋" x\rwork_dir "é"\ny'
    lines = Lines(text, lambda s: len(s.encode("utf-16-le")) // 2)
    x = text.index(" x") + 1
    assert (lines.position(x).line, lines.position(x).character) == (1, 15)  # the emoji is two UTF-16 units
    assert lines.offset(lines.position(x)) == x
    y = text.index("y")
    assert (lines.position(y).line, lines.position(y).character) == (3, 0)
    assert lines.offset(lines.position(y)) == y


def test_language_keys_are_those_the_validator_accepts(tmp_path):
    """A key the language lists and the validator rejects (or the reverse) fails here: the help of an
    unknown key names every key of its block."""
    from segal_dsl.api import analyse
    from segal_dsl.source import Source

    bodies = {"experiment": "zzz 1", "sample": "sample pixel { zzz 1 }", "visualize": "visualize { zzz 1 }",
              "pool": "pool { zzz 1 }", "log": "log every 5 iters { zzz 1 }", "wandb": "log every 5 iters { wandb "
              "{ zzz 1 } }", "evaluation": "evaluation every 1 epochs { zzz 1 }",
              "checkpoint": "checkpoint every 1 epochs { zzz 1 }", "runner": "runner multitask { zzz 1 }"}
    for block, body in bodies.items():
        source = Source(str(tmp_path / "k.seg"), f"experiment k {{\n{body}\n}}\n")
        [help_] = [d.help for d in analyse(source).diagnostics if d.code == "SEG201"]
        accepted = set(re.findall(r"`([\w-]+)`", help_.split(":", 1)[1]))
        words = ("multitask",) if block == "runner" else ()  # the validator lists every sample key
        listed = {k.name for k in language.keys_in(block, words)}
        listed -= {"mmseg", "schedule", "extends", "sweep", "delete"}  # statements read before the key table
        assert listed == accepted, block


def test_every_key_says_what_it_means():
    """Hover and `segal schema` show a meaning for every key: a new `.seg` model field needs its description."""
    missing = [f"{b.name}.{k.name}" for b in language.blocks().values() for k in b.keys.values() if not k.doc]
    assert missing == []
    assert all(b.doc for b in language.blocks().values())


def test_schema_describes_the_language():
    done = subprocess.run([str(SEGAL), "schema"], capture_output=True, text=True, cwd=ROOT)
    doc = json.loads(done.stdout)
    assert doc["language"] == "seg"
    budget = next(k for k in doc["blocks"]["sample"]["keys"] if k["name"] == "budget")
    assert budget["required"] and "% per image" in [u["text"] for u in budget["units"]]
    ripu = {k["name"]: k for k in doc["blocks"]["heuristic ripu"]["keys"]}
    assert ripu["k"]["default"] == "1" and "≥ 0" in ripu["k"]["value"]
    assert "properties" not in doc and "$defs" not in json.dumps(doc)  # not the internal pydantic model


def test_check_does_not_import_pygls():
    code = ("import sys\nfrom segal_dsl.cli import main\ncode = main(['check', '-q', 'examples/toy_pixel.seg'])\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol', 'cattrs')], 'loaded'\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
