"""`segal lsp`: the language server (pygls, stdio). Only `server.py` imports pygls; `segal lsp` loads it
lazily, so no other command pays for it."""
