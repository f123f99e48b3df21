/**
 * Metrics of fiberloop's HTTP servers, as Effect Metrics, and their
 * Prometheus endpoint.
 *
 * Every request is counted when its response closes: by status class
 * (`1xx` … `5xx`), or as aborted when the connection closed before the
 * response was sent; its duration, from the request's headers to the end of
 * the response, goes to a histogram in seconds. Counts are kept in plain
 * fields and flushed into the metrics every second, when the server closes,
 * and on `snapshot` and `GET /metrics`, which are therefore exact. `GET /metrics` (the `metrics`
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

/**
 * Counts not yet flushed into the metrics: a server counts its requests here
 * (a metric update resolves the registry each time, about a microsecond), and
 * the counts reach the metrics every second, when the server closes, and on
 * `snapshot`, which is therefore exact. Durations go to the histogram at once.
 */
interface Tally {
  readonly context: Context.Context<never>
  /** Requests per status class, indexed like `statusClasses`. */
  readonly answered: [number, number, number, number, number]
  aborted: number
  /** Change in requests in flight since the last flush. */
  active: number
  released: boolean
}

const live = new Set<Tally>()
let timer: ReturnType<typeof setInterval> | undefined

const flushOne = (tally: Tally): void => {
  const context = tally.context
  if (tally.active !== 0) active.modifyUnsafe(tally.active, context)
  if (tally.aborted !== 0) aborted.updateUnsafe(tally.aborted, context)
  for (let i = 0; i < 5; i++) {
    if (tally.answered[i] !== 0) requests[statusClasses[i]!].updateUnsafe(tally.answered[i]!, context)
    tally.answered[i] = 0
  }
  tally.active = tally.aborted = 0
}

const flushAll = (): void => live.forEach(flushOne)

const kStart = Symbol.for("fiberloop/net/HttpMetrics/start")
const kTally = Symbol.for("fiberloop/net/HttpMetrics/tally")

interface Recorded extends NodeHttp.ServerResponse {
  [kStart]: number
  [kTally]: Tally
}

const classIndex = (status: number): number => Math.min(4, Math.max(0, Math.floor(status / 100) - 1))

/** Shared by every response: no closure per request. */
function onClose(this: Recorded): void {
  const tally = this[kTally]
  tally.active--
  if (!this.writableFinished) tally.aborted++
  else {
    tally.answered[classIndex(this.statusCode)]++
    duration.updateUnsafe((performance.now() - this[kStart]) / 1000, tally.context)
  }
  // a response that outlives its server's recorder (past the drain) is counted at once
  if (tally.released) flushOne(tally)
}

/**
 * Counts requests into the metrics of `context` (a server's services) until
 * `release`, which flushes the last counts.
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
  readonly release: () => void
} => {
  const tally: Tally = { context, answered: [0, 0, 0, 0, 0], aborted: 0, active: 0, released: false }
  live.add(tally)
  if (timer === undefined) {
    timer = setInterval(flushAll, 1000)
    timer.unref()
  }
  return {
    start: (response) => {
      const recorded = response as Recorded
      recorded[kStart] = performance.now()
      recorded[kTally] = tally
      tally.active++
      response.on("close", onClose) // emitted once; `once` would wrap it in a closure per request
    },
    release: () => {
      if (tally.released) return
      tally.released = true
      flushOne(tally)
      live.delete(tally)
      if (live.size === 0 && timer !== undefined) {
        clearInterval(timer)
        timer = undefined
      }
    }
  }
}

/**
 * Answers with every metric of `context` in the Prometheus text format,
 * with the HTTP counts flushed first. Call `Stats.flushUnsafe()` before it for
 * up-to-date connection counts (`Http.serve`'s `GET /metrics` does).
 *
 * **Example** (A metrics endpoint on a plain Node server)
 *
 * ```ts
 * if (request.url === "/metrics") {
 *   Stats.flushUnsafe()
 *   return HttpMetrics.respond(response, services)
 * }
 * ```
 *
 * @category handlers
 * @since 0.1.0
 */
export const respond = (response: NodeHttp.ServerResponse, context: Context.Context<never>): void => {
  flushAll()
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
  Effect.sync(() => {
    flushAll()
    return {
      requests: {
        "1xx": requests["1xx"].valueUnsafe(context).count,
        "2xx": requests["2xx"].valueUnsafe(context).count,
        "3xx": requests["3xx"].valueUnsafe(context).count,
        "4xx": requests["4xx"].valueUnsafe(context).count,
        "5xx": requests["5xx"].valueUnsafe(context).count
      },
      aborted: aborted.valueUnsafe(context).count,
      active: active.valueUnsafe(context).value
    }
  })
)
