/**
 * TCP servers and clients whose connections are fibers.
 *
 * `serve` runs an accept loop; every accepted socket becomes a `Connection`
 * handed to the handler in a fiber of its own. A handler that fails or dies is
 * reported and forgotten: the server goes on. At `maxConnections` new
 * connections wait, unread, in a FIFO waiting room until a slot frees.
 * Closing the server's scope stops accepting, lets running handlers finish for
 * up to `drainTimeout`, interrupts the rest, and closes every socket.
 *
 * `connect` resolves host names through the `Dns` service, tries every address
 * (happy eyeballs), and returns a scoped `Connection`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as NetAddress from "effect/net/NetAddress"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as Stats from "../Stats.ts"
import * as Connection from "./Connection.ts"
import {
  AddressInUse,
  type ConnectionError,
  ConnectionTimeout,
  DnsError,
  fromNodeError,
  SocketError,
  type TlsError,
  withoutStack
} from "./Errors.ts"
import * as Tls from "./Tls.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * Options for `serve`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ServeOptions<E, R> extends Connection.Options {
  /** Address to listen on. Default: every interface (`::`, or `0.0.0.0` without IPv6). */
  readonly host?: string | undefined
  /** Port to listen on; 0 (the default) picks a free one: read it from `server.address`. */
  readonly port?: number | undefined
  /** Runs once per connection, in the connection's own fiber. */
  readonly handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>
  /** Connections served at once; more wait in the waiting room. Default: no limit. */
  readonly maxConnections?: number | undefined
  /** Kernel accept queue length, and the size of the waiting room beyond `maxConnections`. Default 511. */
  readonly backlog?: number | undefined
  /** How long closing the server waits for handlers before interrupting them. Default 5 seconds. */
  readonly drainTimeout?: Duration.Input | undefined
  /** Disable Nagle's algorithm on accepted sockets. Default true. */
  readonly noDelay?: boolean | undefined
  /** Called with the cause of every handler failure other than end of stream. */
  readonly onError?:
    | ((cause: Cause.Cause<E | ConnectionError>, connection: Connection.Connection) => Effect.Effect<void>)
    | undefined
  /**
   * Serve TLS: every connection's handshake runs in its own fiber (counted in
   * `maxConnections`) before the handler; a failed one is reported like a
   * handler failure and never reaches the handler. A `Tls.ServerContext` can
   * be reloaded while serving.
   */
  readonly tls?: Tls.ServerOptions | Tls.ServerContext | undefined
  /** Bounds each TLS handshake; it then fails with `TlsError { reason: "Timeout" }`. Default 10 seconds. */
  readonly handshakeTimeout?: Duration.Input | undefined
}

/**
 * Counters of a running server.
 *
 * @category models
 * @since 0.1.0
 */
export interface ServerStats {
  /** Connections accepted since start. */
  readonly accepted: number
  /** Handlers running now. */
  readonly active: number
  /** Accepted connections waiting for a slot. */
  readonly waiting: number
  /** Connections closed unserved because the waiting room was full. */
  readonly rejected: number
  /** Handlers that ended with a failure or defect other than end of stream. */
  readonly failed: number
  /** Errors from `accept` itself (e.g. EMFILE); the server keeps accepting. */
  readonly acceptErrors: number
}

/**
 * A listening server. It lives as long as the scope `serve` ran in.
 *
 * @category models
 * @since 0.1.0
 */
export interface Server {
  /** The bound address: read the port from here when listening on port 0. */
  readonly address: Connection.Address
  /** A snapshot of the counters. */
  readonly stats: () => ServerStats
  /** The TLS context when serving TLS: `server.tls?.reload(options)` swaps certificates for new handshakes. */
  readonly tls: Tls.ServerContext | undefined
}

/**
 * Options for `connect`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConnectOptions extends Connection.Options {
  /** Host name or IP literal. Names go through the `Dns` service. */
  readonly host: string
  readonly port: number
  /** Bounds name resolution and connecting together. Default: no limit. */
  readonly timeout?: Duration.Input | undefined
  /** Local address to bind before connecting. */
  readonly localAddress?: string | undefined
  /** Local port to bind before connecting. */
  readonly localPort?: number | undefined
  /** Only try addresses of this family. */
  readonly family?: NetAddress.IpFamily | undefined
  /** Head start of each address over the next one (happy eyeballs). Default 250 ms. */
  readonly attemptDelay?: Duration.Input | undefined
  /** Disable Nagle's algorithm. Default true. */
  readonly noDelay?: boolean | undefined
  /**
   * Connect with TLS: after the TCP connect (not bounded by `timeout`), a
   * verified handshake (bounded by `handshakeTimeout`, default 10 s). The
   * server's certificate must match `servername`, else `host`.
   */
  readonly tls?: Tls.ClientOptions | Tls.ClientContext | undefined
}

