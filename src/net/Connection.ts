/**
 * A connected stream socket owned by one fiber, with LuaSocket read patterns.
 *
 * A `Connection` wraps a `node:net` (or `node:tls`) socket. Reads take units
 * from a buffer that Node fills as data arrives, so data already received is
 * served without waiting (in `Effect.gen`, without suspending the fiber);
 * writes resolve once the bytes are handed to the kernel, so awaiting `send`
 * is backpressure, and the replies to pipelined requests (sends issued while
 * input is still buffered) go out together in one write. Every condition is typed:
 * end of stream is `ConnectionClosed` (carrying any partial unit), a reset is
 * `ConnectionReset`, use after close is `SocketClosed`, and a timeout is
 * `ConnectionTimeout` with its phase. A connection made with `make` is closed
 * when its scope closes, however the fiber ends.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type * as Net from "node:net"
import {
  type ConnectionError,
  ConnectionClosed,
  ConnectionTimeout,
  FrameTooLong,
  fromNodeError,
  LineTooLong,
  SocketClosed,
  StreamTooLong,
  withoutStack
} from "./Errors.ts"
import { type Decoder, isDecoder } from "./Decoder.ts"
import { FrameState } from "./internal/FrameState.ts"
import { type Pattern, ReadBuffer, tooLong } from "./ReadBuffer.ts"
import { asEffect, InlineOp, LATER, later, runLater, waitLater } from "./internal/inline.ts"
import { type Settings, settingsOf, timeoutsOf } from "./internal/settings.ts"
import { listen, onIdle, type SocketOwner, unlisten } from "./internal/SocketEvents.ts"
import { SUBCLASS_FLAG, Writer } from "./internal/Writer.ts"
import * as Tls from "./Tls.ts"

export type { Pattern } from "./ReadBuffer.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * One end of a connection.
 *
 * @category models
 * @since 0.1.0
 */
export interface Address {
  readonly host: string
  readonly port: number
  readonly family: "IPv4" | "IPv6"
}

/**
 * Per-connection timeouts. `read` bounds each wait for data (the connection
 * stays usable after it fires), `write` bounds each `send` (the connection is
 * closed: a half-written frame cannot be resumed), `idle` closes the
 * connection after that long with no traffic either way. Absent means no limit.
 *
 * @category models
 * @since 0.1.0
 */
export interface Timeouts {
  readonly read?: Duration.Input | undefined
  readonly write?: Duration.Input | undefined
  readonly idle?: Duration.Input | undefined
}

/**
 * Options for wrapping a socket.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends Timeouts {
  /**
   * Longest line (or `until` unit) accepted, in bytes. Default 65536. A longer
   * one fails that read with `LineTooLong`; the connection stays usable: the
   * rest of the unit, up to and including its delimiter, is dropped as it
   * arrives (never buffered), and the next read starts after it.
   */
  readonly maxLineLength?: number | undefined
  /**
   * Most bytes `receive("*a")` gathers, in bytes. Default 16 MiB (16777216).
   * Once more is buffered, the read fails with `StreamTooLong` and the bytes
   * stay buffered and readable, so a peer that never closes holds at most
   * this much (plus a received chunk or two) of memory. `"*a"` is
   * how LuaSocket-style code reads a whole response, so the default fits
   * ordinary bodies; a server facing untrusted peers may lower it.
   */
  readonly maxAll?: number | undefined
  /** Bytes buffered ahead of the reader before the socket is paused. Default 65536. */
  readonly highWaterMark?: number | undefined
}

