/**
 * The TCP server behind `Tcp.serve`: an accept loop whose connections are
 * fibers, bounded by default.
 *
 * Every accepted socket becomes a `Connection` handed to the handler in a
 * fiber of its own, with a `Scope` of its own that closes (running what the
 * handler acquired) before the socket closes. A handler that fails or dies is
 * reported and forgotten: the server goes on. At `maxConnections` (or, for
 * TLS, `maxHandshakes` handshakes in flight) new connections wait, unread, in
 * a FIFO waiting room of `backlog` places, each for at most `waitingTimeout`;
 * beyond the room they are closed with a FIN. Closing the server's scope stops
 * accepting, lets running handlers finish for up to `drainTimeout`, interrupts
 * the rest, and closes every socket. It listens on `host:port` or on a Unix
 * domain socket `path`. With `connectionSpans`, each connection runs in a
 * root `Tcp.connection` span; without it the accept path does nothing for
 * tracing.
 *
 * The public types are re-exported by `Tcp`; users reach the server through
 * `Tcp.serve`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Stats from "../Stats.ts"
import * as Connection from "./Connection.ts"
import { AddressInUse, type ConnectionError, fromNodeError, SocketError, type TlsError } from "./Errors.ts"
import { DeferredAccept } from "./internal/DeferredAccept.ts"
import * as HandlerSet from "./internal/HandlerSet.ts"
import * as Tls from "./Tls.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * Options for `Tcp.serve`. Every bound has a default; see docs/tcp.md for the
 * table.
 *
 * **Example** (A bounded line server)
 *
 * ```ts
 * const options: Tcp.ServeOptions<never, never> = { host: "127.0.0.1", port: 7000, maxConnections: 1000, handler }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ServeOptions<E, R> extends Connection.Options {
  /** Address to listen on. Default: every interface (`::`, or `0.0.0.0` without IPv6). */
  readonly host?: string | undefined
  /** Port to listen on; 0 (the default) picks a free one: read it from `server.address`. */
  readonly port?: number | undefined
  /**
   * Listen on this Unix domain socket instead of `host:port`. A stale socket
   * file (a socket nobody listens on) is removed first; the file is removed
   * when the server closes.
   */
  readonly path?: string | undefined
  /**
   * Runs once per connection, in the connection's own fiber, with a `Scope` of
   * its own that closes when the handler ends: what it acquires is released
   * before the socket closes.
   */
  readonly handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>
  /** Connections served at once (TLS handshakes included); more wait in the waiting room. Default: no limit. */
  readonly maxConnections?: number | undefined
  /** TLS handshakes in flight at once; more connections wait in the waiting room. Default 1024. */
  readonly maxHandshakes?: number | undefined
  /** Kernel accept queue length, and the places in the waiting room. Default 511. */
  readonly backlog?: number | undefined
  /** How long a connection may wait in the waiting room before it is closed (and counted). Default 30 seconds. */
  readonly waitingTimeout?: Duration.Input | undefined
  /** How long closing the server waits for handlers before interrupting them. Default 5 seconds. */
  readonly drainTimeout?: Duration.Input | undefined
  /** Disable Nagle's algorithm on accepted sockets. Default true. */
  readonly noDelay?: boolean | undefined
  /** TCP keep-alive probes on accepted sockets (`SO_KEEPALIVE`). Default false. */
  readonly keepAlive?: boolean | undefined
  /** Idle time before the first keep-alive probe. Default: the system's (2 hours on Linux). */
  readonly keepAliveInitialDelay?: Duration.Input | undefined
  /** `SO_REUSEPORT`: several servers (processes) may listen on one port; the kernel spreads connections. */
  readonly reusePort?: boolean | undefined
  /** On `host: "::"`, accept IPv6 only (no IPv4-mapped connections). Default false. */
  readonly ipv6Only?: boolean | undefined
  /** Called with the cause of every handler failure other than end of stream, in addition to the log. */
  readonly onError?:
    | ((cause: Cause.Cause<E | ConnectionError>, connection: Connection.Connection) => Effect.Effect<void>)
    | undefined
  /**
   * Serve TLS: every connection's handshake runs in its own fiber (counted in
   * `maxConnections` and `maxHandshakes`) before the handler; a failed one is
   * reported like a handler failure and never reaches the handler. A
   * `Tls.ServerContext` can be reloaded while serving.
   */
  readonly tls?: Tls.ServerOptions | Tls.ServerContext | undefined
  /** Bounds each TLS handshake; it then fails with `TlsError { reason: "Timeout" }`. Default 10 seconds. */
  readonly handshakeTimeout?: Duration.Input | undefined
  /**
   * Start a connection's handler only once its first bytes (or its end)
   * arrive, as Linux's `TCP_DEFER_ACCEPT` and nginx's `listen ... deferred`:
   * until then the connection is its socket alone (no fiber, handler or
   * scope) and does not count toward `maxConnections`; one still silent after
   * this long is closed, unserved (`silentClosed`). For protocols where the
   * client speaks first (HTTP, RESP, TLS); never for one where the server
   * greets first (SMTP, FTP, POP3). Default: off, the handler starts at accept.
   * `waitingTimeout` and the `Tcp.connection` span then count from the first
   * bytes, not from accept.
   */
  readonly deferAccept?: Duration.Input | undefined
  /**
   * With `deferAccept`: silent connections held at most; past it the one
   * silent longest is closed (counted in `silentClosed`). Default
   * `maxConnections` (no limit without it, like the server itself).
   */
  readonly maxDeferred?: number | undefined
  /**
   * A root span per connection, `Tcp.connection`, from accept to the
   * handler's end (TLS handshake included), with the peer, TLS protocol and
   * ALPN, bytes read and written, and `outcome`. Default false: then the
   * accept path pays nothing for tracing.
   */
  readonly connectionSpans?: boolean | undefined
}

