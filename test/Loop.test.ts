import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Tcp from "../src/net/Tcp.ts"
import * as Udp from "../src/net/Udp.ts"
import * as Loop from "../src/Loop.ts"

const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
})

describe("Loop", () => {
  it.live("layerWithoutDns takes the resolver as an input: a static Dns names loopback", () =>
    Effect.gen(function*() {
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: echo })
      const conn = yield* Tcp.connect({ host: "echo.test", port: server.address.port, timeout: "2 seconds" })
      yield* conn.send("by name\n")
      assert.strictEqual(yield* conn.receive("*l"), "by name")
      const socket = yield* Udp.bind({ host: "echo.test" })
      assert.strictEqual(socket.localAddress.address, "127.0.0.1")
      // the resolver is the one provided, and it is exposed with provideMerge
      const addresses = yield* Effect.flatMap(Effect.service(Dns.Dns), (dns) => dns.lookup("echo.test"))
      assert.strictEqual(addresses.length, 1)
    }).pipe(
      Effect.timeout("10 seconds"),
      Effect.provide(Loop.layerWithoutDns.pipe(
        Layer.provideMerge(Dns.layerStatic({ hosts: { "echo.test": ["127.0.0.1"] } }))
      ))
    ))
})
