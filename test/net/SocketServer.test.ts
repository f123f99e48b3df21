import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as NetAddress from "effect/net/NetAddress"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as Net from "node:net"
import * as SocketServer from "../../src/net/SocketServer.ts"
import * as Stats from "../../src/Stats.ts"
import { rawClient, readBytes, readToEnd, TcpLive } from "./support.ts"

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

  it.live("survives a reset on a connection whose handler never reads, and keeps serving", () =>
    live(Effect.gen(function*() {
      const server = yield* SocketServer.make({ host: "127.0.0.1", port: 0, drainTimeout: "50 millis" })
      const started = yield* Deferred.make<void>()
      // the first connection's handler holds the socket and never takes its reader
      let n = 0
      yield* Effect.forkScoped(server.run((socket) =>
        ++n === 1 ? Effect.andThen(Deferred.succeed(started, undefined), Effect.never) : echo(socket)
      ))
      const silent = yield* rawClient(portOf(server))
      silent.write("unread bytes\n")
      yield* Deferred.await(started)
      // a reset: Node reads it (the stream keeps reading up to its high water mark) and emits 'error'
      silent.resetAndDestroy()
      const peer = yield* rawClient(portOf(server))
      peer.write("still here\n")
      assert.strictEqual(yield* readBytes(peer, 11), "still here\n")
    })))

  it.live("a handler's scope closes with its connection", () =>
    live(Effect.gen(function*() {
      const server = yield* SocketServer.make({ host: "127.0.0.1", port: 0 })
      const released = yield* Deferred.make<void>()
      yield* Effect.forkScoped(server.run((socket) =>
        Effect.addFinalizer(() => Deferred.succeed(released, undefined)).pipe(Effect.andThen(echo(socket)))
      ))
      const peer = yield* rawClient(portOf(server))
      peer.write("bye\n")
      assert.strictEqual(yield* readBytes(peer, 4), "bye\n")
      peer.end()
      yield* Deferred.await(released)
    })))

  it.live("applies the idle timeout to effect/socket handlers", () =>
    live(Effect.gen(function*() {
      const server = yield* SocketServer.make({ host: "127.0.0.1", port: 0, idle: "150 millis" })
      yield* Effect.forkScoped(server.run(echo))
      const peer = yield* rawClient(portOf(server))
      peer.write("ping\n")
      assert.strictEqual(yield* readBytes(peer, 5), "ping\n")
      const began = Date.now()
      // silent from here on: the server closes the connection once it has been idle long enough
      assert.strictEqual(yield* readToEnd(peer), "")
      assert.isAtLeast(Date.now() - began, 100)
    })))

  it.live("serves on a Unix domain socket, with a Unix path address", () =>
    live(Effect.gen(function*() {
      const path = `/tmp/fiberloop-socketserver-${process.pid}.sock`
      const scope = yield* Scope.make()
      const server = yield* SocketServer.make({ path }).pipe(Scope.provide(scope))
      assert.strictEqual(server.address._tag, "UnixPathAddress")
      yield* Effect.forkScoped(server.run(echo))
      const peer = yield* Effect.acquireRelease(
        Effect.callback<Net.Socket, Error>((resume) => {
          const socket = Net.connect({ path })
          socket.once("connect", () => resume(Effect.succeed(socket)))
          socket.once("error", (error) => resume(Effect.fail(error)))
        }),
        (socket) => Effect.sync(() => socket.destroy())
      )
      peer.write("unix\n")
      assert.strictEqual(yield* readBytes(peer, 5), "unix\n")
      peer.end()
      yield* Scope.close(scope, Exit.void)
    })))
})
