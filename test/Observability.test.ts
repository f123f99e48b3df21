import * as NodeDns from "@effect/platform-node/NodeDns"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Dns from "effect/net/Dns"
import * as NetAddress from "effect/net/NetAddress"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/testing/TestClock"
import * as Tracer from "effect/Tracer"
import * as Http from "../src/net/Http.ts"
import * as Tcp from "../src/net/Tcp.ts"
import * as Udp from "../src/net/Udp.ts"
import * as Stats from "../src/Stats.ts"
import * as Timer from "../src/sync/Timer.ts"
import { Certs, CertsLive } from "./net/certs.ts"
import { freePort, rawClient, readToEnd, TcpLive } from "./net/support.ts"

/** Retries `check` until it holds (bounded: about two seconds). */
const eventually = (what: string, check: Effect.Effect<boolean>) =>
  Effect.flatMap(check, (ok) => (ok ? Effect.void : Effect.fail(new Error(`never: ${what}`)))).pipe(
    Effect.retry({ times: 500, schedule: Schedule.spaced("4 millis") })
  )

/** Whether `f` holds of a fresh snapshot. */
const stats = (f: (s: Stats.Snapshot) => boolean) => Effect.map(Stats.snapshot, f)

/** An in-memory tracer that keeps every span it makes. */
const collectingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer }
}

/** A resolver whose every lookup waits for `gate`, then answers 127.0.0.1. */
const gatedDns = (gate: Deferred.Deferred<void>) =>
  Layer.succeed(Dns.Dns, Dns.make({ lookup: () => Effect.as(Deferred.await(gate), [NetAddress.ipv4Loopback]) }))

const UdpLive = Udp.layer.pipe(Layer.provide(NodeDns.layer))

const failedTotal = (s: Stats.Snapshot): number => Object.values(s.tls.failed).reduce((a, b) => a + b, 0)

