/**
 * Copas's wrapped sockets over fiberloop connections: LuaSocket patterns,
 * prefixes, partial results, Copas timeouts, TLS, and UDP.
 *
 * A `TcpSocket` wraps a `Connection` (accepted by a server, connected with
 * `connect`, or handed over from Effect code). Reads and writes run in the
 * calling thread's fiber; after each one the thread yields for a step with a
 * probability of 10%, as Copas does, so a busy socket cannot starve timers.
 * Timeouts are Copas's: `undefined` or negative waits forever, 0 means no
 * timeout (and makes `receive` partial), any other number is seconds per call.
 * A timed-out receive fails with `"timeout"` and the bytes received so far as
 * `partial`; they are consumed, as in LuaSocket (pass them back as `prefix`).
 * `close` wakes a blocked reader or writer at once with `"closed"`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import * as Connection from "../net/Connection.ts"
import { ConnectionClosed, withoutStack } from "../net/Errors.ts"
import * as Tcp from "../net/Tcp.ts"
import type * as Tls from "../net/Tls.ts"
import * as Udp from "../net/Udp.ts"
import { type CopasError, copasError, toCopasError } from "./Errors.ts"
import type { Runtime } from "./Runtime.ts"
import type { Named } from "./Thread.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * LuaSec-style TLS parameters (`mode`, `key`, `certificate`, `cafile`,
 * `verify`), or fiberloop's own TLS options in `tls`. Files are paths, as in
 * LuaSec. Unlike LuaSec, a client verifies the server unless `verify` is
 * `"none"`.
 *
 * **Example** (A server's parameters)
 *
 * ```ts
 * const params: SslParams = { mode: "server", key: "server.key", certificate: "server.crt" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SslParams {
  readonly mode?: "client" | "server" | undefined
  readonly key?: string | undefined
  readonly certificate?: string | undefined
  readonly cafile?: string | undefined
  readonly verify?: string | ReadonlyArray<string> | undefined
  /** The name the server's certificate must match (and SNI). */
  readonly servername?: string | undefined
  /** LuaSec's protocol and options: accepted and ignored (Node negotiates TLS 1.2 or 1.3). */
  readonly protocol?: string | undefined
  readonly options?: string | ReadonlyArray<string> | undefined
  /** fiberloop's options, used as they are. */
  readonly tls?: Tls.ClientOptions | Tls.ServerOptions | undefined
}

/**
 * A LuaSocket read pattern: a line, everything, or a byte count.
 *
 * **Example** (Reading a header of 4 bytes)
 *
 * ```ts
 * const header = await skt.receive(4)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Pattern = "*l" | "*a" | number

/** @internal */
export const upgradeOptions = (params: SslParams, host: string | undefined): Tls.UpgradeOptions => {
  if (params.mode === "server") {
    const server = (params.tls as Tls.ServerOptions | undefined) ??
      { key: { file: params.key ?? "" }, cert: { file: params.certificate ?? "" } }
    return { server }
  }
  const verify = params.verify === undefined ? [] : typeof params.verify === "string" ? [params.verify] : params.verify
  const client: Tls.ClientOptions = (params.tls as Tls.ClientOptions | undefined) ?? {
    ...(params.cafile !== undefined && { ca: { file: params.cafile } }),
    ...(params.key !== undefined && { key: { file: params.key } }),
    ...(params.certificate !== undefined && { cert: { file: params.certificate } }),
    ...(params.servername !== undefined && { servername: params.servername }),
    rejectUnauthorized: !verify.includes("none")
  }
  return { client, ...(host !== undefined && { host }) }
}

const handshakeFailed = (error: unknown) => {
  const e = toCopasError(error)
  return e.err === "timeout" || e.err.startsWith("TLS/SSL") ? e : copasError(`TLS/SSL handshake failed: ${e.err}`, {
    cause: error
  })
}

let socketIds = 0

/** A read that met the end of the stream with nothing pending. */
const endOfStream = copasError("closed", {
  partial: "",
  cause: withoutStack(() => new ConnectionClosed({ partial: new Uint8Array(0) }))
})

const toSeconds = (t: number | undefined): number | undefined => t === undefined || t < 0 ? undefined : t

const checkTimeout = (t: unknown): void => {
  if (t !== undefined && t !== null && typeof t !== "number") throw copasError("timeout must be 'nil' or a number")
}