/**
 * A connected stream socket.
 *
 * **Example** (A line echo handler)
 *
 * ```ts
 * const echo = Effect.fnUntraced(function*(conn: Connection.Connection) {
 *   for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Connection {
  /**
   * Reads one unit as text: a line by default, decoded as UTF-8 unless
   * `encoding` says otherwise. At end of stream it fails with
   * `ConnectionClosed` carrying what was read of an unfinished unit; `"*a"`
   * instead returns everything up to the end (at most `maxAll` bytes: past
   * that it fails with `StreamTooLong`, losing nothing).
   *
   * A unit already buffered is taken at once: in `Effect.gen`, `yield*` of
   * it completes without suspending the fiber. The effect is lazy and reads
   * anew each time it runs (`Effect.forever(conn.receive())` reads line after
   * line).
   *
   * **Example** (A Latin-1 line protocol)
   *
   * ```ts
   * const name = yield* conn.receive("*l", "latin1") // bytes 63 61 66 e9 0a => "café"
   * ```
   */
  receive(pattern?: Pattern, encoding?: BufferEncoding): Effect.Effect<string, ConnectionError>
  /** Like `receive`, returning the bytes. */
  receiveBytes(pattern?: Pattern): Effect.Effect<Buffer, ConnectionError>
  /**
   * Reads one frame with `decoder` (see `Decoder`): a whole protocol message
   * in one read, however it arrived. Fails with the decoder's own error when
   * it finds the bytes are no frame, with `FrameTooLong` past its
   * `maxFrameLength`, and at end of stream with `ConnectionClosed` carrying
   * the bytes of an unfinished frame. Inline when the frame is buffered, as
   * `receive` is.
   *
   * **Example** (Length-prefixed records)
   *
   * ```ts
   * const records = Decoder.lengthPrefixed() // once, shared by every connection
   * const record = yield* conn.receiveFrame(records) // Buffer
   * ```
   */
  receiveFrame<A, E>(decoder: Decoder<A, E>): Effect.Effect<A, ConnectionError | E>
  /**
   * Waits for at least one byte and returns everything buffered, up to `max`
   * (default 65536), across received chunks: a view of one chunk when it
   * holds them all, else one copy.
   */
  receivePartial(max?: number): Effect.Effect<Buffer, ConnectionError>
  /**
   * Writes `data` (a string in `encoding`, UTF-8 by default, written without
   * an intermediate `Buffer`; bytes are written as they are).
   *
   * **Details**
   *
   * - Outside a batch, it resolves once the bytes are handed to the kernel,
   *   and waits (bounded by the write timeout) when the kernel does not take
   *   them at once: awaiting `send` is backpressure.
   * - A batch: a send issued while received input is still buffered (the
   *   handler is answering pipelined requests, and will send again in this
   *   turn) is accepted at once and held with the sends after it, and the
   *   batch goes out in one write when the handler next waits for input, at
   *   the end of the current turn of the event loop, before `shutdown`,
   *   `close` or `upgradeTls`, or as soon as it reaches the socket's
   *   `writableHighWaterMark`; that send then waits like one outside a batch,
   *   so a batch never holds more than about one high water mark.
   * - A send never hangs on a dead peer: it fails with the connection's
   *   error. A batched write that fails later makes the connection's next
   *   `send`, `shutdown` and waiting read fail with that error; it is never
   *   lost. `close` sends what was accepted before the FIN, never drops it.
   * - A send larger than the high water mark never joins a batch.
   *
   * **Example** (Answering pipelined requests in one write)
   *
   * ```ts
   * const handler = Effect.fnUntraced(function*(conn: Connection.Connection) {
   *   for (;;) {
   *     const line = yield* conn.receive()
   *     // replies to requests that came together leave in one write
   *     yield* conn.send(`+${line}\r\n`, "latin1")
   *   }
   * })
   * ```
   */
  send(data: string | Uint8Array, encoding?: BufferEncoding): Effect.Effect<void, ConnectionError>
  /**
   * Half-closes: sends FIN after the unsent bytes, keeps reading. Later sends
   * fail with `SocketClosed`. Resolves once the FIN is handed to the kernel;
   * like `send` it is bounded by the write timeout (then fails with
   * `ConnectionTimeout { phase: "write" }` and closes the connection) and
   * fails, never hangs, when the peer resets or the socket closes first.
   */
  readonly shutdown: Effect.Effect<void, ConnectionError>
  /** Closes the socket. Idempotent; pending reads fail with `SocketClosed`. */
  readonly close: Effect.Effect<void>
  /** Replaces the timeouts (absent fields are cleared). */
  setTimeouts(timeouts: Timeouts): Effect.Effect<void>
  /** The peer's address. */
  readonly remoteAddress: Address
  /** This side's address. */
  readonly localAddress: Address
  /** Bytes received from the peer so far. */
  readonly bytesRead: number
  /**
   * Bytes received but not read yet (Nim's `hasDataBuffered`): while it is
   * above zero the next read may complete without waiting, and a `send`
   * joins a batch. An unfinished unit counts too, so above zero does not
   * promise that the next read will not wait.
   *
   * **Example** (Gathering replies until the input is drained)
   *
   * ```ts
   * replies += reply(yield* conn.receive())
   * if (conn.buffered === 0) yield* conn.send(replies) // one send per drained chunk
   * ```
   */
  readonly buffered: number
  /** Bytes handed to the kernel so far. */
  readonly bytesWritten: number
  /** Whether this side has closed the connection. */
  readonly isClosed: boolean
  /** The received bytes as a stream of chunks, ending at end of stream. */
  readonly stream: Stream.Stream<Uint8Array, ConnectionError>
  /** A sink that sends every element. */
  readonly sink: Sink.Sink<void, Uint8Array | string, never, ConnectionError>
  /** The underlying Node socket, for what this interface does not cover. */
  readonly socket: Net.Socket
  /**
   * Turns this connection into a TLS one (STARTTLS, Copas `dohandshake`): runs
   * the server or client side of a handshake over the socket, then every read
   * pattern and `send` go through TLS. Bytes received but not read yet (the
   * peer's ClientHello may have come with its STARTTLS command) feed the
   * handshake. Fails with `TlsError` (the connection is then closed), or
   * `ConnectionClosed` when the peer hangs up first.
   */
  upgradeTls(options: Tls.UpgradeOptions): Effect.Effect<void, ConnectionError>
  /** What the TLS handshake negotiated; `undefined` on a plain connection. */
  readonly tls: Tls.Info | undefined
}