/**
 * Counters of a running server.
 *
 * **Example** (Watching a flood)
 *
 * ```ts
 * const { waiting, rejected, waitedOut } = server.stats()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ServerStats {
  /** Connections accepted since start. */
  readonly accepted: number
  /** Connections being served now: handshaking, in their handler, or running its finalizers. */
  readonly active: number
  /** Accepted connections waiting for a slot. */
  readonly waiting: number
  /** Connections closed unserved because the waiting room was full. */
  readonly rejected: number
  /** Connections closed unserved because they waited longer than `waitingTimeout`. */
  readonly waitedOut: number
  /** TLS handshakes in flight. */
  readonly handshakes: number
  /** Handlers (or handshakes) that ended with a failure or defect other than end of stream. */
  readonly failed: number
  /** Errors from `accept` itself (e.g. EMFILE); the server keeps accepting. */
  readonly acceptErrors: number
  /** With `deferAccept`: accepted connections that have not sent a byte yet. */
  readonly deferred: number
  /** With `deferAccept`: connections closed unserved because they stayed silent. */
  readonly silentClosed: number
}

/**
 * A listening server. It lives as long as the scope `serve` ran in.
 *
 * **Example** (The port picked for port 0)
 *
 * ```ts
 * const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler })
 * server.address.port // => 41234
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Server {
  /** The bound address: read the port from here when listening on port 0. For a Unix socket, `host` is the path. */
  readonly address: Connection.Address
  /** The Unix domain socket path, when listening on one. */
  readonly path: string | undefined
  /** A snapshot of the counters. */
  readonly stats: () => ServerStats
  /** The TLS context when serving TLS: `server.tls?.reload(options)` swaps certificates for new handshakes. */
  readonly tls: Tls.ServerContext | undefined
}

// =============================================================================
// Listening
// =============================================================================

const ignoreError = (): void => {}

const toMillis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

/** A connection span's `outcome`: `closed` (end of stream included), `interrupted`, or the failure's tag. */
const exitOutcome = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "closed"
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) {
    const tag = (error.value as { readonly _tag?: string })._tag
    return tag === "ConnectionClosed" ? "closed" : tag ?? "failed"
  }
  return Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "died"
}

const addressOf = (server: Net.Server, path: string | undefined): Connection.Address => {
  if (path !== undefined) return { host: path, port: 0, family: "IPv4" }
  const a = server.address() as Net.AddressInfo
  return { host: a.address, port: a.port, family: a.family === "IPv6" ? "IPv6" : "IPv4" }
}

/** Removes a Unix socket file nobody listens on (left by a crashed process); anything else is left alone. */
const removeStaleSocket = (path: string) =>
  Effect.callback<void>((resume) => {
    let stat: Fs.Stats
    try {
      stat = Fs.lstatSync(path)
    } catch {
      return resume(Effect.void)
    }
    // not a socket: listen fails with AddressInUse and the file stays
    if (!stat.isSocket()) return resume(Effect.void)
    const probe = Net.connect({ path })
    probe.once("connect", () => {
      probe.destroy()
      resume(Effect.void)
    })
    probe.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") Fs.rmSync(path, { force: true })
      resume(Effect.void)
    })
  })

/**
 * Listens. `server` already has its permanent `'error'` listener, which sends
 * errors to `failed` while this waits: the server is never without one.
 */