/** Time, in milliseconds, for a Copas timeout (0 and absent mean none). */
const millis = (t: number | undefined): number | undefined => t === undefined || t === 0 ? undefined : t * 1000

// =============================================================================
// TCP
// =============================================================================

/**
 * A wrapped TCP (or TLS) socket.
 *
 * **Example** (A line echo handler)
 *
 * ```ts
 * copas.addserver({ host: "127.0.0.1", port: 7000 }, async (skt) => {
 *   for (;;) await skt.send(`${await skt.receive()}\n`)
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class TcpSocket implements Named {
  name: string
  conn: Connection.Connection | undefined
  readonly runtime: Runtime
  private scope: Scope.Closeable | undefined
  private ssl: SslParams | undefined
  private connectTimeout: number | undefined = undefined
  private sendTimeout: number | undefined = undefined
  private receiveTimeout: number | undefined = undefined
  private appliedRead: number | undefined = undefined
  private appliedWrite: number | undefined = undefined
  private closed = false
  /** Calls blocked on this socket (for `cancelall`). */
  private blocked = 0
  readonly cancel = (): void => {
    if (this.blocked > 0) this.close()
  }

  constructor(runtime: Runtime, conn: Connection.Connection | undefined, options?: {
    readonly name?: string | undefined
    readonly ssl?: SslParams | undefined
    readonly owned?: boolean | undefined
  }) {
    this.runtime = runtime
    this.conn = conn
    this.name = options?.name ?? `tcp: ${++socketIds}`
    this.ssl = options?.ssl
    this.scope = options?.owned === false ? undefined : Scope.makeUnsafe()
    runtime.sockets.add(this)
  }

  /** The underlying fiberloop connection (after `connect`). */
  get connection(): Connection.Connection | undefined {
    return this.conn
  }

  // ---------------------------------------------------------------------------
  // Timeouts

  /** Copas `settimeout(t)`: `undefined` or negative waits forever; 0 means no timeout. */
  settimeout(t?: number | null): 1 {
    checkTimeout(t)
    const s = toSeconds(t ?? undefined)
    this.connectTimeout = this.sendTimeout = this.receiveTimeout = s
    return 1
  }

  /** Copas `settimeouts(connect, send, receive)`: `undefined` leaves one unchanged, negative is forever. */
  settimeouts(connect?: number | null, send?: number | null, receive?: number | null): 1 {
    checkTimeout(connect)
    checkTimeout(send)
    checkTimeout(receive)
    if (connect != null) this.connectTimeout = toSeconds(connect)
    if (send != null) this.sendTimeout = toSeconds(send)
    if (receive != null) this.receiveTimeout = toSeconds(receive)
    return 1
  }

  /** Copas `gettimeouts()`: `[connect, send, receive]` (`undefined` = forever). */
  gettimeouts(): [number | undefined, number | undefined, number | undefined] {
    return [this.connectTimeout, this.sendTimeout, this.receiveTimeout]
  }

  /** The timeouts to give the connection, when they changed since the last call. */
  private applyTimeouts(conn: Connection.Connection): Effect.Effect<void> | undefined {
    const read = millis(this.receiveTimeout)
    const write = millis(this.sendTimeout)
    if (read === this.appliedRead && write === this.appliedWrite) return undefined
    this.appliedRead = read
    this.appliedWrite = write
    return conn.setTimeouts({ read, write })
  }

  // ---------------------------------------------------------------------------
  // Reading

  /** What is buffered, taken without waiting: a timed-out read's partial data. */
  private buffered(conn: Connection.Connection): Effect.Effect<string> {
    return conn.receivePartial(1 << 30).pipe(
      Effect.timeoutOption(0),
      Effect.map(Option.match({ onNone: () => "", onSome: (b) => b.toString("utf8") })),
      Effect.orElseSucceed(() => "")
    )
  }

  private read(pattern: Pattern, prefix: string, partial: boolean) {
    return Effect.suspend(() => {
      const conn = this.conn
      if (conn === undefined || this.closed) return Effect.fail(copasError("closed", { partial: prefix }))
      const want = typeof pattern === "number" && prefix !== "" ? Math.max(0, pattern - Buffer.byteLength(prefix)) : pattern
      if (want === 0) return Effect.succeed(prefix)
      let unit: Effect.Effect<string, unknown>
      if (partial && pattern !== "*l") {
        unit = Effect.flatMap(conn.receivePartial(typeof want === "number" ? want : 1 << 30), (bytes) => {
          const text = prefix + bytes.toString("utf8")
          return typeof want === "number" && bytes.length === want
            ? Effect.succeed(text)
            : Effect.fail(copasError("timeout", { partial: text }))
        })
      } else {
        unit = prefix === "" ? conn.receive(want) : Effect.map(conn.receive(want), (text) => prefix + text)
      }
      const timeouts = this.applyTimeouts(conn)
      if (timeouts !== undefined) unit = Effect.andThen(timeouts, unit)
      this.blocked++
      return Effect.matchEffect(unit, {
        onSuccess: (text) => {
          this.blocked--
          return Effect.succeed(text)
        },
        onFailure: (error) => {
          this.blocked--
          return this.readFailure(conn, prefix, error)
        }
      })
    })
  }

  private readFailure(
    conn: Connection.Connection,
    prefix: string,
    error: unknown
  ): Effect.Effect<never, CopasError> {
    const e = error as { readonly _tag?: string; readonly partialText?: string }
    if (e._tag === "ConnectionTimeout") {
      return Effect.flatMap(this.buffered(conn), (more) =>
        Effect.fail(copasError("timeout", { partial: prefix + more, cause: error })))
    }
    if (e._tag === "ConnectionClosed") {
      const partial = prefix + (e.partialText ?? "")
      // the usual end of a conversation: one shared error (building one per connection costs)
      return Effect.fail(partial === "" ? endOfStream : copasError("closed", { partial, cause: error }))
    }
    return Effect.fail(toCopasError(error, { partial: prefix }))
  }

  /**
   * Copas `receive(pattern, prefix)`: a line (default, without its
   * terminator; CRs dropped), everything until the peer closes (`"*a"`), or
   * exactly `n` bytes (the prefix counts toward `n`). Rejects with
   * `"timeout"` or `"closed"` and the partial data. With a receive timeout of
   * 0 it behaves as `receivepartial`.
   */
  receive(pattern: Pattern = "*l", prefix = ""): Promise<string> {
    const partial = this.receiveTimeout === 0
    return this.runtime.call(() => this.read(pattern, prefix, partial), "read")
  }

  /**
   * Copas `receivepartial(pattern, prefix)`: resolves with a whole unit when
   * one is there, else rejects with `"timeout"` and the bytes that did arrive
   * as soon as any did. For lines, waits for a whole line.
   */
  receivepartial(pattern: Pattern = "*l", prefix = ""): Promise<string> {
    return this.runtime.call(() => this.read(pattern, prefix, true), "read")
  }

  // ---------------------------------------------------------------------------
  // Writing

  /**
   * Copas `send(data, i, j)`: sends bytes `i..j` (1-based, inclusive) and
   * resolves with the index of the last byte sent. Rejects with `"closed"` or
   * `"timeout"` and `lastIndex`.
   */
  send(data: string | Uint8Array, i = 1, j?: number): Promise<number> {
    return this.runtime.call(() =>
        Effect.suspend(() => {
          const conn = this.conn
          const start = Math.max(1, i)
          if (conn === undefined || this.closed) return Effect.fail(copasError("closed", { lastIndex: start - 1 }))
          let chunk: string | Uint8Array = data
          let last: number
          if (start === 1 && j === undefined) {
            last = typeof data === "string" ? Buffer.byteLength(data) : data.length
          } else {
            const bytes = this.bytesOf(data)
            last = Math.min(j ?? bytes.length, bytes.length)
            chunk = bytes.subarray(start - 1, last)
          }
          const timeouts = this.applyTimeouts(conn)
          const sent = timeouts === undefined ? conn.send(chunk) : Effect.andThen(timeouts, conn.send(chunk))
          this.blocked++
          return Effect.matchEffect(sent, {
            onSuccess: () => {
              this.blocked--
              return Effect.succeed(last)
            },
            onFailure: (e) => {
              this.blocked--
              return Effect.fail(copasError(toCopasError(e).err, { lastIndex: start - 1, cause: e }))
            }
          })
        }), "write")
  }

  /** The bytes of `data`; the last string converted is kept, for `send(s, i, j)` in a loop. */
  private bytesOf(data: string | Uint8Array): Uint8Array {
    if (typeof data !== "string") return data
    if (data !== this.lastString) {
      this.lastString = data
      this.lastBytes = Buffer.from(data)
    }
    return this.lastBytes!
  }
  private lastString: string | undefined = undefined
  private lastBytes: Buffer | undefined = undefined

  // ---------------------------------------------------------------------------
  // Connecting, TLS, closing

  /**
   * Copas `connect(host, port)`: resolves with 1. With TLS parameters (from
   * `wrap`), also performs the handshake, whose failure rejects with
   * `"TLS/SSL handshake failed: <reason>"`. Rejects with `"already
   * connected"`, `"timeout"`, `"connection refused"`, `"host not found"`.
   */
  connect(host: string, port: number, localAddress?: string, localPort?: number): Promise<1> {
    return this.runtime.call(() =>
      Effect.suspend(() => {
        if (this.conn !== undefined) return Effect.fail(copasError("already connected"))
        if (this.closed) return Effect.fail(copasError("closed"))
        const timeout = millis(this.connectTimeout)
        const connect = Tcp.connect({
          host,
          port,
          ...(timeout !== undefined && { timeout }),
          ...(localAddress !== undefined && { localAddress }),
          ...(localPort !== undefined && { localPort })
        }).pipe(Scope.provide(this.scope ??= Scope.makeUnsafe()))
        return Effect.flatMap(connect, (conn) => {
          this.conn = conn
          const ssl = this.ssl
          if (ssl === undefined) return Effect.succeed(1 as const)
          return Effect.as(Effect.mapError(conn.upgradeTls(upgradeOptions(ssl, host)), handshakeFailed), 1 as const)
        })
      }), "run")
  }

  /**
   * Copas `dohandshake(sslparams)`: turns the connection into a TLS one
   * (client or server side, per `mode`) and resolves with this socket.
   * Rejects with `"TLS/SSL handshake failed: <reason>"` or `"timeout"`.
   */
  dohandshake(params: SslParams): Promise<this> {
    return this.runtime.call(() =>
      Effect.suspend(() => {
        const conn = this.conn
        if (conn === undefined || this.closed) return Effect.fail(copasError("closed"))
        this.ssl = params
        return Effect.as(Effect.mapError(conn.upgradeTls(upgradeOptions(params, undefined)), handshakeFailed), this)
      }), "run")
  }

  /**
   * Copas `close()`: closes the socket (idempotent) and resolves 1; blocked
   * readers and writers fail with `"closed"` at once.
   */
  close(): 1 {
    if (this.closed) return 1
    this.closed = true
    const conn = this.conn
    this.runtime.sockets.delete(this)
    if (conn !== undefined) {
      this.runtime.bytesRead += conn.bytesRead
      this.runtime.bytesWritten += conn.bytesWritten
      Connection.closeUnsafe(conn)
    }
    if (this.scope !== undefined) Effect.runFork(Scope.close(this.scope, Exit.void))
    return 1
  }

  /** Whether `close` was called. */
  get isClosed(): boolean {
    return this.closed
  }

  /** LuaSocket `getpeername()`: `[ip, port]`. */
  getpeername(): [string, number] | undefined {
    const a = this.conn?.remoteAddress
    return a === undefined ? undefined : [a.host, a.port]
  }

  /** LuaSocket `getsockname()`: `[ip, port]`. */
  getsockname(): [string, number] | undefined {
    const a = this.conn?.localAddress
    return a === undefined ? undefined : [a.host, a.port]
  }

  /** What the TLS handshake negotiated (LuaSec `info`). */
  get tls(): Tls.Info | undefined {
    return this.conn?.tls
  }

  /** Bytes received so far. */
  get bytesRead(): number {
    return this.conn?.bytesRead ?? 0
  }

  /** Bytes sent so far. */
  get bytesWritten(): number {
    return this.conn?.bytesWritten ?? 0
  }
}

