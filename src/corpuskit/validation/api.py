"""`corpuskit.validate`: read, check and cross-check a corpus, streaming.

Files are read in chunks; each chunk is parsed, schema- and semantically checked and turned
into compact entries (id, place, content hash, MinHash signature) - in a pool of worker
processes when the corpus is large enough to pay for it. Only the entries reach the
cross-record checks; the documents themselves are dropped as soon as they are checked.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corpuskit.diagnostics import Diagnostic, Severity
from corpuskit.errors import UsageError
from corpuskit.settings import Settings, load_settings
from corpuskit.validation.crossrecord import Admission, Entries, check_corpus
from corpuskit.validation.gitscope import changed_files, staged_files, tracked_files

__all__ = ["ValidationResult", "changed_files", "iter_valid_documents", "validate"]

# A chunk of work for one worker: about this many bytes of input (one big file is one chunk).
_CHUNK_BYTES = 4 * 1024 * 1024
_CHUNK_FILES = 512
# Below this much input the pool's start-up (about half a second) costs more than it saves.
_POOL_MIN_BYTES = 24 * 1024 * 1024
_SIGNATURE_BATCH = 256


@dataclass(frozen=True)
class ValidationResult:
    """What `validate` found. `ok` is False when any error was reported."""

    diagnostics: tuple[Diagnostic, ...]
    files: int
    documents: int
    invalid: int
    rejected: frozenset[tuple[str, int]] = field(repr=False, default=frozenset())
    changed_files: int | None = None
    # (named id, reported id) of every near-duplicate pair: the earlier document, then the later one
    # (with changed_since, the changed one is the reported one).
    near_duplicates: tuple[tuple[str, str], ...] = ()
    # Why every document was checked although the run was narrowed (--changed-since, --staged):
    # "schema/document.schema.json changed since origin/main".
    full_check: str | None = None
    # Documents per language (stated, else detected, else the default), most frequent first.
    languages: dict[str, int] = field(default_factory=dict)
    # Clusters of three or more documents reported as one message, identical content and
    # near-duplicates (`--format json` lists their members).
    clusters: tuple[dict[str, Any], ...] = ()
    # The documents the dedupe record leaves out (id, file, line, cluster, match, similarity):
    # valid, but not among the documents push and release use.
    left_out: tuple[dict[str, Any], ...] = ()
    # Every cluster of two or more documents, reported or settled: (kind, member ids), kind
    # "identical" or "near-duplicate" (the release card counts those among released documents).
    groups: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), repr=False)
    # The dedupe record as diagnostics name it (None when there is none) and whether this run wrote it.
    dedupe_record: str | None = None
    dedupe_written: bool = False
    # Whether boilerplate lines were stripped on reading, and how many per file.
    strip: bool = False
    stripped: dict[str, int] = field(default_factory=dict)
    # The corpus root (GitHub annotations name files relative to the repository top found from it).
    root: Path | None = field(default=None, repr=False, compare=False)
    # With `keep_documents`: (file, line, document) of every document that passed the checks of its
    # own, in corpus order, so that `iter_valid_documents` need not read the corpus a second time.
    kept: tuple[tuple[str, int, dict[str, Any]], ...] | None = field(default=None, repr=False, compare=False)

    @property
    def valid(self) -> int:
        return self.documents - self.invalid

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def summary(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "documents": self.documents,
            "valid": self.valid,
            "invalid": self.invalid,
            "errors": self.errors,
            "warnings": self.warnings,
            "changed_files": self.changed_files,
            "full_check": self.full_check,
            "languages": dict(self.languages),
            "clusters": len(self.clusters),
            "left_out": len(self.left_out),
            "dedupe_record": self.dedupe_record,
            "dedupe_written": self.dedupe_written,
            "stripped": dict(self.stripped),
        }

    @property
    def excluded(self) -> frozenset[tuple[str, int]]:
        """Places (file, line) of the documents push and release leave out: rejected or left out."""
        return self.rejected | {(item["file"], item["line"]) for item in self.left_out}


@dataclass(frozen=True)
class _Options:
    root: str
    schema: str
    language: str
    languages: tuple[str, ...]
    boilerplate: tuple[str, ...]
    raw_timezone: str | None
    future_tolerance_hours: float
    now: str
    cache: str | None
    keep: bool = False
    strip: bool = False


@dataclass
class _Chunk:
    entries: Entries
    diagnostics: list[Diagnostic]
    documents: int = 0
    invalid: int = 0
    # Documents (readable or not) per file, in the order of entries.files.
    per_file: list[int] = field(default_factory=list)
    rejected: list[tuple[str, int]] = field(default_factory=list)
    kept: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    languages: dict[str, int] = field(default_factory=dict)
    # Every model or script detection made or looked up (content hash, language, confidence, by).
    detections: list[tuple[bytes, str | None, float, str]] = field(default_factory=list)
    # Each entry's published_at, in the order of entries (the dedupe rule keeps the earliest).
    published: list[str | None] = field(default_factory=list)
    # Boilerplate lines stripped per file (with `strip`).
    stripped: dict[str, int] = field(default_factory=dict)
    # With `keep`: for each entry, the index of its document in `kept` (-1: it failed its own checks).
    kept_index: list[int] = field(default_factory=list)


# Told each schema-valid document in corpus order: its id, content hash, and the document when it
# passed its own checks (`crossrecord.Admission.see`).
_See = Callable[[str, bytes, dict[str, Any] | None], None]


def _language_problem(document: dict[str, Any], item: Any, allowed: frozenset[str]) -> list[Diagnostic]:
    from corpuskit.documents.language import name_of, primary

    tag = document.get("language")
    if not allowed or not isinstance(tag, str) or primary(tag) in allowed:
        return []
    how = "stated" if item.language_stated else "detected" if item.detected is not None else "defaulted"
    return [
        Diagnostic(
            file=item.file,
            line=item.line_of("/language"),
            column=None,
            pointer="/language",
            severity=Severity.ERROR,
            code="language-not-allowed",
            message=f"{how} as {name_of(tag)}, which is not among the corpus' languages "
            f"({', '.join(sorted(allowed))}; the `languages` setting)",
            document_id=document.get("id") if isinstance(document.get("id"), str) else None,
        )
    ]


def _check_chunk(paths: Sequence[str], options: _Options, see: _See | None = None) -> _Chunk:
    """Read and check a few files; runs in a worker process (so it takes and returns plain data).
    In-process, `see` is told of each schema-valid document as soon as it is checked."""
    from corpuskit.documents.language import normalise_languages
    from corpuskit.documents.model import body_text
    from corpuskit.documents.reader import SourceRecord, read_file
    from corpuskit.validation.cache import CachedDetector, LanguageCache, SignatureCache
    from corpuskit.validation.schema_check import load_checker
    from corpuskit.validation.semantic import check_document

    checker = load_checker(Path(options.schema))
    cache = SignatureCache.open(Path(options.cache)) if options.cache else None
    detector = CachedDetector(LanguageCache.open(Path(options.cache)) if options.cache else None)
    now = datetime.fromisoformat(options.now)
    root = Path(options.root)
    chunk = _Chunk(Entries(), [])
    entries = chunk.entries
    allowed = normalise_languages(options.languages)
    pending_text: list[str] = []
    pending_sha: list[bytes] = []

    def flush() -> None:
        if pending_text:
            from corpuskit.validation.cache import signatures_for

            entries.signature_blocks.append(signatures_for(pending_text, pending_sha, cache))
            pending_text.clear()
            pending_sha.clear()

    for number, name in enumerate(paths):
        entries.files.append(name)
        before = chunk.documents
        # A record the reader cannot turn into a document counts once, however many problems it has:
        # per line in JSONL, per file otherwise.
        per_line = name.lower().endswith(".jsonl")
        unread: set[tuple[str, int]] = set()
        for item in read_file(
            Path(name),
            root=root,
            language=options.language,
            raw_timezone=options.raw_timezone,
            boilerplate=options.boilerplate,
            detect_with=detector,
            strip=options.strip,
        ):
            if not isinstance(item, SourceRecord):
                chunk.diagnostics.append(item)
                if item.severity is Severity.ERROR:
                    unread.add((item.file, (item.line or 0) if per_line else 0))
                continue
            chunk.documents += 1
            document = item.document
            removed = document.get("removed_lines")
            if options.strip and isinstance(removed, list) and removed:
                chunk.stripped[item.file] = chunk.stripped.get(item.file, 0) + len(removed)
            doc_id = document.get("id") if isinstance(document.get("id"), str) else None
            found = checker.check(
                document, file=item.file, line=item.line, field_lines=item.field_lines, document_id=doc_id
            )
            schema_valid = not found
            found += check_document(
                document,
                file=item.file,
                line=item.line,
                field_lines=item.field_lines,
                given_sha256=item.given_sha256,
                future_tolerance_hours=options.future_tolerance_hours,
                now=now,
            )
            found += _language_problem(document, item, allowed)
            kept_at = -1
            if found:
                chunk.diagnostics.extend(found)
                chunk.invalid += 1
                chunk.rejected.append((item.file, item.line))
            elif options.keep:
                kept_at = len(chunk.kept)
                chunk.kept.append((item.file, item.line, document))
            if schema_valid:
                chunk.kept_index.append(kept_at)
                entries.file_of.append(number)
                entries.line_of.append(item.line)
                entries.ids.append(document["id"])
                chunk.published.append(document.get("published_at"))
                sha = bytes.fromhex(document["content_sha256"])
                entries.sha.extend(sha)
                if see is not None:
                    see(document["id"], sha, None if found else document)
                pending_sha.append(sha)
                pending_text.append(body_text(document))
                chunk.languages[document["language"]] = chunk.languages.get(document["language"], 0) + 1
                if len(pending_text) >= _SIGNATURE_BATCH:
                    flush()
        chunk.documents += len(unread)
        chunk.invalid += len(unread)
        chunk.rejected.extend(unread)
        chunk.per_file.append(chunk.documents - before)
    flush()
    chunk.detections = detector.rows
    return chunk


def _chunks(files: Iterable[Path]) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for path in files:
        try:
            length = path.stat().st_size
        except OSError:
            length = 0
        if chunk and (size + length > _CHUNK_BYTES or len(chunk) >= _CHUNK_FILES):
            yield chunk
            chunk, size = [], 0
        chunk.append(str(path))
        size += length
    if chunk:
        yield chunk


def _total_bytes(files: Sequence[Path]) -> int:
    total = 0
    for path in files:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def _see_chunk(chunk: _Chunk, see: _See) -> None:
    """`see` each schema-valid document of a chunk checked in a worker, in corpus order."""
    entries = chunk.entries
    for index, kept_at in enumerate(chunk.kept_index):
        document = chunk.kept[kept_at][2] if kept_at >= 0 else None
        see(entries.ids[index], bytes(entries.sha[index * 32 : index * 32 + 32]), document)


def _run_chunks(
    chunks: list[list[str]], options: _Options, *, workers: int, progress: bool, see: _See | None = None
) -> Iterator[_Chunk]:
    import contextlib
    import threading

    from corpuskit.validation.signatures import started

    def bar() -> Any:
        if not progress:
            # Even a disabled tqdm bar starts a monitor thread, which would rule out forking later.
            return contextlib.nullcontext(_NoBar())
        from tqdm import tqdm

        return tqdm(total=sum(len(c) for c in chunks), unit="file", file=sys.stderr, leave=False)

    # Workers are forked: no re-import of the caller's main module, no start-up cost. Forking is
    # only safe while this process runs a single thread, so otherwise the work stays in-process.
    if workers <= 1 or len(chunks) <= 1 or threading.active_count() > 1 or started():
        with bar() as shown:
            for paths in chunks:
                yield _check_chunk(paths, options, see)
                shown.update(len(paths))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        # Submitting starts the workers before tqdm can start its monitor thread.
        results = pool.map(_check_chunk, chunks, [options] * len(chunks))
        with bar() as shown:
            for paths, chunk in zip(chunks, results, strict=True):
                if see is not None:
                    _see_chunk(chunk, see)
                yield chunk
                shown.update(len(paths))


class _NoBar:
    def update(self, count: int) -> None:
        pass


def _default_paths(settings: Settings) -> list[Path]:
    raw = settings.path(settings.raw)
    try:
        return [raw.relative_to(Path.cwd())]
    except ValueError:
        return [raw]


def validate(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    settings: Settings | None = None,
    changed_since: str | None = None,
    staged: bool = False,
    cache: bool = True,
    workers: int | None = None,
    progress: bool = False,
    now: datetime | None = None,
    keep_documents: bool = False,
    root: str | os.PathLike[str] | None = None,
    dedupe: bool | None = False,
    strip: bool | None = None,
    on_valid: Callable[[dict[str, Any]], None] | None = None,
) -> ValidationResult:
    """Validate the documents under `paths` (default: the settings' raw folder).

    Per-document checks (parsing, schema, dates, content hash) run on every document, or with
    `changed_since` only report on files added or changed since that git ref; the cross-record
    checks (duplicate ids, identical content, near-duplicates) always see the whole corpus and
    report pairs that involve at least one checked document. With `staged` (the pre-commit hook),
    `paths` are the staged files to report on (default: what git's index has changed) and the
    corpus is what git tracks in the raw folder plus them; untracked files are left out. When the
    schema, taxonomy, settings or corpuskit pin is among the changed files, every document is
    checked and `full_check` says why. With `keep_documents` the result keeps the documents that
    passed, for `iter_valid_documents` (push reads the corpus once). Without `settings`, they are
    read from the corpus at `root`, else the one the current folder is in.

    The dedupe record (`dedupe_record` setting) is checked against the corpus; the documents it
    validly leaves out are in `left_out` and not among the valid documents push and release use.
    `dedupe=True` (None: as the `dedupe` setting says, for whole-corpus runs) writes the record
    again first: one member kept per cluster of identical or near-duplicate documents
    (corpuskit.validation.dedupe has the rule).

    `strip` (None: the `strip_boilerplate` setting) drops boilerplate lines of raw text on reading,
    recorded in each document's `removed_lines`; `stripped` counts them per file. `on_valid` is called with
    each document that passes every check, in corpus order, as soon as that is known (before the
    rest of the corpus is read: `crossrecord.Admission`); it needs a run over the whole corpus
    (no `changed_since`, no `staged`) and implies `keep_documents`.
    """
    from corpuskit.documents.reader import iter_files
    from corpuskit.validation.inputs import full_check_reason
    from corpuskit.validation.schema_check import schema_path

    if settings is None and root is not None and not Path(root).is_dir():
        raise UsageError(f"--root {root}: not a folder")
    settings = settings or load_settings(Path(root) if root is not None else None)
    if dedupe and (paths or staged or changed_since):
        raise UsageError(
            "--dedupe decides over the whole corpus: run it without paths, --staged or --changed-since"
        )
    narrowed = bool(paths or staged or changed_since)
    write_record = bool(settings.dedupe if dedupe is None else dedupe) and not narrowed
    # Only a run over the whole raw folder can tell that a file the record names is gone.
    whole = not paths and not staged
    focus: set[str] | None = None
    full_check: str | None = None
    if staged:
        files, focus = _staged_scope(paths, settings)
        full_check = full_check_reason(focus, settings, "in the staged files")
    else:
        targets = [Path(p) for p in paths] if paths else _default_paths(settings)
        files = list(iter_files(targets))
        if changed_since:
            focus = changed_files(settings.root, changed_since)
            full_check = full_check_reason(focus, settings, f"since {changed_since}")
    if full_check:
        focus = None
    if on_valid is not None and focus is not None:
        raise UsageError("documents are handed over as they pass only in a run over the whole corpus")
    from corpuskit.validation import dedupe as records

    record_path = settings.path(settings.dedupe_record)
    admission = None
    if on_valid is not None and not write_record:
        # The documents the record leaves out are known before reading; a record being written
        # anew is only known at the end, so then the documents are handed over at the end.
        admission = Admission(on_valid, records.left_out_keys(record_path))
    keep_documents = keep_documents or on_valid is not None
    cache_dir = settings.root / ".corpuskit" / "cache"
    options = _Options(
        root=str(settings.root),
        schema=str(schema_path(settings.root, settings.schema)),
        language=settings.language,
        languages=tuple(settings.languages),
        boilerplate=tuple(settings.boilerplate),
        raw_timezone=settings.raw_timezone,
        future_tolerance_hours=float(settings.future_tolerance_hours),
        now=(now or datetime.now(UTC)).isoformat(),
        cache=str(cache_dir) if cache else None,
        keep=keep_documents,
        strip=bool(settings.strip_boilerplate if strip is None else strip),
    )
    from corpuskit.validation.schema_check import load_checker

    load_checker(Path(options.schema))  # a broken schema is one usage error, before any worker starts
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if _total_bytes(files) >= _POOL_MIN_BYTES else 1
    entries = Entries()
    diagnostics: list[Diagnostic] = []
    documents = invalid = 0
    rejected: set[tuple[str, int]] = set()
    kept: list[tuple[str, int, dict[str, Any]]] = []
    languages: dict[str, int] = {}
    detections: list[tuple[bytes, str | None, float, str]] = []
    published: list[str | None] = []
    stripped: dict[str, int] = {}

    def in_focus(name: str) -> bool:
        return focus is None or os.path.abspath(name) in focus

    see = admission.see if admission is not None else None
    for chunk in _run_chunks(list(_chunks(files)), options, workers=workers, progress=progress, see=see):
        entries.extend(chunk.entries)
        diagnostics.extend(d for d in chunk.diagnostics if in_focus(d.file))
        rejected.update(chunk.rejected)
        kept.extend(chunk.kept)
        published.extend(chunk.published)
        stripped.update((name, n) for name, n in chunk.stripped.items() if in_focus(name))
        detections.extend(chunk.detections)
        for tag, count in chunk.languages.items():
            languages[tag] = languages.get(tag, 0) + count
        if focus is None:
            documents += chunk.documents
            invalid += chunk.invalid
        else:
            # With --changed-since the counts, like the diagnostics, cover the changed files only.
            documents += sum(
                n for name, n in zip(chunk.entries.files, chunk.per_file, strict=True) if in_focus(name)
            )
            invalid += sum(1 for place in set(chunk.rejected) if in_focus(place[0]))
    focus_mask = None
    if focus is not None:
        focused_files = [in_focus(name) for name in entries.files]
        focus_mask = [focused_files[number] for number in entries.file_of]
    from corpuskit.validation.crossrecord import Cluster, near_duplicate_pairs

    decided: list[records.Decision] = []
    written: list[bool] = []

    def settle(groups: list[Cluster]) -> Any:
        # The record is checked against every cluster of the corpus, then (--dedupe) written
        # again from them; the clusters it settles need no message.
        decision = records.check_record(record_path, entries, groups, settings.root, whole=whole)
        if write_record:
            chosen = records.choose(entries, groups, published, settings.root, decision)
            written.append(records.write_record(record_path, chosen))
            decision = records.check_record(record_path, entries, groups, settings.root, whole=whole)
        decided.append(decision)
        return decision.settles

    checks = check_corpus(
        entries,
        near_duplicate_threshold=float(settings.near_duplicate_threshold),
        focus=focus_mask,
        settle=settle,
    )
    if not decided:  # fewer than two documents: no cluster, but the record is still checked
        settle([])
    decision = decided[0]
    diagnostics.extend(decision.diagnostics)
    for diagnostic, _ in checks.found:
        diagnostics.append(diagnostic)
    for index in checks.rejected:
        place = entries.where(index)
        if place not in rejected and in_focus(place[0]):
            invalid += 1
        rejected.add(place)
    left_out = []
    for index, member in sorted(decision.left_out.items()):
        file, line = entries.where(index)
        left_out.append(
            {
                "id": member.id,
                "file": file,
                "line": line,
                "cluster": member.cluster,
                "match": member.match,
                "similarity": member.similarity,
            }
        )
    near_duplicates = near_duplicate_pairs(entries, checks.groups)
    if on_valid is not None:
        excluded = rejected | {(item["file"], item["line"]) for item in left_out}
        passed = [document for file, line, document in kept if (file, line) not in excluded]
        if admission is None:
            for document in passed:
                on_valid(document)
        elif [document["id"] for document in passed] != admission.admitted and not any(
            d.severity is Severity.ERROR and d.code == "dedupe-record" for d in decision.diagnostics
        ):
            # The caller may have acted on them: never silently. (A record with errors may leave
            # out other documents than it seemed to; the run fails on those errors anyway.)
            raise RuntimeError(
                "validate: the documents handed over as they passed differ from those that passed "
                "the checks of the whole corpus"
            )
    if cache and len(entries):
        from corpuskit.validation.cache import LanguageCache, SignatureCache

        SignatureCache.save(cache_dir, bytes(entries.sha), entries.signature_blocks)
        LanguageCache.save(cache_dir, detections)
    diagnostics.sort(key=lambda d: (d.file, d.line or 0, d.column or 0, d.pointer, d.code))
    return ValidationResult(
        diagnostics=tuple(diagnostics),
        files=len(files),
        documents=documents,
        invalid=invalid,
        rejected=frozenset(rejected),
        changed_files=None if focus is None else sum(1 for f in files if in_focus(str(f))),
        near_duplicates=tuple(near_duplicates),
        full_check=full_check,
        languages=dict(sorted(languages.items(), key=lambda item: (-item[1], item[0]))),
        clusters=tuple(cluster.to_json(entries) for cluster in checks.clusters),
        left_out=tuple(left_out),
        groups=tuple((g.kind, tuple(entries.ids[i] for i in g.members)) for g in checks.groups),
        dedupe_record=records.shown(record_path) if record_path.is_file() or written else None,
        dedupe_written=any(written),
        strip=options.strip,
        stripped=stripped,
        root=settings.root,
        kept=tuple(kept) if keep_documents else None,
    )


def _staged_scope(
    paths: Sequence[str | os.PathLike[str]] | None, settings: Settings
) -> tuple[list[Path], set[str]]:
    """The files to read (tracked raw files and the staged ones, in the order of a full run) and
    the staged files to report on (absolute paths)."""
    from corpuskit.documents.reader import iter_files

    raw = settings.path(settings.raw)
    given = {os.path.abspath(p) for p in paths} if paths else staged_files(settings.root)
    corpus = tracked_files(settings.root, raw) | given
    walked = iter_files(_default_paths(settings)) if raw.is_dir() else iter(())
    return [path for path in walked if os.path.abspath(path) in corpus], given


def iter_valid_documents(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    settings: Settings | None = None,
    result: ValidationResult | None = None,
) -> Iterator[dict[str, Any]]:
    """The documents that passed every check, in corpus order, one at a time (for push and release).

    Pass the `result` of a `validate` run over the same paths to skip validating again (and, if it
    kept its documents, reading the corpus again)."""
    from corpuskit.documents.reader import SourceRecord, iter_files, read_file

    settings = settings or load_settings()
    if result is None:
        result = validate(paths, settings=settings)
    excluded = result.excluded
    if result.kept is not None:
        for file, line, document in result.kept:
            if (file, line) not in excluded:
                yield document
        return
    targets = [Path(p) for p in paths] if paths else _default_paths(settings)
    for path in iter_files(targets):
        for item in read_file(
            path,
            root=settings.root,
            language=settings.language,
            raw_timezone=settings.raw_timezone,
            boilerplate=settings.boilerplate,
            strip=result.strip,
        ):
            if isinstance(item, SourceRecord) and (item.file, item.line) not in excluded:
                yield item.document
