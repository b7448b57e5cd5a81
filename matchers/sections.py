"""Split a trial's eligibility criteria text into inclusion and exclusion criteria.

:func:`split_criteria` is a plain function over the text: it returns
:class:`Segment` s whose ``[start, end)`` offsets index the text it was given, so
``text[seg.start:seg.end]`` is the criterion exactly as written (bullet markers and
outer whitespace excluded; inner line breaks kept).

Formats handled (all seen in ``../shared/data/ctgov/studies.jsonl.gz``):

* bullets ``*``, ``-``, ``•``, numbered ``1.`` / ``1)`` / ``(1)`` / ``a.`` / ``i.``,
  nested to any depth (indentation decides nesting);
* section headings with or without colon, any case, with qualifiers ("Key Inclusion
  Criteria", "INCLUSION CRITERIA", "Exclusion criteria -", "Inclusion Criteria for
  Part 2:") and headings followed by text on the same line or appearing mid-line
  ("... inclusive Exclusion Criteria: - ...");
* the old CT.gov (PDQ) layout: "DISEASE CHARACTERISTICS:", "PATIENT
  CHARACTERISTICS:", "PRIOR CONCURRENT THERAPY:" sections (inclusion; the heading is
  recorded) and their sub-headings ("Age:", "Hematopoietic:", …), also when run
  together on one line;
* sub-headings ("Phase Ib:", "Cohort 2:", "Prior therapy:") and lead-ins ending in
  ":" — recorded in :attr:`Segment.heading` of the items below them;
* lead-ins that open an exclusion list inside an inclusion section ("Patients must not
  have:") — their items are exclusions;
* lead-ins that open a list of alternatives ("1 of the following:") in an inclusion
  section — the lead-in and its items are kept as ONE criterion (``group=True``), so the
  items' facts are not read as a conjunction;
* hard-wrapped text (HINT/legacy records) — wrapped lines are joined;
* unbulleted text with one criterion per line, and text whose line breaks were lost
  (split at a following item number "... regimen 4 Adequate bone marrow", at inline
  " - " bullets, and at sentence starts such as "... cancer No prior ...");
* no headings at all (everything is inclusion).

The vocabulary (heading words, lead-ins, criterion starters) is data:
``matchers/rules/sections.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from matchers.models import CriterionKind
from matchers.rules import SectionRules, load_rules

__all__ = ["SectionSplitter", "Segment", "split_criteria"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One criterion located in the criteria text.

    ``start``/``end`` are character offsets ``[start, end)``; ``heading`` is the
    nearest sub-heading or lead-in above it (None if none); ``group`` marks a lead-in
    kept together with its alternatives; ``context`` holds the text of every enclosing
    item and label, outermost first (a criterion nested under "b. Esophageal Cohort
    Expansion: …" keeps that cohort in its context).
    """

    kind: CriterionKind
    start: int
    end: int
    heading: str | None = None
    group: bool = False
    context: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------
# internal structures
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    start: int  # offset of the first character of the line
    end: int  # offset after the last non-space character
    indent: int  # columns of leading whitespace
    body: int  # offset of the body (after bullet marker and its spaces)
    marker: str | None
    virtual: bool = False  # created by splitting a physical line


@dataclass(slots=True)
class _Item:
    start: int
    end: int
    indent: int
    marker: str | None
    kind: CriterionKind
    heading: str | None
    section_heading: str | None
    label: bool = False  # a pure label ("Hematopoietic:"), not a criterion itself
    children: list[_Item] = field(default_factory=list)
    parent: _Item | None = None


