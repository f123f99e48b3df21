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
 * Process-wide counts (TLS handshakes, UDP datagrams, DNS lookups, armed
 * timers) are plain counters too, read straight into the registry whenever the
 * metrics are read (`register`): exact, and free for the code that counts.
 * Live fibers are Effect's own `child_fibers_active`, with Effect's runtime
 * metrics on.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { counts, type HandshakeFailure, handshakeFailures } from "./internal/counters.ts"
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
 * Connections accepted with `deferAccept` that have not sent a byte yet, over
 * every server.
 *
 * @category metrics
 * @since 0.1.0
 */
export const connectionsDeferred = Metric.gauge("fiberloop_connections_deferred", {
  description: "Accepted connections (deferAccept) that have not sent a byte yet"
})

/**
 * Connections closed unserved because they stayed silent longer than `deferAccept`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const connectionsSilentClosed = Metric.counter("fiberloop_connections_silent_closed", {
  description: "Connections closed after staying silent longer than deferAccept",
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

/**
 * TLS handshakes completed, server and client side.
 *
 * @category metrics
 * @since 0.1.0
 */
export const tlsHandshakesDone = Metric.counter("fiberloop_tls_handshakes_done", {
  description: "TLS handshakes completed",
  incremental: true
})

const tlsFailedOf = (reason: HandshakeFailure) =>
  Metric.counter("fiberloop_tls_handshakes_failed", {
    description: "TLS handshakes failed, by reason",
    attributes: { reason },
    incremental: true
  })

/**
 * TLS handshakes failed, one counter per reason (attribute `reason`): a
 * `TlsError` reason, `Closed` (the peer hung up before sending anything) or
 * `Interrupted`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const tlsHandshakesFailed: { readonly [K in HandshakeFailure]: Metric.Counter<number> } = {
  CertificateVerify: tlsFailedOf("CertificateVerify"),
  Handshake: tlsFailedOf("Handshake"),
  Protocol: tlsFailedOf("Protocol"),
  Timeout: tlsFailedOf("Timeout"),
  Configuration: tlsFailedOf("Configuration"),
  Closed: tlsFailedOf("Closed"),
  Interrupted: tlsFailedOf("Interrupted")
}

/**
 * Datagrams received by every UDP socket (dropped ones included).
 *
 * @category metrics
 * @since 0.1.0
 */
export const udpReceived = Metric.counter("fiberloop_udp_datagrams_received", {
  description: "UDP datagrams received",
  incremental: true
})

/**
 * Datagrams every UDP socket handed to the kernel.
 *
 * @category metrics
 * @since 0.1.0
 */
export const udpSent = Metric.counter("fiberloop_udp_datagrams_sent", {
  description: "UDP datagrams sent",
  incremental: true
})

/**
 * Datagrams dropped because a socket's receive buffer was full.
 *
 * @category metrics
 * @since 0.1.0
 */
export const udpDropped = Metric.counter("fiberloop_udp_datagrams_dropped", {
  description: "UDP datagrams dropped: receive buffer full",
  incremental: true
})

/**
 * Host name lookups (`Tcp.connect`, `Udp` addresses) running now.
 *
 * @category metrics
 * @since 0.1.0
 */
export const dnsLookupsInFlight = Metric.gauge("fiberloop_dns_lookups_in_flight", {
  description: "Host name lookups in flight"
})

/**
 * Host name lookups started (IP literals are never looked up).
 *
 * @category metrics
 * @since 0.1.0
 */
export const dnsLookups = Metric.counter("fiberloop_dns_lookups", {
  description: "Host name lookups started",
  incremental: true
})

/**
 * `Timer`s waiting to fire.
 *
 * @category metrics
 * @since 0.1.0
 */
export const timersArmed = Metric.gauge("fiberloop_timers_armed", {
  description: "Timers armed"
})

// =============================================================================
// Process-wide counts: read when the metrics are read
// =============================================================================

const registered = new WeakSet<object>()

const countOf = (read: () => number): Metric.Metric.Hooks<number, Metric.CounterState<number>> => ({
  get: () => ({ count: read(), incremental: true }),
  update: () => {},
  modify: () => {}
})

const valueOf = (read: () => number): Metric.Metric.Hooks<number, Metric.GaugeState<number>> => ({
  get: () => ({ value: read() }),
  update: () => {},
  modify: () => {}
})

