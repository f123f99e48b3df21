/**
 * The server side of bench/tls.bench.ts, in a process of its own so that it
 * has a core to itself: `node bench/tls-server.ts fiberloop|raw <key> <cert>`.
 * Serves a TLS echo on 127.0.0.1 (fiberloop: `Tcp.serve({ tls })`; raw: a
 * `tls.createServer` echo), prints `{ port }`, and exits when stdin closes.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import { readFileSync } from "node:fs"
import { createInterface } from "node:readline"
import * as NodeTls from "node:tls"
import * as Tcp from "../src/net/Tcp.ts"

const [kind, keyFile, certFile] = process.argv.slice(2) as [string, string, string]

const ready = (port: number): void => {
  process.stdout.write(JSON.stringify({ port }) + "\n")
  createInterface({ input: process.stdin }).on("close", () => process.exit(0))
}

if (kind === "raw") {
  const server = NodeTls.createServer({
    key: readFileSync(keyFile),
    cert: readFileSync(certFile),
    minVersion: "TLSv1.2",
    noDelay: true
  }, (socket) => {
    socket.on("data", (chunk) => socket.write(chunk))
    socket.on("error", () => {})
  })
  server.on("tlsClientError", () => {})
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () =>
    ready((server.address() as { port: number }).port))
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
    ready(server.address.port)
    return yield* Effect.never
  })
  Effect.runFork(
    program.pipe(Effect.scoped, Effect.provide(Tcp.layer.pipe(Layer.provide(Dns.layerStatic({})))))
  )
}
