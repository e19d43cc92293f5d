"""Where the landing zone lives: a local folder or `s3://bucket/prefix`, on pyarrow's filesystems.

One interface for both: list a folder, open a file, name a file in messages, and one
translation of storage errors. Transient ones (a network reset, a timeout, a 5xx, the local
errnos a flaky share gives) become `LandingUnavailableError`, an `OSError` that `raw_sales`'
RetryPolicy retries; a missing bucket or denied access becomes `LandingError`, which fails
the day at once. S3 credentials and region come only from the standard AWS environment and
config files (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, profiles);
`AWS_ENDPOINT_URL` names an S3-compatible store. None of them is ever put in a message.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

# OS errors worth another try: the file system or network share failed, not the file.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.EAGAIN,
        errno.EBUSY,
        errno.ETIMEDOUT,
        errno.ESTALE,
        errno.ECONNRESET,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
    }
)
# pyarrow reports S3 failures as OSError("... AWS Error <KIND> during <Operation> ...") with no
# errno; the kind (or the HTTP status) is all there is to tell a hiccup from a refusal.
_S3_TRANSIENT = re.compile(
    r"AWS Error (NETWORK_CONNECTION|SLOW_DOWN|THROTTLING|INTERNAL_FAILURE|SERVICE_UNAVAILABLE"
    r"|REQUEST_TIMEOUT)|HTTP status (5\d\d|429)|curlCode: (6|7|28|52|55|56)\b"
)
_S3_DENIED = re.compile(
    r"AWS Error (ACCESS_DENIED|INVALID_ACCESS_KEY_ID|SIGNATURE_DOES_NOT_MATCH|EXPIRED_TOKEN"
    r"|UNRECOGNIZED_CLIENT)|HTTP status (401|403)"
)
_S3_NO_BUCKET = re.compile(r"AWS Error NO_SUCH_BUCKET")
# Remote reads go in large ranges: one GET per 8 MiB, not one per 1 MiB block of the reader;
# downloads (for readers that need a local file) in 64 MiB ranges.
REMOTE_BUFFER_BYTES = 8 << 20
DOWNLOAD_CHUNK_BYTES = 64 << 20


class LandingError(ValueError):
    """A landing file, folder or bucket that cannot be loaded; the message names it."""


class DayNotArrivedError(LandingError):
    """The day's folder (prefix) does not exist yet: the data has not arrived."""


class LandingUnavailableError(OSError):
    """The store did not answer (timeout, reset, 5xx, EIO): worth another try later."""


@dataclass(frozen=True)
class LandingStore:
    """The landing zone's root on its filesystem; paths are the filesystem's own strings."""

    location: str  # as configured: an absolute folder or s3://bucket/prefix
    fs: pafs.FileSystem
    root: str  # the root on `fs`: /abs/folder or bucket/prefix

    @property
    def is_remote(self) -> bool:
        return not isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def bucket(self) -> str | None:
        return self.root.split("/", 1)[0] if self.is_remote else None

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def name(self, path: str) -> str:
        """How messages name a path: the local path, or its s3:// URL."""
        return f"s3://{path}" if self.is_remote else path

    def relative(self, path: str) -> str:
        return path[len(self.root.rstrip("/")) + 1 :]

    def is_inside(self, path: str) -> bool:
        """False for a local link that leads out of the zone (S3 has no links)."""
        if self.is_remote:
            return True
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(self.root))

    def info(self, path: str) -> pafs.FileInfo:
        with translated(self, self.name(path)):
            return self.fs.get_file_info(path)

    def listing(self, path: str, recursive: bool = False) -> list[pafs.FileInfo]:
        """The entries under `path` (files and sub-folders), or [] when it does not exist."""
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
        with translated(self, self.name(path)):
            return self.fs.get_file_info(selector)

    def check_bucket(self) -> None:
        """Fails naming the bucket when it does not exist (S3 reports a missing bucket as an
        empty prefix)."""
        if self.is_remote and self.info(self.bucket).type == pafs.FileType.NotFound:
            raise LandingError(f"bucket '{self.bucket}' of {self.location} does not exist")


def open_landing(location: str | os.PathLike) -> LandingStore:
    """The store for a local folder or an s3://bucket/prefix URL."""
    text = str(location)
    if text.startswith("s3://"):
        parts = urlsplit(text)
        root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
        return LandingStore(f"s3://{root}", s3_filesystem(), root)
    folder = str(Path(text).expanduser().resolve())
    return LandingStore(folder, pafs.LocalFileSystem(), folder)


def s3_filesystem() -> pafs.S3FileSystem:
    """An S3 client configured by the standard AWS environment only.

    pyarrow reads credentials, region and profiles the AWS SDK way, but not
    `AWS_ENDPOINT_URL`; an S3-compatible store's endpoint is passed on from it here."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    options = {"endpoint_override": endpoint.strip()} if endpoint and endpoint.strip() else {}
    return pafs.S3FileSystem(
        connect_timeout=10,
        request_timeout=60,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        **options,
    )


def problem(store: LandingStore, error: OSError, target: str) -> Exception | None:
    """The error to raise for a storage failure on `target`, or None when it is the file's own."""
    text = str(error)
    if error.errno in TRANSIENT_ERRNOS or (store.is_remote and _S3_TRANSIENT.search(text)):
        unavailable = LandingUnavailableError(f"{target}: the landing store did not answer: {text}")
        unavailable.errno = error.errno
        return unavailable
    if not store.is_remote:
        return None
    if _S3_DENIED.search(text):
        return LandingError(
            f"{target}: access to bucket '{store.bucket}' denied; check the AWS credentials "
            f"and the bucket's policy ({text})"
        )
    if _S3_NO_BUCKET.search(text):
        return LandingError(f"bucket '{store.bucket}' of {store.location} does not exist")
    return None


@contextmanager
def translated(store: LandingStore, target: str) -> Iterator[None]:
    """Storage errors as LandingUnavailableError (retry) or LandingError naming `target`."""
    try:
        yield
    except (LandingError, LandingUnavailableError):
        raise
    except OSError as error:
        raise problem(store, error, target) or LandingError(f"{target}: {error}") from None


@contextmanager
def local_copy(store: LandingStore, path: str) -> Iterator[str]:
    """A local path holding the file: the file itself, or a temporary download of the object
    (for readers such as DuckDB's that need a path)."""
    if not store.is_remote:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="sales-landing-") as folder:
        target = os.path.join(folder, path.rsplit("/", 1)[-1])
        with store.fs.open_input_stream(path) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, DOWNLOAD_CHUNK_BYTES)
        yield target


@contextmanager
def landing_writer(location: str | os.PathLike, relative: str) -> Iterator[Path]:
    """A local path to write `relative` (e.g. `2024-03-01/orders.csv`) to; on success it
    appears in the landing zone whole, never half-written.

    Locally the file is written under a `_` name the loader ignores, then renamed. On S3 it
    is written to a temporary folder, then uploaded in one PUT (or one multipart upload),
    and an object appears only once its upload completes."""
    store = open_landing(location)
    target = store.path(relative)
    if not store.is_remote:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        partial = Path(target).with_name(f"_{Path(target).name}.partial")
        try:
            yield partial
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return
    with tempfile.TemporaryDirectory(prefix="sales-landing-") as folder:
        local = Path(folder) / Path(relative).name
        yield local
        store.check_bucket()
        with translated(store, store.name(target)):
            pafs.copy_files(
                str(local),
                target,
                source_filesystem=pafs.LocalFileSystem(),
                destination_filesystem=store.fs,
            )