// =============================================================================
// Service
// =============================================================================

/**
 * The TCP service: what `serve` and `connect` run on. `layer` is the real
 * network; replace it to run the same programs over something else.
 *
 * @category services
 * @since 0.1.0
 */
export class Tcp extends Context.Service<Tcp, {
  readonly serve: <E, R>(
    options: ServeOptions<E, R>
  ) => Effect.Effect<Server, AddressInUse | SocketError | TlsError, R | Scope.Scope>
  readonly connect: (
    options: ConnectOptions
  ) => Effect.Effect<Connection.Connection, ConnectionError, Scope.Scope>
}>()("fiberloop/net/Tcp") {}

// =============================================================================
// Server
// =============================================================================

const ignoreError = (): void => {}

const addressOf = (server: Net.Server): Connection.Address => {
  const a = server.address() as Net.AddressInfo
  return { host: a.address, port: a.port, family: a.family === "IPv6" ? "IPv6" : "IPv4" }
}

const isEndOfStream = (cause: Cause.Cause<unknown>): boolean => {
  if (Cause.hasInterruptsOnly(cause)) return true
  const error = Cause.findErrorOption(cause)
  return Option.isSome(error) && (error.value as { _tag?: string })._tag === "ConnectionClosed" &&
    !Cause.hasDies(cause)
}

const networkConditions = new Set(["ConnectionReset", "ConnectionTimeout", "LineTooLong", "SocketClosed", "TlsError"])

/** Whether a handler ended because of the network rather than a bug: logged at debug level. */
const isNetworkCondition = (cause: Cause.Cause<unknown>): boolean => {
  const error = Cause.findErrorOption(cause)
  return !Cause.hasDies(cause) && Option.isSome(error) &&
    networkConditions.has((error.value as { _tag?: string })._tag ?? "")
}

const listen = (server: Net.Server, options: ServeOptions<any, any>) =>
  Effect.callback<void, AddressInUse | SocketError>((resume) => {
    const onError = (error: Error) => {
      server.off("listening", onListening)
      const e = fromNodeError(error, { host: options.host, port: options.port })
      resume(Effect.fail(
        e._tag === "AddressInUse" || e._tag === "SocketError"
          ? e
          : new SocketError({ host: e.host, port: e.port, code: e.code, errno: e.errno, syscall: e.syscall, cause: error })
      ))
    }
    const onListening = () => {
      server.off("error", onError)
      resume(Effect.void)
    }
    server.once("error", onError)
    server.once("listening", onListening)
    server.listen({
      port: options.port ?? 0,
      backlog: options.backlog ?? 511,
      ...(options.host !== undefined && { host: options.host })
    })
  })

