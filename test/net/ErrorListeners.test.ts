/**
 * A Node socket or server with no `'error'` listener turns an error into an
 * uncaught exception. These tests emit an error in the windows where fiberloop
 * hands a socket or server from one listener to the next (on `'listening'`
 * and on `'connect'`). The fibers that take over get a small operation budget,
 * so they yield to the scheduler and the window spans a turn of the event loop
 * (as it does whenever a busy fiber's budget runs out at that point). Before
 * the fix the client test crashed with an unhandled ECONNRESET; the server's
 * window was not reachable this way (the serving fiber resumed within its
 * budget), so that test guards the permanent listener only.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Scheduler from "effect/Scheduler"
import * as Net from "node:net"
import * as Tcp from "../../src/net/Tcp.ts"
import { TcpLive } from "./support.ts"

const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("10 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, any>

/** While the scope is open, right after `event` is emitted on a `target` that `pick`s, emits `error` on it. */
const errorAfter = <T extends NodeJS.EventEmitter>(
  proto: T,
  event: string,
  pick: (target: T) => boolean,
  error: () => Error
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const original = proto.emit
      let armed = true
      proto.emit = function(this: T, name: string | symbol, ...args: Array<unknown>) {
        const result = original.call(this, name, ...args)
        if (armed && name === event && pick(this)) {
          armed = false
          original.call(this, "error", error())
        }
        return result
      } as T["emit"]
      return original
    }),
    (original) => Effect.sync(() => (proto.emit = original))
  )

/** Runs `effect` with a fiber that yields to the scheduler after 8 operations. */
const yieldingOften = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Scheduler.MaxOpsBeforeYield, 8)

const resetError = () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" })

describe("'error' listeners", () => {
  it.live("a server error right after listening is counted, not thrown", () =>
    live(Effect.gen(function*() {
      yield* errorAfter(
        Net.Server.prototype,
        "listening",
        (server) => server.listenerCount("connection") > 0,
        () => Object.assign(new Error("accept EMFILE"), { code: "EMFILE", syscall: "accept" })
      )
      const server = yield* yieldingOften(
        Tcp.serve({ host: "127.0.0.1", port: 0, handler: (conn) => conn.send("ok\n") })
      )
      // bounded by the test's timeout
      while (server.stats().acceptErrors === 0) yield* Effect.sleep(2)
      assert.strictEqual(server.stats().acceptErrors, 1)
      const conn = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port })
      assert.strictEqual(yield* conn.receive("*l"), "ok")
    })))

  it.live("a client socket error right after connecting is not thrown", () =>
    live(Effect.gen(function*() {
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: (conn) => conn.send("ok\n") })
      const port = server.address.port
      yield* errorAfter(Net.Socket.prototype, "connect", (socket) => socket.remotePort === port, resetError)
      const conn = yield* yieldingOften(Tcp.connect({ host: "127.0.0.1", port }))
      assert.strictEqual(yield* conn.receive("*l"), "ok")
    })))
})