// =============================================================================
// Implementation
// =============================================================================

const family = (f: string | undefined): "IPv4" | "IPv6" => (f === "IPv6" ? "IPv6" : "IPv4")
/**
 * End of stream with nothing unread: the usual end of every conversation. One
 * immutable value serves every connection (building a Schema error per
 * connection costs more than a twentieth of a raw connection's whole life).
 */
const endOfStream = withoutStack(() => new ConnectionClosed({ partial: new Uint8Array(0) }))

/** A read of a connection (a pattern, or up to `max` bytes with `PARTIAL`), inline when buffered. */
class Read<A> extends InlineOp<A> {
  readonly conn: ConnectionImpl
  readonly pattern: Want
  readonly encoding: BufferEncoding | undefined
  readonly max: number
  constructor(conn: ConnectionImpl, pattern: Want, encoding: BufferEncoding | undefined, max: number) {
    super()
    this.conn = conn
    this.pattern = pattern
    this.encoding = encoding
    this.max = max
  }
  now(): A | typeof LATER {
    return this.conn.readNow(this.pattern, this.encoding, this.max) as A | typeof LATER
  }
}

/** A send of a connection, inline when it does not wait. */
class Send extends InlineOp<void> {
  readonly conn: ConnectionImpl
  readonly data: string | Uint8Array
  readonly encoding: BufferEncoding | undefined
  constructor(conn: ConnectionImpl, data: string | Uint8Array, encoding: BufferEncoding | undefined) {
    super()
    this.conn = conn
    this.data = data
    this.encoding = encoding
  }
  now(): undefined | typeof LATER {
    return this.conn.writeNow(this.data, this.encoding)
  }
}

/** What the waiting reader asked for. */
const PARTIAL = -1
/** What a read asks for: a pattern, up to `max` bytes (`PARTIAL`) or a frame. */
type Want = Pattern | typeof PARTIAL | Decoder<unknown, unknown>
const noBytes = Buffer.alloc(0)
/** All the bytes of `*a`, as text when an encoding is asked. */
const decode = (bytes: Buffer, encoding: BufferEncoding | undefined): Buffer | string =>
  encoding === undefined ? bytes : bytes.toString(encoding)

