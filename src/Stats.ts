/**
 * Counters and gauges of fiberloop's servers, as Effect Metrics.
 *
 * Servers count in plain fields on their hot paths (a metric update resolves
 * the registry from the context each time: a few µs per connection), and
 * their tallies are flushed into these metrics every second, when the server
 * closes, and on `snapshot`, which is therefore exact. Any Effect metrics
 * exporter (OpenTelemetry, Prometheus) sees them at most a second late. Each
 * server also keeps its own counters (`server.stats()`).
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as HttpMetrics from "./net/HttpMetrics.ts"

/**
 * Connections accepted by every server.
 *
 * @category metrics
 * @since 0.1.0
 */
export const connectionsAccepted = Metric.counter("fiberloop_connections_accepted", {
  description: "Connections accepted",
  incremental: true
})

/**
 * Connections whose handler is running now.
 *
 * @category metrics
 * @since 0.1.0
 */
export const connectionsActive = Metric.gauge("fiberloop_connections_active", {
  description: "Connections being served"
})

/**
 * Connections closed unserved because a server's waiting room was full.
 *
 * @category metrics
 * @since 0.1.0
 */
export const connectionsRejected = Metric.counter("fiberloop_connections_rejected", {
  description: "Connections refused beyond maxConnections and the waiting room",
  incremental: true
})

/**
 * Accepted connections waiting for a slot (beyond `maxConnections` or
 * `maxHandshakes`), over every server.
 *
 * @category metrics
 * @since 0.1.0
 */
export const connectionsWaiting = Metric.gauge("fiberloop_connections_waiting", {
  description: "Accepted connections waiting for a slot"
})

/**
 * Connections closed unserved because they waited longer than `waitingTimeout`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const connectionsWaitedOut = Metric.counter("fiberloop_connections_waited_out", {
  description: "Connections closed after waiting longer than waitingTimeout",
  incremental: true
})

/**
 * TLS handshakes running now, over every server.
 *
 * @category metrics
 * @since 0.1.0
 */
export const handshakesInFlight = Metric.gauge("fiberloop_tls_handshakes_in_flight", {
  description: "TLS handshakes in flight"
})

/**
 * Handlers that ended with a failure or defect other than end of stream.
 *
 * @category metrics
 * @since 0.1.0
 */
export const handlerFailures = Metric.counter("fiberloop_handler_failures", {
  description: "Connection handlers that failed",
  incremental: true
})

/**
 * Bytes received on connections that have ended.
 *
 * @category metrics
 * @since 0.1.0
 */
export const bytesRead = Metric.counter("fiberloop_bytes_read", {
  description: "Bytes received on finished connections",
  incremental: true
})

/**
 * Bytes sent on connections that have ended.
 *
 * @category metrics
 * @since 0.1.0
 */
export const bytesWritten = Metric.counter("fiberloop_bytes_written", {
  description: "Bytes sent on finished connections",
  incremental: true
})

// =============================================================================
// Tallies: what servers count between flushes
// =============================================================================

/**
 * Counts not yet flushed into the metrics. A server owns one (`track`) and
 * bumps its fields directly.
 *
 * @category models
 * @since 0.1.0
 */
export interface Tally {
  accepted: number
  /** Change in running handlers since the last flush. */
  active: number
  /** Change in waiting connections since the last flush. */
  waiting: number
  rejected: number
  waitedOut: number
  /** Change in TLS handshakes in flight since the last flush. */
  handshakes: number
  failures: number
  bytesRead: number
  bytesWritten: number
}

const live = new Map<Tally, Context.Context<never>>()
let timer: ReturnType<typeof setInterval> | undefined

const flushOne = (tally: Tally, context: Context.Context<never>): void => {
  if (tally.accepted !== 0) connectionsAccepted.updateUnsafe(tally.accepted, context)
  if (tally.active !== 0) connectionsActive.modifyUnsafe(tally.active, context)
  if (tally.waiting !== 0) connectionsWaiting.modifyUnsafe(tally.waiting, context)
  if (tally.rejected !== 0) connectionsRejected.updateUnsafe(tally.rejected, context)
  if (tally.waitedOut !== 0) connectionsWaitedOut.updateUnsafe(tally.waitedOut, context)
  if (tally.handshakes !== 0) handshakesInFlight.modifyUnsafe(tally.handshakes, context)
  if (tally.failures !== 0) handlerFailures.updateUnsafe(tally.failures, context)
  if (tally.bytesRead !== 0) bytesRead.updateUnsafe(tally.bytesRead, context)
  if (tally.bytesWritten !== 0) bytesWritten.updateUnsafe(tally.bytesWritten, context)
  tally.accepted = tally.active = tally.waiting = tally.rejected = tally.waitedOut = tally.handshakes = 0
  tally.failures = tally.bytesRead = tally.bytesWritten = 0
}

const flushAll = (): void => live.forEach((context, tally) => flushOne(tally, context))

/**
 * Starts a tally whose counts reach the metrics of `context` (the server's
 * services) every second; `release` flushes it one last time and stops.
 *
 * **Example** (Counting in a server)
 *
 * ```ts
 * const { tally, release } = Stats.track(services)
 * tally.accepted++
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const track = (context: Context.Context<never>): { readonly tally: Tally; readonly release: () => void } => {
  const tally: Tally = {
    accepted: 0,
    active: 0,
    waiting: 0,
    rejected: 0,
    waitedOut: 0,
    handshakes: 0,
    failures: 0,
    bytesRead: 0,
    bytesWritten: 0
  }
  live.set(tally, context)
  if (timer === undefined) {
    timer = setInterval(flushAll, 1000)
    timer.unref()
  }
  return {
    tally,
    release: () => {
      flushOne(tally, context)
      live.delete(tally)
      if (live.size === 0 && timer !== undefined) {
        clearInterval(timer)
        timer = undefined
      }
    }
  }
}

/**
 * The metrics' current values.
 *
 * @category models
 * @since 0.1.0
 */
export interface Snapshot {
  readonly accepted: number
  readonly active: number
  readonly waiting: number
  readonly rejected: number
  readonly waitedOut: number
  readonly handshakes: number
  readonly failures: number
  readonly bytesRead: number
  readonly bytesWritten: number
  /** Requests of every `Http` server: by status class, aborted, in flight. */
  readonly http: HttpMetrics.Snapshot
}

/**
 * Reads every metric at once.
 *
 * **Example** (Printing the numbers)
 *
 * ```ts
 * Effect.flatMap(Stats.snapshot, (s) => Effect.log(`${s.active} active of ${s.accepted} accepted`))
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const snapshot: Effect.Effect<Snapshot> = Effect.andThen(Effect.sync(flushAll), Effect.all({
  accepted: Metric.value(connectionsAccepted),
  active: Metric.value(connectionsActive),
  waiting: Metric.value(connectionsWaiting),
  rejected: Metric.value(connectionsRejected),
  waitedOut: Metric.value(connectionsWaitedOut),
  handshakes: Metric.value(handshakesInFlight),
  failures: Metric.value(handlerFailures),
  bytesRead: Metric.value(bytesRead),
  bytesWritten: Metric.value(bytesWritten),
  http: HttpMetrics.snapshot
}).pipe(
  Effect.map((s) => ({
    accepted: s.accepted.count,
    active: s.active.value,
    waiting: s.waiting.value,
    rejected: s.rejected.count,
    waitedOut: s.waitedOut.count,
    handshakes: s.handshakes.value,
    failures: s.failures.count,
    bytesRead: s.bytesRead.count,
    bytesWritten: s.bytesWritten.count,
    http: s.http
  }))
))
