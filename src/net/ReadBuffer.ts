/**
 * The bytes a connection has received but nobody has read yet, and the
 * LuaSocket read patterns over them.
 *
 * Chunks are kept as Node hands them over; a unit that lies inside one chunk
 * is returned as a view of it (no copy), and only a unit spanning chunks is
 * concatenated. A delimiter search remembers how far it got, so a line that
 * arrives a byte at a time costs linear, not quadratic, time; that memory
 * belongs to one delimiter, and a search for another starts from the front.
 *
 * @since 0.1.0
 */
import type { Decoder } from "./Decoder.ts"
import type { FrameState } from "./internal/FrameState.ts"

/**
 * What to read: `"*l"` a line (without its `\n` or `\r\n`), `"*a"` everything
 * until the peer closes, a byte count, or everything up to (and without) a
 * delimiter.
 *
 * **Example** (Reading a header block)
 *
 * ```ts
 * conn.receive({ until: "\r\n\r\n" })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Pattern = "*l" | "*a" | number | { readonly until: string | Uint8Array }

/**
 * Outcome of trying to satisfy a pattern from the buffer: the unit, or
 * `undefined` when more bytes are needed, or `tooLong` when a delimited unit
 * exceeded its limit (the buffer then drops that unit, see `ReadBuffer`).
 *
 * @category models
 * @since 0.1.0
 */
export type Take = Buffer | undefined | typeof tooLong

/**
 * A `Take` decoded as text: the unit as a string, `undefined` or `tooLong`.
 *
 * ```ts
 * const line: TakeText = buffer.takeLine(1024, "latin1")
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type TakeText = string | undefined | typeof tooLong

/**
 * Marker returned when a line or delimited unit grows past its limit.
 *
 * @category models
 * @since 0.1.0
 */
export const tooLong: unique symbol = Symbol.for("fiberloop/net/ReadBuffer/tooLong")

const empty = Buffer.alloc(0)
const LF = 0x0a
const CR = 0x0d

/** `searchKind` before any search. */
const NONE = -1
/** `searchKind` when the memory is about `searchedSequence`. */
const SEQUENCE = -2

