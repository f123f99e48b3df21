import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { Channel } from "../../src/sync/index.ts"
import { observersOf } from "./support.ts"

// Yields a few times so forked fibers reach their waiting point (no sleeping).
const settle = (n = 5) => Effect.repeat(Effect.yieldNow, { times: n })

describe("Channel", () => {
  it.effect("a rendezvous send completes only when a receiver takes the value", () =>
    Effect.gen(function*() {
      const ch = yield* Channel.make<number>()
      assert.strictEqual(ch.capacity, 0)
      const sender = yield* Effect.forkChild(ch.send(1))
      yield* settle()
      assert.isUndefined(sender.pollUnsafe())
      assert.strictEqual(yield* ch.size, 0)
      assert.strictEqual(yield* ch.receive, 1)
      yield* Fiber.join(sender)
      // A receiver waiting first is handed the value directly.
      const receiver = yield* Effect.forkChild(ch.receive)
      yield* settle()
      yield* ch.send(2)
      assert.strictEqual(yield* Fiber.join(receiver), 2)
    }))

  it.effect("a bounded channel buffers up to capacity, then senders wait in order", () =>
    Effect.gen(function*() {
      const ch = yield* Channel.make<number>({ capacity: 2 })
      yield* ch.send(1)
      yield* ch.send(2)
      assert.strictEqual(yield* ch.size, 2)
      const s3 = yield* Effect.forkChild(ch.send(3))
      yield* settle()
      const s4 = yield* Effect.forkChild(ch.send(4))
      yield* settle()
      assert.isUndefined(s3.pollUnsafe())
      assert.strictEqual(yield* ch.receive, 1)
      yield* Fiber.join(s3)
      assert.isUndefined(s4.pollUnsafe())
      const got = [yield* ch.receive, yield* ch.receive, yield* ch.receive]
      assert.deepStrictEqual(got, [2, 3, 4])
      yield* Fiber.join(s4)
    }))

  it.effect("an unbounded channel never makes send wait", () =>
    Effect.gen(function*() {
      const ch = yield* Channel.make<number>({ capacity: "unbounded" })
      for (let i = 0; i < 1000; i++) yield* Channel.send(ch, i)
      assert.strictEqual(yield* ch.size, 1000)
      assert.strictEqual(yield* Channel.receive(ch), 0)
    }))

  it.effect("close lets receivers drain, then fails them; sends fail at once", () =>
    Effect.gen(function*() {
      const ch = yield* Channel.make<string>({ capacity: 3 })
      yield* ch.send("a")
      yield* ch.send("b")
      assert.isTrue(yield* Channel.close(ch))
      assert.isFalse(yield* ch.close)
      assert.isTrue(yield* ch.isClosed)
      assert.strictEqual((yield* Effect.flip(ch.send("c"))).reason, "Closed")
      assert.strictEqual(yield* ch.receive, "a")
      assert.strictEqual(yield* ch.receive, "b")
      assert.strictEqual((yield* Effect.flip(ch.receive)).reason, "Closed")
    }))

  it.effect("close fails waiting senders and waiting receivers", () =>
    Effect.gen(function*() {
      const full = yield* Channel.make<number>({ capacity: 1 })
      yield* full.send(1)
      const sender = yield* Effect.forkChild(Effect.flip(full.send(2)))
      const empty = yield* Channel.make<number>()
      const receiver = yield* Effect.forkChild(Effect.flip(empty.receive))
      yield* settle()
      yield* full.close
      yield* empty.close
      assert.strictEqual((yield* Fiber.join(sender)).reason, "Closed")
      assert.strictEqual((yield* Fiber.join(receiver)).reason, "Closed")
      // The buffered value survives; the refused one was never added.
      assert.strictEqual(yield* full.receive, 1)
      assert.strictEqual((yield* Effect.flip(full.receive)).reason, "Closed")
    }))

  it.effect("select takes the first ready case in order", () =>
    Effect.gen(function*() {
      const a = yield* Channel.make<number>({ capacity: 1 })
      const b = yield* Channel.make<string>({ capacity: 1 })
      yield* a.send(1)
      yield* b.send("x")
      const r = yield* Channel.select([Channel.onReceive(b), Channel.onReceive(a)])
      assert.deepStrictEqual(r, { _tag: "Received", index: 0, value: "x" })
      const out = yield* Channel.make<number>({ capacity: 1 })
      const s = yield* Channel.select([Channel.onReceive(b), Channel.onSend(out, 7)])
      assert.deepStrictEqual(s, { _tag: "Sent", index: 1 })
      assert.strictEqual(yield* out.receive, 7)
    }))

  it.effect("select with default does not wait; with a timeout it gives up", () =>
    Effect.gen(function*() {
      const a = yield* Channel.make<number>()
      assert.deepStrictEqual(yield* Channel.select([Channel.onReceive(a)], { default: true }), { _tag: "Default" })
      const waiting = yield* Effect.forkChild(Channel.select([Channel.onReceive(a)], { timeout: "1 second" }))
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(waiting.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Fiber.join(waiting), { _tag: "Timeout" })
      // The timed-out select left nothing behind: a send still waits for a receiver.
      const sender = yield* Effect.forkChild(a.send(1))
      yield* settle()
      assert.isUndefined(sender.pollUnsafe())
      assert.strictEqual(yield* a.receive, 1)
    }))

  it.effect("a waiting select fires exactly one case and withdraws the others", () =>
    Effect.gen(function*() {
      const a = yield* Channel.make<number>()
      const b = yield* Channel.make<number>({ capacity: 1 })
      const out = yield* Channel.make<string>()
      const sel = yield* Effect.forkChild(
        Channel.select([Channel.onReceive(a), Channel.onReceive(b), Channel.onSend(out, "s")])
      )
      yield* settle()
      yield* b.send(2)
      assert.deepStrictEqual(yield* Fiber.join(sel), { _tag: "Received", index: 1, value: 2 })
      // Neither `a` nor `out` still has the select registered.
      const sender = yield* Effect.forkChild(a.send(9))
      yield* settle()
      assert.isUndefined(sender.pollUnsafe())
      assert.deepStrictEqual(yield* Channel.select([Channel.onReceive(out)], { default: true }), { _tag: "Default" })
      assert.strictEqual(yield* a.receive, 9)
      // A waiting send case is taken by a receiver.
      const sel2 = yield* Effect.forkChild(Channel.select([Channel.onReceive(a), Channel.onSend(out, "t")]))
      yield* settle()
      assert.strictEqual(yield* out.receive, "t")
      assert.deepStrictEqual(yield* Fiber.join(sel2), { _tag: "Sent", index: 1 })
    }))

  it.effect("select reports a closed channel", () =>
    Effect.gen(function*() {
      const a = yield* Channel.make<number>()
      const b = yield* Channel.make<number>()
      const sel = yield* Effect.forkChild(Channel.select([Channel.onReceive(a), Channel.onReceive(b)]))
      yield* settle()
      yield* b.close
      assert.deepStrictEqual(yield* Fiber.join(sel), { _tag: "Closed", index: 1 })
      assert.deepStrictEqual(yield* Channel.select([Channel.onSend(b, 1)]), { _tag: "Closed", index: 0 })
    }))

  it.effect("toStream yields every value and ends when closed and drained", () =>
    Effect.gen(function*() {
      const ch = yield* Channel.make<number>({ capacity: 4 })
      const producer = yield* Effect.forkChild(
        Effect.andThen(Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], (i) => ch.send(i)), ch.close)
      )
      const all = yield* Stream.runCollect(Channel.toStream(ch))
      assert.deepStrictEqual(all, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      yield* Fiber.join(producer)
      const rendezvous = yield* Channel.make<string>()
      yield* Effect.forkChild(Effect.andThen(Effect.forEach(["a", "b"], (s) => rendezvous.send(s)), rendezvous.close))
      assert.deepStrictEqual(yield* Stream.runCollect(Channel.toStream(rendezvous)), ["a", "b"])
    }))

  it.effect("interruption does not leak: a handed value goes back to the head", () =>
    Effect.gen(function*() {
      const ch = yield* Channel.make<number>({ capacity: 2 })
      // A waiting receiver interrupted is withdrawn: the next send buffers.
      const idle = yield* Effect.forkChild(ch.receive)
      yield* settle()
      yield* Fiber.interrupt(idle)
      yield* ch.send(1)
      assert.strictEqual(yield* ch.size, 1)
      assert.strictEqual(yield* ch.receive, 1)
      // A receiver interrupted after the value was handed to it, before it resumed.
      const r = yield* Effect.forkChild(ch.receive)
      yield* settle()
      yield* ch.send(10)
      yield* ch.send(11)
      yield* Fiber.interrupt(r)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(r)))
      assert.strictEqual(yield* ch.receive, 10)
      assert.strictEqual(yield* ch.receive, 11)
      // The same for a select.
      const sel = yield* Effect.forkChild(Channel.select([Channel.onReceive(ch)]))
      yield* settle()
      yield* ch.send(20)
      yield* Fiber.interrupt(sel)
      assert.strictEqual(yield* ch.receive, 20)
    }))

  it.effect.prop(
    "under random receiver interruption every sent value is received exactly once",
    {
      capacity: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
      receivers: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: 8 })))
        .check(Schema.isMinLength(1), Schema.isMaxLength(5))
    },
    ({ capacity, receivers }) =>
      Effect.gen(function*() {
        const ch = yield* Channel.make<number>({ capacity })
        const got: Array<number> = []
        const fibers = yield* Effect.forEach(receivers, () =>
          Effect.forkChild(
            Effect.forever(Effect.flatMap(ch.receive, (n) => Effect.sync(() => void got.push(n)))),
            { startImmediately: true }
          ))
        const producer = yield* Effect.forkChild(
          Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => Effect.andThen(ch.send(i), Effect.yieldNow))
        )
        for (let t = 0; t <= 8; t++) {
          for (let i = 0; i < receivers.length; i++) {
            if (receivers[i] === t) yield* Fiber.interrupt(fibers[i])
          }
          yield* Effect.yieldNow
        }
        // A fresh receiver takes over, so the producer always finishes.
        const drain = yield* Effect.forkChild(Stream.runCollect(Channel.toStream(ch)))
        yield* Fiber.join(producer)
        yield* ch.close
        const rest = yield* Fiber.join(drain)
        yield* Fiber.interruptAll(fibers)
        const all = [...got, ...rest].sort((a, b) => a - b)
        return all.length === 20 && all.every((v, i) => v === i)
      }),
    { timeout: 20_000, arbitrary: { runs: 60 } }
  )

  it.effect("sends, receives and waits leave no observer on the caller", () =>
    Effect.gen(function*() {
      yield* Effect.yieldNow
      const self = Fiber.getCurrent()!
      const before = observersOf(self)
      for (let i = 0; i < 10_000; i++) {
        const each = yield* Channel.make<number>({ capacity: 1 })
        yield* each.send(i)
        yield* each.receive
      }
      // A rendezvous receive that waits, then a send that waits.
      const ch = yield* Channel.make<number>()
      yield* Effect.forkChild(Effect.andThen(settle(), ch.send(1)))
      assert.strictEqual(yield* ch.receive, 1)
      yield* Effect.forkChild(Effect.andThen(settle(), ch.receive))
      yield* ch.send(2)
      assert.strictEqual(observersOf(self), before)
    }))

  it.live("moves many values between fibers under real scheduling", () =>
    Effect.gen(function*() {
      const ch = yield* Channel.make<number>({ capacity: 16 })
      const producer = Effect.andThen(
        Effect.forEach(Array.from({ length: 2000 }, (_, i) => i), (i) => ch.send(i), { discard: true }),
        ch.close
      )
      yield* Effect.forkChild(producer)
      let sum = 0
      yield* Stream.runForEach(Channel.toStream(ch), (n) => Effect.sync(() => void (sum += n)))
      assert.strictEqual(sum, (2000 * 1999) / 2)
    }).pipe(Effect.timeout("2 seconds")))
})
