"""Repeats: a new report compared with the latest reports about the same subject (near-duplicate
allegations, the same reporter after a conclusion), with their shingles kept in a cache. The rule
itself is domain.assess_repeats."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, func, select

from services.intake import domain
from services.intake.models import Allegation, Report
from shared.uow import UnitOfWork

EARLIER_REPORTS_COMPARED = 200  # the most recent reports about the same subject


class _Earlier:
    """A stored report as a new one about the same subject sees it (by the same reporter or not)."""

    __slots__ = ("blind_index", "by_other", "by_same")

    def __init__(self, report_id: str, blind_index: str | None, concluded: bool, shingles: frozenset[str]) -> None:
        self.blind_index = blind_index
        self.by_other = domain.EarlierReport(report_id, shingles, same_reporter=False, concluded=concluded)
        self.by_same = domain.EarlierReport(report_id, shingles, same_reporter=True, concluded=concluded)

    def seen_by(self, blind_index: str | None) -> domain.EarlierReport:
        return self.by_same if blind_index is not None and blind_index == self.blind_index else self.by_other


class ShingleCache:
    """Shingles of stored reports by id. Allegations never change once stored, so they can be kept;
    the most recent `capacity` reports stay, which are the ones new reports are compared with. A
    report's shingles take about 20 KB, so the default bounds the cache near 80 MB per process."""

    def __init__(self, capacity: int = 4_096) -> None:
        self._capacity = capacity
        self._by_id: dict[str, frozenset[str]] = {}

    def get(self, report_id: str) -> frozenset[str] | None:
        return self._by_id.get(report_id)

    def put(self, report_id: str, shingles: frozenset[str]) -> None:
        if len(self._by_id) >= self._capacity:
            del self._by_id[next(iter(self._by_id))]  # the oldest entry
        self._by_id[report_id] = shingles


class EarlierReports:
    """The latest reports about each subject that new reports are compared with; each report assessed
    joins them, so a batch's reports are compared with those before them in the batch too."""

    def __init__(self, by_subject: dict[str, list[_Earlier]]) -> None:
        self._by_subject = by_subject

    def assess(self, *, report_id: str, subject_key: str, blind_index: str | None, shingles: frozenset[str],
               threshold: float) -> domain.RepeatAssessment:
        """The flags and links of a new report, which then counts as the latest about its subject."""
        before = self._by_subject.setdefault(subject_key, [])
        repeats = domain.assess_repeats(shingles, [e.seen_by(blind_index) for e in before], threshold=threshold)
        before.append(_Earlier(report_id, blind_index, False, shingles))
        del before[:-EARLIER_REPORTS_COMPARED]
        return repeats


def _latest_by_subject() -> Select[Any]:
    ranked = (
        select(
            Report.id, Report.reporter_blind_index, Report.status, Report.subject_key, Report.received_at,
            func.row_number().over(
                partition_by=Report.subject_key, order_by=(Report.received_at.desc(), Report.id.desc())
            ).label("rank"),
        )
        .where(Report.subject_key.in_(bindparam("keys", expanding=True)))
        .subquery()
    )
    return (select(ranked.c.id, ranked.c.reporter_blind_index, ranked.c.status, ranked.c.subject_key)
            .where(ranked.c.rank <= EARLIER_REPORTS_COMPARED)
            .order_by(ranked.c.received_at, ranked.c.id))


# Built once: building the window query's subquery anew for every batch cost more CPU than running it (#22).
_LATEST_BY_SUBJECT = _latest_by_subject()
_SUMMARIES = (select(Allegation.report_id, Allegation.summary)
              .where(Allegation.report_id.in_(bindparam("ids", expanding=True)))
              .order_by(Allegation.report_id, Allegation.position))


async def earlier_reports(uow: UnitOfWork, keys: set[str], cache: ShingleCache) -> EarlierReports:
    """The latest reports about each subject (`keys`), oldest first, through the subject-key index."""
    rows = (await uow.session.execute(_LATEST_BY_SUBJECT, {"keys": sorted(keys)})).all()
    missing = [r.id for r in rows if cache.get(r.id) is None]
    for chunk in range(0, len(missing), 1000):
        summaries: dict[str, list[str]] = {rid: [] for rid in missing[chunk : chunk + 1000]}
        for report_id, summary in await uow.session.execute(_SUMMARIES, {"ids": list(summaries)}):
            summaries[report_id].append(summary)
        for rid, texts in summaries.items():
            cache.put(rid, domain.shingles(domain.allegation_text(texts)))
    by_key: dict[str, list[_Earlier]] = {}
    for r in rows:
        shingles = cache.get(r.id)
        if shingles is None:  # pushed out of a small cache by this very batch: read it again
            shingles = await _shingles_of(uow, r.id)
        by_key.setdefault(r.subject_key, []).append(
            _Earlier(r.id, r.reporter_blind_index, r.status == "concluded", shingles))
    return EarlierReports(by_key)


async def _shingles_of(uow: UnitOfWork, report_id: str) -> frozenset[str]:
    summaries = (await uow.session.scalars(
        select(Allegation.summary).where(Allegation.report_id == report_id).order_by(Allegation.position)
    )).all()
    return domain.shingles(domain.allegation_text(list(summaries)))
