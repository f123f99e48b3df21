/**
 * The connections a server accepted with `deferAccept` that have not spoken
 * yet (internal: `Tcp.serve` uses it).
 *
 * Such a connection has no handler, fiber or scope: it is its socket and one
 * entry here until its first bytes or its end arrive (then `spoke` takes it to
 * the server's admission), it goes away (reset), or it stays silent past the
 * limit and is closed. One timer and one set of listeners serve every held
 * socket, so holding one allocates no closure. The bytes that woke it stay
 * buffered in the socket for the connection (or the TLS handshake) to read.
 *
 * @since 0.1.0
 */
import type * as Net from "node:net"
import type { Tally } from "../../Stats.ts"

const ignoreError = (): void => {}

/** The longest delay `setTimeout` takes (longer ones fire at once); a longer deadline re-arms. */
const MAX_DELAY = 2 ** 31 - 1

/**
 * Silent connections, held in arrival order (every one has the same limit, so
 * that is also the order of their deadlines).
 *
 * **Example** (In a server's accept path)
 *
 * ```ts
 * const deferred = new DeferredAccept(10_000, 1000, tally, (socket) => admit(socket))
 * server.on("connection", (socket) => deferred.hold(socket))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class DeferredAccept {
  /** Connections closed because they stayed silent past the limit. */
  silentClosed = 0
  private readonly silentMillis: number
  private readonly max: number
  private readonly tally: Tally
  private readonly held = new Map<Net.Socket, number>()
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private readonly onReadable: (this: Net.Socket) => void
  private readonly onClose: (this: Net.Socket) => void

  constructor(silentMillis: number, max: number, tally: Tally, spoke: (socket: Net.Socket) => void) {
    this.silentMillis = silentMillis
    this.max = max
    this.tally = tally
    const self = this
    this.onReadable = function(this: Net.Socket) {
      if (self.release(this)) spoke(this)
    }
    this.onClose = function(this: Net.Socket) {
      self.release(this)
    }
  }

  /** Connections held now. */
  get size(): number {
    return this.held.size
  }

  /**
   * Holds `socket` until it speaks, goes away or stays silent too long; at
   * `max` held, the one silent longest is closed (counted as silent) first.
   */
  hold(socket: Net.Socket): void {
    if (this.held.size >= this.max) {
      const oldest = this.held.keys().next().value!
      this.release(oldest)
      this.silentClosed++
      this.tally.silentClosed++
      oldest.destroy()
    }
    this.held.set(socket, performance.now())
    this.tally.deferred++
    socket.on("error", ignoreError)
    // 'readable' comes with the first bytes, or with the end when the peer closes without a byte
    // plain listeners (release removes them): `once` would allocate a wrapper per socket
    socket.on("readable", this.onReadable)
    socket.on("close", this.onClose)
    if (this.timer === undefined) this.arm(this.silentMillis)
  }

  /** Closes every held connection (the server is closing). */
  closeAll(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    for (const socket of this.held.keys()) {
      this.release(socket)
      socket.destroy()
    }
  }

  private release(socket: Net.Socket): boolean {
    if (!this.held.delete(socket)) return false
    this.tally.deferred--
    socket.off("readable", this.onReadable)
    socket.off("close", this.onClose)
    return true
  }

  private arm(millis: number): void {
    if (!(millis < Infinity)) return
    this.timer = setTimeout(() => this.expire(), Math.min(millis, MAX_DELAY))
    this.timer.unref()
  }

  private expire(): void {
    this.timer = undefined
    const now = performance.now()
    for (const [socket, since] of this.held) {
      if (since + this.silentMillis > now) return this.arm(since + this.silentMillis - now)
      this.release(socket)
      this.silentClosed++
      this.tally.silentClosed++
      socket.destroy()
    }
  }
}
