/**
 * The datagrams a socket has received but nobody has taken yet.
 *
 * A bounded FIFO filled synchronously from the socket's `'message'` event and
 * drained by `take`. When something is buffered, `take` returns it without
 * allocating a closure or a `Deferred`; only an empty buffer parks the taker
 * in an `Effect.callback`, and the next datagram resumes it directly. The
 * buffer is bounded twice, in datagrams and in bytes (what `sizeOf` says a
 * datagram weighs): when either bound would be passed the newest datagram is
 * dropped and counted, so a slow reader never makes the process grow.
 *
 * Errors have two kinds: a pending error (an ICMP report on a connected
 * socket) is delivered once, to a parked taker or to the next operation; a
 * closing error is final, fails every parked taker and every later `take`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * A bounded receive buffer with parked takers.
 *
 * **Example** (Buffering two datagrams)
 *
 * ```ts
 * const buffer = DatagramBuffer.makeUnsafe<string, never>(1)
 * buffer.offerUnsafe("a") // => true
 * buffer.offerUnsafe("b") // => false (dropped)
 * buffer.dropped // => 1
 * yield* buffer.take // => "a"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface DatagramBuffer<A, E> {
  /** The most datagrams held at once. */
  readonly capacity: number
  /** The most bytes held at once (`Infinity` when unbounded). */
  readonly maxBytes: number
  /** Datagrams held now. */
  readonly size: number
  /** Bytes held now. */
  readonly bytes: number
  /** Datagrams dropped because the buffer was full (in datagrams or in bytes). */
  readonly dropped: number
  /** Whether `closeUnsafe` was called. */
  readonly closed: boolean
  /**
   * The oldest datagram, waiting for one when the buffer is empty. Buffered
   * datagrams come before a pending error; after close it fails with the
   * closing error.
   */
  readonly take: Effect.Effect<A, E>
  /** Removes and returns the oldest buffered datagram, without waiting. */
  pollUnsafe(): A | undefined
  /** Hands a datagram to the first parked taker, or buffers it; `false` when it was dropped. */
  offerUnsafe(value: A): boolean
  /** Fails the first parked taker with `error`, or keeps it for the next operation. */
  failUnsafe(error: E): void
  /** Removes and returns the pending error, if there is one (for operations other than `take`). */
  pollErrorUnsafe(): E | undefined
  /** Closes the buffer: drops what is buffered and fails every parked and later taker with `error`. */
  closeUnsafe(error: E): void
}

const initialSlots = 16

/**
 * A byte bound for `makeUnsafe`: the most bytes held, and the weight of one datagram.
 *
 * **Example** (Bounding datagrams by payload size)
 *
 * ```ts
 * const bound: DatagramBuffer.ByteBound<Datagram> = { maxBytes: 4 * 1024 * 1024, sizeOf: (d) => d.data.byteLength }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ByteBound<A> {
  /** The most bytes held at once; a datagram that would pass it is dropped. */
  readonly maxBytes: number
  /** The bytes one datagram counts for. */
  readonly sizeOf: (value: A) => number
}

const unweighed = (): number => 0

class DatagramBufferImpl<A, E> implements DatagramBuffer<A, E> {
  readonly capacity: number
  readonly maxBytes: number
  size = 0
  bytes = 0
  dropped = 0
  closed = false
  readonly take: Effect.Effect<A, E>
  private slots: Array<A | undefined>
  private head = 0
  private pending: E | undefined = undefined
  private hasPending = false
  private closedWith: E | undefined = undefined
  private readonly takers: Array<(effect: Effect.Effect<A, E>) => void> = []
  private readonly wait: Effect.Effect<A, E>
  private readonly sizeOf: (value: A) => number

  constructor(capacity: number, bound: ByteBound<A> | undefined) {
    this.capacity = capacity
    this.maxBytes = bound === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Math.floor(bound.maxBytes) || 0)
    this.sizeOf = bound?.sizeOf ?? unweighed
    this.slots = new Array(Math.min(capacity, initialSlots))
    // `register` takes one parameter: with two, Effect allocates an AbortController per wait
    this.wait = Effect.callback<A, E>((resume) => {
      this.takers.push(resume)
      return Effect.sync(() => {
        const i = this.takers.indexOf(resume)
        if (i >= 0) this.takers.splice(i, 1)
      })
    })
    this.take = Effect.suspend(() => this.poll())
  }

  private poll(): Effect.Effect<A, E> {
    if (this.closed) return Effect.fail(this.closedWith as E)
    if (this.size > 0) return Effect.succeed(this.shift())
    if (this.hasPending) return Effect.fail(this.pollErrorUnsafe() as E)
    return this.wait
  }

  private shift(): A {
    const value = this.slots[this.head] as A
    this.slots[this.head] = undefined
    this.head = this.head + 1 === this.slots.length ? 0 : this.head + 1
    this.size--
    this.bytes -= this.sizeOf(value)
    return value
  }

  pollUnsafe(): A | undefined {
    return this.size > 0 ? this.shift() : undefined
  }

  offerUnsafe(value: A): boolean {
    if (this.closed) return false
    const taker = this.takers.shift()
    if (taker !== undefined) {
      taker(Effect.succeed(value))
      return true
    }
    const bytes = this.bytes + this.sizeOf(value)
    if (this.size >= this.capacity || bytes > this.maxBytes) {
      this.dropped++
      return false
    }
    if (this.size === this.slots.length) this.grow()
    const tail = this.head + this.size
    this.slots[tail < this.slots.length ? tail : tail - this.slots.length] = value
    this.size++
    this.bytes = bytes
    return true
  }

  private grow(): void {
    const next: Array<A | undefined> = new Array(Math.min(this.capacity, this.slots.length * 2))
    for (let i = 0; i < this.size; i++) {
      const at = this.head + i
      next[i] = this.slots[at < this.slots.length ? at : at - this.slots.length]
    }
    this.slots = next
    this.head = 0
  }

  failUnsafe(error: E): void {
    if (this.closed) return
    const taker = this.takers.shift()
    if (taker !== undefined) return taker(Effect.fail(error))
    this.pending = error
    this.hasPending = true
  }

  pollErrorUnsafe(): E | undefined {
    if (!this.hasPending) return undefined
    const error = this.pending
    this.pending = undefined
    this.hasPending = false
    return error
  }

  closeUnsafe(error: E): void {
    if (this.closed) return
    this.closed = true
    this.closedWith = error
    this.slots = []
    this.size = 0
    this.bytes = 0
    this.head = 0
    this.pending = undefined
    this.hasPending = false
    const takers = this.takers.splice(0)
    const failure = Effect.fail(error)
    for (const taker of takers) taker(failure)
  }
}

/**
 * Makes an empty buffer that holds at most `capacity` datagrams (at least 1)
 * and, with a `bound`, at most `bound.maxBytes` bytes. The byte bound is
 * strict: a datagram heavier than `maxBytes` on its own is always dropped.
 *
 * **Example** (A socket's receive buffer)
 *
 * ```ts
 * const buffer = DatagramBuffer.makeUnsafe<Datagram, SocketClosed>(1024, {
 *   maxBytes: 4 * 1024 * 1024,
 *   sizeOf: (d) => d.data.byteLength
 * })
 * socket.on("message", (data, info) => buffer.offerUnsafe({ data, ...info }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUnsafe = <A, E>(capacity: number, bound?: ByteBound<A> | undefined): DatagramBuffer<A, E> =>
  new DatagramBufferImpl<A, E>(Math.max(1, Math.floor(capacity)), bound)
