/**
 * Frame decoders: a protocol's framing written once as a function over the
 * buffered bytes, read with `conn.receiveFrame(decoder)` — what Tokio's
 * `Decoder`, Netty's `ByteToMessageDecoder` and Erlang's `{packet, N}` are
 * to their servers.
 *
 * Read patterns (`"*l"`, a byte count, `until`) read a protocol one piece at
 * a time, one effect per piece. A decoder reads a whole message (a RESP
 * command, a length-prefixed record) in one: `decode` sees the unread bytes
 * as one contiguous `Buffer` and either returns the frame, after
 * `input.consume(n)`, or returns `undefined` for "not yet", after
 * `input.need(n)` when it knows how many bytes it needs. A decoder is a
 * value: make it once and share it among connections.
 *
 A decoder that needs to remember how far it got in a frame that is still
 * arriving (Tokio's decoders keep it in `self`) says how to make its `state`:
 * one is made per connection, on its first frame, and handed to every call.
 *
 * The work stays proportional to the bytes received: bytes that arrive in
 * several chunks are made contiguous once, into room that doubles; a decoder
 * is called again only when new bytes came (and not before the count it
 * asked for with `need`); its state lets it resume where the last call
 * stopped; and `maxFrameLength` bounds what one frame may hold.
 *
 * @since 0.1.0
 */
import type { FrameTooLong } from "./Errors.ts"

/**
 * What `decode` sees and how it answers: the unread bytes from `start` to
 * `end` of `bytes` (the frame begins at `bytes[start]`), and the calls that
 * say what it found. Valid only during the call.
 *
 * **Example** (A frame of 4 bytes)
 *
 * ```ts
 * const decode = (input: Decoder.FrameInput) => {
 *   if (input.end - input.start < 4) return input.need(4)
 *   input.consume(4)
 *   return input.bytes.readUInt32BE(input.start)
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface FrameInput<E = never> {
  /** The buffered bytes; the unread ones are `start` to `end`. */
  readonly bytes: Buffer
  /** Where the unread bytes (and the frame) begin in `bytes`. */
  readonly start: number
  /** Where the unread bytes end: `bytes.length`. */
  readonly end: number
  /**
   * The first `length` bytes from `start` are used: the frame `decode`
   * returns, or, when it returns `undefined`, bytes to skip (decoding goes on
   * after them).
   */
  consume(length: number): void
  /**
   * Not yet: call again once `length` bytes from `start` are buffered.
   * Returns `undefined`, so `return input.need(n)` reads as it means.
   */
  need(length: number): undefined
  /**
   * The bytes are not a frame: the read fails with `error` and nothing is
   * consumed. Returns `undefined`, like `need`.
   */
  fail(error: E): undefined
}

const TypeId = "~fiberloop/net/Decoder" as const

/**
 * A frame decoder: read frames with `conn.receiveFrame(decoder)`, which
 * fails with `E` when `decode` calls `fail`, and with `FrameTooLong` past
 * `maxFrameLength`. Make one with `make` (or `lengthPrefixed`).
 *
 * **Example** (Reading a frame)
 *
 * ```ts
 * const record = yield* conn.receiveFrame(Decoder.lengthPrefixed())
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Decoder<A, E = never> {
  readonly [TypeId]: typeof TypeId
  /**
   * One frame from the front of `input`, or `undefined` (see `FrameInput`),
   * with the connection's `state`. A frame is never `undefined`.
   */
  readonly decode: (input: FrameInput<E>, state: any) => A | undefined
  /** Makes a connection's state, on its first frame; `undefined` for a decoder without one. */
  readonly state: (() => unknown) | undefined
  /**
   * The most bytes one frame may hold: a connection waiting for one buffers
   * about this much at most (and a received chunk).
   */
  readonly maxFrameLength: number
}

/**
 * The failure of `conn.receiveFrame(decoder)` beyond the connection's own
 * conditions: the decoder's `E`, or `FrameTooLong`.
 *
 * @category models
 * @since 0.1.0
 */
export type DecodeError<D> = D extends Decoder<any, infer E> ? E | FrameTooLong : never

/** The default `maxFrameLength`: 1 MiB. */
export const DEFAULT_MAX_FRAME_LENGTH = 1024 * 1024

class DecoderImpl<A, E> implements Decoder<A, E> {
  readonly [TypeId] = TypeId
  readonly decode: (input: FrameInput<E>, state: any) => A | undefined
  readonly state: (() => unknown) | undefined
  readonly maxFrameLength: number
  constructor(
    decode: (input: FrameInput<E>, state: any) => A | undefined,
    state: (() => unknown) | undefined,
    maxFrameLength: number
  ) {
    this.decode = decode
    this.state = state
    this.maxFrameLength = maxFrameLength
  }
}

