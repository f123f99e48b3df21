/**
 * The write side of a `Connection`: sends, their backpressure, the batching
 * of replies to pipelined requests, half-close and the flush on close.
 *
 * A send outside a batch resolves once Node has handed its bytes to the
 * kernel, or waits for the callback of an empty write queued after it
 * (bounded by the write timeout). A
 * send issued while received input is still buffered joins a batch and is
 * accepted at once: strings of one encoding are joined into one pending
 * string (one `socket.write` for the batch, as a hand-written server that
 * concatenates its replies does), bytes cork the socket. The batch goes out
 * in one write when the reader has to wait, at the end of the turn, before
 * shutdown, close or detach, or when it reaches the socket's high water mark
 * (that send then waits like any other). The error of a write nobody waits
 * for becomes the connection's failure, so it is never lost.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Net from "node:net"
import { type ConnectionError, ConnectionTimeout, fromNodeError, SocketClosed, withoutStack } from "../Errors.ts"
import { type LATER, runLater, waitLater } from "./inline.ts"

/** A send waiting for its bytes to reach the kernel. */
interface WriteWaiter {
  readonly seq: number
  readonly resume: (effect: Effect.Effect<void, ConnectionError>) => void
  timer: ReturnType<typeof setTimeout> | undefined
}

// The connection's flags, folded into one field (`Writer.flags`): a field per flag costs 8 bytes each.
const CLOSED_BY_US = 1
const SHUT_DOWN = 2
const BATCHING = 4
const CORKED = 8
/**
 * The flag bit a subclass may use for its own state (the connection's end of stream).
 *
 * ```ts
 * private get eof() { return this.hasFlag(SUBCLASS_FLAG) }
 * ```
 */
export const SUBCLASS_FLAG = 16

const noBytes = Buffer.alloc(0)

/** The end-of-turn flush of a batch of sends (scheduled once per batch). */
const flushAtEndOfTurn = (writer: Writer): void => writer.flush()

/** Ends a closed socket whose flush outlived the write timeout. */
const destroyLingering = (socket: Net.Socket): void => {
  socket.destroy()
}