class ConnectionImpl extends Writer implements Connection, SocketOwner {
  declare socket: Net.Socket
  /** Made when the first bytes arrive (an idle connection holds none). */
  private buffer: ReadBuffer | undefined = undefined
  /** The peer's FIN (or the socket's end) has come: nothing more will be buffered. */
  private get eof(): boolean {
    return this.hasFlag(SUBCLASS_FLAG)
  }
  private set eof(on: boolean) {
    this.setFlag(SUBCLASS_FLAG, on)
  }
  private resumeRead: ((effect: Effect.Effect<any, ConnectionError>) => void) | undefined = undefined
  private want: Want = "*l"
  private wantMax = 0
  /** How the waiting reader decodes its unit; `undefined` for bytes. */
  private wantEncoding: BufferEncoding | undefined = undefined
  private readTimer: ReturnType<typeof setTimeout> | undefined = undefined
  /** Limits and timeouts, shared with every connection made with the same options until `setTimeouts`. */
  private settings: Settings
  // the effects of the usual reads, made on first use and reused
  private lineText: Effect.Effect<string, ConnectionError> | undefined = undefined
  private lineBytes: Effect.Effect<Buffer, ConnectionError> | undefined = undefined
  private partial: Effect.Effect<Buffer, ConnectionError> | undefined = undefined
  private delimiterText = ""
  private delimiterBytes = noBytes
  /** The frame decoders' input and the last frame read, made on the first `receiveFrame`. */
  private frames: FrameState | undefined = undefined
  /** The wait for data, made on the first read that has to wait. */
  private wait: Effect.Effect<any, ConnectionError> | undefined = undefined

  constructor(socket: Net.Socket, options: Options | undefined) {
    super(socket)
    this.settings = settingsOf(options)
    this.attach(socket)
  }

  protected get writeMillis(): number | undefined {
    return this.settings.writeMillis
  }

  protected inputBuffered(): boolean {
    return this.buffer !== undefined && this.buffer.length > 0
  }

  /** Listens to `socket`; used at construction and after a TLS upgrade. */
  attach(socket: Net.Socket): void {
    this.socket = socket
    listen(socket, this, this.settings.idleMillis)
  }

  /** Stops listening to the current socket and returns it with the unread bytes (sent bytes flushed). */
  detach(): { readonly socket: Net.Socket; readonly unread: Buffer } {
    this.flush()
    const socket = this.socket
    unlisten(socket)
    socket.pause()
    return { socket, unread: this.buffer?.takeAll() ?? noBytes }
  }

  // ---------------------------------------------------------------------------
  // Socket events

  data(chunk: Buffer): void {
    const buffer = (this.buffer ??= new ReadBuffer())
    buffer.push(chunk)
    if (this.resumeRead !== undefined) this.wake()
    if (this.resumeRead === undefined && buffer.length >= this.settings.highWaterMark) this.socket.pause()
  }

  end(): void {
    this.eof = true
    this.wake()
  }

  error(error: Error): void {
    if (this.failure === undefined && !this.closedByUs) {
      const where = { host: this.socket.remoteAddress, port: this.socket.remotePort }
      // OpenSSL's errors on an established TLS connection (a corrupt record, a fatal alert) are TLS conditions
      this.failure = (error as { code?: string }).code?.startsWith("ERR_SSL_")
        ? Tls.fromNodeError(error, where)
        : fromNodeError(error, where)
    }
    this.wake()
  }

  /** The socket is gone: wake the reader, and fail sends whose callbacks will never come. */
  closed(): void {
    this.wake()
    this.failSends()
  }

  idle(): void {
    if (this.failure === undefined) {
      this.failure = withoutStack(() =>
        new ConnectionTimeout({
          phase: "idle",
          timeoutMillis: this.settings.idleMillis,
          host: this.socket.remoteAddress,
          port: this.socket.remotePort
        })
      )
    }
    this.socket.destroy()
    this.wake()
  }

  /** Completes the waiting reader if its unit (or a terminal condition) is now there. */
  wake(): void {
    const resume = this.resumeRead
    if (resume === undefined) return
    const result = this.attempt(this.want, this.wantEncoding, this.wantMax)
    if (result === undefined) {
      // the socket closed under a waiting reader with no terminal condition recorded
      if (this.socket.destroyed && !this.eof) this.eof = true
      else return
      return this.wake()
    }
    this.resumeRead = undefined
    if (this.readTimer !== undefined) {
      clearTimeout(this.readTimer)
      this.readTimer = undefined
    }
    resume(result === LATER ? later() : Effect.succeed(result))
  }