/**
 * Listens on `host:port` and runs `handler` for every connection in a fiber of
 * its own, until the current scope closes.
 *
 * **Example** (A line echo server)
 *
 * ```ts
 * const server = yield* Tcp.serve({
 *   host: "127.0.0.1",
 *   port: 0,
 *   maxConnections: 1000,
 *   handler: (conn) => Effect.forever(Effect.flatMap(conn.receive("*l"), (line) => conn.send(`${line}\n`)))
 * })
 * console.log(server.address.port)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeServer: <E, R>(
  options: ServeOptions<E, R>
) => Effect.Effect<Server, AddressInUse | SocketError | TlsError, R | Scope.Scope> = Effect.fn("Tcp.serve")(
  function*<E, R>(options: ServeOptions<E, R>) {
    // handler fibers get the caller's services, without its scope and without the stack frame of this
    // span (which would annotate every connection's end of stream with a new Map)
    const services = Context.omit(Scope.Scope, References.CurrentStackFrame)(
      yield* Effect.context<R>()
    ) as Context.Context<R>
    const runFork = Effect.runForkWith(services)
    const { tally, release } = Stats.track(services as Context.Context<never>)
    const maxConnections = options.maxConnections ?? Infinity
    const waitingRoom = options.backlog ?? 511
    const drainMillis = Duration.toMillis(Duration.fromInputUnsafe(options.drainTimeout ?? "5 seconds"))
    const handler = options.handler
    const onError = options.onError
    const fibers = new Set<Fiber.Fiber<unknown, E>>()
    const waiting: Array<Net.Socket> = []
    const counts = { accepted: 0, rejected: 0, failed: 0, acceptErrors: 0 }
    let accepting = true
    let drained: Deferred.Deferred<void> | undefined
    const tls = options.tls === undefined || Tls.isServerContext(options.tls)
      ? options.tls
      : yield* Tls.makeServerContext(options.tls)
    const upgrade: Tls.UpgradeOptions | undefined = tls === undefined ? undefined : {
      server: tls,
      ...(options.handshakeTimeout !== undefined && { handshakeTimeout: options.handshakeTimeout })
    }
    /** The TLS handshake, in the connection's fiber, then the handler. */
    const secured = (conn: Connection.Connection, upgrade: Tls.UpgradeOptions) =>
      Effect.flatMap(conn.upgradeTls(upgrade), () => handler(conn)) as Effect.Effect<unknown, E, R>

    /** Logs and counts a handler's failure; runs outside the connection's fiber, which has ended. */
    const report = (cause: Cause.Cause<E | ConnectionError>, conn: Connection.Connection): void => {
      if (isEndOfStream(cause)) return
      counts.failed++
      tally.failures++
      const remote = conn.remoteAddress
      const log = isNetworkCondition(cause)
        ? Effect.logDebug("fiberloop: connection ended by a network condition", cause)
        : Effect.logWarning("fiberloop: connection handler failed", cause)
      runFork(
        log.pipe(
          Effect.andThen(onError === undefined ? Effect.void : onError(cause, conn)),
          Effect.annotateLogs({ remote: `${remote.host}:${remote.port}` }),
          Effect.catchCause(() => Effect.void)
        ) as Effect.Effect<void, never, R>
      )
    }

    const start = (socket: Net.Socket): void => {
      const conn = Connection.makeUnsafe(socket, options)
      let program: Effect.Effect<unknown, E, R>
      try {
        program = upgrade === undefined ? handler(conn) : secured(conn, upgrade)
      } catch (defect) {
        program = Effect.die(defect)
      }
      const fiber = runFork(program)
      fibers.add(fiber)
      tally.active++
      fiber.addObserver((exit) => finished(fiber, conn, exit))
    }

    const finished = (fiber: Fiber.Fiber<unknown, E>, conn: Connection.Connection, exit: Exit.Exit<unknown, E>) => {
      fibers.delete(fiber)
      Connection.closeUnsafe(conn)
      tally.active--
      tally.bytesRead += conn.bytesRead
      tally.bytesWritten += conn.bytesWritten
      if (exit._tag === "Failure") report(exit.cause, conn)
      while (accepting && waiting.length > 0 && fibers.size < maxConnections) {
        const next = waiting.shift()!
        if (!next.destroyed) start(next)
      }
      if (drained !== undefined && fibers.size === 0) Deferred.doneUnsafe(drained, Exit.void)
    }

    const server = Net.createServer({ allowHalfOpen: true, noDelay: options.noDelay ?? true })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        accepting = false
        server.close()
        for (const socket of waiting) socket.destroy()
        waiting.length = 0
        if (fibers.size > 0) {
          drained = Deferred.makeUnsafe<void>()
          yield* Deferred.await(drained).pipe(Effect.timeoutOrElse({ duration: drainMillis, orElse: () => Effect.void }))
        }
        if (fibers.size > 0) yield* Fiber.interruptAll([...fibers])
        release()
      })
    )

    server.on("connection", (socket: Net.Socket) => {
      if (!accepting) return void socket.destroy()
      counts.accepted++
      tally.accepted++
      if (fibers.size < maxConnections) return start(socket)
      socket.on("error", ignoreError)
      if (waiting.length < waitingRoom) {
        socket.pause()
        waiting.push(socket)
        return
      }
      counts.rejected++
      tally.rejected++
      socket.end()
      socket.destroySoon()
    })
    yield* listen(server, options)
    server.on("error", (error: Error) => {
      counts.acceptErrors++
      runFork(Effect.logWarning("fiberloop: accept failed; still accepting", error) as Effect.Effect<void, never, R>)
    })

    const address = addressOf(server)
    return {
      address,
      stats: () => ({ ...counts, active: fibers.size, waiting: waiting.length }),
      tls
    } satisfies Server
  }
)

// =============================================================================
// Client
// =============================================================================

const dial = (host: string, port: number, options: ConnectOptions) =>
  Effect.callback<Net.Socket, ConnectionError>((resume) => {
    const socket = Net.connect({
      host,
      port,
      allowHalfOpen: true,
      noDelay: options.noDelay ?? true,
      ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
      ...(options.localPort !== undefined && { localPort: options.localPort })
    })
    const onError = (error: Error) => {
      socket.off("connect", onConnect)
      socket.destroy()
      resume(Effect.fail(fromNodeError(error, { host, port })))
    }
    const onConnect = () => {
      socket.off("error", onError)
      resume(Effect.succeed(socket))
    }
    socket.once("error", onError)
    socket.once("connect", onConnect)
    return Effect.sync(() => socket.destroy())
  })

