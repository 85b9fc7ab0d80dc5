"""English Wikipedia text built at run time from pinned wheels (docs/methods.md section 1).

* ``wiki2016``: the "Wikipedia 2016 excerpt", a May-2016 English Wikipedia XML dump excerpt
  (:data:`.packaged.WIKI2016_DUMP`). Redirects, disambiguation and list pages are dropped, the
  trailing appendix sections (References, External links, See also, ...) are cut, the markup is
  stripped with ``mwparserfromhell`` (templates, references, tables, files and categories removed),
  and each article goes to the test or the validation split by a hash of its title.
  Perplexity follows WikiText-2's protocol (articles joined with blank lines, tokenized once,
  non-overlapping windows: ``tokens.ppl_tokens``). The excerpt has no train split.
* ``wikileads``: the "Wikipedia lead sections" of 10,033 "vital" articles
  (:data:`.packaged.WIKILEADS_JSON`), a calibration text (its train split), without every article
  whose title is also a page of the excerpt, so no calibration text is an evaluated article.

The text is CC BY-SA: it is written under ``results/`` by the jobs, never committed.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .corpus import split_of
from .packaged import WIKI2016_DUMP, WIKILEADS_JSON, Member

__all__ = [
    "APPENDIX_SECTIONS",
    "WIKI2016_SPLITS",
    "WikiInfo",
    "build_wiki2016",
    "build_wikileads",
    "clean_wikitext",
    "read_dump",
    "skip_reason",
]

log = logging.getLogger(__name__)

# The splits of the excerpt: half of the articles each, by title hash (no train split).
WIKI2016_SPLITS = ("valid", "test")
TEST_FRACTION = 0.5
# Level-2 sections cut from an article's end (Wikipedia's appendix layout), compared case-folded.
APPENDIX_SECTIONS = frozenset(
    s.casefold()
    for s in (
        "References",
        "External links",
        "See also",
        "Notes",
        "Further reading",
        "Bibliography",
        "Sources",
        "Footnotes",
        "Citations",
        "Notes and references",
        "References and notes",
        "Works cited",
        "Selected bibliography",
        "Literature",
    )
)
# Templates that mark a disambiguation or set-index page (lower case, "_" read as " ").
DISAMBIGUATION_TEMPLATES = frozenset(
    {
        "disambiguation",
        "disambig",
        "disamb",
        "dab",
        "dis",
        "hndis",
        "geodis",
        "numberdis",
        "letter disambiguation",
        "set index article",
        "sia",
        "shipindex",
        "surname",
        "given name",
    }
)
LIST_PREFIXES = ("List of ", "Lists of ", "Index of ", "Outline of ", "Glossary of ")
# Link namespaces removed outright (a file link's caption is not running text).
_DROP_LINK_PREFIXES = ("file:", "image:", "media:", "category:")
_INTERWIKI = re.compile(r"^:?[a-z]{2,3}(-[a-z]+)?:")  # an interlanguage link ([[de:Foo]])
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_EMPTY_PARENS = re.compile(r"\(\s*[,;:]?\s*\)")  # what a removed template often leaves: "( )", "(; )"


@dataclass(frozen=True)
class Page:
    title: str
    page_id: int
    namespace: int
    redirect: bool
    text: str


@dataclass
class WikiInfo:
    """What a build kept and dropped (recorded in the outputs' provenance and info.json)."""

    member: dict[str, object]
    mwparserfromhell: str
    n_pages: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    n_articles: dict[str, int] = field(default_factory=dict)
    n_chars: dict[str, int] = field(default_factory=dict)
    text_sha256: dict[str, str] = field(default_factory=dict)  # over "title\tsha256\n" in title order


def member_record(member: Member) -> dict[str, object]:
    return {
        "package": member.package,
        "version": member.version,
        "path": member.path,
        "sha256": member.sha256,
        "licence": member.licence,
    }


def read_dump(path: Path) -> Iterator[Page]:
    """Every page of a MediaWiki XML export (``.xml.bz2``), streamed."""
    with bz2.open(path, "rb") as f:
        for _, elem in ET.iterparse(f, events=("end",)):
            if elem.tag.rsplit("}", 1)[-1] != "page":
                continue
            get = {child.tag.rsplit("}", 1)[-1]: child for child in elem}
            revision = {c.tag.rsplit("}", 1)[-1]: c for c in get["revision"]} if "revision" in get else {}
            text = revision["text"].text if "text" in revision else None
            yield Page(
                title=get["title"].text or "",
                page_id=int(get["id"].text or -1),
                namespace=int(get["ns"].text or 0) if "ns" in get else 0,
                redirect="redirect" in get,
                text=text or "",
            )
            elem.clear()


def _template_name(template) -> str:  # mwparserfromhell Template
    return str(template.name).strip().replace("_", " ").lower()


def skip_reason(page: Page, code=None) -> str | None:
    """Why a page is not an article of the text (None: it is one)."""
    if page.namespace != 0:
        return "not an article (namespace)"
    if page.redirect or page.text.lstrip().upper().startswith("#REDIRECT"):
        return "redirect"
    if page.title.startswith(LIST_PREFIXES):
        return "list"
    if "(disambiguation)" in page.title:
        return "disambiguation"
    if code is not None:
        for template in code.filter_templates(recursive=False):
            name = _template_name(template)
            if name in DISAMBIGUATION_TEMPLATES or name.startswith(("disambiguation", "set index")):
                return "disambiguation"
    return None


def _cut_appendix(code) -> int:
    """Remove the trailing level-2 appendix sections of ``code`` in place; return how many."""
    sections = code.get_sections(levels=[2], include_lead=False)
    cut = 0
    for section in reversed(sections):
        heading = section.filter_headings(recursive=False)[0]
        if heading.title.strip_code().strip().casefold() not in APPENDIX_SECTIONS:
            break
        cut += 1
    if cut:
        first = sections[len(sections) - cut]
        start = code.index(first.get(0))
        for node in list(code.nodes[start:]):
            code.remove(node)
    return cut


def clean_wikitext(wikitext) -> str:
    """Plain text of an article's wiki markup (a string, or a parsed ``Wikicode``, which is
    edited): appendix sections cut, templates, references, tables, files and categories removed,
    links as their text, headings as their own lines."""
    import mwparserfromhell

    code = mwparserfromhell.parse(wikitext)
    _cut_appendix(code)
    for table in code.filter_tags(matches=lambda n: str(n.tag).lower() == "table"):
        _remove(code, table)
    for link in code.filter_wikilinks():
        title = str(link.title).strip().lower()
        if title.startswith(_DROP_LINK_PREFIXES) or (link.text is None and _INTERWIKI.match(title)):
            _remove(code, link)
    text = code.strip_code(normalize=True, collapse=True)
    text = _MAGIC_WORD.sub("", text)
    text = _EMPTY_PARENS.sub("", text)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    lines = [line.replace(" ,", ",").replace(" .", ".") for line in lines]
    out = "\n".join(lines)
    while "\n\n\n" in out:
        out = out.replace("\n\n\n", "\n\n")
    return out.strip()


def _remove(code, node) -> None:
    try:
        code.remove(node)
    except ValueError:  # already gone with an enclosing node
        pass


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["title", "sha256", "n_chars", "text"])
    return frame.sort_values("title", kind="stable").reset_index(drop=True)


