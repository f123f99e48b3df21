/**
 * TCP servers and clients whose connections are fibers.
 *
 * `serve` runs an accept loop (see `TcpServer`); every accepted socket becomes
 * a `Connection` handed to the handler in a fiber of its own, with a `Scope`
 * of its own that closes with the connection. A handler that fails or dies is
 * reported and forgotten: the server goes on. Every attacker-facing resource
 * is bounded by default (waiting room, waiting time, TLS handshakes in
 * flight, line length, drain time).
 *
 * `connect` resolves host names through the `Dns` service, tries every address
 * (happy eyeballs), and returns a scoped `Connection`, in a `Tcp.connect` span
 * (peer, the address used, TLS protocol, outcome). Both sides also speak over
 * Unix domain sockets (`path`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as NetAddress from "effect/net/NetAddress"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import { countLookup } from "../internal/counters.ts"
import * as Stats from "../Stats.ts"
import * as ConnectionModule from "./Connection.ts"
import {
  type AddressInUse,
  type ConnectionError,
  ConnectionTimeout,
  DnsError,
  fromNodeError,
  type SocketError,
  type TlsError,
  withoutStack
} from "./Errors.ts"
import type * as Tls from "./Tls.ts"
import * as TcpServer from "./TcpServer.ts"

export type { Server, ServerStats, ServeOptions } from "./TcpServer.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * A connection, as a handler receives it and `connect` returns it: the type
 * to annotate a hoisted handler with.
 *
 * **Example** (A hoisted handler)
 *
 * ```ts
 * const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
 *   for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Connection = ConnectionModule.Connection

/**
 * What every `connect` takes, whatever the address.
 *
 * @category models
 * @since 0.1.0
 */
export interface CommonConnectOptions extends ConnectionModule.Options {
  /** Bounds name resolution and connecting together (not the TLS handshake). Default: no limit. */
  readonly timeout?: Duration.Input | undefined
  /** Disable Nagle's algorithm. Default true. */
  readonly noDelay?: boolean | undefined
  /** TCP keep-alive probes (`SO_KEEPALIVE`). Default false. */
  readonly keepAlive?: boolean | undefined
  /** Idle time before the first keep-alive probe. Default: the system's (2 hours on Linux). */
  readonly keepAliveInitialDelay?: Duration.Input | undefined
  /**
   * Connect with TLS: after the connect (not bounded by `timeout`), a verified
   * handshake (bounded by `handshakeTimeout`). The server's certificate must
   * match `servername`, else `host`.
   */
  readonly tls?: Tls.ClientOptions | Tls.ClientContext | undefined
  /** Bounds the TLS handshake; it then fails with `TlsError { reason: "Timeout" }`. Default 10 seconds. */
  readonly handshakeTimeout?: Duration.Input | undefined
}

/**
 * Options for `connect` to `host:port`.
 *
 * @category models
 * @since 0.1.0
 */
export interface InetConnectOptions extends CommonConnectOptions {
  /** Host name or IP literal. Names go through the `Dns` service. */
  readonly host: string
  readonly port: number
  /** Local address to bind before connecting. */
  readonly localAddress?: string | undefined
  /** Local port to bind before connecting. */
  readonly localPort?: number | undefined
  /** Only try addresses of this family. */
  readonly family?: NetAddress.IpFamily | undefined
  /** Head start of each address over the next one (happy eyeballs). Default 250 ms. */
  readonly attemptDelay?: Duration.Input | undefined
  readonly path?: undefined
}

/**
 * Options for `connect` to a Unix domain socket.
 *
 * @category models
 * @since 0.1.0
 */
export interface UnixConnectOptions extends CommonConnectOptions {
  /** The socket file's path. */
  readonly path: string
}