/**
 * Adds the process-wide series (TLS handshakes, UDP, DNS, timers) to the
 * metric registry of `context`, once per registry. fiberloop does this when a
 * server starts, on `Tcp.connect`, `Udp.bind` and `snapshot`; call it for a
 * registry fiberloop has not met yet (an exporter's own, say).
 *
 * **Details**
 *
 * These series are read from plain counters when an exporter or `snapshot`
 * reads them (`Metric.registerUnsafe`), so they are always exact and the code
 * that counts them never touches a registry. They count over the whole
 * process.
 *
 * **Example** (Registering in the current context)
 *
 * ```ts
 * yield* Effect.contextWith((context) => Effect.sync(() => Stats.register(context)))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const register = (context: Context.Context<never>): void => {
  const registry = Context.get(context, Metric.MetricRegistry)
  if (registered.has(registry)) return
  registered.add(registry)
  Metric.registerUnsafe(tlsHandshakesDone, context, countOf(() => counts.tlsDone))
  for (const reason of handshakeFailures) {
    Metric.registerUnsafe(tlsHandshakesFailed[reason], context, countOf(() => counts.tlsFailed[reason]))
  }
  Metric.registerUnsafe(udpReceived, context, countOf(() => counts.udpReceived))
  Metric.registerUnsafe(udpSent, context, countOf(() => counts.udpSent))
  Metric.registerUnsafe(udpDropped, context, countOf(() => counts.udpDropped))
  Metric.registerUnsafe(dnsLookupsInFlight, context, valueOf(() => counts.dnsInFlight))
  Metric.registerUnsafe(dnsLookups, context, countOf(() => counts.dnsLookups))
  Metric.registerUnsafe(timersArmed, context, valueOf(() => counts.timersArmed))
}

/** Effect's own gauge of running child fibers, when its runtime metrics are on. */
const fibersActive = (context: Context.Context<never>): number | undefined => {
  for (const metric of Context.get(context, Metric.MetricRegistry).values()) {
    if (metric.id === "child_fibers_active") return (metric.hooks.get(context) as Metric.GaugeState<number>).value
  }
  return undefined
}

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
  /** Change in connections held by `deferAccept` since the last flush. */
  deferred: number
  silentClosed: number
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
  if (tally.deferred !== 0) connectionsDeferred.modifyUnsafe(tally.deferred, context)
  if (tally.silentClosed !== 0) connectionsSilentClosed.updateUnsafe(tally.silentClosed, context)
  if (tally.handshakes !== 0) handshakesInFlight.modifyUnsafe(tally.handshakes, context)
  if (tally.failures !== 0) handlerFailures.updateUnsafe(tally.failures, context)
  if (tally.bytesRead !== 0) bytesRead.updateUnsafe(tally.bytesRead, context)
  if (tally.bytesWritten !== 0) bytesWritten.updateUnsafe(tally.bytesWritten, context)
  tally.accepted = tally.active = tally.waiting = tally.rejected = tally.waitedOut = tally.handshakes = 0
  tally.deferred = tally.silentClosed = 0
  tally.failures = tally.bytesRead = tally.bytesWritten = 0
}

const flushAll = (): void => live.forEach((context, tally) => flushOne(tally, context))

/**
 * Moves every server's unflushed connection counts into the metrics now
 * (they are flushed every second anyway). `snapshot` does this itself; call
 * it before formatting the metrics yourself, as `Http.serve`'s
 * `GET /metrics` does.
 *
 * **Example** (A metrics endpoint on a plain Node server)
 *
 * ```ts
 * Stats.flushUnsafe()
 * HttpMetrics.respond(response, services)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const flushUnsafe = (): void => flushAll()

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
    deferred: 0,
    silentClosed: 0,
    handshakes: 0,
    failures: 0,
    bytesRead: 0,
    bytesWritten: 0
  }
  live.set(tally, context)
  register(context)
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
  /** Connections (`deferAccept`) that have not sent a byte yet. */
  readonly deferred: number
  readonly silentClosed: number
  readonly handshakes: number
  readonly failures: number
  readonly bytesRead: number
  readonly bytesWritten: number
  /** Requests of every `Http` server: by status class, aborted, in flight. */
  readonly http: HttpMetrics.Snapshot
  /** TLS handshakes (both sides) completed, and failed by reason. */
  readonly tls: {
    readonly done: number
    readonly failed: { readonly [K in HandshakeFailure]: number }
  }
  /** UDP datagrams received (dropped ones included), sent, and dropped (receive buffer full). */
  readonly udp: { readonly received: number; readonly sent: number; readonly dropped: number }
  /** Host name lookups running now, and started since the process started. */
  readonly dns: { readonly inFlight: number; readonly lookups: number }
  /** `Timer`s waiting to fire. */
  readonly timersArmed: number
  /**
   * Child fibers running now: Effect's `child_fibers_active` gauge, kept only
   * with Effect's runtime metrics on (`Metric.enableRuntimeMetricsLayer`);
   * `undefined` without them.
   */
  readonly fibers: number | undefined
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
export const snapshot: Effect.Effect<Snapshot> = Effect.andThen(
  Effect.contextWith((context: Context.Context<never>) =>
    Effect.sync(() => {
      register(context)
      flushAll()
    })
  ),
  Effect.all({
    context: Effect.context<never>(),
    accepted: Metric.value(connectionsAccepted),
    active: Metric.value(connectionsActive),
    waiting: Metric.value(connectionsWaiting),
    rejected: Metric.value(connectionsRejected),
    waitedOut: Metric.value(connectionsWaitedOut),
    deferred: Metric.value(connectionsDeferred),
    silentClosed: Metric.value(connectionsSilentClosed),
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
      deferred: s.deferred.value,
      silentClosed: s.silentClosed.count,
      handshakes: s.handshakes.value,
      failures: s.failures.count,
      bytesRead: s.bytesRead.count,
      bytesWritten: s.bytesWritten.count,
      http: s.http,
      tls: { done: counts.tlsDone, failed: { ...counts.tlsFailed } },
      udp: { received: counts.udpReceived, sent: counts.udpSent, dropped: counts.udpDropped },
      dns: { inFlight: counts.dnsInFlight, lookups: counts.dnsLookups },
      timersArmed: counts.timersArmed,
      fibers: fibersActive(s.context)
    }))
  )
)
