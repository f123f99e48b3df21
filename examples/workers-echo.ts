/**
 * An echo server on several processes sharing one port: every line a client
 * sends comes back, prefixed with the PID of the worker that served it.
 *
 *   npx node examples/workers-echo.ts [port] [workers]    then: nc 127.0.0.1 <port>
 *
 * The same script runs as the primary and as every worker (`Workers.isWorker`
 * tells them apart). Ctrl-C (or SIGTERM to the primary): every worker stops
 * accepting, lets open connections finish for up to `drainTimeout`, and exits.
 */
import * as Effect from "effect/Effect"
import { Loop, Tcp, Workers } from "../src/index.ts"

const port = Number(process.argv[2] ?? 7000)
const count = Number(process.argv[3] ?? 4)

// hoisted: one generator function serves every connection
const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) yield* conn.send(`${process.pid}: ${yield* conn.receive("*l")}\n`)
})

// what every worker runs: the same server, limits and drain, on the shared port
const serve = (port: number) =>
  Tcp.serve({
    host: "127.0.0.1",
    port,
    reusePort: true,
    maxConnections: 10_000,
    idle: "5 minutes",
    drainTimeout: "5 seconds",
    handler: echo
  })

const primary = Effect.scoped(Effect.gen(function*() {
  const group = yield* Workers.make({ count, port, stopTimeout: "10 seconds" })
  const pids = group.workers().map((w) => w.pid).join(", ")
  const bound = group.address.port
  yield* Effect.log(`echo server on 127.0.0.1:${bound} in workers ${pids} (try: nc 127.0.0.1 ${bound})`)
  return yield* group.join
}))

const main: Effect.Effect<void, unknown, Tcp.Tcp> = Workers.isWorker ? Workers.worker(serve) : primary

Loop.run(main)
