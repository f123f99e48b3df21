/**
 * Process-wide counts kept in plain fields: TLS handshakes, UDP datagrams,
 * DNS lookups and armed timers.
 *
 * The modules that do the work bump these fields directly (no metric update,
 * no context lookup on the hot path); `Stats` registers them in an Effect
 * metric registry as series read when an exporter or `Stats.snapshot` reads
 * them, so they are always exact. They count over the whole process, whatever
 * registry the code that caused them ran with.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * Why a TLS handshake failed: a `TlsError` reason, `"Closed"` when the peer
 * hung up before sending anything, or `"Interrupted"` (its fiber was
 * interrupted, e.g. at a server's drain deadline).
 *
 * @category models
 * @since 0.1.0
 */
export type HandshakeFailure =
  | "CertificateVerify"
  | "Handshake"
  | "Protocol"
  | "Timeout"
  | "Configuration"
  | "Closed"
  | "Interrupted"

/**
 * Every `HandshakeFailure`, in a fixed order.
 *
 * **Example** (One series per reason)
 *
 * ```ts
 * handshakeFailures.map((reason) => counts.tlsFailed[reason]) // => [0, 0, 0, 0, 0, 0, 0]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const handshakeFailures: ReadonlyArray<HandshakeFailure> = [
  "CertificateVerify",
  "Handshake",
  "Protocol",
  "Timeout",
  "Configuration",
  "Closed",
  "Interrupted"
]

/**
 * The counts themselves, since the process started (gauges: now).
 *
 * **Example** (Counting a received datagram)
 *
 * ```ts
 * counts.udpReceived++
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const counts = {
  /** TLS handshakes completed, both sides. */
  tlsDone: 0,
  /** TLS handshakes failed, by reason. */
  tlsFailed: {
    CertificateVerify: 0,
    Handshake: 0,
    Protocol: 0,
    Timeout: 0,
    Configuration: 0,
    Closed: 0,
    Interrupted: 0
  } satisfies Record<HandshakeFailure, number>,
  /** Datagrams received by UDP sockets (dropped ones included). */
  udpReceived: 0,
  /** Datagrams handed to the kernel by UDP sockets. */
  udpSent: 0,
  /** Datagrams dropped because a socket's receive buffer was full. */
  udpDropped: 0,
  /** Host name lookups running now. */
  dnsInFlight: 0,
  /** Host name lookups started. */
  dnsLookups: 0,
  /** Timers waiting to fire. */
  timersArmed: 0
}

const lookupEnded = Effect.sync(() => {
  counts.dnsInFlight--
})

/**
 * Runs a host name lookup, counted in `dnsLookups` and, while it runs, in
 * `dnsInFlight`.
 *
 * **Example** (Counting a lookup)
 *
 * ```ts
 * countLookup(dns.lookup("example.com"))
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const countLookup = <A, E>(lookup: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    counts.dnsLookups++
    counts.dnsInFlight++
    return Effect.ensuring(lookup, lookupEnded)
  })
