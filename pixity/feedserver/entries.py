"""Every tick's ``feeds`` entry, encoded ahead of time: bytes per mode, and offsets.

Encoding entries one by one through upb cost the local exchange most of its send path, so
the whole tape is encoded at once, column by column with NumPy, the first time a client
subscribes in a mode (``EncodedEntries.build``, logged): sending a tick is then slicing
bytes. For the sample day of 200 keys (1.8M ticks) full mode takes about 580 MB (324 bytes
a tick) and 5 s of one core, ltpc mode 112 MB and 0.6 s.

The bytes are protobuf as upb writes it (fields in number order, proto3 zeros left out,
``marketLevel`` only when there is a book), built from the message descriptors: each field
is a node that knows each entry's size of it, and writes itself at each entry's position.
The values are the ones ``EntryEncoder`` is given on the old path (``Tape.slice`` and
``Tape.depth``), bit for bit; ``tests/feedserver/test_fs_entries.py`` checks that every
entry parses to the very message ``EntryEncoder`` builds, in both modes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.internal import wire_format
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from pixity.feeds.upstox_wire import varint
from pixity.feedserver.tape import Tape, depth

log = logging.getLogger(__name__)

_BLOCK = 1 << 14  # ticks encoded together: bounds the temporary arrays (~50 MB)
_WIRE = {
    FieldDescriptor.TYPE_DOUBLE: wire_format.WIRETYPE_FIXED64,
    FieldDescriptor.TYPE_INT64: wire_format.WIRETYPE_VARINT,
    FieldDescriptor.TYPE_ENUM: wire_format.WIRETYPE_VARINT,
    FieldDescriptor.TYPE_STRING: wire_format.WIRETYPE_LENGTH_DELIMITED,
    FieldDescriptor.TYPE_MESSAGE: wire_format.WIRETYPE_LENGTH_DELIMITED,
}
_U7 = np.uint64(7)
_LOW7 = np.uint64(0x7F)

Index = np.ndarray | None  # which entries of a block a node writes (None: all of them)


def _tag(fd: FieldDescriptor, wire: int) -> bytes:
    if _WIRE.get(fd.type) != wire:
        raise TypeError(f"{fd.full_name}: type {fd.type} is not encoded with wire type {wire}")
    return varint((fd.number << 3) | wire)


def _varint_len(v: np.ndarray) -> np.ndarray:
    """Return the varint length (1..10 bytes) of each uint64 in ``v``."""
    n = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        over = v >= np.uint64(1 << (7 * k))
        if not over.any():
            break
        n += over
    return n


def _take(a: np.ndarray, idx: Index) -> np.ndarray:
    return a if idx is None else a[idx]


def _put_const(out: np.ndarray, pos: np.ndarray, data: bytes) -> np.ndarray:
    """Write ``data`` at every position; return the positions just past it."""
    for k, byte in enumerate(data):
        out[pos + k if k else pos] = byte
    return pos + len(data)


def _put_varint(out: np.ndarray, pos: np.ndarray, v: np.ndarray, n: np.ndarray) -> None:
    """Write varint ``v`` (uint64, ``n`` bytes long) at each position."""
    k = 0
    while len(pos):
        more = n > k + 1
        out[pos + k] = ((v & _LOW7) | (more.astype(np.uint64) << _U7)).astype(np.uint8)
        if more.all():
            v = v >> _U7
        else:
            pos, v, n = pos[more], v[more] >> _U7, n[more]
        k += 1


def _put_columns(out: np.ndarray, pos: np.ndarray, rows: np.ndarray) -> None:
    """Write row ``i`` of ``rows`` (uint8, one row per position) at ``pos[i]``."""
    for k in range(rows.shape[1]):  # a column at a time: faster than one 2-d scatter
        out[pos + k] = rows[:, k]


class _Node:
    """One field of a block of entries: its size in each entry (0 = absent), and a writer."""

    size: np.ndarray

    def write(self, out: np.ndarray, idx: Index, pos: np.ndarray) -> None:
        """Write the field of entries ``idx`` at positions ``pos`` (absent ones: nothing)."""
        raise NotImplementedError

    def _present(
        self, present: np.ndarray, idx: Index, pos: np.ndarray
    ) -> tuple[Index, np.ndarray]:
        mask = _take(present, idx)
        if mask.all():
            return idx, pos
        where = np.flatnonzero(mask)
        return (where if idx is None else idx[where]), pos[where]


class _Varint(_Node):
    """An int64 or enum field (negative values as ten bytes, as protobuf has it)."""

    def __init__(self, fd: FieldDescriptor, values: np.ndarray) -> None:
        self.tag = _tag(fd, wire_format.WIRETYPE_VARINT)
        self.v = np.asarray(values).astype(np.int64).view(np.uint64)
        self.present = self.v != 0
        self.n = _varint_len(self.v)
        self.size = np.where(self.present, len(self.tag) + self.n, 0)

    def write(self, out: np.ndarray, idx: Index, pos: np.ndarray) -> None:
        idx, pos = self._present(self.present, idx, pos)
        _put_varint(out, _put_const(out, pos, self.tag), _take(self.v, idx), _take(self.n, idx))


class _Double(_Node):
    """A double field; zero is left out, -0.0 (whose bits are not zero) is not."""

    def __init__(self, fd: FieldDescriptor, values: np.ndarray) -> None:
        self.tag = _tag(fd, wire_format.WIRETYPE_FIXED64)
        self.v = np.ascontiguousarray(values, dtype="<f8")
        self.present = self.v.view(np.uint64) != 0
        self.size = np.where(self.present, len(self.tag) + 8, 0)

    def write(self, out: np.ndarray, idx: Index, pos: np.ndarray) -> None:
        idx, pos = self._present(self.present, idx, pos)
        pos = _put_const(out, pos, self.tag)
        _put_columns(out, pos, _take(self.v, idx).view(np.uint8).reshape(-1, 8))


class _String(_Node):
    """A string field whose value in each entry is one of a few (``table[ids]``)."""

    def __init__(self, fd: FieldDescriptor, table: Sequence[str], ids: np.ndarray) -> None:
        tag = _tag(fd, wire_format.WIRETYPE_LENGTH_DELIMITED)
        chunks = []
        for text in table:
            data = text.encode()
            chunks.append(tag + varint(len(data)) + data if data else b"")
        width = max([1, *(len(c) for c in chunks)])
        self.matrix = np.zeros((len(chunks), width), dtype=np.uint8)
        for row, chunk in enumerate(chunks):
            self.matrix[row, : len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        self.lengths = np.array([len(c) for c in chunks], dtype=np.int64)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.size = self.lengths[self.ids]

    def write(self, out: np.ndarray, idx: Index, pos: np.ndarray) -> None:
        ids = _take(self.ids, idx)
        if len(self.lengths) == 1 or (self.lengths == self.lengths[0]).all():
            if self.lengths[0]:
                _put_columns(out, pos, self.matrix[ids])
            return
        sizes = self.lengths[ids]
        for length in np.unique(self.lengths).tolist():
            sel = np.flatnonzero(sizes == length)
            if length and len(sel):
                _put_columns(out, pos[sel], self.matrix[ids[sel], :length])


class _Message(_Node):
    """A message field: tag, length, then its fields in order; ``present`` None = always."""

    def __init__(
        self, fd: FieldDescriptor, fields: Sequence[_Node], present: np.ndarray | None = None
    ) -> None:
        self.tag = _tag(fd, wire_format.WIRETYPE_LENGTH_DELIMITED)
        self.fields = fields
        content = np.zeros(len(fields[0].size), dtype=np.int64)
        for field in fields:
            content += field.size
        self.content = content.view(np.uint64)
        self.n = _varint_len(self.content)
        self.present = present
        size = len(self.tag) + self.n + content
        self.size = size if present is None else np.where(present, size, 0)

    def write(self, out: np.ndarray, idx: Index, pos: np.ndarray) -> None:
        if self.present is not None:
            idx, pos = self._present(self.present, idx, pos)
        pos = _put_const(out, pos, self.tag)
        n = _take(self.n, idx)
        _put_varint(out, pos, _take(self.content, idx), n)
        pos = pos + n
        for field in self.fields:
            field.write(out, idx, pos)
            pos = pos + _take(field.size, idx)


def _fields(message: Descriptor) -> dict[str, FieldDescriptor]:
    return dict(message.fields_by_name)


_FEEDS = pb.FeedResponse.DESCRIPTOR.fields_by_name["feeds"]
_ENTRY = _fields(_FEEDS.message_type)
_FEED = _fields(pb.Feed.DESCRIPTOR)
_FULL_FEED = _fields(pb.FullFeed.DESCRIPTOR)
_MARKET = _fields(pb.MarketFullFeed.DESCRIPTOR)
_LTPC = _fields(pb.LTPC.DESCRIPTOR)
_LEVEL = _fields(pb.MarketLevel.DESCRIPTOR)
_QUOTE = _fields(pb.Quote.DESCRIPTOR)
_OHLC_LIST = _fields(pb.MarketOHLC.DESCRIPTOR)
_OHLC = _fields(pb.OHLC.DESCRIPTOR)
_CANDLE_INTERVALS = ("I1", "1d")  # the candles ``EntryEncoder`` puts in a full entry, in order


class _Books:
    """The book ``tape.depth`` gives each tick, as columns: computed once per distinct price."""

    def __init__(self, ltp: np.ndarray) -> None:
        prices, self.of_tick = np.unique(ltp, return_inverse=True)
        books = [depth(p) for p in prices.tolist()]
        self.count = np.array([len(b) for b in books], dtype=np.int64)
        self.levels = int(self.count.max(initial=0))
        shape = (len(books), self.levels)
        self.bid_q, self.ask_q = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
        self.bid_p, self.ask_p = np.zeros(shape, np.float64), np.zeros(shape, np.float64)
        for n in np.unique(self.count).tolist():  # books of n levels, all at once
            rows = np.flatnonzero(self.count == n)
            if not n:
                continue
            levels = [books[r] for r in rows.tolist()]
            quantities = np.array([[(q[0], q[2]) for q in b] for b in levels], dtype=np.int64)
            prices_ = np.array([[(q[1], q[3]) for q in b] for b in levels], dtype=np.float64)
            self.bid_q[rows, :n], self.ask_q[rows, :n] = quantities[..., 0], quantities[..., 1]
            self.bid_p[rows, :n], self.ask_p[rows, :n] = prices_[..., 0], prices_[..., 1]


class EncodedEntries:
    """Each tick's ``feeds`` entry in one mode, in blocks of ``block`` ticks.

    Tick ``i``'s entry is ``offsets[i]``..``offsets[i+1]`` of the concatenated blocks
    (kept apart: joining them would cost another copy of the whole blob).
    """

    __slots__ = ("block", "blocks", "full", "offsets")

    def __init__(
        self, full: bool, block: int, blocks: list[np.ndarray], offsets: np.ndarray
    ) -> None:
        self.full = full
        self.block = block  # ticks a block
        self.blocks = blocks  # uint8; block b holds ticks b * block ..
        self.offsets = offsets  # int64, one more than there are ticks

    @property
    def nbytes(self) -> int:
        """Return the memory the entries take."""
        return sum(b.nbytes for b in self.blocks) + int(self.offsets.nbytes)

    def span(self, lo: int, hi: int) -> tuple[bytes, np.ndarray]:
        """Return ticks ``lo``..``hi``'s entries as one blob, and their offsets in it."""
        offsets, size = self.offsets, self.block
        pieces = []
        for b in range(lo // size, (hi - 1) // size + 1 if hi > lo else lo // size):
            base = int(offsets[b * size])
            start = int(offsets[max(lo, b * size)]) - base
            end = int(offsets[min(hi, (b + 1) * size)]) - base
            pieces.append(self.blocks[b][start:end].tobytes())
        return b"".join(pieces), offsets[lo : hi + 1] - offsets[lo]

    def entry(self, i: int) -> bytes:
        """Return tick ``i``'s entry."""
        return self.span(i, i + 1)[0]

    @classmethod
    def build(cls, tape: Tape, full: bool) -> EncodedEntries:
        """Encode every tick of ``tape`` in full or ltpc mode (logs what it cost)."""
        started = time.perf_counter()
        books = _Books(tape.ltp) if full else None
        blocks: list[np.ndarray] = []
        offsets = np.zeros(len(tape) + 1, dtype=np.int64)
        size = _BLOCK
        for lo in range(0, len(tape), size):
            hi = min(len(tape), lo + size)
            node = _entry_node(tape, lo, hi, books)
            pos = np.zeros(hi - lo, dtype=np.int64)
            np.cumsum(node.size[:-1], out=pos[1:])
            out = np.empty(int(pos[-1] + node.size[-1]), dtype=np.uint8)
            node.write(out, None, pos)
            blocks.append(out)
            offsets[lo + 1 : hi + 1] = offsets[lo] + pos + node.size
        entries = cls(full, size, blocks, offsets)
        log.info(
            "pre-encoded %d %s entries: %.1f MB in %.2f s",
            len(tape),
            "full" if full else "ltpc",
            entries.nbytes / 1e6,
            time.perf_counter() - started,
        )
        return entries


def _entry_node(tape: Tape, lo: int, hi: int, books: _Books | None) -> _Message:
    """Return the ``feeds`` map entries of ticks ``lo``..``hi``: ``{key, Feed}``."""
    ltp = tape.ltp[lo:hi]
    ltpc = [
        _Double(_LTPC["ltp"], ltp),
        _Varint(_LTPC["ltt"], tape.ltt[lo:hi]),
        _Varint(_LTPC["ltq"], tape.ltq[lo:hi]),
        _Double(_LTPC["cp"], tape.sent_close_price[lo:hi]),
    ]
    if books is None:
        feed: list[_Node] = [_Message(_FEED["ltpc"], ltpc)]
        mode = pb.ltpc
    else:
        market = [
            _Message(_MARKET["ltpc"], ltpc),
            *_book(books, lo, hi),
            _Message(_MARKET["marketOHLC"], _candles(tape, lo, hi)),
            _Double(_MARKET["atp"], tape.sent_atp[lo:hi]),
            _Varint(_MARKET["vtt"], tape.sent_vtt[lo:hi]),
        ]
        full_feed = _Message(_FULL_FEED["marketFF"], market)
        feed = [_Message(_FEED["fullFeed"], [full_feed])]
        mode = pb.full_d5
    feed.append(_Varint(_FEED["requestMode"], np.full(hi - lo, mode, dtype=np.int64)))
    key = _String(_ENTRY["key"], tape.symbols, tape.key_index[lo:hi])
    return _Message(_FEEDS, [key, _Message(_ENTRY["value"], feed)])


def _book(books: _Books, lo: int, hi: int) -> list[_Node]:
    """Return the ``marketLevel`` field, present only for ticks with a book."""
    row = books.of_tick[lo:hi]
    count = books.count[row]
    if not books.levels:
        return []
    levels: list[_Node] = []
    for k in range(books.levels):
        quote = [
            _Varint(_QUOTE["bidQ"], books.bid_q[row, k]),
            _Double(_QUOTE["bidP"], books.bid_p[row, k]),
            _Varint(_QUOTE["askQ"], books.ask_q[row, k]),
            _Double(_QUOTE["askP"], books.ask_p[row, k]),
        ]
        levels.append(_Message(_LEVEL["bidAskQuote"], quote, present=count > k))
    return [_Message(_MARKET["marketLevel"], levels, present=count > 0)]


def _candles(tape: Tape, lo: int, hi: int) -> list[_Node]:
    """Return the ``I1`` and ``1d`` candles (``Tape.slice``'s ``i1``/``d1``) of each tick."""
    close = tape.ltp[lo:hi]
    i1 = (tape.i1_open, tape.i1_high, tape.i1_low, tape.i1_vol, tape.i1_ts)
    d1 = (tape.d_open, tape.d_high, tape.d_low, tape.d_vol, tape.d_ts)
    zeros = np.zeros(hi - lo, dtype=np.int64)
    out: list[_Node] = []
    for n, (o, h, low, vol, ts) in enumerate((i1, d1)):
        fields = [
            _String(_OHLC["interval"], _CANDLE_INTERVALS, zeros + n),
            _Double(_OHLC["open"], o[lo:hi]),
            _Double(_OHLC["high"], h[lo:hi]),
            _Double(_OHLC["low"], low[lo:hi]),
            _Double(_OHLC["close"], close),
            _Varint(_OHLC["vol"], vol[lo:hi]),
            _Varint(_OHLC["ts"], ts[lo:hi]),
        ]
        out.append(_Message(_OHLC_LIST["ohlc"], fields))
    return out