_BULLET_RE = re.compile(
    r"""^(?P<indent>[ \t]*)
    (?P<marker>
        [-*•·○◦▪●■□➢►‣⁃+]{1,2}(?=\s)
      | \d{1,2}[.)](?=\s)
      | \(\d{1,2}\)(?=\s)
      | [a-z][.)](?=\s)
      | [A-Z][.](?=\s)
      | \([a-z]\)(?=\s)
      | (?:i{1,3}|iv|v|vi{1,3}|ix|x)[.)](?=\s)
      | \((?:i{1,3}|iv|v|vi{1,3}|ix|x)\)(?=\s)
    )
    [ \t]*""",
    re.X,
)
_INDENT_RE = re.compile(r"^[ \t]*")
_ROMAN = re.compile(r"^\(?(?:i{1,3}|iv|vi{0,3}|ix|x)[.)]\)?$")
_LETTER = re.compile(r"^\(?[a-hj-z][.)]\)?$")


def _roman_under_letter(marker: str | None, previous: str | None) -> bool:
    """A roman-numeral item ("ii.") right after a letter item ("b.") at the same column
    is nested in it ("b. Esophageal Cohort Expansion: i. Group 1 … ii. Group 2 …"); a
    letter item never nests in a letter item."""
    return bool(marker and previous and _ROMAN.match(marker) and _LETTER.match(previous))
_NUM_MARKER_RE = re.compile(r"^\(?(\d{1,2})[.)]?\)?$")
_NEG_LEADIN = re.compile(r"^(?:no|none|not|neither|without|absence\s+of|free\s+of)\b", re.I)


def _phrase_alt(phrases: tuple[str, ...]) -> str:
    parts = sorted({re.escape(p).replace(r"\ ", r"\s+") for p in phrases}, key=len, reverse=True)
    return "|".join(parts)


@dataclass(frozen=True, slots=True)
class _Compiled:
    heading_line: re.Pattern[str]
    inline_heading: re.Pattern[str]
    old_heading_line: re.Pattern[str]
    inline_old_heading: re.Pattern[str]
    old_sub_line: re.Pattern[str]
    inline_old_sub: re.Pattern[str]
    label_line: re.Pattern[str]
    exclusion_leadin: re.Pattern[str]
    or_leadin: re.Pattern[str]
    starter_split: re.Pattern[str]
    inline_dash: re.Pattern[str]
    inclusion_heads: re.Pattern[str]
    qualifier_tail: re.Pattern[str]