def _digest(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for title, sha in zip(frame["title"], frame["sha256"], strict=True):
        digest.update(f"{title}\t{sha}\n".encode())
    return digest.hexdigest()


def _row(title: str, text: str) -> dict[str, object]:
    return {
        "title": title,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "n_chars": len(text),
        "text": text,
    }


def build_wiki2016(
    path: Path, min_chars: int = 500, member: Member = WIKI2016_DUMP
) -> tuple[dict[str, pd.DataFrame], list[str], WikiInfo]:
    """The excerpt's test and validation articles (columns of ``tables.data.ARTICLES``, title order).

    Args:
        path: the checked dump (``packaged.member_path(WIKI2016_DUMP)``; tests write their own).
        min_chars: an article with less clean text is dropped (a stub).

    Returns:
        {split: articles}, every page title of the dump (to keep out of calibration text), the info.
    """
    import mwparserfromhell

    info = WikiInfo(member_record(member), mwparserfromhell.__version__)
    rows: dict[str, list[dict[str, object]]] = {s: [] for s in WIKI2016_SPLITS}
    titles: list[str] = []
    for page in read_dump(path):
        info.n_pages += 1
        titles.append(page.title)
        reason, text = skip_reason(page), ""
        if reason is None:
            code = mwparserfromhell.parse(page.text)
            reason = skip_reason(page, code)
            text = clean_wikitext(code) if reason is None else ""
        if reason is None and len(text) < min_chars:
            reason = f"shorter than {min_chars} characters"
        if reason is not None:
            info.dropped[reason] = info.dropped.get(reason, 0) + 1
            continue
        split = split_of(page.title, valid_fraction=1.0 - TEST_FRACTION, test_fraction=TEST_FRACTION)
        rows[split].append(_row(page.title, text))
    frames = {s: _frame(rows[s]) for s in WIKI2016_SPLITS}
    for split, frame in frames.items():
        if frame.empty:
            raise ValueError(f"the Wikipedia 2016 excerpt's {split!r} split is empty ({path})")
        info.n_articles[split] = len(frame)
        info.n_chars[split] = int(frame["n_chars"].sum())
        info.text_sha256[split] = _digest(frame)
    log.info("wiki2016: %d pages, kept %s, dropped %s", info.n_pages, info.n_articles, info.dropped)
    return frames, titles, info


def build_wikileads(
    path: Path, exclude_titles: list[str], member: Member = WIKILEADS_JSON
) -> tuple[pd.DataFrame, WikiInfo]:
    """The lead sections as calibration text (one row per article, title order), without the
    articles whose title (case-folded) is in ``exclude_titles`` and without empty extracts."""
    import mwparserfromhell

    info = WikiInfo(member_record(member), mwparserfromhell.__version__)
    excluded = {t.casefold() for t in exclude_titles}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = []
    for key, entry in data.items():
        info.n_pages += 1
        title = str(entry.get("title") or key)
        text = str(entry.get("extract") or "").strip()
        if title.casefold() in excluded or key.casefold() in excluded:
            reason = "title in the Wikipedia 2016 excerpt"
        elif not text:
            reason = "empty"
        else:
            rows.append(_row(title, text))
            continue
        info.dropped[reason] = info.dropped.get(reason, 0) + 1
    frame = _frame(rows)
    if frame.empty:
        raise ValueError(f"the Wikipedia lead sections are empty after exclusions ({path})")
    info.n_articles["train"] = len(frame)
    info.n_chars["train"] = int(frame["n_chars"].sum())
    info.text_sha256["train"] = _digest(frame)
    log.info("wikileads: %d articles, kept %d, dropped %s", info.n_pages, len(frame), info.dropped)
    return frame, info
