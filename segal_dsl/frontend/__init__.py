"""The front end: .seg text -> parse -> build (AST) -> validate -> expand -> emit. Never imports torch."""