/** Happy eyeballs: each address gets a head start, or less if it fails first. */
const dialAll = (
  addresses: ReadonlyArray<string>,
  options: ConnectOptions
): Effect.Effect<Net.Socket, ConnectionError> => {
  const delay = options.attemptDelay ?? 250
  const attempt = (i: number): Effect.Effect<Net.Socket, ConnectionError> => {
    const here = dial(addresses[i]!, options.port, options)
    if (i === addresses.length - 1) return here
    return Effect.flatMap(Deferred.make<void>(), (failed) =>
      Effect.race(
        Effect.tapError(here, () => Deferred.succeed(failed, undefined)),
        Effect.raceFirst(Effect.sleep(delay), Deferred.await(failed)).pipe(Effect.andThen(attempt(i + 1)))
      ))
  }
  return attempt(0).pipe(
    Effect.catchCause((cause) => {
      const error = Cause.findErrorOption(cause)
      return Option.isSome(error) ? Effect.fail(error.value) : Effect.failCause(cause)
    })
  )
}

const resolve = (dns: Dns.Dns["Service"], options: ConnectOptions) =>
  Net.isIP(options.host) !== 0
    ? Effect.succeed([options.host])
    : dns.lookup(options.host, options.family === undefined ? undefined : { family: options.family }).pipe(
      Effect.map((addresses) => addresses.map(NetAddress.formatIp)),
      Effect.mapError((error) =>
        new DnsError({ host: options.host, port: options.port, reason: error.reason, cause: error })
      )
    )

const connectWith = (dns: Dns.Dns["Service"]) =>
  Effect.fn("Tcp.connect")(function*(options: ConnectOptions) {
    const socket = yield* Effect.uninterruptibleMask((restore) => {
      const dialing = Effect.flatMap(resolve(dns, options), (addresses) => dialAll(addresses, options))
      const bounded = options.timeout === undefined ? dialing : dialing.pipe(
        Effect.timeoutOrElse({
          duration: options.timeout,
          orElse: () =>
            Effect.fail(withoutStack(() =>
              new ConnectionTimeout({
                phase: "connect",
                host: options.host,
                port: options.port,
                timeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.timeout!))
              })
            ))
        })
      )
      return Effect.tap(restore(bounded), (socket) => Effect.addFinalizer(() => Effect.sync(() => socket.destroy())))
    })
    const conn = yield* Connection.make(socket, options)
    if (options.tls !== undefined) yield* conn.upgradeTls({ client: options.tls, host: options.host })
    return conn
  })

// =============================================================================
// Layers and accessors
// =============================================================================

/**
 * Builds the live TCP service over `node:net`, resolving names with `dns`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (dns: Dns.Dns["Service"]): Tcp["Service"] => Tcp.of({ serve: makeServer, connect: connectWith(dns) })

/**
 * The live TCP service; needs a `Dns` (e.g. `NodeDns.layer`, or
 * `Dns.layerStatic` in tests).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Tcp, never, Dns.Dns> = Layer.effect(Tcp, Effect.map(Effect.service(Dns.Dns), make))

/**
 * Serves with the `Tcp` service in context. See `makeServer` for the behaviour.
 *
 * **Example** (Serving until the scope closes)
 *
 * ```ts
 * Effect.scoped(Effect.andThen(Tcp.serve({ port: 7000, handler }), Effect.never))
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const serve = <E, R>(
  options: ServeOptions<E, R>
): Effect.Effect<Server, AddressInUse | SocketError | TlsError, R | Scope.Scope | Tcp> =>
  Effect.flatMap(Effect.service(Tcp), (tcp) => tcp.serve(options))

/**
 * Connects with the `Tcp` service in context; the connection closes with the
 * scope.
 *
 * **Example** (Asking a line server one question)
 *
 * ```ts
 * Effect.scoped(Effect.gen(function*() {
 *   const conn = yield* Tcp.connect({ host: "localhost", port: 7000, timeout: "2 seconds" })
 *   yield* conn.send("PING\n")
 *   return yield* conn.receive("*l") // => "PONG"
 * }))
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const connect = (
  options: ConnectOptions
): Effect.Effect<Connection.Connection, ConnectionError, Scope.Scope | Tcp> =>
  Effect.flatMap(Effect.service(Tcp), (tcp) => tcp.connect(options))

/**
 * A server that runs for the lifetime of the layer.
 *
 * **Example** (An echo service in an application's layer graph)
 *
 * ```ts
 * const EchoLive = Tcp.layerServer({ port: 7000, handler: echo })
 * Layer.launch(EchoLive.pipe(Layer.provide(Loop.layer)))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerServer = <E, R>(
  options: ServeOptions<E, R>
): Layer.Layer<never, AddressInUse | SocketError | TlsError, Exclude<R, Scope.Scope> | Tcp> =>
  Layer.effectDiscard(serve(options))
