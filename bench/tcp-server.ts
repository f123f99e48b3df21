/**
 * The server side of bench/tcp.bench.ts, in a process of its own so that it
 * has a core to itself and its memory is measured alone:
 * `node bench/tcp-server.ts fiberloop|raw`. Prints `{ port }`, then answers
 * each line on stdin: `stats` prints CPU time so far, RSS (after GC), and the
 * number of open connections.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Net from "node:net"
import { createInterface } from "node:readline"
import * as Tcp from "../src/net/Tcp.ts"

const kind = process.argv[2]
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
let open: () => number

const ready = (port: number): void => {
  process.stdout.write(JSON.stringify({ port }) + "\n")
  createInterface({ input: process.stdin }).on("line", () => {
    const cpu = process.cpuUsage() // before the collections below, which are not part of the work measured
    gc()
    gc()
    process.stdout.write(
      JSON.stringify({ rss: process.memoryUsage().rss, cpuMicros: cpu.user + cpu.system, open: open() }) + "\n"
    )
  }).on("close", () => process.exit(0))
}

if (kind === "raw") {
  let count = 0
  const server = Net.createServer({ noDelay: true }, (socket) => {
    count++
    socket.on("data", (chunk) => socket.write(chunk))
    socket.on("error", () => {})
    socket.on("close", () => count--)
  })
  open = () => count
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => ready((server.address() as Net.AddressInfo).port))
} else {
  const program = Effect.gen(function*() {
    const server = yield* Tcp.serve({
      host: "127.0.0.1",
      port: 0,
      backlog: 4096,
      handler: (conn) =>
        Effect.forever(Effect.flatMap(conn.receivePartial(), (chunk) => conn.send(chunk)), { disableYield: true })
    })
    open = () => server.stats().active
    ready(server.address.port)
    return yield* Effect.never
  })
  Effect.runFork(
    program.pipe(Effect.scoped, Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({})))))
  )
}