  private readTimeout(): void {
    const resume = this.resumeRead
    this.readTimer = undefined
    if (resume === undefined) return
    this.resumeRead = undefined
    resume(Effect.fail(withoutStack(() =>
      new ConnectionTimeout({
        phase: "read",
        timeoutMillis: this.settings.readMillis,
        host: this.socket.remoteAddress,
        port: this.socket.remotePort
      })
    )))
  }

  /** The wait for the reader's unit; its interruption cleanup forgets the reader. */
  private makeWait(): Effect.Effect<any, ConnectionError> {
    const cancel = Effect.sync(() => {
      this.resumeRead = undefined
      if (this.readTimer !== undefined) {
        clearTimeout(this.readTimer)
        this.readTimer = undefined
      }
    })
    return Effect.callback<any, ConnectionError>((resume) => {
      this.resumeRead = resume
      if (this.socket.isPaused()) this.socket.resume()
      const millis = this.settings.readMillis
      if (millis !== undefined) this.readTimer = setTimeout(() => this.readTimeout(), millis)
      return cancel
    })
  }

  // ---------------------------------------------------------------------------
  // Reading

  /**
   * The unit read (bytes, or text in `encoding`) if the buffer holds it;
   * `LATER` with the failure to run if the read is decided otherwise (see
   * `inline.ts`); `undefined` if it has to wait.
   */
  private attempt(pattern: Want, encoding: BufferEncoding | undefined, max: number): unknown {
    if (this.closedByUs) return runLater(this.closedError("receive"))
    const buffer = this.buffer
    let unit: unknown
    if (buffer === undefined) unit = undefined
    else if (pattern === "*l") unit = buffer.takeLine(this.settings.maxLineLength, encoding!)
    else if (pattern === PARTIAL) unit = buffer.takeUpTo(max, encoding!)
    else if (typeof pattern === "number") unit = buffer.takeExactly(pattern, encoding!)
    else if (isDecoder(pattern)) {
      unit = this.decodeFrame(pattern, buffer)
      if (unit === LATER) return LATER
    }
    else if (pattern === "*a") {
      if (buffer.length > this.settings.maxAll) return runLater(this.streamTooLong())
      unit = this.eof ? decode(buffer.takeAll(), encoding) : undefined
    } else {
      const until = pattern.until
      const delimiter = typeof until === "string" ? this.encoded(until) : until
      unit = buffer.takeUntil(delimiter, this.settings.maxLineLength, encoding!)
    }
    // another read took bytes in the middle of a frame: the decoder's progress was about them
    const frames = this.frames
    if (frames !== undefined && frames.decoder !== undefined && unit !== undefined && !isDecoder(pattern)) frames.forget()
    if (unit === tooLong) {
      // not fatal: the buffer drops the rest of the unit as it comes, and the handler may answer
      return runLater(Effect.fail(withoutStack(() =>
        new LineTooLong({
          maxLineLength: this.settings.maxLineLength,
          host: this.socket.remoteAddress,
          port: this.socket.remotePort
        })
      )))
    }
    if (unit !== undefined) {
      if (this.socket.isPaused() && buffer!.length < this.settings.highWaterMark) this.socket.resume()
      return unit
    }
    if (this.failure !== undefined) return runLater(Effect.fail(this.failure))
    if (this.eof) {
      const partial = buffer?.takeAll() ?? noBytes
      // the normal end of a conversation: no address (that would cost a getpeername syscall per connection)
      return runLater(
        Effect.fail(partial.length === 0 ? endOfStream : withoutStack(() => new ConnectionClosed({ partial })))
      )
    }
    return undefined
  }

  /** The next frame by `decoder`, `undefined` to wait, or `LATER` with its failure (see `inline.ts`). */
  private decodeFrame(decoder: Decoder<unknown, unknown>, buffer: ReadBuffer): unknown {
    const state = (this.frames ??= new FrameState())
    let frame: unknown
    try {
      state.use(decoder)
      frame = buffer.decode(decoder, state)
    } catch (defect) {
      state.forget()
      return runLater(Effect.die(defect))
    }
    if (state.failed) return runLater(Effect.fail(state.takeError() as ConnectionError))
    if (frame === undefined && state.needed > decoder.maxFrameLength) return runLater(this.frameTooLong(decoder, state))
    return frame
  }

