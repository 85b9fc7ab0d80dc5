"""The English texts and tasks built from pinned wheels (data.packaged, data.wikipedia, data.lambada,
data.analogy), on small files the tests write: no wheel, no network."""

from __future__ import annotations

import bz2
import dataclasses
import hashlib
import itertools
import json
import re
from xml.sax.saxutils import escape

import pandas as pd
import pytest

from absorbprune.data.analogy import build_analogy, read_questions
from absorbprune.data.lambada import build_lambada, passages, target_in_context
from absorbprune.data.packaged import WIKI2016_DUMP, Member, member_path
from absorbprune.data.sources import DataUnavailable
from absorbprune.data.wikipedia import build_wiki2016, build_wikileads, clean_wikitext, split_of

pytest.importorskip("mwparserfromhell")

# A paragraph whose sentences close LAMBADA-style items (the last word occurs earlier).
PROSE = (
    "The river town grew around a mill on the river. Farmers brought grain to the mill every autumn, "
    "and traders from the coast bought flour at the mill. Over the years the settlement spread along "
    "both banks, and the old wooden bridge was replaced by one of stone. Today the stone bridge still "
    "carries traffic across the river, and visitors come to see the restored mill."
)


def article(title: str, extra: str = "") -> str:
    return f"""{{{{Infobox settlement|name={title}|population=1234}}}}
'''{title}''' is a [[town]] in the [[Example County|county]] of Nowhere.<ref>{{{{cite web|url=x}}}}</ref>
[[File:{title}.jpg|thumb|A caption that is not running text]]

== History ==
{PROSE} {extra}

{{| class="wikitable"
|-
| table cell text || more cells
|}}

== Geography ==
{PROSE}

== See also ==
* [[Other town]]

== References ==
{{{{reflist}}}}

== External links ==
* [http://example.org Official site]

[[Category:Towns]]
[[de:{title}]]
"""


PAGES = [
    ("Alpha town", article("Alpha town"), False),
    ("Beta town", article("Beta town"), False),
    ("Gamma town", article("Gamma town"), False),
    ("Delta town", article("Delta town"), False),
    ("Epsilon town", article("Epsilon town"), False),
    ("Zeta town", article("Zeta town"), False),
    ("AlphaTown", "#REDIRECT [[Alpha town]]", True),
    ("Mercury (disambiguation)", "'''Mercury''' may refer to:\n* [[Mercury (planet)]]", False),
    ("Mercury", "'''Mercury''' may refer to:\n* [[Mercury (planet)]]\n{{disambiguation}}", False),
    ("List of towns", "This is a list.\n* [[Alpha town]]\n" + PROSE, False),
]


def write_dump(path, pages=PAGES) -> None:
    body = []
    for i, (title, text, redirect) in enumerate(pages, start=10):
        body.append(
            f"<page><title>{escape(title)}</title><ns>0</ns><id>{i}</id>"
            + (f'<redirect title="{escape(title)}" />' if redirect else "")
            + f'<revision><id>{i}</id><text xml:space="preserve">{escape(text)}</text></revision></page>'
        )
    xml = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">' + "".join(body) + "</mediawiki>"
    with bz2.open(path, "wt", encoding="utf-8") as f:
        f.write(xml)


@pytest.fixture()
def built(tmp_path):
    dump = tmp_path / "dump.xml.bz2"
    write_dump(dump)
    return build_wiki2016(dump, min_chars=100)


def test_redirects_disambiguation_and_lists_are_dropped(built):
    frames, titles, info = built
    kept = set(frames["test"]["title"]) | set(frames["valid"]["title"])
    assert kept == {t for t, _, _ in PAGES[:6]}
    assert info.dropped == {"redirect": 1, "disambiguation": 2, "list": 1}
    assert titles == [t for t, _, _ in PAGES]  # every page title, to keep out of calibration text
    assert info.n_pages == len(PAGES) and sum(info.n_articles.values()) == 6


def test_markup_is_stripped_and_reference_sections_cut(built):
    frames, _, _ = built
    text = pd.concat([frames["test"], frames["valid"]]).set_index("title").at["Alpha town", "text"]
    assert text.startswith("Alpha town is a town in the county of Nowhere.")
    assert "History" in text and "Geography" in text  # headings kept as their own lines
    for gone in ("{{", "}}", "[[", "]]", "<ref", "cite web", "caption", "table cell", "wikitable", "'''"):
        assert gone not in text, gone
    for section in ("See also", "References", "External links", "Other town", "Official site", "Towns"):
        assert section not in text, section
    assert text.count(PROSE) == 2


def test_articles_are_split_by_a_hash_of_their_title_deterministically(tmp_path, built):
    frames, _, info = built
    for split, frame in frames.items():
        assert all(split_of(t, 0.5, 0.5) == split for t in frame["title"])
        assert list(frame["title"]) == sorted(frame["title"])
    again = tmp_path / "again.xml.bz2"
    write_dump(again, list(reversed(PAGES)))  # page order does not matter
    frames2, _, info2 = build_wiki2016(again, min_chars=100)
    for split in frames:
        pd.testing.assert_frame_equal(frames[split], frames2[split])
    assert info.text_sha256 == info2.text_sha256


def test_a_member_with_the_wrong_sha256_is_refused_naming_package_member_and_both_digests(tmp_path):
    member = dataclasses.replace(WIKI2016_DUMP)
    target = tmp_path / member.path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the excerpt")
    got = hashlib.sha256(b"not the excerpt").hexdigest()
    with pytest.raises(DataUnavailable) as err:
        member_path(member, root=tmp_path)
    message = str(err.value)
    for part in ("'gensim'", member.path, member.sha256, got, "pip install --no-deps gensim==4.4.0"):
        assert part in message, part


