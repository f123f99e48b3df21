/**
 * The server side of bench/tls.bench.ts, in a process of its own so that it
 * has a core to itself: `node bench/tls-server.ts fiberloop|raw <key> <cert>`.
 * Serves a TLS echo on 127.0.0.1 (fiberloop: `Tcp.serve({ tls })`; raw: a
 * `tls.createServer` echo), and speaks the protocol of bench/server-process.ts.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import { readFileSync } from "node:fs"
import * as NodeTls from "node:tls"
import * as Tcp from "../src/net/Tcp.ts"
import { announce } from "./server-process.ts"

const [kind, keyFile, certFile] = process.argv.slice(2) as [string, string, string]

if (kind === "raw") {
  let count = 0
  const server = NodeTls.createServer({
    key: readFileSync(keyFile),
    cert: readFileSync(certFile),
    minVersion: "TLSv1.2",
    noDelay: true
  }, (socket) => {
    count++
    socket.on("data", (chunk) => socket.write(chunk))
    socket.on("error", () => {})
    socket.on("close", () => count--)
  })
  server.on("tlsClientError", () => {})
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () =>
    announce((server.address() as { port: number }).port, () => count))
} else {
  const program = Effect.gen(function*() {
    const server = yield* Tcp.serve({
      host: "127.0.0.1",
      port: 0,
      backlog: 4096,
      tls: { key: { file: keyFile }, cert: { file: certFile } },
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