  /** A frame over the decoder's limit: the read fails, the bytes stay buffered. */
  private frameTooLong(decoder: Decoder<unknown, unknown>, state: FrameState): Effect.Effect<never, FrameTooLong> {
    return Effect.fail(withoutStack(() =>
      new FrameTooLong({
        maxFrameLength: decoder.maxFrameLength,
        length: state.asked ? state.needed : state.needed - 1,
        host: this.socket.remoteAddress,
        port: this.socket.remotePort
      })
    ))
  }

  /** A string delimiter as bytes, encoded once while it stays the same (not on every attempt). */
  private encoded(delimiter: string): Buffer {
    if (delimiter !== this.delimiterText) {
      this.delimiterText = delimiter
      this.delimiterBytes = Buffer.from(delimiter)
    }
    return this.delimiterBytes
  }

  /** `*a` past `maxAll`: the read fails, the bytes stay buffered. */
  private streamTooLong(): Effect.Effect<never, StreamTooLong> {
    return Effect.fail(withoutStack(() =>
      new StreamTooLong({
        maxAll: this.settings.maxAll,
        buffered: this.buffer?.length ?? 0,
        host: this.socket.remoteAddress,
        port: this.socket.remotePort
      })
    ))
  }

  /** The unit read now, or `LATER` with the wait for it (or the failure) to run (see `inline.ts`). */
  readNow(pattern: Want, encoding: BufferEncoding | undefined, max: number): unknown {
    const now = this.attempt(pattern, encoding, max)
    if (now !== undefined) return now
    if (this.resumeRead !== undefined) {
      return runLater(Effect.die(new Error("fiberloop: two fibers are reading one connection at once")))
    }
    // the handler waits for the peer: the replies it batched go out now
    this.flush()
    this.want = pattern
    this.wantEncoding = encoding
    this.wantMax = max
    return waitLater(this.wait ??= this.makeWait())
  }

  receive(pattern: Pattern = "*l", encoding: BufferEncoding = "utf8"): Effect.Effect<string, ConnectionError> {
    if (pattern === "*l" && encoding === "utf8") return (this.lineText ??= asEffect(new Read(this, "*l", "utf8", 0)))
    return asEffect(new Read(this, pattern, encoding, 0))
  }

  receiveBytes(pattern: Pattern = "*l"): Effect.Effect<Buffer, ConnectionError> {
    if (pattern === "*l") return (this.lineBytes ??= asEffect(new Read(this, "*l", undefined, 0)))
    return asEffect(new Read(this, pattern, undefined, 0))
  }

  receiveFrame<A, E>(decoder: Decoder<A, E>): Effect.Effect<A, ConnectionError | E> {
    const frames = (this.frames ??= new FrameState())
    if (decoder !== frames.readDecoder) {
      frames.readDecoder = decoder as Decoder<unknown, unknown>
      frames.read = asEffect(new Read(this, decoder as Decoder<unknown, unknown>, undefined, 0))
    }
    return frames.read!
  }

  receivePartial(max = 65536): Effect.Effect<Buffer, ConnectionError> {
    if (max === 65536) return (this.partial ??= asEffect(new Read(this, PARTIAL, undefined, 65536)))
    return asEffect(new Read(this, PARTIAL, undefined, max))
  }

  // ---------------------------------------------------------------------------
  // Writing (the write side, batching included, is `Writer`)

  send(data: string | Uint8Array, encoding?: BufferEncoding): Effect.Effect<void, ConnectionError> {
    return asEffect(new Send(this, data, encoding))
  }

  // ---------------------------------------------------------------------------
  // Closing

  /** Closes after sending what sends accepted (see `Writer.closeSocket`); wakes the reader. */
  closeUnsafe(): void {
    if (this.closedByUs) return
    this.closedByUs = true
    this.wake()
    this.closeSocket()
  }

  get close(): Effect.Effect<void> {
    return Effect.sync(() => this.closeUnsafe())
  }

  get isClosed(): boolean {
    return this.closedByUs
  }

  // ---------------------------------------------------------------------------
  // TLS

