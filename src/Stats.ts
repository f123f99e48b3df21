/**
 * Counters and gauges of fiberloop's servers, as Effect Metrics.
 *
 * Servers update these as connections come and go, so any Effect metrics
 * exporter (OpenTelemetry, Prometheus) sees them; `snapshot` reads them as one
 * plain object. Each server also keeps its own counters (`server.stats()`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

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

/**
 * The metrics' current values.
 *
 * @category models
 * @since 0.1.0
 */
export interface Snapshot {
  readonly accepted: number
  readonly active: number
  readonly rejected: number
  readonly failures: number
  readonly bytesRead: number
  readonly bytesWritten: number
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
export const snapshot: Effect.Effect<Snapshot> = Effect.all({
  accepted: Metric.value(connectionsAccepted),
  active: Metric.value(connectionsActive),
  rejected: Metric.value(connectionsRejected),
  failures: Metric.value(handlerFailures),
  bytesRead: Metric.value(bytesRead),
  bytesWritten: Metric.value(bytesWritten)
}).pipe(
  Effect.map((s) => ({
    accepted: s.accepted.count,
    active: s.active.value,
    rejected: s.rejected.count,
    failures: s.failures.count,
    bytesRead: s.bytesRead.count,
    bytesWritten: s.bytesWritten.count
  }))
)
