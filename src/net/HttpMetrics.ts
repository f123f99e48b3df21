/**
 * Metrics of fiberloop's HTTP servers, as Effect Metrics, and their
 * Prometheus endpoint.
 *
 * Every request is counted when its response closes: by status class
 * (`1xx` … `5xx`), or as aborted when the connection closed before the
 * response was sent; its duration, from the request's headers to the end of
 * the response, goes to a histogram in seconds. `GET /metrics` (the `metrics`
 * option of `Http.serve`) answers with every Effect metric in the Prometheus
 * text format, formatted by Effect's `PrometheusMetrics`.
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import type * as NodeHttp from "node:http"

const statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const

/**
 * The status class of an HTTP status: `"2xx"` for 204.
 *
 * @category models
 * @since 0.1.0
 */
export type StatusClass = typeof statusClasses[number]

const requestsOf = (statusClass: StatusClass) =>
  Metric.counter("fiberloop_http_requests", {
    description: "HTTP requests answered, by status class",
    attributes: { status_class: statusClass },
    incremental: true
  })

/**
 * Requests answered, one counter per status class (attribute `status_class`).
 *
 * @category metrics
 * @since 0.1.0
 */
export const requests: { readonly [K in StatusClass]: Metric.Counter<number> } = {
  "1xx": requestsOf("1xx"),
  "2xx": requestsOf("2xx"),
  "3xx": requestsOf("3xx"),
  "4xx": requestsOf("4xx"),
  "5xx": requestsOf("5xx")
}

/**
 * Requests whose connection closed before the response was sent.
 *
 * @category metrics
 * @since 0.1.0
 */
export const aborted = Metric.counter("fiberloop_http_requests_aborted", {
  description: "HTTP requests whose connection closed before the response was sent",
  incremental: true
})

/**
 * Requests being served now.
 *
 * @category metrics
 * @since 0.1.0
 */
export const active = Metric.gauge("fiberloop_http_requests_active", {
  description: "HTTP requests being served"
})

/**
 * Request durations in seconds, from the parsed headers to the end of the
 * response (buckets from 0.5 ms to about 16 s).
 *
 * @category metrics
 * @since 0.1.0
 */
export const duration = Metric.histogram("fiberloop_http_request_duration_seconds", {
  description: "HTTP request durations in seconds",
  boundaries: Metric.exponentialBoundaries({ start: 0.0005, factor: 2, count: 16 })
})

// =============================================================================
// Recording
// =============================================================================

const kStart = Symbol.for("fiberloop/net/HttpMetrics/start")
const kContext = Symbol.for("fiberloop/net/HttpMetrics/context")

interface Recorded extends NodeHttp.ServerResponse {
  [kStart]: number
  [kContext]: Context.Context<never>
}

const classOf = (status: number): StatusClass => statusClasses[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]!

/** Shared by every response: no closure per request. */
function onClose(this: Recorded): void {
  const context = this[kContext]
  active.modifyUnsafe(-1, context)
  if (!this.writableFinished) return aborted.updateUnsafe(1, context)
  requests[classOf(this.statusCode)].updateUnsafe(1, context)
  duration.updateUnsafe((performance.now() - this[kStart]) / 1000, context)
}

/**
 * Counts requests into the metrics of `context` (a server's services).
 *
 * **Example** (Recording in a Node request listener)
 *
 * ```ts
 * const recorder = HttpMetrics.makeRecorder(services)
 * server.on("request", (request, response) => { recorder.start(response); app(request, response) })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeRecorder = (context: Context.Context<never>): {
  readonly start: (response: NodeHttp.ServerResponse) => void
} => ({
  start: (response) => {
    const recorded = response as Recorded
    recorded[kStart] = performance.now()
    recorded[kContext] = context
    active.modifyUnsafe(1, context)
    response.on("close", onClose) // emitted once; `once` would wrap it in a closure per request
  }
})

/**
 * Answers with every metric of `context` in the Prometheus text format.
 *
 * **Example** (A metrics endpoint on a plain Node server)
 *
 * ```ts
 * if (request.url === "/metrics") return HttpMetrics.respond(response, services)
 * ```
 *
 * @category handlers
 * @since 0.1.0
 */
export const respond = (response: NodeHttp.ServerResponse, context: Context.Context<never>): void => {
  const body = PrometheusMetrics.formatUnsafe(context)
  response.writeHead(200, {
    "content-type": "text/plain; version=0.0.4; charset=utf-8",
    "content-length": Buffer.byteLength(body)
  })
  response.end(body)
}

/**
 * The HTTP counts now.
 *
 * @category models
 * @since 0.1.0
 */
export interface Snapshot {
  /** Requests answered, by status class. */
  readonly requests: { readonly [K in StatusClass]: number }
  readonly aborted: number
  readonly active: number
}

/**
 * Reads the HTTP metrics.
 *
 * **Example** (Requests answered with 5xx)
 *
 * ```ts
 * const { requests } = yield* HttpMetrics.snapshot
 * requests["5xx"] // => 0
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const snapshot: Effect.Effect<Snapshot> = Effect.contextWith((context: Context.Context<never>) =>
  Effect.sync(() => ({
    requests: {
      "1xx": requests["1xx"].valueUnsafe(context).count,
      "2xx": requests["2xx"].valueUnsafe(context).count,
      "3xx": requests["3xx"].valueUnsafe(context).count,
      "4xx": requests["4xx"].valueUnsafe(context).count,
      "5xx": requests["5xx"].valueUnsafe(context).count
    },
    aborted: aborted.valueUnsafe(context).count,
    active: active.valueUnsafe(context).value
  }))
)