  upgradeTls(options: Tls.UpgradeOptions): Effect.Effect<void, ConnectionError> {
    return Effect.suspend(() => {
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.closedByUs || this.socket.destroyed || this.eof) return this.closedError("upgradeTls")
      if (this.resumeRead !== undefined) {
        return Effect.die(new Error("fiberloop: upgradeTls while another fiber is reading the connection"))
      }
      const { socket, unread } = this.detach()
      if (unread.length > 0) socket.unshift(unread)
      return Tls.handshake(socket, options, (secure) => this.attach(secure)).pipe(
        Effect.onError((cause) =>
          Effect.sync(() => {
            const error = Cause.findErrorOption(cause)
            this.failure = error._tag === "Some" ? error.value : withoutStack(() =>
              new SocketClosed({ operation: "upgradeTls", host: socket.remoteAddress, port: socket.remotePort })
            )
          })
        ),
        Effect.asVoid
      )
    })
  }

  get tls(): Tls.Info | undefined {
    return Tls.infoOf(this.socket)
  }

  // ---------------------------------------------------------------------------
  // Timeouts, addresses, views

  setTimeouts(timeouts: Timeouts): Effect.Effect<void> {
    return Effect.sync(() => {
      const settings = { ...this.settings, ...timeoutsOf(timeouts) }
      this.settings = settings
      this.socket.off("timeout", onIdle)
      this.socket.setTimeout(settings.idleMillis ?? 0)
      if (settings.idleMillis !== undefined) this.socket.on("timeout", onIdle)
    })
  }

  get remoteAddress(): Address {
    const s = this.socket
    return { host: s.remoteAddress ?? "", port: s.remotePort ?? 0, family: family(s.remoteFamily) }
  }

  get localAddress(): Address {
    const s = this.socket
    return { host: s.localAddress ?? "", port: s.localPort ?? 0, family: family(s.localFamily) }
  }

  get bytesRead(): number {
    return this.socket.bytesRead
  }

  get buffered(): number {
    return this.buffer?.length ?? 0
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten
  }

  get stream(): Stream.Stream<Uint8Array, ConnectionError> {
    const pull = this.receivePartial().pipe(
      Effect.map(Arr.of<Uint8Array>),
      Effect.catchTag("ConnectionClosed", () => Cause.done())
    )
    return Stream.fromPull(Effect.succeed(pull))
  }

  get sink(): Sink.Sink<void, Uint8Array | string, never, ConnectionError> {
    return Sink.forEach((chunk: Uint8Array | string) => this.send(chunk))
  }
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * Wraps a connected socket without tying it to a scope: the caller must close
 * it. Servers use this on their accept path.
 *
 * **Example** (Wrapping a socket from another library)
 *
 * ```ts
 * const conn = Connection.makeUnsafe(socket, { idle: "30 seconds" })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUnsafe = (socket: Net.Socket, options?: Options | undefined): Connection =>
  new ConnectionImpl(socket, options)

/**
 * Wraps a connected socket; the connection is closed when the scope closes.
 *
 * **Example** (Owning a socket for the length of a scope)
 *
 * ```ts
 * Effect.scoped(Effect.flatMap(Connection.make(socket), (conn) => conn.send("hello\n")))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  socket: Net.Socket,
  options?: Options | undefined
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(() => makeUnsafe(socket, options)), (conn) => conn.close)

/**
 * Closes a connection from outside Effect (a server's bookkeeping when a
 * connection's fiber has ended). Idempotent, like `close`.
 *
 * **Example** (Closing from a fiber observer)
 *
 * ```ts
 * fiber.addObserver(() => Connection.closeUnsafe(conn))
 * ```
 *
 * @category destructors
 * @since 0.1.0
 */
export const closeUnsafe = (conn: Connection): void => (conn as ConnectionImpl).closeUnsafe()

/**
 * Stops a connection from reading its socket and hands the socket over,
 * with the bytes received but not yet read (put them back with
 * `socket.unshift`). The connection still closes the socket when its owner
 * ends. Used to give a connection's socket to another socket library.
 *
 * **Example** (Handing a socket to effect/socket)
 *
 * ```ts
 * const { socket, unread } = Connection.detachUnsafe(conn)
 * if (unread.length > 0) socket.unshift(unread)
 * ```
 *
 * @category destructors
 * @since 0.1.0
 */
export const detachUnsafe = (conn: Connection): { readonly socket: Net.Socket; readonly unread: Buffer } =>
  (conn as ConnectionImpl).detach()