def _compile(rules: SectionRules) -> _Compiled:
    qual = _phrase_alt(rules.heading_qualifiers)
    inc = _phrase_alt(rules.inclusion_heads)
    exc = _phrase_alt(rules.exclusion_heads)
    old = _phrase_alt(rules.old_format_headings)
    sub = _phrase_alt(rules.old_format_subheadings)
    head = rf"(?:(?:{qual})\s+){{0,2}}(?:(?P<exc>{exc})|(?P<inc>{inc}))"
    # A whole line that is a section heading: "Key Inclusion Criteria", "Inclusion
    # criteria for Part 2:", "EXCLUSION CRITERIA -", "Inclusion Criteria: Age >= 18".
    heading_line = re.compile(
        rf"""^\W{{0,3}}(?P<head>{head})
        (?P<tail>\s*\([^()\n]{{0,80}}\)|\s+(?:for|of|in|at|to)\s[^:\n]{{0,60}}?|\s*\d{{1,2}}|\s+[A-Z0-9][^:\n]{{0,15}}?)?
        \s*(?P<sep>:|-|–|—|\.)?\s*
        (?P<rest>\S.*)?$""",
        re.X | re.I | re.S,
    )
    # Headings that appear mid-line, after a sentence or inline item ends.
    inline_heading = re.compile(
        r"""(?<=[\s.;:)])(?P<head>(?:(?:Key|Main|Major|KEY|MAIN|MAJOR)\s+)?
        (?:Inclusion|INCLUSION|Exclusion|EXCLUSION)\s+(?:Criteria|CRITERIA|criteria))
        (?:\s*\([^()\n]{0,60}\))?\s*(?::|-\s)""",
        re.X,
    )
    old_heading_line = re.compile(
        rf"^\W{{0,3}}(?P<head>{old})\s*:?\s*(?P<rest>\S.*)?$", re.I | re.S
    )
    inline_old_heading = re.compile(rf"(?<=\s)(?P<head>{old.upper()})\s*:", re.X)
    old_sub_line = re.compile(rf"^(?P<head>{sub})\s*:\s*(?P<rest>\S.*)?$", re.I | re.S)
    # Inline old-format sub-headings: "... and over Performance status: ECOG 0-2 ..."
    inline_old_sub = re.compile(rf"(?<=[\w.%)\]])\s+(?P<head>(?i:{sub}))\s*:\s", re.X)
    label_line = re.compile(
        r"^(?P<head>(?:phase|cohort|part|arm|group|step|dose[ -]escalation|dose[ -]expansion|"
        r"expansion|escalation|for\s+(?:phase|cohort|part|arm))\b[^:\n]{0,30}):\s*(?P<rest>\S.*)?$",
        re.I | re.S,
    )
    exclusion_leadin = re.compile(rf"\b(?:{_phrase_alt(rules.exclusion_leadins)})\b", re.I)
    or_leadin = re.compile(rf"(?:^|\b)(?:{_phrase_alt(rules.or_group_leadins)})", re.I)
    starters = _phrase_alt(rules.criterion_starters)
    # only where a line break was lost: "... cancer No prior ..." (no punctuation)
    starter_split = re.compile(rf"(?<=[a-z0-9%)\]])\s+(?=(?:{starters})\b)")
    inline_dash = re.compile(r"(?:(?<=^)|(?<=\s))-\s+(?=[A-Z(][a-z])")
    return _Compiled(
        heading_line=heading_line,
        inline_heading=inline_heading,
        old_heading_line=old_heading_line,
        inline_old_heading=inline_old_heading,
        old_sub_line=old_sub_line,
        inline_old_sub=inline_old_sub,
        label_line=label_line,
        exclusion_leadin=exclusion_leadin,
        or_leadin=or_leadin,
        starter_split=starter_split,
        inline_dash=inline_dash,
        inclusion_heads=re.compile(rf"^(?:{inc})$", re.I),
        qualifier_tail=re.compile(rf"^\W{{0,3}}(?:(?:{qual})\s+)+$", re.I),
    )


def _rstrip_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _lstrip_start(text: str, start: int, end: int) -> int:
    while start < end and text[start].isspace():
        start += 1
    return start


_SENT_END = frozenset(".;!?")


def _run_on_numbers(text: str, start: int, end: int, nxt: int, punct: str) -> list[int]:
    """Offsets in ``text[start:end]`` where item numbers ``nxt``, ``nxt + 1``, … (each
    followed by ``punct``) run on after the previous item ("... regimen 4 Adequate")."""
    cuts: list[int] = []
    pos = start
    while True:
        rx = re.compile(rf"(?<=[a-z0-9.;:)%\]])\s+\(?{nxt}{punct}\s+(?=[A-Z])")
        m = rx.search(text, pos, end)
        if not m:
            break
        cuts.append(m.start() + len(m.group()) - len(m.group().lstrip()))
        pos = m.end()
        nxt += 1
    return cuts