def test_a_missing_package_or_member_names_the_wheel_to_install(tmp_path):
    absent = Member("no-such-dist", "no_such_module_xyz", "1.0", "data/x.txt", "0" * 64, 1, "none")
    with pytest.raises(DataUnavailable, match=r"no-such-dist.*not installed.*no-such-dist==1\.0"):
        member_path(absent)
    with pytest.raises(DataUnavailable, match="has no member"):
        member_path(absent, root=tmp_path)


def test_clean_wikitext_drops_only_trailing_appendix_sections():
    text = clean_wikitext("Lead.\n== Notes ==\nA section named Notes in the middle.\n== Later ==\nBody.\n")
    assert "A section named Notes in the middle." in text and "Body." in text


@pytest.fixture()
def leads(tmp_path, built):
    frames, titles, _ = built
    test_title = frames["test"]["title"].iloc[0]
    data = {
        "Omega": {"title": "Omega", "extract": "Omega is a letter. " * 20},
        test_title: {"title": test_title, "extract": "A lead section of an evaluated article."},
        "Redirect title": {"title": "alphatown", "extract": "Case-folded title of a redirect."},
        "Empty": {"title": "Empty", "extract": ""},
    }
    path = tmp_path / "summaries.json"
    path.write_text(json.dumps(data))
    return build_wikileads(path, titles)


def test_lead_sections_drop_every_title_of_the_excerpt(leads):
    frame, info = leads
    assert list(frame["title"]) == ["Omega"]
    assert info.dropped == {"title in the Wikipedia 2016 excerpt": 2, "empty": 1}


KW = {"min_context_words": 8, "max_context_words": 60, "min_target_chars": 3}


def test_every_lambada_item_passes_the_filter_and_comes_from_a_test_article(built, leads):
    frames, _, _ = built
    docs = build_lambada({"wiki2016_test": frames["test"]}, n_docs=4, seed=0, **KW)
    assert len(docs) == 4 and list(docs["doc_id"]) == [0, 1, 2, 3]
    assert docs["item_id"].is_unique
    test_text = "\n".join(frames["test"]["text"])
    for row in docs.itertuples():
        assert target_in_context(row.context, row.target)
        assert row.title in set(frames["test"]["title"])
        assert re.fullmatch(r"[A-Za-z]+", row.target) and len(row.context.split()) >= KW["min_context_words"]
        assert row.context + " " + row.target in test_text
        # no passage is an article of the validation split or of the calibration text
        assert row.title not in set(frames["valid"]["title"]) and row.title not in set(leads[0]["title"])


def test_lambada_passages_do_not_overlap_and_ids_are_stable_across_n_docs_and_seed(built):
    frames, _, _ = built
    text = frames["test"]["text"].iloc[0]
    items = passages(text, **KW)
    spans = sorted((offset - len(context) - 1, offset) for offset, context, _ in items)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    for offset, _, target in items:
        assert text[offset : offset + len(target)] == target
    inputs = {"wiki2016_test": frames["test"]}
    small = build_lambada(inputs, n_docs=2, seed=0, **KW).set_index("item_id")
    big = build_lambada(inputs, n_docs=5, seed=3, **KW).set_index("item_id")
    for item in set(small.index) & set(big.index):
        assert small.at[item, "context"] == big.at[item, "context"]
    with pytest.raises(ValueError, match="n_docs"):
        build_lambada(inputs, n_docs=10_000, seed=0, **KW)


def test_lambada_refuses_a_passage_whose_target_is_not_in_its_context():
    text = "The quick brown fox jumps over the lazy dog near a quiet farm. It then runs into the forest."
    assert passages(text, min_context_words=3, max_context_words=50, min_target_chars=3) == []


QUESTIONS = """: capital-common-countries
Athens Greece Baghdad Iraq
Athens Greece Berlin Germany
Baghdad Iraq Cairo Egypt
Berlin Germany Madrid Spain
Cairo Egypt Oslo Norway
Madrid Spain Athens Greece
: gram3-comparative
bad worse big bigger
big bigger cold colder
cold colder fast faster
fast faster good better
good better hard harder
"""


@pytest.fixture()
def questions(tmp_path):
    path = tmp_path / "questions-words.txt"
    path.write_text(QUESTIONS)
    return read_questions(path)


def test_analogy_questions_are_read_with_their_category_and_line(questions):
    assert len(questions) == 11 and questions["category"].nunique() == 2
    first = questions.iloc[0]
    assert (first.line, first.category, first.a, first.d) == (2, "capital-common-countries", "Athens", "Iraq")


def test_analogy_items_have_distinct_choices_of_one_category_with_the_answer(questions):
    docs = build_analogy({"analogies": questions}, n_docs=10, n_choices=4, seed=0)
    assert len(docs) == 10 and docs["item_id"].is_unique
    counts = docs["category"].value_counts().to_dict()
    assert counts == {"capital-common-countries": 5, "gram3-comparative": 5}
    by_line = questions.set_index("line")
    for row in docs.itertuples():
        q = by_line.loc[int(row.item_id.split(":")[1])]
        assert row.context == f"{q.a} is to {q.b} as {q.c} is to"
        assert len(row.choices) == 4 and len(set(row.choices)) == 4
        assert row.choices[row.label] == q.d
        same = questions[questions["category"] == q.category]
        assert set(row.choices) <= set(same["b"]) | set(same["d"])
        assert not {q.a, q.b, q.c} & set(row.choices)
    again = build_analogy({"analogies": questions}, n_docs=10, n_choices=4, seed=0)
    pd.testing.assert_frame_equal(docs, again)
    with pytest.raises(ValueError, match="distractor"):
        build_analogy({"analogies": questions}, n_docs=10, n_choices=10, seed=0)