/**
 * The write side of a connection, and the state both sides share (the
 * socket, the fatal failure, whether this side closed or shut down). The
 * connection extends it, so it costs no object of its own.
 *
 * ```ts
 * class ConnectionImpl extends Writer {
 *   protected inputBuffered() { return this.buffer.length > 0 }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export abstract class Writer {
  socket: Net.Socket
  /** A fatal condition: the connection can no longer be read or written. */
  protected failure: ConnectionError | undefined = undefined
  /** The flags below, one bit each. */
  private flags = 0
  protected hasFlag(bit: number): boolean {
    return (this.flags & bit) !== 0
  }
  protected setFlag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit
  }
  /** This side closed the connection. */
  protected get closedByUs(): boolean {
    return this.hasFlag(CLOSED_BY_US)
  }
  protected set closedByUs(on: boolean) {
    this.setFlag(CLOSED_BY_US, on)
  }
  /** This side sent its FIN. */
  protected get shutDown(): boolean {
    return this.hasFlag(SHUT_DOWN)
  }
  protected set shutDown(on: boolean) {
    this.setFlag(SHUT_DOWN, on)
  }
  /** Sends are being gathered to go out in one write. */
  private get batching(): boolean {
    return this.hasFlag(BATCHING)
  }
  private set batching(on: boolean) {
    this.setFlag(BATCHING, on)
  }
  /** The batch corked the socket (it holds bytes, or strings of two encodings). */
  private get corked(): boolean {
    return this.hasFlag(CORKED)
  }
  private set corked(on: boolean) {
    this.setFlag(CORKED, on)
  }
  /** The batch's strings not yet handed to the socket, joined, and their encoding. */
  private pending: string | undefined = undefined
  private pendingEncoding: BufferEncoding = "utf8"
  /** The write timeout, in milliseconds. */
  protected abstract readonly writeMillis: number | undefined
  /**
   * Writes issued and write callbacks received. Node completes writes in
   * order, so a send that could not be flushed at once waits until the
   * callback count reaches its own number. Several fibers may send at once.
   */
  private writesIssued = 0
  private writesDone = 0
  /** The last write a batch accepted without waiting: close flushes up to it. */
  private accepted = 0
  /** Sends waiting for their bytes to reach the kernel, made when the first one waits. */
  private writeWaiters: Array<WriteWaiter> | undefined = undefined
  /** The write callback, made on the first write (idle connections never need it). */
  private written: ((error?: Error | null) => void) | undefined = undefined

  constructor(socket: Net.Socket) {
    this.socket = socket
  }

  /** Whether received input waits to be read (the handler will answer it in this turn). */
  protected abstract inputBuffered(): boolean

  /**
   * Writes `data`: accepted into a batch or handed to the kernel (`undefined`),
   * else `LATER` with the wait for that, or the failure, to run (see `inline.ts`).
   */
  writeNow(data: string | Uint8Array, encoding: BufferEncoding | undefined): undefined | typeof LATER {
    const socket = this.socket
    if (this.failure !== undefined) return runLater(Effect.fail(this.failure))
    if (this.closedByUs || socket.destroyed) return runLater(this.closedError("send"))
    if (this.shutDown || !socket.writable) return runLater(this.closedError("send after shutdown"))
    // input is waiting: the handler is answering pipelined requests, and its replies go out together
    if (!this.batching && data.length < socket.writableHighWaterMark && this.inputBuffered()) {
      this.batching = true
      process.nextTick(flushAtEndOfTurn, this)
    }
    if (this.batching) {
      if (typeof data === "string") {
        const pending = this.pending
        const enc = encoding ?? "utf8"
        if (pending === undefined) {
          this.pending = data
          this.pendingEncoding = enc
        } else if (enc === this.pendingEncoding) {
          this.pending = pending + data
        } else {
          this.cork()
          this.writePending()
          this.pending = data
          this.pendingEncoding = enc
        }
        if (this.pending!.length + socket.writableLength < socket.writableHighWaterMark) return undefined
      } else {
        this.cork()
        this.writePending()
        const seq = ++this.writesIssued
        if (socket.write(data, this.writeCallback)) {
          this.accepted = seq
          return undefined
        }
      }
      // the batch is full: send it, and wait like any send if the kernel does not take it all
      this.flush()
      if (socket.writableLength === 0) return undefined
      return waitLater(this.flushed(this.writesIssued))
    }
    // no callback: Node then completes the write without a tick of its own (a callback costs one per
    // write); a failure still reaches the connection, through the socket's 'error' event
    if (encoding === undefined) socket.write(data)
    else socket.write(data, encoding)
    // handed to the kernel already: nothing to wait for
    if (socket.writableLength === 0) return undefined
    return waitLater(this.flushed(this.mark()))
  }

  /**
   * Queues an empty write whose callback says that the writes before it are
   * done (Node completes writes in order); returns its number.
   */
  private mark(): number {
    const seq = ++this.writesIssued
    this.socket.write(noBytes, this.writeCallback)
    return seq
  }

  private cork(): void {
    if (this.corked) return
    this.corked = true
    this.socket.cork()
  }

  /** Hands the joined strings of the batch to the socket (one write). */
  private writePending(): void {
    const pending = this.pending
    if (pending === undefined) return
    this.pending = undefined
    const seq = ++this.writesIssued
    this.socket.write(pending, this.pendingEncoding, this.writeCallback)
    this.accepted = seq
  }

  /** Sends the batched bytes (one write), if a batch is open. */
  flush(): void {
    if (!this.batching) return
    this.batching = false
    this.writePending()
    if (this.corked) {
      this.corked = false
      this.socket.uncork()
    }
  }

  /**
   * Waits until write (or end) number `seq` has been called back, bounded by
   * the write timeout; fails when the socket fails or closes first.
   */
  private flushed(seq: number): Effect.Effect<void, ConnectionError> {
    return Effect.callback<void, ConnectionError>((resume) => {
      const waiter: WriteWaiter = { seq, resume, timer: undefined }
      const millis = this.writeMillis
      if (millis !== undefined) waiter.timer = setTimeout(() => this.writeTimeout(), millis)
      ;(this.writeWaiters ??= []).push(waiter)
      return Effect.sync(() => {
        if (waiter.timer !== undefined) clearTimeout(waiter.timer)
        const waiters = this.writeWaiters!
        const i = waiters.indexOf(waiter)
        if (i >= 0) waiters.splice(i, 1)
      })
    })
  }

  /** The callback of every write and end, made on the first one (idle connections never need it). */
  private get writeCallback(): (error?: Error | null) => void {
    return (this.written ??= this.onWritten.bind(this))
  }

  private onWritten(error?: Error | null): void {
    this.writesDone++
    if (error != null && this.failure === undefined && !this.closedByUs) {
      this.failure = fromNodeError(error, {
        host: this.socket.remoteAddress,
        port: this.socket.remotePort,
        operation: "send"
      })
    }
    const waiters = this.writeWaiters
    if (waiters === undefined || waiters.length === 0) return
    if (error != null) return this.failSends()
    while (waiters.length > 0 && waiters[0]!.seq <= this.writesDone) {
      const waiter = waiters.shift()!
      if (waiter.timer !== undefined) clearTimeout(waiter.timer)
      waiter.resume(Effect.void)
    }
  }

  /** Fails the waiting sends (their callbacks will never come) with the failure, else `SocketClosed`. */
  protected failSends(): void {
    const waiters = this.writeWaiters
    if (waiters === undefined || waiters.length === 0) return
    const error = this.failure ?? withoutStack(() => new SocketClosed({ operation: "send" }))
    this.writeWaiters = []
    for (const waiter of waiters) {
      if (waiter.timer !== undefined) clearTimeout(waiter.timer)
      waiter.resume(Effect.fail(error))
    }
  }

  private writeTimeout(): void {
    this.failure ??= withoutStack(() =>
      new ConnectionTimeout({
        phase: "write",
        timeoutMillis: this.writeMillis,
        host: this.socket.remoteAddress,
        port: this.socket.remotePort
      })
    )
    this.socket.destroy()
    this.failSends()
  }

  /**
   * `end` queues the FIN behind unsent bytes, and its callback counts as one
   * more write: shutdown waits like a send, under the write timeout, and fails
   * like one when the socket errors or closes first.
   */
  get shutdown(): Effect.Effect<void, ConnectionError> {
    return Effect.suspend(() => {
      const socket = this.socket
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.closedByUs || socket.destroyed) return this.closedError("shutdown")
      // already half-closed, by us or by Node (a socket without allowHalfOpen ends when the peer does)
      if (this.shutDown || socket.writableEnded) return Effect.void
      this.flush()
      this.shutDown = true
      const seq = ++this.writesIssued
      socket.end(this.writeCallback)
      return this.flushed(seq)
    })
  }

  /**
   * Closes the socket after sending what sends accepted: FIN follows the
   * batched bytes, and the fd is released once they are out (bounded by the
   * write timeout, else by the idle timeout). Bytes of a send still waiting
   * (one interrupted mid-write) are dropped: the socket is destroyed at once.
   */
  protected closeSocket(): void {
    const socket = this.socket
    if (socket.destroyed) return
    this.flush()
    if (socket.writable && (socket.writableLength === 0 || this.writesDone < this.accepted)) {
      socket.destroySoon()
      if (socket.writableLength > 0 && this.writeMillis !== undefined) {
        setTimeout(destroyLingering, this.writeMillis, socket).unref()
      }
    } else {
      socket.destroy()
    }
  }

  protected closedError(operation: string): Effect.Effect<never, SocketClosed> {
    return Effect.fail(withoutStack(() =>
      new SocketClosed({ operation, host: this.socket.remoteAddress, port: this.socket.remotePort })
    ))
  }
}