class SectionSplitter:
    """The section/criterion splitter, compiled once from :class:`SectionRules`.

    Use :func:`split_criteria` for the packaged rules.
    """

    def __init__(self, rules: SectionRules) -> None:
        self._rules = rules
        self._re = _compile(rules)

    # ----------------------------------------------------------------------------------
    # lines
    # ----------------------------------------------------------------------------------

    def _lines(self, text: str) -> list[_Line]:
        lines: list[_Line] = []
        pos = 0
        n = len(text)
        while pos <= n:
            nl = text.find("\n", pos)
            if nl < 0:
                nl = n
            self._add_physical_line(text, pos, nl, lines)
            pos = nl + 1
            if nl == n:
                break
        return lines

    def _add_physical_line(self, text: str, start: int, end: int, out: list[_Line]) -> None:
        raw = text[start:end]
        end = _rstrip_end(text, start, end)
        if end <= start or not raw.strip():
            out.append(_Line(start, start, 0, start, None))  # blank
            return
        # Split the physical line at mid-line section headings and old-format headings.
        cuts: list[int] = []
        for rx in (self._re.inline_heading, self._re.inline_old_heading):
            for m in rx.finditer(text, start, end):
                before = text[_lstrip_start(text, start, end) : m.start("head")]
                if len(before) > 3 and not self._re.qualifier_tail.search(before):
                    cuts.append(m.start("head"))
        pieces = [start, *sorted(set(cuts)), end]
        for i in range(len(pieces) - 1):
            s, e = pieces[i], pieces[i + 1]
            e = _rstrip_end(text, s, e)
            if e <= s:
                continue
            out.append(self._make_line(text, s, e, virtual=i > 0))

    def _make_line(self, text: str, start: int, end: int, *, virtual: bool = False) -> _Line:
        seg = text[start:end]
        m = _BULLET_RE.match(seg)
        if m and m.end() < len(seg):
            indent = len(m.group("indent").expandtabs(4))
            return _Line(start, end, indent, start + m.end(), m.group("marker"), virtual)
        im = _INDENT_RE.match(seg)
        ind = im.end() if im else 0
        indent = len(seg[:ind].expandtabs(4))
        return _Line(start, end, indent, start + ind, None, virtual)

    # ----------------------------------------------------------------------------------
    # headings
    # ----------------------------------------------------------------------------------

    def _section_heading(
        self, text: str, line: _Line
    ) -> tuple[CriterionKind, str | None, int | None] | None:
        """(kind, heading to record, offset of inline rest) if the line is a heading."""
        body = text[line.body : line.end]
        if len(body) > 400:
            return None
        m = self._re.heading_line.match(body)
        if m:
            head = m.group("head")
            tail = m.group("tail") or ""
            sep = m.group("sep")
            rest = m.group("rest")
            multiword = " " in head.strip() or "criteri" in head.lower()
            exact = not tail.strip() and not rest
            is_upper = body.isupper()
            ok = False
            if rest is None:
                ok = bool(sep) or exact or is_upper or (multiword and bool(tail.strip()))
            else:
                # Inline text after the heading needs an explicit ":" (or "-" after a
                # multi-word heading) so that "Eligible for cisplatin" stays a criterion.
                ok = sep == ":" or (sep in {"-", "–", "—"} and multiword)
                if ok and not multiword and not is_upper and head[:1].islower():
                    ok = False
            if ok:
                kind = CriterionKind.EXCLUSION if m.group("exc") else CriterionKind.INCLUSION
                if (
                    kind is CriterionKind.INCLUSION
                    and re.search(r"exclusion", head, re.I)
                    and not re.search(r"inclusion", head, re.I)
                ):
                    kind = CriterionKind.EXCLUSION
                label = None
                t = tail.strip(" -–—")
                if t and not re.fullmatch(r"\d{1,2}", t):
                    label = (head.strip() + " " + tail.strip()).strip()
                rest_off = line.body + m.start("rest") if rest else None
                return kind, label, rest_off
        if (
            line.marker is None
            and body.endswith(":")
            and len(body) <= 80
            and self._re.exclusion_leadin.search(body)
        ):
            # "Patients must not have:" opens a list of exclusions
            return CriterionKind.EXCLUSION, body[:-1].strip(), None
        m2 = self._re.old_heading_line.match(body)
        if m2:
            rest_off = line.body + m2.start("rest") if m2.group("rest") else None
            return CriterionKind.INCLUSION, m2.group("head").strip(), rest_off
        return None

    def _label(self, text: str, line: _Line, old_format: bool) -> tuple[str, int | None] | None:
        """(label, offset of inline rest) for sub-heading lines ("Hematopoietic:",
        "Phase Ib: ...")."""
        body = text[line.body : line.end]
        if old_format:
            m = self._re.old_sub_line.match(body)
            if m:
                rest = line.body + m.start("rest") if m.group("rest") else None
                return m.group("head").strip(), rest
        m = self._re.label_line.match(body)
        if m:
            rest = line.body + m.start("rest") if m.group("rest") else None
            return m.group("head").strip(), rest
        if body.endswith(":") and len(body) <= 60 and line.marker is None:
            words = body[:-1].split()
            if 1 <= len(words) <= 6 and not re.search(
                r"\b(must|should|have|has|are|is|will|be|following|below|defined|any|all)\b",
                body,
                re.I,
            ):
                return body[:-1].strip(), None
        return None

    # ----------------------------------------------------------------------------------
    # main entry
    # ----------------------------------------------------------------------------------

    def split(self, text: str) -> list[Segment]:
        """Split ``text`` into criteria; see the module docstring."""
        if not text.strip():
            return []
        items = self._items(text)
        segments: list[Segment] = []
        for item in items:
            self._emit(text, item, segments, ())
        segments.sort(key=lambda s: (s.start, s.end))
        # drop exact duplicates and empty slices
        out: list[Segment] = []
        seen: set[tuple[int, int]] = set()
        for s in segments:
            if s.end <= s.start or (s.start, s.end) in seen:
                continue
            if not any(ch.isalnum() for ch in text[s.start : s.end]):
                continue
            seen.add((s.start, s.end))
            out.append(s)
        return out

    def _items(self, text: str) -> list[_Item]:
        lines = self._lines(text)
        kind = CriterionKind.INCLUSION
        section_heading: str | None = None
        label: str | None = None
        old_format = False
        top: list[_Item] = []
        stack: list[_Item] = []  # open bullet items (nesting by indentation)
        cur: _Item | None = None
        prev_blank = True
        prev_line: _Line | None = None

        def close_to(indent: int) -> None:
            while stack and stack[-1].indent >= indent:
                stack.pop()

        def add(item: _Item) -> None:
            if stack:
                parent = stack[-1]
                item.parent = parent
                parent.children.append(item)
            else:
                top.append(item)

        for line in lines:
            if line.end <= line.start:
                prev_blank = True
                continue
            head = self._section_heading(text, line)
            if head is not None:
                kind, section_heading, rest = head
                old_format = (
                    section_heading is not None and section_heading.upper() == section_heading
                )
                label = None
                stack.clear()
                cur = None
                prev_blank = True
                prev_line = line
                if rest is not None:
                    bm = _BULLET_RE.match(text[rest : line.end])
                    if (
                        bm is not None
                        and rest + bm.end() < line.end
                        and text[rest] in "-*•"
                        and not self._re.inline_dash.search(text, rest + bm.end(), line.end)
                    ):
                        rest += bm.end()  # "Exclusion Criteria: - Female who is pregnant"
                    cur = self._new_item(
                        text, rest, line.end, line.indent, None, kind, None, section_heading
                    )
                    top.append(cur)
                    prev_blank = False
                continue
            lab = self._label(text, line, old_format)
            if lab is not None and (line.marker is None or lab[1] is None):
                label_text, rest = lab
                if line.marker is None or not stack:
                    stack.clear()
                    label = label_text
                    cur = None
                    if rest is not None:
                        cur = self._new_item(
                            text, rest, line.end, line.indent, None, kind, label, section_heading
                        )
                        top.append(cur)
                    prev_blank = False
                    prev_line = line
                    continue
            if line.marker is not None:
                if not (stack and stack[-1].indent == line.indent
                        and _roman_under_letter(line.marker, stack[-1].marker)):
                    close_to(line.indent)
                heading = label if not stack else None
                cur = self._new_item(
                    text,
                    line.body,
                    line.end,
                    line.indent,
                    line.marker,
                    kind,
                    heading,
                    section_heading,
                )
                add(cur)
                stack.append(cur)
            else:
                if cur is not None and self._continues(text, cur, line, prev_line, prev_blank):
                    cur.end = line.end
                else:
                    while stack and stack[-1].indent > line.indent:
                        stack.pop()  # back out to the item this paragraph sits in
                    if stack and line.indent > 0 and (
                            line.indent > stack[-1].indent or stack[-1].marker is not None):
                        # an unbulleted paragraph inside a bullet item (indented beyond
                        # it, or at its marker's column as a further paragraph of it):
                        # child of it
                        cur = self._new_item(
                            text,
                            line.body,
                            line.end,
                            line.indent,
                            None,
                            kind,
                            None,
                            section_heading,
                        )
                        add(cur)
                    else:
                        stack.clear()
                        cur = self._new_item(
                            text,
                            line.body,
                            line.end,
                            line.indent,
                            None,
                            kind,
                            label,
                            section_heading,
                        )
                        top.append(cur)
            prev_blank = False
            prev_line = line
        return top

    @staticmethod
    def _new_item(
        text: str,
        start: int,
        end: int,
        indent: int,
        marker: str | None,
        kind: CriterionKind,
        heading: str | None,
        section_heading: str | None,
    ) -> _Item:
        return _Item(
            start=start,
            end=end,
            indent=indent,
            marker=marker,
            kind=kind,
            heading=heading,
            section_heading=section_heading,
        )

    @staticmethod
    def _continues(
        text: str, cur: _Item, line: _Line, prev: _Line | None, prev_blank: bool
    ) -> bool:
        """Is an unbulleted line a wrapped continuation of the current item?"""
        first = text[line.body : line.body + 1]
        if cur.marker is not None:
            if line.indent > cur.indent:
                # HINT wraps bullet text at the body column; after a blank line an
                # indented paragraph is still part of the item only if it is wrapped
                # text (starts lower case) — otherwise it becomes a child paragraph.
                return not prev_blank or first.islower()
            return not prev_blank and (first.islower() or first in ",;)")
        if prev_blank or prev is None:
            return False
        prev_text = text[prev.body : prev.end]
        if first.islower() or first in ",;)&/":
            return True
        if line.indent != prev.indent and prev.marker is None and line.indent > prev.indent:
            return True
        # a long line that does not end a sentence was hard-wrapped
        return len(text[prev.start : prev.end]) >= 60 and prev_text[-1:] not in _SENT_END

    # ----------------------------------------------------------------------------------
    # emitting segments
    # ----------------------------------------------------------------------------------

    def _emit(self, text: str, item: _Item, out: list[Segment],
              context: tuple[str, ...]) -> None:
        body = text[item.start : item.end]
        heading = item.heading if item.heading is not None else item.section_heading
        if item.heading is not None and item.heading not in context:
            context = (*context, item.heading)
        if item.children:
            leadin = body.rstrip()
            is_leadin = leadin.endswith(":") or bool(
                re.search(r"(following|below|either|any of|one of)\W*$", leadin, re.I)
            )
            if (
                item.kind is CriterionKind.INCLUSION
                and is_leadin
                and self._re.or_leadin.search(leadin)
                and not self._re.exclusion_leadin.search(leadin)
                and not _NEG_LEADIN.match(leadin)
            ):
                end = max(self._last_end(item), item.end)
                out.append(Segment(item.kind, item.start, end, heading, group=True,
                                   context=context))
                return
            child_kind = item.kind
            if (
                item.kind is CriterionKind.INCLUSION
                and is_leadin
                and (self._re.exclusion_leadin.search(leadin) or _NEG_LEADIN.match(leadin))
            ):
                child_kind = CriterionKind.EXCLUSION
            for s, e, h in self._inline_split(text, item.start, item.end, item):
                out.append(Segment(item.kind, s, e, h or heading, context=context))
            child_heading = self._heading_text(text, item)
            for child in item.children:
                child.kind = child_kind
                if child.heading is None:
                    child.heading = child_heading
                self._emit(text, child, out, context)
            return
        for s, e, h in self._inline_split(text, item.start, item.end, item):
            out.append(Segment(item.kind, s, e, h or heading, context=context))

    @staticmethod
    def _last_end(item: _Item) -> int:
        end = item.end
        for c in item.children:
            end = max(end, SectionSplitter._last_end(c))
        return end

    @staticmethod
    def _heading_text(text: str, item: _Item) -> str:
        t = " ".join(text[item.start : item.end].split())
        return t if len(t) <= 300 else t[:297] + "..."

    # ----------------------------------------------------------------------------------
    # inline splitting of one item
    # ----------------------------------------------------------------------------------

    def _inline_split(
        self, text: str, start: int, end: int, item: _Item
    ) -> list[tuple[int, int, str | None]]:
        """Split one item's text; returns ``(start, end, heading override)`` pieces."""
        cuts: set[int] = set()
        labels: dict[int, tuple[str, int]] = {}  # cut -> (sub-heading, body offset)
        body = text[start:end]
        # 1. item numbers running into the previous item ("... regimen 4 Adequate")
        mm = _NUM_MARKER_RE.match(item.marker or "")
        if mm is not None:
            cuts.update(_run_on_numbers(text, start, end, int(mm.group(1)) + 1, "[.)]?"))
        elif item.marker is None:
            m1 = re.match(r"\(?1[.)]\s+", body)
            if m1:
                cuts.update(_run_on_numbers(text, start, end, 2, "[.)]"))
        # 2. inline " - " bullets (two or more in an unbulleted item)
        if item.marker is None:
            dashes = [m for m in self._re.inline_dash.finditer(text, start, end)]
            if len(dashes) >= 2 or (dashes and dashes[0].start() == start):
                for m in dashes:
                    cuts.add(m.start())
        # 3. inline old-format sub-headings ("... and over Performance status: ...")
        if item.section_heading is not None and item.section_heading.isupper():
            m0 = self._re.old_sub_line.match(body)
            if m0 is not None:
                labels[start] = (
                    m0.group("head"),
                    start + m0.start("rest") if m0.group("rest") else end,
                )
            for m in self._re.inline_old_sub.finditer(text, start, end):
                cuts.add(m.start("head"))
                labels[m.start("head")] = (m.group("head"), m.end())
        # 4. run-together sentences in long unbulleted items
        old_format = item.section_heading is not None and item.section_heading.isupper()
        if item.marker is None and (len(body) > 150 or old_format):
            for m in self._re.starter_split.finditer(text, start, end):
                cuts.add(m.end())
        if not cuts and not labels:
            return [(start, end, None)]
        bounds = [start, *sorted(c for c in cuts if start < c < end), end]
        out: list[tuple[int, int, str | None]] = []
        heading: str | None = None
        for i in range(len(bounds) - 1):
            s = _lstrip_start(text, bounds[i], bounds[i + 1])
            e = _rstrip_end(text, s, bounds[i + 1])
            if bounds[i] in labels:
                heading, body_at = labels[bounds[i]]
                s = _lstrip_start(text, max(s, body_at), e)
            # strip an inline marker at the start of a piece
            lead = re.match(
                r"(?:-|\(?\d{1,2}[.)])\s+"
                if bounds[i] not in cuts
                else r"(?:-|\(?\d{1,2}[.)]?)\s+",
                text[s:e],
            )
            if lead and (i > 0 or bounds[i] in cuts or text[s] == "-"):
                s += lead.end()
            if e > s:
                out.append((s, e, heading))
        return out


@lru_cache(maxsize=4)
def _default_splitter() -> SectionSplitter:
    return SectionSplitter(load_rules().sections)


def split_criteria(text: str) -> list[Segment]:
    """Split eligibility criteria ``text`` into criteria with the packaged rules.

    Returns segments in text order; ``text[s.start:s.end]`` is each criterion's exact
    text. Never raises on odd input: text it cannot structure becomes one or more
    inclusion segments.
    """
    return _default_splitter().split(text)
