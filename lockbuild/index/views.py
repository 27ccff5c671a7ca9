"""Views of project pages the index client hands out: several indexes merged, and a page as of
``exclude-newer`` (files uploaded after the cutoff left out)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial

from packaging.utils import NormalizedName

from lockbuild.instants import PYPI_TIME, format_cutoff, parse_instant
from lockbuild.models import (
    CutoffNote,
    DistFile,
    FileData,
    PendingRelease,
    ProjectPage,
    UploadSpan,
    is_file_data,
)

logger = logging.getLogger(__name__)


def merge_pages(name: NormalizedName, pages: Sequence[ProjectPage]) -> ProjectPage:
    """One page with the releases of every page (``index-strategy = "unsafe-best-match"``).

    The page keeps the first page's index URL; a release on several pages has the files of
    all of them, a file name listed twice only once (the first page's). Releases are read
    when first asked for, as on the pages themselves.
    """
    if len(pages) == 1:
        return pages[0]
    holders: dict[str, list[ProjectPage]] = {}
    for page in pages:
        for version in page.versions:
            holders.setdefault(version, []).append(page)
    releases: dict[str, PendingRelease] = {}
    for version, group in holders.items():
        if len(group) == 1:
            yanked = group[0].all_yanked(version)
        else:
            yanked = all(file.is_yanked for file in _union(group, version))
        releases[version] = PendingRelease(yanked=yanked, read=partial(_union_data, group, version))
    index_url = pages[0].index_url if pages else ""
    return ProjectPage(name, index_url, releases=releases)


def _union(pages: Sequence[ProjectPage], version: str) -> list[DistFile]:
    files: dict[str, DistFile] = {}
    for page in pages:
        for file in page.release_files(version):
            files.setdefault(file.filename, file)
    return list(files.values())


def _union_data(pages: Sequence[ProjectPage], version: str) -> list[FileData]:
    return [file.to_data() for file in _union(pages, version)]


@dataclass(frozen=True)
class CutoffView:
    """A page as of ``exclude-newer``, and the files it left out for want of an upload time."""

    page: ProjectPage
    undated: tuple[str, ...]
    """Names of files with no upload time (left out: nothing says they are old enough)."""


def _pypi_time(cutoff: datetime) -> str | None:
    """``cutoff`` in PyPI's form, or None when it has none (a year before 1000)."""
    text = cutoff.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return text if PYPI_TIME.fullmatch(text) else None


def _not_after(uploaded: str, cutoff: datetime, cutoff_text: str | None) -> bool:
    """Whether the upload time ``uploaded`` is not after ``cutoff``: compared as text when both
    are in PyPI's form (a page's thousands of releases, no date parsed), else as instants."""
    if cutoff_text is not None and PYPI_TIME.fullmatch(uploaded):
        return uploaded <= cutoff_text
    return parse_instant(uploaded) <= cutoff


def uploaded_before(
    page: ProjectPage,
    cutoff: datetime,
    *,
    upload_times: Mapping[str, str] = {},
    spans: Mapping[str, UploadSpan] = {},
) -> CutoffView:
    """``page`` without the files uploaded after ``cutoff`` (``exclude-newer``), like uv.

    A file the page gives no upload time for takes it from ``upload_times`` (file name ->
    ISO 8601, from the index's JSON API); a file with none at all is left out, since
    nothing says it existed at the cutoff. A release left without files disappears. Kept
    files carry their upload time, so later audits see it. An unread release whose page
    says when its oldest and newest files came (see
    :attr:`~lockbuild.models.PendingRelease.uploaded`) and that lies wholly on one side of
    the cutoff is decided from those two times, its files neither read nor listed. So is a
    release ``spans`` gives such times for (as this run or an earlier one found them on this
    index's page, see :class:`lockbuild.index.uploads.PageTimes`); kept whole, its files are
    checked when read (now, if the release is read already), and one the page no longer
    dates as old enough is left out then. The view's
    :attr:`~lockbuild.models.ProjectPage.cutoff` counts what was left out.
    """
    releases: dict[str, list[FileData] | PendingRelease | str] = {}
    undated: list[str] = []
    newer: list[tuple[datetime, str]] = []
    newer_unlisted = 0
    """Files left out with a whole release newer than the cutoff, beyond the one in ``newer``."""
    cutoff_text = _pypi_time(cutoff)
    for version in page.versions:
        held = page.held(version)
        span = None if held is None else page.upload_span(version)
        checked = span is None  # a span of for_page's: the files are checked when read
        if checked:
            span = spans.get(version)
        if span is not None:
            oldest, newest, files = span
            if _not_after(newest, cutoff, cutoff_text):  # every file as old as the cutoff:
                if held is None:
                    files_kept = _checked_data(page, version, cutoff, cutoff_text)
                    if files_kept:
                        releases[version] = files_kept
                elif checked:
                    read = partial(_checked_data, page, version, cutoff, cutoff_text)
                    releases[version] = PendingRelease(yanked=page.all_yanked(version), read=read)
                else:
                    releases[version] = held  # kept whole, as it is (checked when built)
                continue
            if not _not_after(oldest, cutoff, cutoff_text):  # every file newer: left out whole
                newer.append((parse_instant(oldest), oldest))
                newer_unlisted += files - 1
                continue
        uploads = page.release_uploads(version)
        if uploads is not None:  # decided from names and times; the files read when asked
            positions: list[int] = []
            dated: dict[int, str] = {}
            for position, (filename, given, _yanked) in enumerate(uploads):
                uploaded = given or upload_times.get(filename)
                if _admitted(filename, uploaded, cutoff, undated=undated, newer=newer):
                    positions.append(position)
                    if uploaded != given:
                        dated[position] = uploaded  # type: ignore[assignment]
            if positions:
                releases[version] = PendingRelease(
                    yanked=all(uploads[position][2] for position in positions),
                    read=partial(_admitted_data, page, version, positions, dated),
                )
            continue
        kept: list[FileData] = []
        for data in page.release_data(version):
            if not is_file_data(data):  # as building the release's files would refuse it
                raise ValueError(f"not a file entry: {data!r}")
            filename = data["filename"]
            uploaded = data.get("upload_time") or upload_times.get(filename)
            if _admitted(filename, uploaded, cutoff, undated=undated, newer=newer):
                assert uploaded is not None
                given = data.get("upload_time")
                kept.append(data if given == uploaded else _dated(data, uploaded))
        if kept:
            releases[version] = kept
    note = CutoffNote(
        cutoff=format_cutoff(cutoff),
        newer=len(newer) + newer_unlisted,
        oldest_newer=min(newer)[1] if newer else None,
        undated=len(undated),
    )
    outlined = any(type(release) is str for release in releases.values())
    outlines = page.outlines if outlined else None  # else the page's reader can go
    view = ProjectPage(page.name, page.index_url, releases=releases, outlines=outlines, cutoff=note)
    return CutoffView(view, tuple(undated))


def _admitted(
    filename: str,
    uploaded: str | None,
    cutoff: datetime,
    *,
    undated: list[str],
    newer: list[tuple[datetime, str]],
) -> bool:
    """Whether a file uploaded at ``uploaded`` is kept; one left out is noted in ``undated``
    (no readable time) or ``newer``."""
    if uploaded is None:
        undated.append(filename)
        return False
    try:
        instant = parse_instant(uploaded)
    except ValueError:
        logger.debug("skipping %s: unreadable upload time %r", filename, uploaded)
        undated.append(filename)
        return False
    if instant > cutoff:
        logger.debug("skipping %s: uploaded %s, after exclude-newer", filename, uploaded)
        newer.append((instant, uploaded))
        return False
    return True


def _admitted_data(
    page: ProjectPage, version: str, positions: Sequence[int], dated: Mapping[int, str]
) -> list[FileData]:
    """The files at ``positions`` of ``page``'s release, with the upload times ``dated``."""
    files = page.release_data(version)
    kept: list[FileData] = []
    for position in positions:
        data = files[position]
        if not is_file_data(data):  # as building the release's files would refuse it
            raise ValueError(f"not a file entry: {data!r}")
        uploaded = dated.get(position)
        kept.append(data if uploaded is None else _dated(data, uploaded))
    return kept


def _checked_data(
    page: ProjectPage, version: str, cutoff: datetime, cutoff_text: str | None
) -> list[FileData]:
    """The files of ``page``'s release that the page dates as not after ``cutoff``: a release
    kept whole on an earlier run's span may have gained files since."""
    kept: list[FileData] = []
    for data in page.release_data(version):
        if not is_file_data(data):  # as building the release's files would refuse it
            raise ValueError(f"not a file entry: {data!r}")
        uploaded = data.get("upload_time")
        try:
            admitted = uploaded is not None and _not_after(uploaded, cutoff, cutoff_text)
        except ValueError:
            admitted = False
        if admitted:
            kept.append(data)
        else:
            logger.debug(
                "skipping %s: upload time %r, none or after exclude-newer",
                data["filename"],
                uploaded,
            )
    return kept


def _dated(data: FileData, uploaded: str) -> FileData:
    """``data`` with the upload time the page did not give (a copy: the page's stays as read)."""
    dated = data.copy()
    dated["upload_time"] = uploaded
    return dated


def with_upload_times(files: Iterable[DistFile], upload_times: Mapping[str, str]) -> list[DistFile]:
    """``files`` with the upload times the page did not give filled in from ``upload_times``."""
    return [
        replace(file, upload_time=upload_times[file.filename])
        if file.upload_time is None and file.filename in upload_times
        else file
        for file in files
    ]
