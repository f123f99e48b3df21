import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Udp from "../../src/net/Udp.ts"
import { freePort, spawnProcess } from "../net/support.ts"
import { requireTool } from "./support.ts"

const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("15 seconds"), Effect.provide(Udp.layer.pipe(Layer.provide(Dns.layerStatic({}))))) as Effect.Effect<
    A,
    unknown,
    any
  >

describe("outside peers: UDP", () => {
  it.live("socat sends datagrams to a fiberloop UDP server and reads the replies", () =>
    live(Effect.gen(function*() {
      requireTool("socat")
      const server = yield* Udp.serve({
        host: "127.0.0.1",
        port: 0,
        handler: (d) => d.reply(`ack ${Buffer.from(d.data).toString().trim()}\n`)
      })
      const socat = yield* spawnProcess("socat", ["-t", "2", "-", `UDP:127.0.0.1:${server.address.port}`])
      socat.stdin.write("one\n")
      assert.strictEqual(yield* socat.line, "ack one")
      socat.stdin.write("two\n")
      assert.strictEqual(yield* socat.line, "ack two")
      socat.stdin.end()
      assert.strictEqual(server.failures, 0)
    })))

  it.live("a fiberloop UDP socket talks to a socat UDP echo server", () =>
    live(Effect.gen(function*() {
      requireTool("socat")
      const port = yield* freePort
      yield* spawnProcess("socat", [`UDP-RECVFROM:${port},bind=127.0.0.1,fork`, "EXEC:cat"])
      const socket = yield* Udp.bind({ host: "127.0.0.1", port: 0 })
      // socat may not be listening yet: resend until the echo comes back (bounded by the timeout)
      const echo = yield* Effect.gen(function*() {
        yield* socket.sendTo("marco", "127.0.0.1", port)
        return yield* socket.receiveFrom().pipe(Effect.timeout("200 millis"))
      }).pipe(Effect.retry({ times: 50 }))
      assert.strictEqual(Buffer.from(echo.data).toString(), "marco")
      assert.strictEqual(echo.port, port)
    })))
})