/**
 * Whether `u` is a decoder made by this module.
 *
 * ```ts
 * Decoder.isDecoder(Decoder.lengthPrefixed()) // => true
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isDecoder = (u: unknown): u is Decoder<unknown, unknown> => u instanceof DecoderImpl

/**
 * A decoder from its `decode` function, and its `state` if it keeps one per
 * connection (made on the connection's first frame; `decode` resets it when
 * a frame is done); `maxFrameLength` defaults to 1 MiB.
 *
 * **Example** (Netstrings: `5:hello,`)
 *
 * ```ts
 * class BadNetstring extends Data.TaggedError("BadNetstring")<{}> {}
 *
 * const netstrings = Decoder.make<string, BadNetstring>({
 *   maxFrameLength: 64 * 1024,
 *   decode: (input) => {
 *     const { bytes, start, end } = input
 *     const colon = bytes.indexOf(0x3a, start)
 *     if (colon < 0) return end - start > 5 ? input.fail(new BadNetstring()) : undefined
 *     const digits = bytes.toString("latin1", start, colon)
 *     if (!/^(?:0|[1-9][0-9]{0,4})$/.test(digits)) return input.fail(new BadNetstring())
 *     const length = Number(digits)
 *     const total = colon + 1 + length + 1 - start
 *     if (end - start < total) return input.need(total) // not called again before `total` bytes are here
 *     if (bytes[start + total - 1] !== 0x2c) return input.fail(new BadNetstring())
 *     input.consume(total)
 *     return bytes.toString("utf8", colon + 1, colon + 1 + length)
 *   }
 * })
 * ```
 *
 * **Example** (Lines, resuming the search for the newline)
 *
 * ```ts
 * const lines = Decoder.make({
 *   state: () => ({ scanned: 0 }),
 *   decode: (input, state) => {
 *     const lf = input.bytes.indexOf(0x0a, input.start + state.scanned)
 *     if (lf < 0) {
 *       state.scanned = input.end - input.start
 *       return undefined
 *     }
 *     state.scanned = 0
 *     input.consume(lf + 1 - input.start)
 *     return input.bytes.toString("utf8", input.start, lf)
 *   }
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <A, E = never, S = undefined>(options: {
  readonly decode: (input: FrameInput<E>, state: S) => A | undefined
  readonly state?: (() => S) | undefined
  readonly maxFrameLength?: number | undefined
}): Decoder<A, E> => {
  const max = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH
  if (!(max >= 1 && Number.isSafeInteger(max))) throw new RangeError(`maxFrameLength must be a positive integer, got ${max}`)
  return new DecoderImpl(options.decode, options.state, max)
}

/**
 * Frames that begin with their length as a big-endian unsigned integer of
 * `lengthBytes` (1, 2 or 4; default 4), the length not counting itself (as
 * Netty's `LengthFieldBasedFrameDecoder`, Tokio's `LengthDelimitedCodec`
 * and Erlang's `{packet, 4}` default to). The frame is the payload, a view
 * of the received bytes. A length over `maxFrameLength` (default 1 MiB)
 * fails with `FrameTooLong` before its payload is buffered; the error counts
 * the length field too (`maxFrameLength + lengthBytes`).
 *
 * **Example** (Records of up to 64 KiB)
 *
 * ```ts
 * const records = Decoder.lengthPrefixed({ maxFrameLength: 65536 })
 * const record = yield* conn.receiveFrame(records) // Buffer
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const lengthPrefixed = (options?: {
  readonly lengthBytes?: 1 | 2 | 4 | undefined
  readonly maxFrameLength?: number | undefined
}): Decoder<Buffer> => {
  const size = options?.lengthBytes ?? 4
  if (size !== 1 && size !== 2 && size !== 4) throw new RangeError(`lengthBytes must be 1, 2 or 4, got ${size}`)
  return make({
    maxFrameLength: (options?.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH) + size,
    decode: (input) => {
      const { bytes, start, end } = input
      if (end - start < size) return input.need(size)
      const length = size === 4 ? bytes.readUInt32BE(start) : size === 2 ? bytes.readUInt16BE(start) : bytes[start]!
      const total = size + length
      if (end - start < total) return input.need(total)
      input.consume(total)
      return bytes.subarray(start + size, start + total)
    }
  })
}
