/**
 * The server side of bench/http.bench.ts (protocol in bench/server-process.ts):
 * `node bench/http-server.ts KIND [key cert]` serves `GET /` with
 * "hello world" on 127.0.0.1. KIND is the server and the handler:
 * `fiberloop-app` (`Http.serve` with an effect/http app), `effect-app` (effect's
 * `NodeHttpServer`, same app), `raw` (`node:http`), `fiberloop-fetch` and
 * `effect-fetch` (a fetch handler), `node-fetch` (the fetch handler through
 * `HttpFetch.toNodeListener` on a plain `node:http` server: what `Http.serve`
 * adds to it is the rest of `fiberloop-fetch`), and over TLS with HTTP/2 `fiberloop-h2`,
 * `effect-h2` and `raw-h2` (`node:http2`).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as HttpEffect from "effect/http/HttpEffect"
import * as HttpServer from "effect/http/HttpServer"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import { readFileSync } from "node:fs"
import * as NodeHttp from "node:http"
import * as Http2 from "node:http2"
import type * as Net from "node:net"
import * as Http from "../src/net/Http.ts"
import * as HttpFetch from "../src/net/HttpFetch.ts"
import * as Tcp from "../src/net/Tcp.ts"
import { announce } from "./server-process.ts"

const [kind, keyFile, certFile] = process.argv.slice(2) as [string, string | undefined, string | undefined]

const app = Effect.succeed(HttpServerResponse.text("hello world"))
const fetchHandler = (_request: Request) => new Response("hello world", { headers: { "content-type": "text/plain" } })
const tls = () => ({ key: readFileSync(keyFile!), cert: readFileSync(certFile!) })

const TcpLive = Tcp.layer.pipe(Layer.provide(Dns.layerStatic({})))

const fiberloop = (options: Omit<Http.Options, "host" | "port"> & Http.App<unknown, never>) =>
  Effect.runFork(
    Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, backlog: 4096, ...options } as any)
      announce(server.address.port, () => server.stats().active)
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.provide(TcpLive)) as Effect.Effect<never>
  )

const effect = (
  server: () => NodeHttp.Server | Http2.Http2SecureServer,
  httpApp: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, any>
) =>
  Effect.runFork(
    Effect.gen(function*() {
      const http = yield* HttpServer.HttpServer
      yield* http.serve(httpApp)
      announce((http.address as { port: number }).port, () => 0)
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.provide(NodeHttpServer.layer(server, { host: "127.0.0.1", port: 0, backlog: 4096 }))
    ) as Effect.Effect<never>
  )

const raw = (server: NodeHttp.Server | Http2.Http2SecureServer) => {
  let open = 0
  const answered = server.listenerCount("request") > 0 // node-fetch brings its listener
  server.on("connection", (socket: Net.Socket) => {
    open++
    socket.on("close", () => open--)
  })
  if (!answered) {
    (server as NodeHttp.Server).on("request", (_req: NodeHttp.IncomingMessage, res: NodeHttp.ServerResponse) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "11" })
      res.end("hello world")
    })
  }
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () =>
    announce((server.address() as Net.AddressInfo).port, () => open))
}

switch (kind) {
  case "fiberloop-app":
    fiberloop({ app })
    break
  case "fiberloop-fetch":
    fiberloop({ fetch: fetchHandler })
    break
  case "fiberloop-h2":
    fiberloop({ app, tls: { key: { file: keyFile! }, cert: { file: certFile! } }, http2: true })
    break
  case "effect-app":
    effect(() => NodeHttp.createServer(), app)
    break
  case "effect-fetch":
    effect(() => NodeHttp.createServer(), HttpEffect.fromWebHandler(async (request) => fetchHandler(request)))
    break
  case "effect-h2":
    effect(() => Http2.createSecureServer(tls()), app)
    break
  case "node-fetch":
    raw(NodeHttp.createServer(HttpFetch.toNodeListener(fetchHandler, { maxBodySize: 1 << 20 })))
    break
  case "raw":
    raw(NodeHttp.createServer())
    break
  case "raw-h2":
    raw(Http2.createSecureServer(tls()))
    break
  default:
    throw new Error(`unknown kind ${kind}`)
}
