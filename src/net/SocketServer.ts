/**
 * Effect's own `SocketServer` (effect/socket), served by a fiberloop server.
 *
 * Code written against `SocketServer.SocketServer` (effect/rpc's socket
 * protocol, effect/cluster's runners) gets fiberloop's server underneath:
 * `maxConnections` with a waiting room, per-connection timeouts, TLS,
 * handler failure isolation, and drain-then-interrupt on close. Each
 * connection is handed to the handler as an effect `Socket` over the
 * connection's own Node socket.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as EffectSocketServer from "effect/socket/SocketServer"
import type * as Net from "node:net"
import * as Connection from "./Connection.ts"
import { ConnectionTimeout, withoutStack } from "./Errors.ts"
import * as Tcp from "./Tcp.ts"

/**
 * Options: everything `Tcp.serve` takes but the handler, which `run` supplies.
 * Of the per-connection timeouts only `idle` applies (effect/socket reads and
 * writes on its own terms): a connection without traffic either way for that
 * long is destroyed, and the handler's socket fails with a read error.
 *
 * @category models
 * @since 0.1.0
 */
export type Options = Omit<Tcp.ServeOptions<never, never>, "handler" | "onError">

const ignoreError = (): void => {}

const kIdleMillis = Symbol.for("fiberloop/net/SocketServer/idleMillis")

/** A handed-over socket went idle: destroy it with the typed timeout (its reader sees it as the cause). */
function onIdle(this: Net.Socket & { [kIdleMillis]?: number }) {
  this.destroy(withoutStack(() =>
    new ConnectionTimeout({
      phase: "idle",
      timeoutMillis: this[kIdleMillis],
      host: this.remoteAddress,
      port: this.remotePort
    })
  ))
}

/**
 * Takes the socket over from the connection. A no-op `'error'` listener stays
 * on it for good: effect/socket listens only while a reader is held, and a
 * reset outside those times must not be an unhandled error. The idle timeout
 * (which the connection stops applying) is set again on the socket.
 */
const handOver = (conn: Connection.Connection, idleMillis: number | undefined): Net.Socket => {
  conn.socket.on("error", ignoreError)
  const { socket, unread } = Connection.detachUnsafe(conn)
  if (unread.length > 0) socket.unshift(unread)
  if (idleMillis !== undefined) {
    ;(socket as Net.Socket & { [kIdleMillis]?: number })[kIdleMillis] = idleMillis
    socket.setTimeout(idleMillis)
    socket.on("timeout", onIdle)
  }
  return socket
}

/**
 * Listens now; connections that arrive before `run` wait for it. Each
 * connection's handler runs with the services of `run`'s caller and a `Scope`
 * of its own, closed when the connection ends.
 *
 * **Example** (An effect/socket echo on a fiberloop server)
 *
 * ```ts
 * // hoisted: one generator function for every connection; reader and writer live in its scope
 * const echo = Effect.fnUntraced(function*(socket: Socket.Socket) {
 *   const reader = yield* socket.reader
 *   const writer = yield* socket.writer
 *   for (;;) yield* writer.writeAll(yield* reader.pull)
 * })
 * const server = yield* SocketServer.make({ host: "127.0.0.1", port: 0, maxConnections: 100 })
 * yield* Effect.forkScoped(server.run(echo))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Options
): Effect.Effect<EffectSocketServer.SocketServer["Service"], EffectSocketServer.SocketServerError, Scope.Scope | Tcp.Tcp> =>
  Effect.gen(function*() {
    const idleMillis = options.idle === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(options.idle))
    let handle: ((conn: Connection.Connection) => Effect.Effect<unknown, unknown, Scope.Scope>) | undefined
    let installed = Deferred.makeUnsafe<void>()
    const waitForRun = (conn: Connection.Connection) =>
      Effect.andThen(Deferred.await(installed), Effect.suspend(() => handle!(conn)))
    const server = yield* Tcp.serve({
      ...options,
      handler: (conn) => (handle !== undefined ? handle(conn) : waitForRun(conn))
    }).pipe(
      Effect.mapError((cause) =>
        new EffectSocketServer.SocketServerError({ reason: new EffectSocketServer.SocketServerOpenError({ cause }) })
      )
    )
    const address = yield* Effect.fromResult(
      server.path !== undefined
        ? NetAddress.socketAddressFromInput({ path: server.path })
        : NetAddress.inetAddressFromIpString(server.address.host, server.address.port)
    ).pipe(
      Effect.mapError((cause) =>
        new EffectSocketServer.SocketServerError({ reason: new EffectSocketServer.SocketServerOpenError({ cause }) })
      )
    )
    const run = <R, E, _>(handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>) =>
      Effect.gen(function*() {
        const services = Context.omit(Scope.Scope)(yield* Effect.context<R>()) as Context.Context<R>
        // run's services, with the connection's own scope
        const withServices = (connection: Context.Context<Scope.Scope>) =>
          Context.add(services, Scope.Scope, Context.get(connection, Scope.Scope))
        handle = (conn) =>
          NodeSocket.fromDuplex(Effect.succeed(handOver(conn, idleMillis))).pipe(
            Effect.flatMap(handler),
            Effect.updateContext(withServices)
          )
        Deferred.doneUnsafe(installed, Exit.void)
        return yield* Effect.never
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            handle = undefined
            installed = Deferred.makeUnsafe<void>()
          })
        )
      )
    return EffectSocketServer.SocketServer.of({ address, run })
  })

/**
 * Provides effect/socket's `SocketServer` from a fiberloop server listening
 * for the lifetime of the layer.
 *
 * **Example** (Running an effect/rpc socket server on fiberloop)
 *
 * ```ts
 * RpcServer.layerProtocolSocketServer.pipe(Layer.provide(SocketServer.layer({ port: 7000 })), Layer.provide(Loop.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<EffectSocketServer.SocketServer, EffectSocketServer.SocketServerError, Tcp.Tcp> =>
  Layer.effect(EffectSocketServer.SocketServer, make(options))
