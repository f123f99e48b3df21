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
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import type * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as EffectSocketServer from "effect/socket/SocketServer"
import * as Connection from "./Connection.ts"
import * as Tcp from "./Tcp.ts"

/**
 * Options: everything `Tcp.serve` takes but the handler, which `run` supplies.
 *
 * @category models
 * @since 0.1.0
 */
export type Options = Omit<Tcp.ServeOptions<never, never>, "handler" | "onError">

/**
 * Listens now; connections that arrive before `run` wait for it.
 *
 * **Example** (An effect/socket echo on a fiberloop server)
 *
 * ```ts
 * const server = yield* SocketServer.make({ host: "127.0.0.1", port: 0, maxConnections: 100 })
 * yield* Effect.forkScoped(server.run((socket) => echo(socket)))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Options
): Effect.Effect<EffectSocketServer.SocketServer["Service"], EffectSocketServer.SocketServerError, Scope.Scope | Tcp.Tcp> =>
  Effect.gen(function*() {
    let handle: ((conn: Connection.Connection) => Effect.Effect<unknown, unknown>) | undefined
    let installed = Deferred.makeUnsafe<void>()
    const server = yield* Tcp.serve({
      ...options,
      handler: (conn) => Effect.andThen(Deferred.await(installed), Effect.suspend(() => handle!(conn)))
    }).pipe(
      Effect.mapError((cause) =>
        new EffectSocketServer.SocketServerError({ reason: new EffectSocketServer.SocketServerOpenError({ cause }) })
      )
    )
    const address = yield* Effect.fromResult(
      NetAddress.inetAddressFromIpString(server.address.host, server.address.port)
    ).pipe(
      Effect.mapError((cause) =>
        new EffectSocketServer.SocketServerError({ reason: new EffectSocketServer.SocketServerOpenError({ cause }) })
      )
    )
    const run = <R, E, _>(handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>) =>
      Effect.gen(function*() {
        const context = (yield* Effect.context<R>()) as Context.Context<R>
        handle = (conn) => {
          const { socket, unread } = Connection.detachUnsafe(conn)
          if (unread.length > 0) socket.unshift(unread)
          return NodeSocket.fromDuplex(Effect.succeed(socket)).pipe(
            Effect.flatMap(handler),
            Effect.provideContext(context)
          )
        }
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
