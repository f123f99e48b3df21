/**
 * Metrics and traces of a fiberloop HTTP server.
 *
 * - Metrics: every Effect metric (fiberloop's connection and HTTP counters
 *   included) on `GET /metrics` in the Prometheus text format; the same
 *   numbers in-process from `Stats.snapshot`, logged every 10 seconds.
 * - Traces: a span per request (effect/http's) and per connection (peer,
 *   bytes, TLS, outcome), exported by Effect's OTLP exporter (OTLP/HTTP,
 *   JSON) to `OTEL_EXPORTER_OTLP_ENDPOINT` (default http://127.0.0.1:4318).
 *
 *   npx node examples/observability.ts [port]
 *   curl http://127.0.0.1:8082/   curl http://127.0.0.1:8082/metrics
 */
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Otlp from "effect/observability/Otlp"
import * as Schedule from "effect/Schedule"
import { Http, Loop, Stats } from "../src/index.ts"

const port = Number(process.argv[2] ?? 8082)
const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? "http://127.0.0.1:4318"

const Telemetry = Otlp.layerJson({
  baseUrl: endpoint,
  resource: { serviceName: "fiberloop-example" },
  tracerExportInterval: "2 seconds",
  metricsExportInterval: "10 seconds"
}).pipe(Layer.provide(FetchHttpClient.layer))

const logStats = Effect.flatMap(Stats.snapshot, (s) =>
  Effect.log(
    `connections: ${s.active} active of ${s.accepted}; http: ${s.http.requests["2xx"]} 2xx, ` +
      `${s.http.requests["4xx"]} 4xx, ${s.http.requests["5xx"]} 5xx, ${s.http.active} in flight`
  ))

const program = Effect.gen(function*() {
  const server = yield* Http.serve({
    host: "127.0.0.1",
    port,
    app: Effect.succeed(HttpServerResponse.text("hello\n")),
    metrics: true,
    connectionSpans: true
  })
  yield* Effect.log(`serving ${server.url}, metrics on ${server.url}/metrics, traces to ${endpoint}`)
  return yield* logStats.pipe(Effect.repeat(Schedule.spaced("10 seconds")), Effect.andThen(Effect.never))
})

Loop.run(Effect.scoped(program).pipe(Effect.provide(Telemetry)))