// =============================================================================
// UDP
// =============================================================================

/**
 * A wrapped UDP socket. `receive`/`receivefrom` honour the socket's timeout;
 * sends never block. A UDP server's handler socket ignores `close` (the
 * handler's socket is the server's), as in Copas.
 *
 * **Example** (A UDP echo loop)
 *
 * ```ts
 * for (;;) {
 *   const [data, ip, port] = await skt.receivefrom()
 *   await skt.sendto(data, ip, port)
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class UdpSocket implements Named {
  name: string
  readonly socket: Udp.UdpSocket
  readonly runtime: Runtime
  private readonly scope: Scope.Closeable
  private timeout: number | undefined = undefined
  /** Set on a UDP server's handler socket: `close` is then a no-op. */
  keepOpen = false
  private closed = false
  private blocked = 0
  readonly cancel = (): void => {
    if (this.blocked > 0) this.closeNow()
  }
  readonly bytesRead = 0
  readonly bytesWritten = 0

  constructor(runtime: Runtime, socket: Udp.UdpSocket, scope: Scope.Closeable, name?: string | undefined) {
    this.runtime = runtime
    this.socket = socket
    this.scope = scope
    this.name = name ?? `udp: ${++socketIds}`
    runtime.sockets.add(this)
  }

  /** Copas `settimeout(t)` for receives: `undefined`/negative forever, 0 none. */
  settimeout(t?: number | null): 1 {
    checkTimeout(t)
    this.timeout = toSeconds(t ?? undefined)
    return 1
  }

  /** `[connect, send, receive]` timeouts. */
  gettimeouts(): [number | undefined, number | undefined, number | undefined] {
    return [undefined, undefined, this.timeout]
  }

  private timed<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, unknown> {
    const t = millis(this.timeout)
    this.blocked++
    const bounded = t === undefined
      ? effect
      : Effect.timeoutOrElse(effect, { duration: t, orElse: () => Effect.fail(copasError("timeout")) })
    return Effect.ensuring(bounded, Effect.sync(() => this.blocked--))
  }

  /** LuaSocket `receive(size)`: the next datagram's payload (truncated to `size`, default 8192). */
  receive(size = 8192): Promise<string> {
    return this.runtime.call(
      () => Effect.map(this.timed(this.socket.receive()), (data) => Buffer.from(data).subarray(0, size).toString("utf8")),
      "read"
    )
  }

  /** LuaSocket `receivefrom(size)`: `[data, ip, port]`. */
  receivefrom(size = 8192): Promise<[string, string, number]> {
    return this.runtime.call(
      () =>
        Effect.map(this.timed(this.socket.receiveFrom()), (d): [string, string, number] => [
          Buffer.from(d.data).subarray(0, size).toString("utf8"),
          d.address,
          d.port
        ]),
      "read"
    )
  }

  /** LuaSocket `sendto(data, ip, port)`: resolves 1. */
  sendto(data: string | Uint8Array, ip: string, port: number): Promise<1> {
    return this.runtime.call(() => Effect.as(this.socket.sendTo(data, ip, port), 1 as const), "run")
  }

  /** LuaSocket `send(data)` on a socket with a peer (`setpeername`): resolves 1. */
  send(data: string | Uint8Array): Promise<1> {
    return this.runtime.call(() => Effect.as(this.socket.send(data), 1 as const), "run")
  }

  /** LuaSocket `setpeername(ip, port)`: fixes the peer; resolves 1. */
  setpeername(ip: string, port: number): Promise<1> {
    return this.runtime.call(() => Effect.as(this.socket.connect(ip, port), 1 as const), "run")
  }

  /** LuaSocket `getsockname()`: `[ip, port]`. */
  getsockname(): [string, number] {
    return [this.socket.localAddress.address, this.socket.localAddress.port]
  }

  /** Closes the socket and returns true; on a UDP server's handler socket, only returns true. */
  close(): true {
    if (!this.keepOpen) this.closeNow()
    return true
  }

  private closeNow(): void {
    if (this.closed) return
    this.closed = true
    this.runtime.sockets.delete(this)
    Effect.runFork(Scope.close(this.scope, Exit.void))
  }
}

/**
 * Binds a UDP socket in a scope of its own (closed by `close`).
 *
 * **Example** (A UDP socket on a free port)
 *
 * ```ts
 * const skt = await bindUdp(runtime, "127.0.0.1", 0)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const bindUdp = (runtime: Runtime, host?: string, port?: number): Promise<UdpSocket> =>
  runtime.call(
    () =>
      Effect.suspend(() => {
        const scope = Scope.makeUnsafe()
        return Udp.bind({ ...(host !== undefined && { host }), port: port ?? 0 }).pipe(
          Scope.provide(scope),
          Effect.map((socket) => new UdpSocket(runtime, socket, scope)),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
      }),
    "run"
  )