const listen = (
  server: Net.Server,
  options: ServeOptions<any, any>,
  listening: { failed: ((error: Error) => void) | undefined }
) =>
  Effect.callback<void, AddressInUse | SocketError>((resume) => {
    const where = options.path !== undefined ? { host: options.path } : { host: options.host, port: options.port }
    listening.failed = (error: Error) => {
      listening.failed = undefined
      server.off("listening", onListening)
      const e = fromNodeError(error, where)
      resume(Effect.fail(
        e._tag === "AddressInUse" || e._tag === "SocketError"
          ? e
          : new SocketError({ host: e.host, port: e.port, code: e.code, errno: e.errno, syscall: e.syscall, cause: error })
      ))
    }
    const onListening = () => {
      listening.failed = undefined
      resume(Effect.void)
    }
    server.once("listening", onListening)
    const backlog = options.backlog ?? 511
    server.listen(
      options.path !== undefined ? { path: options.path, backlog } : {
        port: options.port ?? 0,
        backlog,
        ...(options.host !== undefined && { host: options.host }),
        ...(options.reusePort === true && { reusePort: true }),
        ...(options.ipv6Only === true && { ipv6Only: true })
      }
    )
  })

// =============================================================================
// Server
// =============================================================================

/**
 * Listens and runs `options.handler` for every connection in a fiber of its
 * own, until the current scope closes. `Tcp.serve` is this, through the `Tcp`
 * service.
 *
 * **Example** (A line echo server)
 *
 * ```ts
 * const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
 *   for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
 * })
 * const server = yield* TcpServer.make({ host: "127.0.0.1", port: 0, maxConnections: 1000, handler: echo })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: <E, R>(
  options: ServeOptions<E, R>
) => Effect.Effect<Server, AddressInUse | SocketError | TlsError, Exclude<R, Scope.Scope> | Scope.Scope> = Effect.fn(
  "Tcp.serve"
)(function*<E, R>(options: ServeOptions<E, R>) {
  const maxConnections = options.maxConnections ?? Infinity
  const maxHandshakes = options.maxHandshakes ?? 1024
  const waitingRoom = options.backlog ?? 511
  const waitingMillis = toMillis(options.waitingTimeout ?? "30 seconds")
  const handler = options.handler as (conn: Connection.Connection) => Effect.Effect<unknown, E, any>
  const connectionSpans = options.connectionSpans === true
  const counts = { accepted: 0, rejected: 0, waitedOut: 0, acceptErrors: 0 }
  let handshakes = 0
  let accepting = true
  const waiting: Array<Net.Socket> = []
  const waitingSince: Array<number> = []
  let waitingTimer: ReturnType<typeof setTimeout> | undefined
  const { tally, release } = Stats.track(yield* Effect.context<never>())
  const deferral = options.deferAccept === undefined
    ? undefined
    : new DeferredAccept(toMillis(options.deferAccept), options.maxDeferred ?? maxConnections, tally, (socket) => accepting ? admit(socket) : socket.destroy())

  const handlers: HandlerSet.HandlerSet<Connection.Connection, E | ConnectionError, any> = yield* HandlerSet.make<
    Connection.Connection,
    E | ConnectionError,
    Exclude<R, Scope.Scope>
  >({
    name: "Tcp.serve",
    onError: options.onError,
    peerOf: (conn) => {
      const remote = conn.remoteAddress
      return `${remote.host}:${remote.port}`
    },
    ended: (conn) => {
      Connection.closeUnsafe(conn)
      tally.bytesRead += conn.bytesRead
      tally.bytesWritten += conn.bytesWritten
      admitWaiting()
    },
    drainTimeout: options.drainTimeout,
    tally
  })

  const tls = options.tls === undefined || Tls.isServerContext(options.tls)
    ? options.tls
    : yield* Tls.makeServerContext(options.tls)
  const upgrade: Tls.UpgradeOptions | undefined = tls === undefined ? undefined : {
    server: tls,
    ...(options.handshakeTimeout !== undefined && { handshakeTimeout: options.handshakeTimeout })
  }
  const handshakeEnded = () => {
    handshakes--
    tally.handshakes--
    admitWaiting()
    return Effect.void
  }
  /** The TLS handshake, in the connection's fiber, then the handler. */
  const secured = (conn: Connection.Connection, upgrade: Tls.UpgradeOptions) =>
    Effect.flatMap(Effect.onExit(conn.upgradeTls(upgrade), handshakeEnded), () => handler(conn))

  /** `program` in the connection's span, when `connectionSpans` is on. */
  const traced = (conn: Connection.Connection, program: Effect.Effect<unknown, E | ConnectionError | TlsError, any>) =>
    Effect.andThen(
      Effect.annotateCurrentSpan({ "net.peer.ip": conn.remoteAddress.host, "net.peer.port": conn.remoteAddress.port }),
      Effect.onExit(program, (exit) => {
        const tls = conn.tls
        return Effect.annotateCurrentSpan({
          ...(tls !== undefined && { "tls.protocol": tls.protocol, "tls.alpn": tls.alpn ?? "" }),
          "net.bytes_read": conn.bytesRead,
          "net.bytes_written": conn.bytesWritten,
          outcome: exitOutcome(exit)
        })
      })
    ).pipe(Effect.withSpan("Tcp.connection", { kind: "server", root: true }))

  const canStart = (): boolean =>
    handlers.size < maxConnections && (upgrade === undefined || handshakes < maxHandshakes)

  const start = (socket: Net.Socket): void => {
    const conn = Connection.makeUnsafe(socket, options)
    if (upgrade === undefined) {
      if (!connectionSpans) return handlers.run(handler, conn)
      return handlers.start(traced(conn, Effect.suspend(() => handler(conn))), conn)
    }
    handshakes++
    tally.handshakes++
    handlers.start(connectionSpans ? traced(conn, secured(conn, upgrade)) : secured(conn, upgrade), conn)
  }

  /** Starts waiting connections while there is room. */
  const admitWaiting = (): void => {
    while (accepting && waiting.length > 0 && canStart()) {
      const next = waiting.shift()!
      waitingSince.shift()
      tally.waiting--
      if (!next.destroyed) start(next)
    }
  }

  /** Closes the connections that waited longer than `waitingTimeout`; runs on one timer per server. */
  const expire = (): void => {
    waitingTimer = undefined
    const now = performance.now()
    while (waiting.length > 0 && waitingSince[0]! + waitingMillis <= now) {
      const socket = waiting.shift()!
      waitingSince.shift()
      tally.waiting--
      counts.waitedOut++
      tally.waitedOut++
      socket.destroy()
    }
    if (waiting.length > 0) armWaitingTimer(waitingSince[0]! + waitingMillis - now)
  }
  const armWaitingTimer = (millis: number): void => {
    // setTimeout fires at once past 2^31-1 ms; `expire` re-arms for what is left
    waitingTimer = setTimeout(expire, Math.min(millis, 2 ** 31 - 1))
    waitingTimer.unref()
  }

  const server = Net.createServer({
    allowHalfOpen: true,
    noDelay: options.noDelay ?? true,
    ...(options.keepAlive === true && {
      keepAlive: true,
      ...(options.keepAliveInitialDelay !== undefined &&
        { keepAliveInitialDelay: toMillis(options.keepAliveInitialDelay) })
    })
  })
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      accepting = false
      server.close()
      if (waitingTimer !== undefined) clearTimeout(waitingTimer)
      tally.waiting -= waiting.length
      for (const socket of waiting) socket.destroy()
      deferral?.closeAll()
      waiting.length = waitingSince.length = 0
      return Effect.ensuring(handlers.close, Effect.sync(release))
    })
  )

  /** A connection ready to be served: started, or put in the waiting room, or turned away. */
  const admit = (socket: Net.Socket): void => {
    if (waiting.length === 0 && canStart()) return start(socket)
    if (deferral === undefined) socket.on("error", ignoreError)
    if (waiting.length < waitingRoom) {
      socket.pause()
      waiting.push(socket)
      waitingSince.push(performance.now())
      tally.waiting++
      if (waitingTimer === undefined) armWaitingTimer(waitingMillis)
      return
    }
    counts.rejected++
    tally.rejected++
    socket.end()
    socket.destroySoon()
  }

  server.on("connection", (socket: Net.Socket) => {
    if (!accepting) return void socket.destroy()
    counts.accepted++
    tally.accepted++
    if (deferral !== undefined) return deferral.hold(socket)
    admit(socket)
  })
  // one permanent 'error' listener from before `listen`: an error is never unhandled
  const listening: { failed: ((error: Error) => void) | undefined } = { failed: undefined }
  server.on("error", (error: Error) => {
    if (listening.failed !== undefined) return listening.failed(error)
    counts.acceptErrors++
    handlers.fork(Effect.logWarning("Tcp.serve: accept failed; still accepting", error))
  })
  if (options.path !== undefined) yield* removeStaleSocket(options.path)
  yield* listen(server, options, listening)

  return {
    address: addressOf(server, options.path),
    path: options.path,
    stats: () => ({
      ...counts,
      active: handlers.size,
      waiting: waiting.length,
      handshakes,
      failed: handlers.failed,
      deferred: deferral?.size ?? 0,
      silentClosed: deferral?.silentClosed ?? 0
    }),
    tls
  } satisfies Server
})
