import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Http from "../../src/net/Http.ts"
import * as Tcp from "../../src/net/Tcp.ts"
import * as Stats from "../../src/Stats.ts"
import { Certs, CertsLive } from "./certs.ts"
import { eventually, live, rawClient, readBytes, readToEnd, TcpLive } from "./support.ts"

/** A line echo that counts the handlers started. */
const countingEcho = (started: { count: number }) =>
  Effect.fnUntraced(function*(conn: Tcp.Connection) {
    started.count++
    for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
  })

describe("Tcp.serve deferAccept", () => {
  it.live("a connection gets its handler (and fiber) only when its first bytes arrive", () =>
    live(Effect.gen(function*() {
      const started = { count: 0 }
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, deferAccept: "20 seconds", handler: countingEcho(started) })
      const peer = yield* rawClient(server.address.port)
      yield* eventually(() => server.stats().accepted === 1)
      assert.deepStrictEqual([server.stats().deferred, server.stats().active, started.count], [1, 0, 0])
      assert.strictEqual((yield* Stats.snapshot).deferred, 1)
      peer.write("first\n")
      assert.strictEqual(yield* readBytes(peer, 6), "first\n")
      assert.deepStrictEqual([server.stats().deferred, server.stats().active, started.count], [0, 1, 1])
      peer.write("second\n")
      assert.strictEqual(yield* readBytes(peer, 7), "second\n")
    })))

  it.live("a connection silent past the limit is closed unserved and counted", () =>
    live(Effect.gen(function*() {
      const started = { count: 0 }
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, deferAccept: "150 millis", handler: countingEcho(started) })
      const before = yield* Stats.snapshot
      const silent = yield* rawClient(server.address.port)
      const closed = yield* Effect.forkChild(readToEnd(silent))
      // a connection that speaks in time is served as usual
      const talker = yield* rawClient(server.address.port)
      talker.write("hi\n")
      assert.strictEqual(yield* readBytes(talker, 3), "hi\n")
      assert.strictEqual(yield* Fiber.join(closed), "")
      assert.deepStrictEqual(
        [server.stats().silentClosed, server.stats().deferred, started.count],
        [1, 0, 1]
      )
      // the same in the metrics any exporter sees
      const after = yield* Stats.snapshot
      assert.deepStrictEqual([after.silentClosed - before.silentClosed, after.deferred - before.deferred], [1, 0])
    })))

  it.live("a peer that closes without a byte starts the handler, which sees the end of stream", () =>
    live(Effect.gen(function*() {
      const seen = yield* Deferred.make<string>()
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        deferAccept: "20 seconds",
        handler: (conn) =>
          conn.receive("*l").pipe(
            Effect.matchEffect({
              onFailure: (error) => Deferred.succeed(seen, error._tag),
              onSuccess: (line) => Deferred.succeed(seen, `line ${line}`)
            })
          )
      })
      const peer = yield* rawClient(server.address.port)
      peer.end()
      assert.strictEqual(yield* Deferred.await(seen), "ConnectionClosed")
      yield* eventually(() => server.stats().active === 0)
      assert.strictEqual(server.stats().failed, 0)
    })))

  it.live("bytes sent with the FIN reach the handler before the end", () =>
    live(Effect.gen(function*() {
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        deferAccept: "20 seconds",
        handler: Effect.fnUntraced(function*(conn: Tcp.Connection) {
          const all = yield* conn.receive("*a")
          yield* conn.send(`got ${all.length} bytes\n`)
        })
      })
      const peer = yield* rawClient(server.address.port)
      peer.end(Buffer.alloc(200_000, 120))
      assert.strictEqual(yield* readToEnd(peer), "got 200000 bytes\n")
    })))

  it.live("a peer that resets before a byte never reaches the handler", () =>
    live(Effect.gen(function*() {
      const started = { count: 0 }
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, deferAccept: "20 seconds", handler: countingEcho(started) })
      const peer = yield* rawClient(server.address.port)
      yield* eventually(() => server.stats().deferred === 1)
      peer.resetAndDestroy()
      yield* eventually(() => server.stats().deferred === 0)
      const next = yield* rawClient(server.address.port)
      next.write("after\n")
      assert.strictEqual(yield* readBytes(next, 6), "after\n")
      assert.deepStrictEqual([started.count, server.stats().failed, server.stats().silentClosed], [1, 0, 0])
    })))

  it.live("silent connections do not take maxConnections' slots; one that speaks waits for a slot as usual", () =>
    live(Effect.gen(function*() {
      const started = { count: 0 }
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        deferAccept: "20 seconds",
        maxConnections: 1,
        maxDeferred: 10,
        handler: countingEcho(started)
      })
      const silent = yield* Effect.all([1, 2, 3].map(() => rawClient(server.address.port)))
      yield* eventually(() => server.stats().deferred === 3)
      const first = yield* rawClient(server.address.port)
      first.write("one\n")
      assert.strictEqual(yield* readBytes(first, 4), "one\n")
      // the only slot is taken: a second talker waits in the waiting room, with its bytes kept
      const second = yield* rawClient(server.address.port)
      second.write("two\n")
      yield* eventually(() => server.stats().waiting === 1)
      first.end()
      assert.strictEqual(yield* readBytes(second, 4), "two\n")
      assert.deepStrictEqual([server.stats().deferred, started.count], [3, 2])
      for (const socket of silent) socket.destroy()
    })))

  it.live("closing the server closes the connections still silent", () =>
    live(Effect.gen(function*() {
      const started = { count: 0 }
      const scope = yield* Scope.make()
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, deferAccept: "20 seconds", handler: countingEcho(started) })
        .pipe(Scope.provide(scope))
      const peer = yield* rawClient(server.address.port)
      yield* eventually(() => server.stats().deferred === 1)
      const closed = yield* Effect.forkChild(readToEnd(peer))
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* Fiber.join(closed), "")
      assert.deepStrictEqual([server.stats().deferred, started.count], [0, 0])
    })))

  it.live("TLS: the ClientHello wakes the connection and the handshake reads it", () =>
    live(
      Effect.gen(function*() {
        const certs = yield* Certs
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          deferAccept: "20 seconds",
          tls: { key: certs.server.key, cert: certs.server.cert },
          handler: Effect.fnUntraced(function*(conn: Tcp.Connection) {
            for (;;) yield* conn.send(`secure ${yield* conn.receive("*l")}\n`)
          })
        })
        const conn = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port, tls: { ca: certs.ca } })
        yield* conn.send("hello\n")
        assert.strictEqual(yield* conn.receive("*l"), "secure hello")
        assert.strictEqual(server.stats().deferred, 0)
      }),
      Layer.merge(TcpLive, CertsLive)
    ))

  it.live("Http.serve takes it too: requests are served, a silent connection is closed at the limit", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        deferAccept: "300 millis",
        app: Effect.succeed(HttpServerResponse.text("hello"))
      })
      const silent = yield* rawClient(server.address.port)
      const closed = yield* Effect.forkChild(readToEnd(silent))
      const body = yield* Effect.tryPromise(() =>
        fetch(`http://127.0.0.1:${server.address.port}/`, { headers: { connection: "close" } }).then((r) => r.text())
      ).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(body, "hello")
      assert.strictEqual(yield* Fiber.join(closed), "")
    })))

  it.live("held silent connections are bounded (maxConnections by default): past it the oldest goes", () =>
    live(Effect.gen(function*() {
      const started = { count: 0 }
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        deferAccept: "20 seconds",
        maxConnections: 2,
        handler: countingEcho(started)
      })
      const first = yield* rawClient(server.address.port)
      const firstClosed = yield* Effect.forkChild(readToEnd(first))
      yield* eventually(() => server.stats().accepted === 1)
      for (let i = 1; i < 5; i++) {
        yield* rawClient(server.address.port)
        yield* eventually(() => server.stats().accepted === i + 1)
      }
      assert.deepStrictEqual([server.stats().deferred, server.stats().silentClosed], [2, 3])
      // the first one held is the first one closed
      assert.strictEqual(yield* Fiber.join(firstClosed), "")
      const talker = yield* rawClient(server.address.port)
      talker.write("in\n")
      assert.strictEqual(yield* readBytes(talker, 3), "in\n")
    })))

  it.live("an unbounded deferAccept arms no timer that spins (setTimeout takes at most 2^31-1 ms)", () =>
    live(Effect.gen(function*() {
      const started = { count: 0 }
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        deferAccept: Duration.infinity,
        maxDeferred: 100,
        handler: countingEcho(started)
      })
      const spy = vi.spyOn(globalThis, "setTimeout")
      const peer = yield* rawClient(server.address.port)
      yield* eventually(() => server.stats().deferred === 1)
      yield* Effect.sleep(100)
      const armed = spy.mock.calls.filter(([, ms]) => ms === 1 || (typeof ms === "number" && ms > 2 ** 30)).length
      spy.mockRestore()
      assert.isBelow(armed, 3)
      peer.write("late\n")
      assert.strictEqual(yield* readBytes(peer, 5), "late\n")
    })))
})
