import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stats from "../src/Stats.ts"
import * as Tcp from "../src/net/Tcp.ts"
import { rawClient, readToEnd, TcpLive } from "./net/support.ts"

describe("Stats", () => {
  it.live("counts what servers do as Effect metrics", () =>
    Effect.gen(function*() {
      const before = yield* Stats.snapshot
      let n = 0
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        handler: (conn) => (++n === 1 ? Effect.die("boom") : conn.send("12345")),
        onError: () => Effect.void
      })
      for (let i = 0; i < 3; i++) yield* readToEnd(yield* rawClient(server.address.port))
      while (server.stats().active > 0 || server.stats().accepted < 3) yield* Effect.sleep(2)
      const after = yield* Stats.snapshot
      assert.strictEqual(after.accepted - before.accepted, 3)
      assert.strictEqual(after.active - before.active, 0)
      assert.strictEqual(after.failures - before.failures, 1)
      assert.strictEqual(after.bytesWritten - before.bytesWritten, 10)
      // nothing waited, was refused, handshook or looked up: those gauges and counters are back where they were
      assert.deepStrictEqual(
        {
          waiting: after.waiting - before.waiting,
          rejected: after.rejected - before.rejected,
          waitedOut: after.waitedOut - before.waitedOut,
          handshakes: after.handshakes - before.handshakes,
          tlsDone: after.tls.done - before.tls.done,
          dnsLookups: after.dns.lookups - before.dns.lookups
        },
        { waiting: 0, rejected: 0, waitedOut: 0, handshakes: 0, tlsDone: 0, dnsLookups: 0 }
      )
    }).pipe(Effect.timeout("5 seconds"), Effect.provide(TcpLive)))
})
