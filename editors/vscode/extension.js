// The VS Code client of `segal lsp`: starts the server over stdio for .seg files (docs/editor.md).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("segal").get("command", "segal");
  client = new LanguageClient("segal", "segal-dsl", { command, args: ["lsp"] },
                              { documentSelector: [{ scheme: "file", language: "seg" }] });
  client.start();
  context.subscriptions.push(client);
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