/**
 * Options for `connect`: `host` and `port`, or a Unix socket `path`.
 *
 * **Example** (Both kinds)
 *
 * ```ts
 * Tcp.connect({ host: "localhost", port: 7000, timeout: "2 seconds" })
 * Tcp.connect({ path: "/run/app.sock" })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ConnectOptions = InetConnectOptions | UnixConnectOptions

// =============================================================================
// Service
// =============================================================================

/**
 * The TCP service: what `serve` and `connect` run on. `layer` is the real
 * network; replace it to run the same programs over something else.
 *
 * **Example** (Using the service directly)
 *
 * ```ts
 * const tcp = yield* Tcp.Tcp
 * const conn = yield* tcp.connect({ host: "127.0.0.1", port: 7000 })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Tcp extends Context.Service<Tcp, {
  readonly serve: <E, R>(
    options: TcpServer.ServeOptions<E, R>
  ) => Effect.Effect<TcpServer.Server, AddressInUse | SocketError | TlsError, Exclude<R, Scope.Scope> | Scope.Scope>
  readonly connect: (
    options: ConnectOptions
  ) => Effect.Effect<Connection, ConnectionError, Scope.Scope>
}>()("fiberloop/net/Tcp") {}

// =============================================================================
// Client
// =============================================================================

const ignoreError = (): void => {}

const socketOptions = (options: ConnectOptions): {
  readonly allowHalfOpen: boolean
  readonly noDelay: boolean
  readonly keepAlive?: boolean
  readonly keepAliveInitialDelay?: number
} => ({
  allowHalfOpen: true,
  noDelay: options.noDelay ?? true,
  ...(options.keepAlive === true && {
    keepAlive: true,
    ...(options.keepAliveInitialDelay !== undefined &&
      { keepAliveInitialDelay: Duration.toMillis(Duration.fromInputUnsafe(options.keepAliveInitialDelay)) })
  })
})

/**
 * Connects one socket. From creation to the `Connection` that takes it over,
 * the socket always has an `'error'` listener: a reset in between is never an
 * unhandled error (the connection then reads it as a closed socket).
 */
