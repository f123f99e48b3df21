/**
 * A Node socket or server with no `'error'` listener turns an error into an
 * uncaught exception. These tests emit an error in the windows where fiberloop
 * hands a socket or server from one listener to the next (on `'listening'`
 * and on `'connect'`), with the fiber that takes over descheduled at that very
 * moment (as it is whenever its operation budget runs out there), so the
 * window spans a turn of the event loop. Both crashed the process with an
 * unhandled error before the fix.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import * as Net from "node:net"
import * as Tcp from "../../src/net/Tcp.ts"
import { TcpLive } from "./support.ts"

/** The default scheduler, except that the next fiber step after `arm` yields to the event loop. */
class YieldWhenArmed extends Scheduler.MixedScheduler {
  armed = false
  override shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    if (!this.armed) return super.shouldYield(fiber)
    this.armed = false
    return true
  }
}

const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("10 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, any>

/**
 * While the scope is open: when `event` is emitted on a `target` that `pick`s,
 * the scheduler is armed (the fiber its listener resumes yields at once), and
 * right after the listeners ran, `error` is emitted on the target.
 */
const errorAfter = <T extends NodeJS.EventEmitter>(
  scheduler: YieldWhenArmed,
  proto: T,
  event: string,
  pick: (target: T) => boolean,
  error: () => Error
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const original = proto.emit
      let once = true
      proto.emit = function(this: T, name: string | symbol, ...args: Array<unknown>) {
        if (!(once && name === event && pick(this))) return original.call(this, name, ...args)
        once = false
        scheduler.armed = true
        const result = original.call(this, name, ...args)
        original.call(this, "error", error())
        return result
      } as T["emit"]
      return original
    }),
    (original) => Effect.sync(() => (proto.emit = original))
  )

describe("'error' listeners", () => {
  it.live("a server error right after listening is counted, not thrown", () =>
    live(Effect.gen(function*() {
      const scheduler = new YieldWhenArmed()
      yield* errorAfter(
        scheduler,
        Net.Server.prototype,
        "listening",
        (server) => server.listenerCount("connection") > 0,
        () => Object.assign(new Error("accept EMFILE"), { code: "EMFILE", syscall: "accept" })
      )
      const server = yield* Effect.provideService(
        Tcp.serve({ host: "127.0.0.1", port: 0, handler: (conn) => conn.send("ok\n") }),
        Scheduler.Scheduler,
        scheduler
      )
      assert.strictEqual(server.stats().acceptErrors, 1)
      const conn = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port })
      assert.strictEqual(yield* conn.receive("*l"), "ok")
    })))

  it.live("a client socket error right after connecting is not thrown", () =>
    live(Effect.gen(function*() {
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: (conn) => conn.send("ok\n") })
      const port = server.address.port
      const scheduler = new YieldWhenArmed()
      yield* errorAfter(
        scheduler,
        Net.Socket.prototype,
        "connect",
        (socket) => socket.remotePort === port,
        () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" })
      )
      const conn = yield* Effect.provideService(
        Tcp.connect({ host: "127.0.0.1", port }),
        Scheduler.Scheduler,
        scheduler
      )
      // the emitted error stood for nothing real (the socket is fine): the connection still works
      assert.strictEqual(yield* conn.receive("*l"), "ok")
    })))
})
