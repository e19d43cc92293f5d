"""What the landing sensor sees: each day folder's listing, keyed without reading any file.

A day's key is a digest of its data entries' names, sizes and modification times (S3:
LastModified), so the same files give the same run key and a rewritten file a new one.
Marker names (`.`/`_`) are left out of the key, as the loader ignores them, but their
arrival counts as a change of the day.

The sensor's cursor is a high-water mark over change times plus the `waiting` days (folders
of days that are not partitions yet). Change times are the newest of the entries' mtimes
and ctimes locally (`cp -p`, `tar x` and `rsync -t` restore old mtimes, not ctimes), and the
newest LastModified on S3, which has whole seconds and may stamp a multipart upload with its
start time. So days that changed within `lookback` of the mark are looked at again, and the
cursor's `recent` map (day -> key already requested) keeps them from being requested twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import pyarrow.fs as pafs

from .landing_store import LandingError, LandingStore, open_landing

LOCAL_LOOKBACK_NS = 2 * 10**9  # file systems with whole-second (or 2 s) modification times
REMOTE_LOOKBACK_NS = 15 * 60 * 10**9  # whole seconds, and multipart uploads stamped at start


@dataclass(frozen=True)
class DayFolder:
    day: str
    fingerprint: str  # digest of the data entries' names, sizes and modification times
    changed_ns: int  # newest change of the folder and its entries, markers included

    @property
    def run_key(self) -> str:
        return f"{self.day}:{self.fingerprint}"


@dataclass(frozen=True)
class LandingCursor:
    since_ns: int = 0
    waiting: frozenset[str] = frozenset()
    recent: tuple[tuple[str, str], ...] = ()  # (day, fingerprint) requested near the mark

    @classmethod
    def parse(cls, text: str | None) -> LandingCursor:
        data = json.loads(text) if text else {}
        return cls(
            int(data.get("since_ns", 0)),
            frozenset(data.get("waiting", [])),
            tuple(sorted(data.get("recent", {}).items())),
        )

    def dumps(self) -> str:
        return json.dumps(
            {
                "since_ns": self.since_ns,
                "waiting": sorted(self.waiting),
                "recent": dict(self.recent),
            }
        )


def is_day_name(name: str) -> bool:
    try:
        return len(name) == 10 and date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def scan_landing_zone(landing: str | os.PathLike | LandingStore) -> list[DayFolder]:
    """Every day folder holding data entries, from listings only (no file is opened).

    Locally one listing per day folder; on S3 one flat listing of the whole prefix (1,000
    keys a request) rather than one request per day."""
    store = landing if isinstance(landing, LandingStore) else open_landing(landing)
    if store.is_remote:
        return _remote_days(store)
    if store.info(store.root).type != pafs.FileType.Directory:
        raise LandingError(f"landing folder {store.root} does not exist")
    days = [
        entry.base_name
        for entry in store.listing(store.root)
        if entry.type == pafs.FileType.Directory and is_day_name(entry.base_name)
    ]
    return [folder for day in days if (folder := _local_day(store, day))]


def _remote_days(store: LandingStore) -> list[DayFolder]:
    listing = store.listing(store.root, recursive=True)
    if not listing:
        store.check_bucket()  # a missing bucket lists as empty: name it rather than wait forever
    entries = defaultdict(list)
    for entry in listing:
        day, _, rest = store.relative(entry.path).partition("/")
        if rest and entry.is_file and is_day_name(day):
            entries[day].append((rest, entry.size, entry.mtime_ns, entry.mtime_ns))
    folders = (_day_folder(day, day_entries, 0) for day, day_entries in sorted(entries.items()))
    return [folder for folder in folders if folder]


def _local_day(store: LandingStore, day: str) -> DayFolder | None:
    path = store.path(day)
    stat = os.stat(path)
    entries = [
        (entry.base_name, entry.size, entry.mtime_ns, _ctime_ns(entry.path))
        for entry in store.listing(path)
    ]
    # The folder's own times change when an entry is added, renamed or deleted.
    return _day_folder(day, entries, max(stat.st_mtime_ns, stat.st_ctime_ns))


def _ctime_ns(path: str) -> int:
    try:
        return os.stat(path).st_ctime_ns
    except OSError:  # gone since the listing: the next tick sees the change
        return 0


def _day_folder(day: str, entries: list[tuple], folder_ns: int) -> DayFolder | None:
    """The key of a day's (name, size, mtime_ns, ctime_ns) entries; None when it holds no data
    entries yet (only markers, or nothing)."""
    data = sorted((n, s, m) for n, s, m, _ in entries if not n.startswith((".", "_")))
    if not data:
        return None
    newest = max([folder_ns, *(max(m or 0, c or 0) for _, _, m, c in entries)])
    digest = hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]
    return DayFolder(day, digest, newest)


def next_requests(
    folders: list[DayFolder],
    cursor: LandingCursor,
    partitions: tuple[str, str],
    limit: int,
    lookback_ns: int,
) -> tuple[list[DayFolder], LandingCursor]:
    """The day folders to run now (oldest change first, at most about `limit`) and the next cursor.

    `partitions` is (first, last) partition key: later days wait until they are partitions,
    earlier ones are ignored."""
    first, last = partitions
    recent = dict(cursor.recent)
    horizon = cursor.since_ns - lookback_ns
    changed, not_yet = [], set()
    for folder in folders:
        if folder.day < first:
            continue
        if folder.day > last:  # ISO dates compare as text
            not_yet.add(folder.day)  # a day not complete yet: run it once it is a partition
        elif folder.day in cursor.waiting or (
            folder.changed_ns > horizon and recent.get(folder.day) != folder.fingerprint
        ):
            changed.append(folder)
    changed.sort(key=lambda f: (f.changed_ns, f.day))
    batch = changed[:limit]
    # Advance the high-water mark only over what is requested, ties included, so nothing is skipped.
    while len(batch) < len(changed) and changed[len(batch)].changed_ns == batch[-1].changed_ns:
        batch.append(changed[len(batch)])
    since_ns = max([cursor.since_ns, *(f.changed_ns for f in batch)])
    # Days that just became partitions but did not fit in this tick stay waiting for the next.
    not_yet |= {f.day for f in changed[len(batch) :] if f.day in cursor.waiting}
    recent.update((f.day, f.fingerprint) for f in batch)
    keep = {f.day for f in folders if f.changed_ns > since_ns - lookback_ns}
    recent = tuple(sorted((day, key) for day, key in recent.items() if day in keep))
    return batch, LandingCursor(since_ns, frozenset(not_yet), recent)


def landing_tick(
    landing: str | os.PathLike | LandingStore,
    cursor: str | None,
    partitions: tuple[str, str],
    limit: int,
) -> tuple[list[DayFolder], str]:
    """One sensor tick: list the zone, pick the days to run, and the next cursor (as text)."""
    store = landing if isinstance(landing, LandingStore) else open_landing(landing)
    lookback = REMOTE_LOOKBACK_NS if store.is_remote else LOCAL_LOOKBACK_NS
    batch, following = next_requests(
        scan_landing_zone(store), LandingCursor.parse(cursor), partitions, limit, lookback
    )
    return batch, following.dumps()
