"""Reading stored POE files: ranged reads from S3 for the sniffer, and download responses.

Writes (storing a PendingUpload, turning it into a PoeDocument, purging) are services
(``claims.services.submission``); this module only reads.
"""

import io

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.shortcuts import redirect
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from claims.uploads import poe_download

# The sniffer reads the first bytes; Office and Outlook files need their zip directory or compound-file
# sectors too. Reads from S3 are ranged and buffered in blocks of this size, never the whole object.
POE_READ_BLOCK = 64 * 1024


class S3Ranges(io.RawIOBase):
    """One S3 object as a seekable, read-only file that fetches only the byte ranges read from it.

    django-storages' S3File downloads the whole object (up to 10 MB per POE file) before the first read; the
    sniffer needs a few blocks of it.
    """

    def __init__(self, client, bucket, key):
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._position = 0
        self._size = None

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += self._length()
        if offset < 0:
            raise ValueError("negative seek position")
        self._position = offset
        return offset

    def readinto(self, buffer):
        if not len(buffer) or (self._size is not None and self._position >= self._size):
            return 0
        data = self._get(self._position, self._position + len(buffer) - 1)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _length(self):
        if self._size is None:
            self._get(0, 0)
        return self._size

    def _get(self, first, last):
        from botocore.exceptions import ClientError

        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={first}-{last}")
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(self._key) from exc
            if code != "InvalidRange":
                raise
            # Reading at or past the end (an empty object): learn the size, read nothing.
            self._size = self._client.head_object(Bucket=self._bucket, Key=self._key)["ContentLength"]
            return b""
        self._size = int(response["ContentRange"].rsplit("/", 1)[1])
        return response["Body"].read()


def poe_opener():
    """(A function that opens a stored POE file for reading, whether its reads go over the network): ranged reads
    on S3, the storage's own otherwise."""
    if isinstance(default_storage, S3Storage):
        # One client for every thread: boto3 clients are thread-safe (its resources are not).
        client = default_storage.connection.meta.client
        bucket = default_storage.bucket_name

        def open_ranged(name):
            key = default_storage._normalize_name(clean_name(name))
            return io.BufferedReader(S3Ranges(client, bucket, key), buffer_size=POE_READ_BLOCK)

        return open_ranged, True
    return (lambda name: default_storage.open(name, "rb")), False


def poe_download_response(document):
    """A POE file for download, always as an attachment (never rendered inline, whatever it contains), under a
    name ending in the extension of its type by content and with that type (``claims.uploads.poe_download``:
    checked again here, so a row written by hand or before these rules is served safely too).

    S3: a redirect to a presigned URL that expires after settings.POE_LINK_SECONDS and makes the browser save the
    file. Local file storage (the embedded default) has no signed URLs, so the file is streamed through Django
    (with ``X-Content-Type-Options: nosniff`` from SecurityMiddleware); the caller has already checked who may
    see it.
    """
    filename, content_type = poe_download(document)
    if isinstance(default_storage, S3Storage):
        return redirect(
            default_storage.url(
                document.file.name,
                parameters={
                    "ResponseContentDisposition": content_disposition_header(True, filename),
                    "ResponseContentType": content_type,
                },
            )
        )
    return FileResponse(
        default_storage.open(document.file.name),
        as_attachment=True,
        filename=filename,
        content_type=content_type,
    )
