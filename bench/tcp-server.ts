/**
 * The server side of bench/tcp.bench.ts (protocol in bench/server-process.ts):
 * `node bench/tcp-server.ts fiberloop|raw` serves an echo on 127.0.0.1.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Net from "node:net"
import * as Tcp from "../src/net/Tcp.ts"
import { announce } from "./server-process.ts"

const kind = process.argv[2]
if (kind === "raw") {
  let count = 0
  const server = Net.createServer({ noDelay: true }, (socket) => {
    count++
    socket.on("data", (chunk) => socket.write(chunk))
    socket.on("error", () => {})
    socket.on("close", () => count--)
  })
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () =>
    announce((server.address() as Net.AddressInfo).port, () => count))
} else {
  const program = Effect.gen(function*() {
    const server = yield* Tcp.serve({
      host: "127.0.0.1",
      port: 0,
      backlog: 4096,
      handler: (conn) =>
        Effect.forever(Effect.flatMap(conn.receivePartial(), (chunk) => conn.send(chunk)), { disableYield: true })
    })
    announce(server.address.port, () => server.stats().active)
    return yield* Effect.never
  })
  Effect.runFork(
    program.pipe(Effect.scoped, Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({})))))
  )
}
