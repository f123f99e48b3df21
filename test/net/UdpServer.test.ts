import * as NodeDns from "@effect/platform-node/NodeDns"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { Udp } from "../../src/net/index.ts"

const UdpLive = Udp.layer.pipe(Layer.provide(NodeDns.layer))

const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("10 seconds"), Effect.provide(UdpLive)) as Effect.Effect<A, unknown, any>

const text = (data: Uint8Array): string => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString()

/** A client socket that sends one datagram to `port`. */
const send = (body: string, port: number) =>
  Effect.flatMap(Udp.bind({ host: "127.0.0.1" }), (client) => client.sendTo(body, "127.0.0.1", port))

describe("Udp.serve", () => {
  it.live("each datagram's handler has a scope of its own, closed when it ends however it ends", () =>
    live(Effect.gen(function*() {
      const released = yield* Queue.unbounded<string>()
      const handler = Effect.fnUntraced(function*(datagram: Udp.Incoming) {
        const body = yield* Effect.acquireRelease(
          Effect.succeed(text(datagram.data)),
          (body, exit) => Queue.offer(released, `${body}:${exit._tag}`)
        )
        if (body === "fail") return yield* Effect.fail("failed")
        yield* datagram.reply(body)
      })
      const server = yield* Udp.serve({ host: "127.0.0.1", port: 0, handler })
      yield* send("ok", server.address.port)
      assert.strictEqual(yield* Queue.take(released), "ok:Success")
      yield* send("fail", server.address.port)
      assert.strictEqual(yield* Queue.take(released), "fail:Failure")
      while (server.failures === 0) yield* Effect.sleep(2)
      assert.strictEqual(server.failures, 1)
    })))

  it.live("closing the server lets running handlers finish within drainTimeout", () =>
    live(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const finished = yield* Deferred.make<string>()
      const server = yield* Udp.serve({
        host: "127.0.0.1",
        port: 0,
        drainTimeout: "5 seconds",
        handler: () =>
          Effect.gen(function*() {
            yield* Effect.forkDetach(Deferred.succeed(started, undefined))
            yield* Deferred.await(release)
            yield* Deferred.succeed(finished, "finished")
          })
      }).pipe(Scope.provide(scope))
      yield* send("work", server.address.port)
      yield* Deferred.await(started)
      assert.strictEqual(server.active, 1)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* Effect.yieldNow
      assert.isUndefined(closing.pollUnsafe())
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(closing)
      assert.strictEqual(yield* Deferred.await(finished), "finished")
    })))

  it.live("interrupts handlers still running after drainTimeout; their finalizers run", () =>
    live(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const started = yield* Deferred.make<void>()
      const released = yield* Deferred.make<boolean>()
      const server = yield* Udp.serve({
        host: "127.0.0.1",
        port: 0,
        drainTimeout: "50 millis",
        handler: () =>
          Effect.acquireRelease(
            Effect.forkDetach(Deferred.succeed(started, undefined)),
            (_, exit) => Deferred.succeed(released, Exit.hasInterrupts(exit))
          ).pipe(Effect.andThen(Effect.never))
      }).pipe(Scope.provide(scope))
      yield* send("block", server.address.port)
      yield* Deferred.await(started)
      const began = Date.now()
      yield* Scope.close(scope, Exit.void)
      assert.isAtLeast(Date.now() - began, 40)
      assert.isTrue(yield* Effect.timeout(Deferred.await(released), "1 second"))
    })))

  it.live("runs as a layer for the layer's lifetime (Udp.layerServer)", () =>
    live(Effect.gen(function*() {
      const probe = yield* Udp.bind({ host: "127.0.0.1" })
      const port = probe.localAddress.port
      yield* probe.close
      const answer = yield* Effect.gen(function*() {
        const client = yield* Udp.bind({ host: "127.0.0.1" })
        yield* client.sendTo("via layer", "127.0.0.1", port)
        return text((yield* client.receiveFrom()).data)
      }).pipe(
        Effect.scoped,
        Effect.provide(Udp.layerServer({ host: "127.0.0.1", port, handler: ({ data, reply }) => reply(data) }))
      )
      assert.strictEqual(answer, "via layer")
      // the port is free again once the layer is released
      const again = yield* Udp.bind({ host: "127.0.0.1", port })
      assert.strictEqual(again.localAddress.port, port)
    })))
})
