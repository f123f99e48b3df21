/**
 * The echo servers the stream benchmarks measure, each in a server process
 * (bench/server-process.ts): a raw Node one, and fiberloop's `Tcp.serve`, with
 * or without TLS, its handler in the documented hoisted form or (to measure
 * what that form saves) inline. Both listen on 127.0.0.1 and announce their port.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import type * as Net from "node:net"
import * as Tcp from "../src/net/Tcp.ts"
import type * as Tls from "../src/net/Tls.ts"
import { announce } from "./server-process.ts"
import { withAsyncContextFromEnv } from "./upstream/cycle.ts"

/**
 * Echoes every connection `server` reports by `event` (`connection` for
 * `net`, `secureConnection` for `tls`). Without `flowControl` it writes every
 * chunk as it comes, however much is queued already (the usual hand-written
 * echo); with it, it stops reading while a write is queued past the socket's
 * high water mark and goes on at `'drain'`, as fiberloop's `send` does.
 *
 * ```ts
 * serveRawEcho(Net.createServer({ noDelay: true }), "connection")
 * ```
 */
export const serveRawEcho = (
  server: Net.Server,
  event: "connection" | "secureConnection",
  flowControl = false
): void => {
  let open = 0
  server.on(event, (socket: Net.Socket) => {
    open++
    if (flowControl) {
      socket.on("data", (chunk) => {
        if (!socket.write(chunk)) socket.pause()
      })
      socket.on("drain", () => socket.resume())
    } else socket.on("data", (chunk) => socket.write(chunk))
    socket.on("error", () => {})
    socket.on("close", () => open--)
  })
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () =>
    announce((server.address() as Net.AddressInfo).port, () => open))
}

/**
 * How the echo handler is written: `hoisted` is the form the docs show (one
 * generator function for every connection), `inline` the arrow that builds a
 * generator function per connection.
 */
export type HandlerForm = "hoisted" | "inline"

/** The documented form: one generator function, defined once, for every connection. */
const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) yield* conn.send(yield* conn.receivePartial())
})

/** The inline form: `Effect.gen` builds a generator function (closure, prototype, maps) per connection. */
const echoInline = (conn: Tcp.Connection) =>
  Effect.gen(function*() {
    for (;;) yield* conn.send(yield* conn.receivePartial())
  })

/**
 * The echo handler in each form (bench/handler-form.bench.ts measures both in
 * one process).
 *
 * ```ts
 * Tcp.serve({ host: "127.0.0.1", port: 0, handler: echoHandlers.inline })
 * ```
 */
export const echoHandlers = { hoisted: echo, inline: echoInline } satisfies Record<HandlerForm, unknown>

/**
 * Echoes with `Tcp.serve`, over TLS when given credentials; the handler in the
 * documented hoisted form unless `form` is `inline`, with `deferAccept` when
 * given.
 *
 * ```ts
 * serveFiberloopEcho({ key: { file: "server.key" }, cert: { file: "server.crt" } })
 * serveFiberloopEcho(undefined, "inline")
 * serveFiberloopEcho(undefined, "hoisted", "60 seconds")
 * ```
 */
export const serveFiberloopEcho = (
  tls?: Tls.ServerOptions,
  form: HandlerForm = "hoisted",
  deferAccept?: Duration.Input
): void => {
  const program = Effect.gen(function*() {
    const server = yield* Tcp.serve({
      host: "127.0.0.1",
      port: 0,
      backlog: 4096,
      ...(tls !== undefined && { tls }),
      ...(deferAccept !== undefined && { deferAccept }),
      handler: echoHandlers[form]
    })
    announce(server.address.port, () => server.stats().active + server.stats().deferred)
    return yield* Effect.never
  })
  Effect.runFork(
    withAsyncContextFromEnv(program).pipe(Effect.scoped, Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({})))))
  )
}
