/**
 * The server side of the workers benchmark (bench/workers.bench.ts): a
 * primary and `count` worker processes sharing one port through `Workers`,
 * each worker a line echo server whose replies start with its PID:
 * fiberloop's `Tcp.serve`, or (`raw`) a plain `node:net` server, both with
 * `reusePort`. Run with `--expose-gc` (the workers inherit it).
 *
 *   node --expose-gc bench/workers-server.ts fiberloop|raw [count]
 *
 * Protocol on stdout (the workers share the primary's): the primary prints
 * `{ port, pids }` once every worker listens; on SIGUSR2 a worker collects
 * garbage twice and prints `{ pid, rss }`. SIGTERM to the primary stops all.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Net from "node:net"
import type * as Connection from "../src/net/Connection.ts"
import * as Tcp from "../src/net/Tcp.ts"
import * as Workers from "../src/net/Workers.ts"

const kind = process.argv[2] === "raw" ? "raw" : "fiberloop"
const count = Number(process.argv[3] ?? 4)
const prefix = `${process.pid} `

const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) yield* conn.send(`${prefix}${yield* conn.receive("*l")}\n`)
})

const serveFiberloop = (port: number) =>
  Tcp.serve({ host: "127.0.0.1", port, reusePort: true, backlog: 4096, handler: echo })

/** A raw `node:net` line echo (every line arrives in one chunk in this benchmark). */
const serveRaw = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly server: Net.Server; readonly address: Connection.Address }>((resume) => {
      const server = Net.createServer({ noDelay: true })
      server.on("connection", (socket: Net.Socket) => {
        socket.on("data", (chunk: Buffer) => socket.write(prefix + chunk.toString("latin1"), "latin1"))
        socket.on("error", () => {})
      })
      server.listen({ host: "127.0.0.1", port, reusePort: true, backlog: 4096 }, () => {
        const a = server.address() as Net.AddressInfo
        resume(Effect.succeed({ server, address: { host: a.address, port: a.port, family: "IPv4" } }))
      })
    }),
    ({ server }) => Effect.sync(() => server.close())
  )

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const worker = Effect.gen(function*() {
  process.on("SIGUSR2", () => {
    gc()
    gc()
    process.stdout.write(`${JSON.stringify({ pid: process.pid, rss: process.memoryUsage().rss })}\n`)
  })
  return yield* (kind === "raw" ? Workers.worker(serveRaw) : Workers.worker(serveFiberloop))
})

const primary = Effect.scoped(Effect.gen(function*() {
  const group = yield* Workers.make({ count, stopTimeout: "20 seconds" })
  process.stdout.write(`${JSON.stringify({ port: group.address.port, pids: group.workers().map((w) => w.pid) })}\n`)
  return yield* group.join
}))

const main: Effect.Effect<void, unknown, Tcp.Tcp> = Workers.isWorker ? worker : primary

NodeRuntime.runMain(main.pipe(Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({}))))))
