/**
 * A connection's side of frame decoders: the `FrameInput` their `decode`
 * calls see (one per connection, reused), what they answered, and the
 * connection's frame read effect.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { Decoder, FrameInput } from "../Decoder.ts"

const empty = Buffer.alloc(0)

/**
 * The input of one `decode` call and its answer; between calls, the
 * decoder's state and how many bytes to wait for.
 *
 * ```ts
 * const state = new FrameState()
 * const frame = buffer.decode(decoder, state)
 * if (state.failed) fail(state.takeError())
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class FrameState implements FrameInput<unknown> {
  bytes: Buffer = empty
  start = 0
  end = 0
  /** Bytes the last call consumed. */
  used = 0
  /** Do not call again before this many bytes are buffered. */
  needed = 0
  /** Whether `needed` is the decoder's own count (`need`) rather than "any more bytes". */
  asked = false
  /** The last call failed with `error`. */
  failed = false
  error: unknown = undefined
  /** The decoder the state and the count belong to. */
  decoder: Decoder<unknown, unknown> | undefined = undefined
  /** The decoder's own state for this connection (see `Decoder.make`). */
  state: unknown = undefined
  /** The read effect of the last decoder given to `receiveFrame`, reused while it stays the same. */
  read: Effect.Effect<any, any> | undefined = undefined
  readDecoder: Decoder<unknown, unknown> | undefined = undefined

  /** Starts afresh when the reader switches decoders (the state and count are the old one's). */
  use(decoder: Decoder<unknown, unknown>): void {
    if (this.decoder === decoder) return
    this.state = decoder.state === undefined ? undefined : decoder.state()
    this.decoder = decoder
    this.needed = 0
    this.asked = false
  }

  /**
   * Forgets the decoder's progress: after a call that threw, or when another
   * read took bytes (the state and count were about bytes that are gone).
   */
  forget(): void {
    this.decoder = undefined
    this.bytes = empty
    this.failed = false
    this.error = undefined
  }

  consume(length: number): void {
    if (!(Number.isInteger(length) && length >= 1 && length <= this.end - this.start)) {
      throw new RangeError(`fiberloop: a decoder consumed ${length} bytes of ${this.end - this.start} buffered`)
    }
    this.used = length
  }

  need(length: number): undefined {
    this.needed = length
    this.asked = true
    return undefined
  }

  fail(error: unknown): undefined {
    this.failed = true
    this.error = error
    return undefined
  }

  /** The failure of the last call, cleared (the next read calls the decoder again). */
  takeError(): unknown {
    const error = this.error
    this.failed = false
    this.error = undefined
    return error
  }
}