/** Whether `a` and `b` hold the same bytes. */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * A FIFO of received chunks with LuaSocket read patterns.
 *
 * Every pattern costs time linear in the bytes received, however they are
 * chunked: a search resumes where the previous search for the same delimiter
 * stopped (for a multi-byte delimiter, `delimiter.length - 1` bytes before the
 * end, since a match may start there), it steps across chunk boundaries
 * instead of joining chunks, and a unit is copied once, when it is taken.
 * `work` counts what that costs.
 *
 * A line or delimited unit over its limit is dropped: `takeLine`/`takeUntil`
 * return `tooLong` and the buffer then discards that unit's bytes, up to and
 * including its delimiter, as they are pushed (keeping at most
 * `delimiter.length - 1` of them, which may begin the delimiter), so memory
 * stays bounded; reads return nothing until the delimiter has come, then go
 * on after it.
 *
 * ```ts
 * const buf = new ReadBuffer()
 * buf.push(Buffer.from("a\r\nb"))
 * buf.takeLine(1024)?.toString() // => "a"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class ReadBuffer {
  /** Unread bytes in total. */
  length = 0
  /**
   * A running count of the work done: one per byte searched, compared or
   * copied and one per chunk stepped over (units handed out as views of one
   * chunk cost nothing). Tests and diagnostics compare it against the bytes
   * received; it is a plain integer, never reset.
   */
  work = 0
  private chunks: Array<Buffer> = []
  /** Index in `chunks` of the first unread chunk (consumed ones before it are dropped in batches). */
  private head = 0
  /** Bytes of `chunks[head]` already consumed. */
  private offset = 0
  /** The delimiter the search memory is about: a byte value, `SEQUENCE`, or `NONE`. */
  private searchKind = NONE
  /** A copy of the last multi-byte delimiter searched for. */
  private searchedSequence: Buffer = empty
  /** Unread bytes from the front where the delimiter is known not to start. */
  private scanned = 0
  /** Where those bytes end: an index in `chunks` and an offset in that chunk (valid when `scanned > 0`). */
  private scanChunk = 0
  private scanOffset = 0
  /** While dropping a unit over its limit: its delimiter (a byte value or `SEQUENCE`); else `NONE`. */
  private skipping = NONE
  /** The memory of a head chunk merged for a decoder, with room after it for later chunks; else `empty`. */
  private room: Buffer = empty

  /** Appends a received chunk (dropping it, up to a delimiter, while a unit over its limit is skipped). */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.length += chunk.length
    if (this.skipping !== NONE) this.skip()
  }

  /**
   * A line without its terminator (`\n` or `\r\n`), if a whole one is
   * buffered; decoded with `encoding` when given (no `Buffer` made for it).
   */
  takeLine(maxLength: number): Take
  takeLine(maxLength: number, encoding: BufferEncoding): TakeText
  takeLine(maxLength: number, encoding?: BufferEncoding): Take | TakeText {
    if (this.skipping !== NONE) return undefined
    const end = this.indexOfByte(LF)
    if (end < 0) {
      // `+ 1`: a line of exactly maxLength may be waiting for the `\n` after its `\r`
      if (this.length <= maxLength + 1) return undefined
      this.skipping = LF
      this.skip()
      return tooLong
    }
    const lineEnd = end > 0 && this.byteAt(end - 1) === CR ? end - 1 : end
    if (lineEnd > maxLength) {
      this.drop(end + 1)
      return tooLong
    }
    return this.take(end + 1, lineEnd, encoding)
  }

  /** Everything up to the delimiter (dropped), if it is buffered; decoded with `encoding` when given. */
  takeUntil(delimiter: Uint8Array, maxLength: number): Take
  takeUntil(delimiter: Uint8Array, maxLength: number, encoding: BufferEncoding): TakeText
  takeUntil(delimiter: Uint8Array, maxLength: number, encoding?: BufferEncoding): Take | TakeText {
    if (this.skipping !== NONE) return undefined
    const end = delimiter.length === 1 ? this.indexOfByte(delimiter[0]!) : this.indexOfSequence(delimiter)
    if (end < 0) {
      // once max + delimiter bytes are here without the delimiter, the unit cannot fit
      if (this.length < maxLength + delimiter.length) return undefined
      this.skipping = delimiter.length === 1 ? delimiter[0]! : SEQUENCE
      this.skip()
      return tooLong
    }
    if (end > maxLength) {
      this.drop(end + delimiter.length)
      return tooLong
    }
    return this.take(end + delimiter.length, end, encoding)
  }

  /** Exactly `n` bytes, if that many are buffered; decoded with `encoding` when given. */
  takeExactly(n: number): Buffer | undefined
  takeExactly(n: number, encoding: BufferEncoding): string | undefined
  takeExactly(n: number, encoding?: BufferEncoding): Buffer | string | undefined {
    return this.skipping === NONE && this.length >= n ? this.take(n, n, encoding) : undefined
  }

  /**
   * Up to `max` bytes of what is buffered, without waiting; `undefined` when
   * nothing is. A view when they lie in the first chunk, else one copy across
   * chunks. Decoded with `encoding` when given.
   */
  takeUpTo(max: number): Buffer | undefined
  takeUpTo(max: number, encoding: BufferEncoding): string | undefined
  takeUpTo(max: number, encoding?: BufferEncoding): Buffer | string | undefined {
    if (this.skipping !== NONE || this.length === 0) return undefined
    const n = Math.min(max, this.length)
    return this.take(n, n, encoding)
  }

  /**
   * Runs `decoder` over the unread bytes, made contiguous, until it returns a
   * frame (its bytes consumed), has to wait (`undefined`; not called again
   * before more bytes, or the count it asked for, are buffered) or fails
   * (`undefined` with `state.failed`). Bytes it consumes without a frame are
   * skipped and decoding goes on.
   */
  decode<A>(decoder: Decoder<A, unknown>, state: FrameState): A | undefined {
    for (;;) {
      if (this.skipping !== NONE || this.length === 0 || this.length < state.needed) return undefined
      const bytes = this.contiguous(state.asked, decoder.maxFrameLength)
      state.bytes = bytes
      state.start = this.offset
      state.end = this.offset + this.length
      state.used = 0
      state.needed = 0
      state.asked = false
      this.work++
      const frame = decoder.decode(state, state.state)
      state.bytes = empty
      if (state.failed) return undefined
      const used = state.used
      if (used === 0) {
        if (frame !== undefined) throw new Error("fiberloop: a decoder returned a frame without consuming its bytes")
        if (state.needed <= this.length) state.needed = this.length + 1
        return undefined
      }
      this.drop(used)
      if (frame !== undefined) return frame
    }
  }

  /**
   * The unread bytes as one chunk from `offset`: the head chunk when it holds
   * them all; else the later chunks appended to the room after a merged head,
   * or everything copied into a new chunk. The new chunk is `exact`ly as large
   * when a decoder asked for this count and none of the bytes was merged
   * before (the usual case: one merge per frame); otherwise twice as large (at
   * most `limit`, the decoder's frame limit), so a frame that arrives in many
   * chunks, asked for piece by piece or not, is copied a bounded number of
   * times.
   */
  private contiguous(exact: boolean, limit: number): Buffer {
    const chunks = this.chunks
    const first = chunks[this.head]!
    if (first.length - this.offset === this.length) return first
    const room = this.room
    const rest = this.length - (first.length - this.offset)
    const wasMerged = room !== empty && first.buffer === room.buffer && first.byteOffset === room.byteOffset
    let backing: Buffer
    let used = 0
    if (wasMerged && room.length - first.length >= rest) {
      backing = room
      used = first.length
      for (let i = this.head + 1; i < chunks.length; i++) used += this.copyChunk(chunks[i]!, 0, backing, used)
    } else {
      const size = exact && !wasMerged ? this.length : Math.max(this.length, Math.min(Math.max(4096, 2 * this.length), limit))
      backing = Buffer.allocUnsafe(size)
      for (let i = this.head; i < chunks.length; i++) {
        used += this.copyChunk(chunks[i]!, i === this.head ? this.offset : 0, backing, used)
      }
      this.offset = 0
      this.room = backing
    }
    const merged = backing.subarray(0, used)
    chunks.length = 0
    chunks.push(merged)
    this.head = 0
    this.scanned = 0
    return merged
  }

  /** Copies `chunk` from `from` into `target` at `at`; returns the bytes copied. */
  private copyChunk(chunk: Buffer, from: number, target: Buffer, at: number): number {
    const n = chunk.copy(target, at, from)
    this.work += n + 1
    return n
  }

  /** Everything buffered (nothing of a unit being dropped, which ends there). */
  takeAll(): Buffer {
    if (this.skipping !== NONE) {
      this.skipping = NONE
      this.drop(this.length)
    }
    return this.take(this.length, this.length, undefined) as Buffer
  }

  /**
   * Drops the unit being skipped up to and including its delimiter if it has
   * come; else drops all but the last `delimiter.length - 1` bytes.
   */
  private skip(): void {
    const sequence = this.searchedSequence
    const byte = this.skipping
    const end = byte === SEQUENCE ? this.indexOfSequence(sequence) : this.indexOfByte(byte)
    const size = byte === SEQUENCE ? sequence.length : 1
    if (end >= 0) {
      this.skipping = NONE
      this.drop(end + size)
    } else if (this.length >= size) {
      this.drop(this.length - size + 1)
    }
  }

  /** Removes the first `n` bytes (`n <= length`) without copying them. */
  private drop(n: number): void {
    this.scanned = n < this.scanned ? this.scanned - n : 0
    this.length -= n
    while (n > 0) {
      const have = this.chunks[this.head]!.length - this.offset
      this.work++
      if (have <= n) {
        n -= have
        this.dropHead()
      } else {
        this.offset += n
        n = 0
      }
    }
  }

  /** The byte at `i` (`i < length`) from the front. */
  private byteAt(i: number): number {
    let k = this.head
    let at = this.offset + i
    for (;;) {
      const chunk = this.chunks[k++]!
      if (at < chunk.length) return chunk[at]!
      at -= chunk.length
    }
  }

  /**
   * Removes the first `n` bytes (`n <= length`) and returns the first `keep`
   * of them: a view when they lie in one chunk, else one copy across chunks;
   * decoded straight from the chunk with `encoding` when given.
   */
  private take(n: number, keep: number, encoding: BufferEncoding | undefined): Buffer | string {
    if (n === 0) return encoding === undefined ? empty : ""
    // the memory keeps what it knows about the bytes after the taken ones
    this.scanned = n < this.scanned ? this.scanned - n : 0
    this.length -= n
    const first = this.chunks[this.head]!
    const start = this.offset
    const available = first.length - start
    if (n <= available) {
      const out = encoding !== undefined
        ? first.toString(encoding, start, start + keep)
        : start === 0 && keep === first.length
        ? first
        : first.subarray(start, start + keep)
      if (n === available) this.dropHead()
      else this.offset += n
      return out
    }
    const out = Buffer.allocUnsafe(n)
    let written = 0
    while (written < n) {
      const chunk = this.chunks[this.head]!
      const want = n - written
      const have = chunk.length - this.offset
      this.work += Math.min(want, have) + 1
      if (have <= want) {
        chunk.copy(out, written, this.offset)
        written += have
        this.dropHead()
      } else {
        chunk.copy(out, written, this.offset, this.offset + want)
        written += want
        this.offset += want
      }
    }
    return encoding !== undefined ? out.toString(encoding, 0, keep) : keep === n ? out : out.subarray(0, keep)
  }

  private dropHead(): void {
    const chunks = this.chunks
    this.offset = 0
    // a merged head is always the first chunk: its room goes with it
    this.room = empty
    // the usual case: the only chunk
    if (chunks.length === 1) {
      chunks.pop()
      return
    }
    chunks[this.head++] = empty
    if (this.head === chunks.length) {
      chunks.length = 0
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= chunks.length) {
      chunks.splice(0, this.head)
      this.scanChunk -= this.head
      this.head = 0
    }
  }

  /** Position (from the front) of the first `byte`, or -1; resumes where the last search for it stopped. */
  private indexOfByte(byte: number): number {
    if (this.searchKind !== byte) {
      this.searchKind = byte
      this.scanned = 0
    }
    const chunks = this.chunks
    let i = this.scanned === 0 ? this.head : this.scanChunk
    let from = this.scanned === 0 ? this.offset : this.scanOffset
    let base = this.scanned
    for (; i < chunks.length; i++) {
      const chunk = chunks[i]!
      const at = chunk.indexOf(byte, from)
      if (at >= 0) {
        this.work += at - from + 1
        return base + at - from
      }
      this.work += chunk.length - from + 1
      base += chunk.length - from
      from = 0
    }
    this.scanned = base
    this.scanChunk = chunks.length
    this.scanOffset = 0
    return -1
  }

  /**
   * Position of the first `sequence`, or -1. Resumes where the last search for
   * it stopped; finds matches inside a chunk with `indexOf` and checks the
   * few that cross into the next chunks byte by byte.
   */
  private indexOfSequence(sequence: Uint8Array): number {
    const same = sameBytes(this.searchedSequence, sequence)
    if (this.searchKind !== SEQUENCE || !same) {
      if (!same) this.searchedSequence = Buffer.from(sequence)
      this.searchKind = SEQUENCE
      this.scanned = 0
    }
    const size = sequence.length
    // the last start that has enough bytes after it to decide
    const last = this.length - size
    if (last < this.scanned) return -1
    const chunks = this.chunks
    let i = this.scanned === 0 ? this.head : this.scanChunk
    let from = this.scanned === 0 ? this.offset : this.scanOffset
    let base = this.scanned
    for (; i < chunks.length; i++) {
      const chunk = chunks[i]!
      if (chunk.length - from >= size) {
        const at = chunk.indexOf(sequence, from)
        if (at >= 0) {
          this.work += at - from + size
          return base + at - from
        }
        this.work += chunk.length - from
      }
      // starts near the end of this chunk: the match would run into the next ones
      for (let k = Math.max(from, chunk.length - size + 1); k < chunk.length; k++) {
        const at = base + k - from
        if (at > last) {
          this.scanned = at
          this.scanChunk = i
          this.scanOffset = k
          return -1
        }
        if (this.matchesAt(sequence, i, k)) return at
      }
      this.work++
      base += chunk.length - from
      from = 0
    }
    // not reached: the last chunk always holds starts too close to the end to decide
    return -1
  }

  /** Whether `sequence` starts at byte `k` of chunk `i` (enough bytes are buffered to tell). */
  private matchesAt(sequence: Uint8Array, i: number, k: number): boolean {
    let chunk = this.chunks[i]!
    for (let j = 0; j < sequence.length; j++, k++) {
      while (k === chunk.length) {
        chunk = this.chunks[++i]!
        k = 0
        this.work++
      }
      this.work++
      if (chunk[k] !== sequence[j]) return false
    }
    return true
  }
}
