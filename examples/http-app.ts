/**
 * An effect/http app on a fiberloop server: the router runs unchanged
 * (`HttpRouter.serve`), fiberloop's server underneath bounds connections,
 * slow request heads and bodies, and drains on Ctrl-C. Prometheus metrics on
 * `GET /metrics`.
 *
 *   npx node examples/http-app.ts [port]
 *   curl http://127.0.0.1:8080/hello/you   curl http://127.0.0.1:8080/metrics
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import { Http, Loop } from "../src/index.ts"

const port = Number(process.argv[2] ?? 8080)

const greet = Effect.map(HttpRouter.params, (params) => HttpServerResponse.text(`hello ${params.name}\n`))

const echo = Effect.flatMap(
  Effect.service(HttpServerRequest.HttpServerRequest),
  (request) => Effect.map(request.text, (body) => HttpServerResponse.text(body))
)

const Routes = Layer.mergeAll(
  HttpRouter.add("GET", "/hello/:name", greet),
  HttpRouter.add("POST", "/echo", echo)
)

const Server = Http.layer({
  host: "127.0.0.1",
  port,
  maxConnections: 10_000, // beyond this, connections wait unread for a slot
  maxBodySize: "1 MiB", // larger bodies get 413
  headersTimeout: "10 seconds", // slowloris: 408 and close
  metrics: true // GET /metrics for Prometheus
})

HttpRouter.serve(Routes).pipe(
  Layer.provide(Server),
  Layer.provide(Loop.layer),
  Layer.launch,
  NodeRuntime.runMain
)
