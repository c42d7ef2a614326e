"""Where evidence files are kept, always encrypted (DESIGN.md §4.6).

Each file has its own random 256-bit data key, stored wrapped by the field-encryption key (the
wrapped form names its key id, so files stay readable after the field key rotates and a rotation
rewraps keys without touching a byte of the files). The file is sealed in pieces of `CHUNK_BYTES`
with AES-GCM; each piece's associated data binds it to its attachment, its part, its position and
whether it is the last, so pieces cannot be reordered, swapped between files or cut off unnoticed.

The sealed pieces go to an `EvidenceStore`. The one built now keeps them in intake's database
(`attachment_chunks`), in the transaction that records the attachment, so backups and rollbacks
cover them; an object store can implement the same three operations later."""

from __future__ import annotations

import base64
import secrets
import struct
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.models import AttachmentChunk
from shared.crypto import FieldCipher
from shared.uow import UnitOfWork

CHUNK_BYTES = 256 * 1024
KEPT, ORIGINAL = "kept", "original"  # the cleaned file officers read; the file as received, when asked to keep it
_NONCE = 12


class ChunkTampered(Exception):
    """A stored piece failed authentication, is missing or is out of place: the file is not served."""


# --- sealing ----------------------------------------------------------------------------------------------


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_key(cipher: FieldCipher, data_key: bytes, attachment_id: str) -> str:
    """The data key encrypted with the active field key, bound to its attachment."""
    return cipher.encrypt(base64.b64encode(data_key).decode(), column=f"attachments.data_key_enc:{attachment_id}")


def unwrap_key(cipher: FieldCipher, wrapped: str, attachment_id: str) -> bytes:
    return base64.b64decode(cipher.decrypt(wrapped, column=f"attachments.data_key_enc:{attachment_id}"))


def _associated(attachment_id: str, part: str, seq: int, last: bool) -> bytes:
    return f"zm-evidence-v1|{attachment_id}|{part}|{seq}|{'last' if last else 'more'}".encode()


class Sealer:
    """Seals one part of a file as its bytes arrive, in pieces of CHUNK_BYTES. A piece is sealed only
    once a byte after it has arrived (or at `close`), so the last one is always marked as last."""

    def __init__(self, data_key: bytes, attachment_id: str, part: str) -> None:
        self._aead = AESGCM(data_key)
        self._attachment_id, self._part = attachment_id, part
        self._pending = bytearray()
        self.count = 0

    def add(self, data: bytes) -> Iterator[bytes]:
        """The pieces `data` completes, sealed (lazily: a whole file given at once is never copied whole)."""
        view = memoryview(data)
        while len(self._pending) + len(view) > CHUNK_BYTES:
            taken = CHUNK_BYTES - len(self._pending)
            piece = bytes(self._pending) + bytes(view[:taken])
            self._pending, view = bytearray(), view[taken:]
            yield self._seal(piece, last=False)
        self._pending += view

    def close(self) -> bytes:
        piece, self._pending = bytes(self._pending), bytearray()
        return self._seal(piece, last=True)

    def _seal(self, piece: bytes, *, last: bool) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        associated = _associated(self._attachment_id, self._part, self.count, last)
        sealed = nonce + self._aead.encrypt(nonce, piece, associated)
        self.count += 1
        return sealed


async def opened(data_key: bytes, attachment_id: str, part: str, count: int,
                 sealed: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The plain bytes of a part, piece by piece, each checked before it is given out; ChunkTampered
    when a piece does not authenticate in its place or the part has more or fewer than `count`."""
    aead, seq = AESGCM(data_key), 0
    async for piece in sealed:
        if seq >= count:
            raise ChunkTampered(f"attachment {attachment_id} has more pieces than recorded")
        try:
            yield aead.decrypt(piece[:_NONCE], piece[_NONCE:],
                               _associated(attachment_id, part, seq, seq == count - 1))
        except Exception as exc:  # InvalidTag, or a piece too short to hold a nonce and tag
            raise ChunkTampered(f"piece {seq} of attachment {attachment_id} did not authenticate") from exc
        seq += 1
    if seq != count:
        raise ChunkTampered(f"attachment {attachment_id} has {seq} of its {count} pieces")


class SealedSpool:
    """Sealed pieces held while an upload is still arriving, before its transaction opens: in memory up
    to two pieces, then in an anonymous temporary file, which only ever holds ciphertext (and vanishes with
    the process). Writing them to the database only once the upload is whole keeps a slow upload from
    holding SQLite's write lock."""

    IN_MEMORY = 2 * CHUNK_BYTES

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=self.IN_MEMORY)
        self.count = 0

    def write(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            self._file.write(struct.pack(">I", len(piece)))
            self._file.write(piece)
            self.count += 1

    def pieces(self) -> Iterator[bytes]:
        self._file.seek(0)
        for _ in range(self.count):
            (length,) = struct.unpack(">I", self._file.read(4))
            yield self._file.read(length)

    def close(self) -> None:
        self._file.close()


# --- where the pieces go ------------------------------------------------------------------------------------


class EvidenceStore(Protocol):
    """Keeps sealed pieces. Writes join the unit of work that records the attachment (a backend outside
    the database must keep a failed transaction from leaving pieces behind); reads stream a part in
    order and may outlive the request's transaction."""

    async def put(self, uow: UnitOfWork, attachment_id: str, part: str, pieces: Iterable[bytes]) -> None: ...

    def read(self, attachment_id: str, part: str) -> AsyncIterator[bytes]: ...

    async def delete(self, uow: UnitOfWork, attachment_id: str) -> None: ...


class DatabaseEvidenceStore:
    """Pieces as rows of `attachment_chunks` in intake's database."""

    # Pieces inserted per statement (a driver may copy its parameters more than once), and read per short
    # transaction, so a download to a slow client never holds one (on SQLite, the write lock) open.
    WRITE_BATCH, READ_BATCH = 2, 4

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def put(self, uow: UnitOfWork, attachment_id: str, part: str, pieces: Iterable[bytes]) -> None:
        batch: list[dict[str, object]] = []
        for seq, piece in enumerate(pieces):
            batch.append({"attachment_id": attachment_id, "part": part, "seq": seq, "sealed": piece})
            if len(batch) == self.WRITE_BATCH:
                # Core inserts: ORM objects would keep every piece in the session until the commit.
                await uow.session.execute(insert(AttachmentChunk), batch)
                batch = []
        if batch:
            await uow.session.execute(insert(AttachmentChunk), batch)

    async def read(self, attachment_id: str, part: str) -> AsyncIterator[bytes]:
        seq = 0
        while True:
            async with self._sessions() as session:
                rows = (await session.scalars(
                    select(AttachmentChunk.sealed)
                    .where(AttachmentChunk.attachment_id == attachment_id, AttachmentChunk.part == part,
                           AttachmentChunk.seq >= seq)
                    .order_by(AttachmentChunk.seq).limit(self.READ_BATCH))).all()
                await session.rollback()
            for piece in rows:
                yield piece
            if len(rows) < self.READ_BATCH:
                return
            seq += self.READ_BATCH

    async def delete(self, uow: UnitOfWork, attachment_id: str) -> None:
        await uow.session.execute(delete(AttachmentChunk).where(AttachmentChunk.attachment_id == attachment_id))
