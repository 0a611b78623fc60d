"""The language server over stdio (pygls 2): features.py's answers wired to LSP requests and notifications.

Diagnostics are published on open, change and save; hover, completion, formatting and definition are
answered from the buffer the editor sent, never from the file on disk.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from segal_dsl import __version__
from segal_dsl.lsp import features


class SegalServer(LanguageServer):
    """A pygls server that also keeps, per document, where its last diagnostics were (hover explains them)."""

    def __init__(self) -> None:
        super().__init__("segal", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.found: dict[str, list] = {}

    def lines(self, uri: str) -> tuple[str, features.Lines]:
        text = self.workspace.get_text_document(uri).source
        return text, features.Lines(text, self.workspace.position_codec.client_num_units)

    def publish(self, uri: str) -> None:
        text, _ = self.lines(uri)
        diagnostics, self.found[uri] = features.diagnose(features.path_of(uri), text,
                                                         self.workspace.position_codec.client_num_units)
        version = self.workspace.get_text_document(uri).version
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, version))


def build() -> SegalServer:
    """The server with every feature registered (tests drive it over stdio: tests/test_lsp.py)."""
    server = SegalServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SegalServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SegalServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: SegalServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)  # a base or parent file may have changed on disk

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SegalServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.found.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(params.text_document.uri, []))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: SegalServer, params: types.HoverParams) -> types.Hover | None:
        text, lines = ls.lines(params.text_document.uri)
        return features.hover(text, lines.offset(params.position), ls.found.get(params.text_document.uri, []), lines)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[" "]))
    def completion(ls: SegalServer, params: types.CompletionParams) -> types.CompletionList:
        text, lines = ls.lines(params.text_document.uri)
        space = params.context is not None and params.context.trigger_character == " "
        return types.CompletionList(False, features.complete(text, lines.offset(params.position), lines, space))

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: SegalServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        text, lines = ls.lines(params.text_document.uri)
        return features.formatting(features.path_of(params.text_document.uri), text, lines)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: SegalServer, params: types.DefinitionParams) -> types.Location | None:
        text, lines = ls.lines(params.text_document.uri)
        return features.definition(features.path_of(params.text_document.uri), text, lines.offset(params.position))

    return server


def serve() -> None:
    """Speak LSP on stdin/stdout until the client says `exit`."""
    build().start_io()
