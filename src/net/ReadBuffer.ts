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
 * exceeded its limit.
 *
 * @category models
 * @since 0.1.0
 */
export type Take = Buffer | undefined | typeof tooLong

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

/**
 * A FIFO of received chunks with LuaSocket read patterns.
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
  private chunks: Array<Buffer> = []
  /** Bytes of `chunks[0]` already consumed. */
  private offset = 0
  /** Bytes from the front already searched without finding `searched`. */
  private scanned = 0
  /** The delimiter `scanned` is about: a byte, or a copy of a sequence. */
  private searched: number | Buffer = -1

  /** Appends a received chunk. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.length += chunk.length
  }

  /** A line without its terminator (`\n` or `\r\n`), if a whole one is buffered. */
  takeLine(maxLength: number): Take {
    const end = this.indexOfByte(LF)
    // `+ 1`: a line of exactly maxLength may be waiting for the `\n` after its `\r`
    if (end < 0) return this.length > maxLength + 1 ? tooLong : undefined
    let lineEnd = end
    const line = this.take(end + 1)
    if (lineEnd > 0 && line[lineEnd - 1] === CR) lineEnd--
    if (lineEnd > maxLength) return tooLong
    return line.subarray(0, lineEnd)
  }

  /** Everything up to the delimiter (dropped), if it is buffered. */
  takeUntil(delimiter: Uint8Array, maxLength: number): Take {
    const end = delimiter.length === 1 ? this.indexOfByte(delimiter[0]!) : this.indexOfSequence(delimiter)
    // once max + delimiter bytes are here without the delimiter, the unit cannot fit
    if (end < 0) return this.length >= maxLength + delimiter.length ? tooLong : undefined
    if (end > maxLength) return tooLong
    return this.take(end + delimiter.length).subarray(0, end)
  }

  /** Exactly `n` bytes, if that many are buffered. */
  takeExactly(n: number): Buffer | undefined {
    return this.length >= n ? this.take(n) : undefined
  }

  /** Up to `max` bytes of what is buffered, without waiting; empty when nothing is. */
  takeUpTo(max: number): Buffer {
    if (this.length === 0) return empty
    return this.take(Math.min(max, this.chunks[0]!.length - this.offset))
  }

  /** Everything buffered. */
  takeAll(): Buffer {
    return this.take(this.length)
  }

  /** Removes and returns the first `n` bytes (`n <= length`). */
  private take(n: number): Buffer {
    this.scanned = 0
    if (n === 0) return empty
    this.length -= n
    const first = this.chunks[0]!
    const available = first.length - this.offset
    if (n < available) {
      const out = first.subarray(this.offset, this.offset + n)
      this.offset += n
      return out
    }
    if (n === available) {
      const out = this.offset === 0 ? first : first.subarray(this.offset)
      this.chunks.shift()
      this.offset = 0
      return out
    }
    const out = Buffer.allocUnsafe(n)
    let written = 0
    while (written < n) {
      const chunk = this.chunks[0]!
      const want = n - written
      const have = chunk.length - this.offset
      if (have <= want) {
        chunk.copy(out, written, this.offset)
        written += have
        this.chunks.shift()
        this.offset = 0
      } else {
        chunk.copy(out, written, this.offset, this.offset + want)
        written += want
        this.offset += want
      }
    }
    return out
  }

  /** Position (from the front) of the first `byte`, or -1; remembers how far it searched. */
  private indexOfByte(byte: number): number {
    if (this.searched !== byte) {
      this.searched = byte
      this.scanned = 0
    }
    let base = 0
    for (let i = 0; i < this.chunks.length; i++) {
      const chunk = this.chunks[i]!
      const start = i === 0 ? this.offset : 0
      const size = chunk.length - start
      if (base + size > this.scanned) {
        const from = start + Math.max(0, this.scanned - base)
        const at = chunk.indexOf(byte, from)
        if (at >= 0) return base + at - start
      }
      base += size
    }
    this.scanned = base
    return -1
  }

  /** Position of the first `sequence`, or -1; joins chunks so it can span them. */
  private indexOfSequence(sequence: Uint8Array): number {
    const searched = this.searched
    if (typeof searched === "number" || !searched.equals(sequence)) {
      this.searched = Buffer.from(sequence)
      this.scanned = 0
    }
    if (this.length < sequence.length) return -1
    if (this.chunks.length > 1) {
      const scanned = this.scanned
      const joined = this.take(this.length)
      this.chunks = [joined]
      this.offset = 0
      this.length = joined.length
      this.scanned = scanned
    }
    const chunk = this.chunks[0]!
    const from = this.offset + Math.max(0, this.scanned - sequence.length + 1)
    const at = chunk.indexOf(sequence, from)
    if (at >= 0) return at - this.offset
    this.scanned = this.length
    return -1
  }
}
