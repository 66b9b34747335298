"""ReadError: a located problem found while turning bytes into a document.

The documents package reports problems with this small value so that it does not depend on
the located problem values of other packages; `corpuskit.documents.reader` turns each one into a
`Diagnostic` (`corpuskit.diagnostics`, the value every check returns).
"""

from __future__ import annotations


class ReadError(Exception):
    """A problem that stops one record (or one file) from becoming a document.

    `code` is a stable kebab-case identifier (listed in docs/raw-format.md), `line`/`column`
    are 1-based and absolute within the file (None when unknown), `pointer` is the JSON
    pointer of the field concerned ("" for the whole record or file).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        pointer: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.pointer = pointer

    def __repr__(self) -> str:
        return f"ReadError({self.code!r}, {self.message!r}, line={self.line}, column={self.column})"
