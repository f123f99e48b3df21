import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as NetAddress from "effect/net/NetAddress"
import type * as Socket from "effect/socket/Socket"
import * as SocketServer from "../../src/net/SocketServer.ts"
import * as Stats from "../../src/Stats.ts"
import { rawClient, readBytes, TcpLive } from "./support.ts"

const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("10 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, any>

/** An effect/socket handler: echoes every chunk until the peer closes. */
const echo = (socket: Socket.Socket) =>
  Effect.scoped(Effect.gen(function*() {
    const reader = yield* socket.reader
    const writer = yield* socket.writer
    for (;;) {
      const chunks = yield* reader.pull
      for (const chunk of chunks) yield* writer.write(chunk)
    }
  })).pipe(Effect.ignore)

const portOf = (server: { readonly address: NetAddress.SocketAddress }) =>
  server.address._tag === "UnixPathAddress" ? -1 : server.address.port

describe("SocketServer", () => {
  it.live("serves effect/socket handlers on a fiberloop server", () =>
    live(Effect.gen(function*() {
      const server = yield* SocketServer.make({ host: "127.0.0.1", port: 0 })
      yield* Effect.forkScoped(server.run(echo))
      assert.strictEqual(server.address._tag, "InetAddressV4")
      const peer = yield* rawClient(portOf(server))
      peer.write("through effect/socket\n")
      assert.strictEqual(yield* readBytes(peer, 22), "through effect/socket\n")
    })))

  it.live("keeps the bytes of a connection that arrived before run", () =>
    live(Effect.gen(function*() {
      const server = yield* SocketServer.make({ host: "127.0.0.1", port: 0 })
      const early = yield* rawClient(portOf(server))
      early.write("early bird\n")
      yield* Effect.forkScoped(server.run(echo))
      assert.strictEqual(yield* readBytes(early, 11), "early bird\n")
    })))

  it.live("applies fiberloop's maxConnections to effect/socket handlers", () =>
    live(Effect.gen(function*() {
      const before = yield* Stats.snapshot
      const server = yield* SocketServer.make({ host: "127.0.0.1", port: 0, maxConnections: 1 })
      yield* Effect.forkScoped(server.run(echo))
      const first = yield* rawClient(portOf(server))
      first.write("one\n")
      assert.strictEqual(yield* readBytes(first, 4), "one\n")
      const second = yield* rawClient(portOf(server))
      second.write("two\n")
      const answer = yield* Effect.forkChild(readBytes(second, 4))
      // both accepted, one served: the second waits for the only slot (polled, bounded by the timeout)
      let now = yield* Stats.snapshot
      while (now.accepted - before.accepted < 2) now = yield* Effect.andThen(Effect.sleep(2), Stats.snapshot)
      assert.strictEqual(now.active - before.active, 1)
      assert.isUndefined(answer.pollUnsafe())
      first.end()
      assert.strictEqual(yield* Fiber.join(answer), "two\n")
    })))
})