// the counts are process-wide: these tests rely on running one at a time (the default here)
describe("Observability", () => {
  it.live("counts TLS handshakes done, and failed by reason", () =>
    Effect.gen(function*() {
      const certs = yield* Certs
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        tls: { key: certs.server.key, cert: certs.server.cert },
        handler: (conn) => conn.send("ok"),
        onError: () => Effect.void
      })
      const port = server.address.port
      const before = yield* Stats.snapshot

      yield* Effect.scoped(Effect.gen(function*() {
        const conn = yield* Tcp.connect({ host: "127.0.0.1", port, tls: { ca: certs.ca } })
        assert.strictEqual(yield* conn.receive(2), "ok")
      }))
      // both sides count their own handshake
      yield* eventually("two handshakes done", stats((s) => s.tls.done - before.tls.done === 2))

      // a client that does not trust the server's certificate fails; so does the server's side
      const untrusted = yield* Effect.scoped(Tcp.connect({ host: "127.0.0.1", port, tls: {} })).pipe(Effect.flip)
      assert.strictEqual(untrusted._tag, "TlsError")
      yield* eventually("both sides failed", stats((s) => failedTotal(s) - failedTotal(before) === 2))
      const afterUntrusted = yield* Stats.snapshot
      assert.strictEqual(afterUntrusted.tls.failed.CertificateVerify - before.tls.failed.CertificateVerify, 1)

      // a peer that connects and hangs up without a word
      yield* Effect.scoped(Effect.flatMap(rawClient(port), (socket) => Effect.sync(() => socket.end())))
      yield* eventually(
        "a closed handshake",
        stats((s) => s.tls.failed.Closed - afterUntrusted.tls.failed.Closed === 1)
      )
      const after = yield* Stats.snapshot
      assert.strictEqual(after.tls.done - before.tls.done, 2)
      assert.strictEqual(failedTotal(after) - failedTotal(before), 3)

      // the same numbers reach Effect's metrics and the Prometheus text
      assert.strictEqual((yield* Metric.value(Stats.tlsHandshakesDone)).count, after.tls.done)
      assert.strictEqual((yield* Metric.value(Stats.tlsHandshakesFailed.Closed)).count, after.tls.failed.Closed)
      const text = PrometheusMetrics.formatUnsafe(yield* Effect.context<never>())
      assert.include(text, `fiberloop_tls_handshakes_done ${after.tls.done}`)
      assert.include(text, `fiberloop_tls_handshakes_failed{reason="Closed"} ${after.tls.failed.Closed}`)
    }).pipe(Effect.timeout("10 seconds"), Effect.provide(Layer.merge(TcpLive, CertsLive))))

  it.live("counts UDP datagrams received, sent and dropped", () =>
    Effect.gen(function*() {
      const receiver = yield* Udp.bind({ host: "127.0.0.1", port: 0, receiveQueueCapacity: 1 })
      const sender = yield* Udp.bind({ host: "127.0.0.1", port: 0 })
      const before = yield* Stats.snapshot
      for (let i = 0; i < 3; i++) yield* sender.sendTo(`d${i}`, "127.0.0.1", receiver.localAddress.port)
      yield* eventually("three received", Effect.sync(() => receiver.dropped === 2))
      const after = yield* Stats.snapshot
      assert.deepStrictEqual(
        {
          received: after.udp.received - before.udp.received,
          sent: after.udp.sent - before.udp.sent,
          dropped: after.udp.dropped - before.udp.dropped
        },
        { received: 3, sent: 3, dropped: 2 }
      )
      // the one kept is the first; the reply goes back and is counted too
      const first = yield* receiver.receiveFrom()
      assert.strictEqual(Buffer.from(first.data).toString(), "d0")
      yield* receiver.sendTo("back", first.address, first.port)
      assert.strictEqual(Buffer.from(yield* sender.receive()).toString(), "back")
      const last = yield* Stats.snapshot
      assert.strictEqual(last.udp.sent - before.udp.sent, 4)
      assert.strictEqual(last.udp.received - before.udp.received, 4)
      assert.strictEqual((yield* Metric.value(Stats.udpDropped)).count, last.udp.dropped)
    }).pipe(Effect.timeout("5 seconds"), Effect.provide(UdpLive)))

  it.live("counts DNS lookups in flight, for Tcp.connect and for Udp addresses", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const dns = gatedDns(gate)
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: (conn) => conn.send("hi") })
      const receiver = yield* Udp.bind({ host: "127.0.0.1", port: 0 })
      const before = yield* Stats.snapshot
      const connecting = yield* Effect.scoped(Effect.flatMap(
        Tcp.connect({ host: "gated.test", port: server.address.port }),
        (conn) => conn.receive(2)
      )).pipe(Effect.provide(Layer.fresh(Tcp.layer).pipe(Layer.provide(dns))), Effect.forkChild)
      const sending = yield* Effect.scoped(Effect.flatMap(
        Udp.bind({ host: "127.0.0.1", port: 0 }),
        (socket) => socket.sendTo("x", "gated.test", receiver.localAddress.port)
      )).pipe(Effect.provide(Layer.fresh(Udp.layer).pipe(Layer.provide(dns))), Effect.forkChild)
      yield* eventually("two lookups waiting", stats((s) => s.dns.inFlight - before.dns.inFlight === 2))
      assert.strictEqual((yield* Metric.value(Stats.dnsLookupsInFlight)).value, before.dns.inFlight + 2)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(connecting), "hi")
      yield* Fiber.join(sending)
      assert.strictEqual(Buffer.from(yield* receiver.receive()).toString(), "x")
      const after = yield* Stats.snapshot
      assert.strictEqual(after.dns.inFlight, before.dns.inFlight)
      assert.strictEqual(after.dns.lookups - before.dns.lookups, 2)
      // an IP literal is never looked up
      yield* Effect.scoped(Tcp.connect({ host: "127.0.0.1", port: server.address.port }))
      assert.strictEqual((yield* Stats.snapshot).dns.lookups, after.dns.lookups)
    }).pipe(Effect.timeout("5 seconds"), Effect.provide(Layer.merge(TcpLive, UdpLive))))

  it.effect("counts armed timers", () =>
    Effect.gen(function*() {
      const before = (yield* Stats.snapshot).timersArmed
      const armed = Effect.map(Stats.snapshot, (s) => s.timersArmed - before)
      yield* Timer.make({ delay: "1 second", callback: () => Effect.void })
      const recurring = yield* Timer.make({ delay: "1 second", recurring: true, callback: () => Effect.void })
      assert.strictEqual(yield* armed, 2)
      yield* TestClock.adjust("1 second")
      // the one-shot fired and expired; the recurring one is armed again
      assert.strictEqual(yield* armed, 1)
      assert.isTrue(yield* recurring.cancel)
      assert.strictEqual(yield* armed, 0)
      yield* recurring.arm()
      assert.strictEqual(yield* armed, 1)
      // closing the scope cancels it
      yield* Effect.scoped(Timer.make({ delay: "1 minute", callback: () => Effect.void }))
      assert.strictEqual(yield* armed, 1)
    }))

  it.live("reports live fibers from Effect's runtime metrics, counting connection fibers", () =>
    Effect.gen(function*() {
      // a registry of its own: Effect's `child_fibers_active` counts only this test's fibers
      assert.isUndefined((yield* Stats.snapshot).fibers, "without runtime metrics there is no count")
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      let running = 0
      const measured = Effect.gen(function*() {
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          handler: (conn) =>
            Effect.andThen(
              Effect.sync(() => ++running === 2 && Deferred.doneUnsafe(started, Exit.void)),
              Effect.andThen(Deferred.await(gate), conn.send("bye"))
            )
        })
        const base = (yield* Stats.snapshot).fibers ?? 0
        const a = yield* rawClient(server.address.port)
        const b = yield* rawClient(server.address.port)
        yield* Deferred.await(started)
        assert.strictEqual((yield* Stats.snapshot).fibers, base + 2)
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* readToEnd(a), "bye")
        assert.strictEqual(yield* readToEnd(b), "bye")
        yield* eventually("connection fibers ended", stats((s) => s.fibers === base))
      })
      yield* Effect.scoped(measured).pipe(
        Effect.provide(Metric.enableRuntimeMetricsLayer),
        Effect.provide(TcpLive)
      )
    }).pipe(Effect.timeout("5 seconds"), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.live("Tcp.connect has a span with the peer, the address used, TLS and the outcome", () =>
    Effect.gen(function*() {
      const certs = yield* Certs
      const { spans, tracer } = collectingTracer()
      const plain = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: (conn) => conn.send("p") })
      const secure = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        tls: { key: certs.server.key, cert: certs.server.cert, alpn: ["x-test"] },
        handler: (conn) => conn.send("s")
      })
      const refused = yield* freePort
      const zone = Layer.fresh(Tcp.layer).pipe(
        Layer.provide(Dns.layerStatic({ hosts: { "peer.test": ["127.0.0.1"] } }))
      )
      yield* Effect.gen(function*() {
        yield* Effect.scoped(Tcp.connect({ host: "peer.test", port: plain.address.port }))
        yield* Effect.scoped(
          Tcp.connect({ host: "127.0.0.1", port: secure.address.port, tls: { ca: certs.ca, alpn: ["x-test"] } })
        )
        yield* Effect.flip(Effect.scoped(Tcp.connect({ host: "127.0.0.1", port: refused })))
      }).pipe(Effect.provide(Layer.orDie(zone)), Effect.withTracer(tracer))
      const connects = spans.filter((span) => span.name === "Tcp.connect")
      assert.strictEqual(connects.length, 3)
      const [named, tls, failed] = connects.map((span) => Object.fromEntries(span.attributes))
      assert.deepStrictEqual(named, {
        "net.peer.name": "peer.test",
        "net.peer.port": plain.address.port,
        "net.sock.peer.addr": "127.0.0.1",
        "net.sock.peer.port": plain.address.port,
        outcome: "connected"
      })
      assert.strictEqual(tls!["tls.protocol"], "TLSv1.3")
      assert.strictEqual(tls!["tls.alpn"], "x-test")
      assert.strictEqual(tls!.outcome, "connected")
      assert.strictEqual(failed!.outcome, "ConnectionRefused")
      assert.isUndefined(failed!["net.sock.peer.addr"])
      assert.isTrue(connects.every((span) => span.kind === "client" && span.status._tag === "Ended"))
    }).pipe(Effect.timeout("10 seconds"), Effect.provide(Layer.merge(TcpLive, CertsLive))))

  it.live("Tcp.serve with connectionSpans has a span per connection; without it, none", () =>
    Effect.gen(function*() {
      const certs = yield* Certs
      const { spans, tracer } = collectingTracer()
      const upper = Effect.fnUntraced(function*(conn: Tcp.Connection) {
        yield* conn.send((yield* conn.receive("*l")).toUpperCase())
      })
      yield* Effect.gen(function*() {
        const traced = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          tls: { key: certs.server.key, cert: certs.server.cert },
          connectionSpans: true,
          handler: upper
        })
        const untraced = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: upper })
        for (const [server, tls] of [[traced, true], [untraced, false]] as const) {
          yield* Effect.scoped(Effect.gen(function*() {
            const conn = yield* Tcp.connect({
              host: "127.0.0.1",
              port: server.address.port,
              ...(tls && { tls: { ca: certs.ca } })
            })
            yield* conn.send("hello\n")
            assert.strictEqual(yield* conn.receive(5), "HELLO")
          }))
        }
        yield* eventually(
          "the handlers ended",
          Effect.sync(() => traced.stats().active === 0 && untraced.stats().active === 0)
        )
      }).pipe(Effect.withTracer(tracer))
      const connections = spans.filter((span) => span.name === "Tcp.connection")
      assert.strictEqual(connections.length, 1)
      const span = connections[0]!
      assert.strictEqual(span.kind, "server")
      assert.strictEqual(span.status._tag, "Ended")
      assert.isTrue(span.parent._tag === "None", "a root span")
      const attributes = Object.fromEntries(span.attributes)
      assert.strictEqual(attributes["net.peer.ip"], "127.0.0.1")
      assert.strictEqual(attributes["tls.protocol"], "TLSv1.3")
      assert.strictEqual(attributes["net.bytes_read"], 6)
      assert.strictEqual(attributes["net.bytes_written"], 5)
      assert.strictEqual(attributes.outcome, "closed")
    }).pipe(Effect.timeout("10 seconds"), Effect.provide(Layer.merge(TcpLive, CertsLive))))

  it.live("GET /metrics shows the connection counts up to the request itself (not a second late)", () =>
    Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app: Effect.never, metrics: true })
      const body = yield* Effect.tryPromise(async () => {
        const response = await fetch(`${server.url}/metrics`, { headers: { connection: "close" } })
        return response.text()
      })
      const shown = Number(/^fiberloop_connections_accepted(?:_total)? (\d+)/m.exec(body)?.[1])
      // the snapshot flushes every server's counts: the endpoint must have shown the same
      assert.strictEqual(shown, (yield* Stats.snapshot).accepted)
    }).pipe(Effect.scoped, Effect.timeout("10 seconds"), Effect.provide(TcpLive)))
})