const dial = (connectOptions: Net.NetConnectOpts, where: { readonly host?: string; readonly port?: number }) =>
  Effect.callback<Net.Socket, ConnectionError>((resume) => {
    const socket = Net.connect(connectOptions)
    const onError = (error: Error) => {
      socket.off("connect", onConnect)
      socket.destroy()
      resume(Effect.fail(fromNodeError(error, where)))
    }
    const onConnect = () => {
      socket.on("error", ignoreError)
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
  options: InetConnectOptions
): Effect.Effect<Net.Socket, ConnectionError> => {
  const delay = options.attemptDelay ?? 250
  const base = socketOptions(options)
  const attempt = (i: number): Effect.Effect<Net.Socket, ConnectionError> => {
    const host = addresses[i]!
    const here = dial({
      ...base,
      host,
      port: options.port,
      ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
      ...(options.localPort !== undefined && { localPort: options.localPort })
    }, { host, port: options.port })
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

const resolve = (dns: Dns.Dns["Service"], options: InetConnectOptions) =>
  Net.isIP(options.host) !== 0
    ? Effect.succeed([options.host])
    : countLookup(dns.lookup(options.host, options.family === undefined ? undefined : { family: options.family })).pipe(
      Effect.map((addresses) => addresses.map(NetAddress.formatIp)),
      Effect.mapError((error) =>
        new DnsError({ host: options.host, port: options.port, reason: error.reason, cause: error })
      )
    )

/** The connect span's `outcome`: `connected`, or the failure's tag (`ConnectionRefused`, `TlsError`, …). */
const outcome = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.onExit(effect, (exit) =>
    Effect.annotateCurrentSpan(
      "outcome",
      Exit.isSuccess(exit)
        ? "connected"
        : Option.match(Cause.findErrorOption(exit.cause), {
          onNone: () => (Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "died"),
          onSome: (error) => (error as { readonly _tag?: string })._tag ?? "failed"
        })
    ))

const connectWith = (dns: Dns.Dns["Service"]) =>
  Effect.fn("Tcp.connect", { kind: "client" })(function*(options: ConnectOptions) {
    Stats.register(yield* Effect.context<never>())
    if (options.path !== undefined) yield* Effect.annotateCurrentSpan("net.peer.path", options.path)
    else yield* Effect.annotateCurrentSpan({ "net.peer.name": options.host, "net.peer.port": options.port })
    const where = options.path !== undefined ? { host: options.path } : { host: options.host, port: options.port }
    const socket = yield* Effect.uninterruptibleMask((restore) => {
      const dialing = options.path !== undefined
        ? dial({ ...socketOptions(options), path: options.path }, where)
        : Effect.flatMap(resolve(dns, options), (addresses) => dialAll(addresses, options))
      const bounded = options.timeout === undefined ? dialing : dialing.pipe(
        Effect.timeoutOrElse({
          duration: options.timeout,
          orElse: () =>
            Effect.fail(withoutStack(() =>
              new ConnectionTimeout({
                phase: "connect",
                ...where,
                timeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.timeout!))
              })
            ))
        })
      )
      return Effect.tap(restore(bounded), (socket) => Effect.addFinalizer(() => Effect.sync(() => socket.destroy())))
    })
    if (options.path === undefined) {
      yield* Effect.annotateCurrentSpan({
        "net.sock.peer.addr": socket.remoteAddress ?? "",
        "net.sock.peer.port": socket.remotePort ?? 0
      })
    }
    const conn = yield* ConnectionModule.make(socket, options)
    if (options.tls !== undefined) {
      yield* conn.upgradeTls({
        client: options.tls,
        ...(options.path === undefined && { host: options.host }),
        ...(options.handshakeTimeout !== undefined && { handshakeTimeout: options.handshakeTimeout })
      })
      const tls = conn.tls
      if (tls !== undefined) {
        yield* Effect.annotateCurrentSpan({ "tls.protocol": tls.protocol, "tls.alpn": tls.alpn ?? "" })
      }
    }
    return conn
  }, outcome)

// =============================================================================
// Layers and accessors
// =============================================================================

/**
 * Builds the live TCP service over `node:net` on the `Dns` service in context
 * (names given to `connect` are resolved with it).
 *
 * **Example** (Building it by hand)
 *
 * ```ts
 * const tcp = yield* Tcp.make.pipe(Effect.provide(NodeDns.layer))
 * const conn = yield* tcp.connect({ host: "localhost", port: 7000 })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Tcp["Service"], never, Dns.Dns> = Dns.Dns.useSync((dns) =>
  Tcp.of({ serve: TcpServer.make, connect: connectWith(dns) })
)

/**
 * The live TCP service; needs a `Dns` (e.g. `NodeDns.layer`, or
 * `Dns.layerStatic` in tests).
 *
 * **Example** (With Node's resolver)
 *
 * ```ts
 * const TcpLive = Tcp.layer.pipe(Layer.provide(NodeDns.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Tcp, never, Dns.Dns> = Layer.effect(Tcp, make)

/**
 * Listens and runs `options.handler` for every connection in a fiber of its
 * own, until the current scope closes; returns once listening. The handler
 * gets a `Scope` of its own (closed with the connection), so it may use
 * `acquireRelease` and `addFinalizer`. See `TcpServer` for the behaviour and
 * docs/tcp.md for every default.
 *
 * **Example** (A line echo server with a hoisted handler)
 *
 * ```ts
 * const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
 *   for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
 * })
 * const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, maxConnections: 1000, handler: echo })
 * server.address.port // => 41234
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const serve = <E, R>(
  options: TcpServer.ServeOptions<E, R>
): Effect.Effect<TcpServer.Server, AddressInUse | SocketError | TlsError, Exclude<R, Scope.Scope> | Scope.Scope | Tcp> =>
  Effect.flatMap(Effect.service(Tcp), (tcp) => tcp.serve(options))

/**
 * Connects with the `Tcp` service in context, to `host:port` or to a Unix
 * socket `path`; the connection closes with the scope.
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
): Effect.Effect<Connection, ConnectionError, Scope.Scope | Tcp> =>
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
  options: TcpServer.ServeOptions<E, R>
): Layer.Layer<never, AddressInUse | SocketError | TlsError, Exclude<R, Scope.Scope> | Tcp> =>
  Layer.effectDiscard(serve(options))
