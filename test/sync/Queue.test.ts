import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { Queue } from "../../src/sync/index.ts"
import { observersOf } from "./support.ts"

// Yields a few times so forked fibers reach their waiting point (no sleeping).
const settle = (n = 5) => Effect.repeat(Effect.yieldNow, { times: n })

describe("Queue", () => {
  it.effect("pops items in push order", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<string>()
      yield* q.push("a")
      yield* Queue.push(q, "b")
      assert.strictEqual(yield* q.length, 2)
      assert.strictEqual(yield* q.pop(), "a")
      assert.strictEqual(yield* Queue.pop(q), "b")
      assert.strictEqual(yield* q.length, 0)
      const waiter = yield* Effect.forkChild(q.pop())
      yield* settle()
      yield* q.push("c")
      assert.strictEqual(yield* Fiber.join(waiter), "c")
    }))

  it.effect("pop times out, and pop(0) never waits", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>()
      assert.strictEqual((yield* Effect.flip(q.pop(0))).reason, "Timeout")
      const waiter = yield* Effect.forkChild(Effect.flip(q.pop("2 seconds")))
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(waiter.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(waiter)).reason, "Timeout")
      // The timed-out pop took nothing.
      yield* q.push(1)
      assert.strictEqual(yield* q.length, 1)
    }))

  it.effect("a bounded queue makes push wait for room", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>({ capacity: 1 })
      assert.strictEqual(q.capacity, 1)
      yield* q.push(1)
      const pusher = yield* Effect.forkChild(q.push(2))
      yield* settle()
      assert.isUndefined(pusher.pollUnsafe())
      assert.strictEqual(yield* q.pop(), 1)
      yield* Fiber.join(pusher)
      assert.strictEqual(yield* q.pop(), 2)
    }))

  it.effect("stop refuses new items while the rest drains, then pops fail", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>()
      yield* q.push(1)
      yield* q.push(2)
      yield* q.stop
      assert.strictEqual((yield* Effect.flip(q.push(3))).reason, "Stopped")
      assert.strictEqual(yield* q.pop(), 1)
      assert.strictEqual(yield* q.pop(), 2)
      assert.strictEqual((yield* Effect.flip(q.pop())).reason, "Stopped")
    }))

  // Copas queue_spec: "finish" waits for the workers to handle every item.
  it.effect("finish waits until drained and every worker is done", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>()
      const handled: Array<number> = []
      const work = (n: number) => Effect.andThen(Effect.sleep("10 millis"), Effect.sync(() => void handled.push(n)))
      yield* q.addWorker(work)
      yield* q.addWorker(work)
      assert.strictEqual(yield* q.workers, 2)
      for (let i = 1; i <= 6; i++) yield* q.push(i)
      const finisher = yield* Effect.forkChild(q.finish())
      yield* settle()
      assert.isUndefined(finisher.pollUnsafe())
      yield* TestClock.adjust("20 millis")
      assert.isUndefined(finisher.pollUnsafe())
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(finisher)
      assert.deepStrictEqual([...handled].sort(), [1, 2, 3, 4, 5, 6])
      assert.strictEqual(yield* q.workers, 0)
      assert.strictEqual((yield* Effect.flip(q.push(7))).reason, "Stopped")
    }))

  it.effect("finish times out and then destroys the queue", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>()
      yield* q.push(1)
      yield* q.push(2)
      const finisher = yield* Effect.forkChild(Effect.flip(q.finish("1 second")))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(finisher)).reason, "Timeout")
      assert.strictEqual(yield* q.length, 0)
      assert.strictEqual((yield* Effect.flip(q.pop())).reason, "Stopped")
    }))

  it.effect("a failing item is reported and the worker goes on", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>()
      const handled: Array<number> = []
      const errors: Array<string> = []
      yield* q.addWorker(
        (n) => n === 2 ? Effect.fail(`bad ${n}`) : Effect.sync(() => void handled.push(n)),
        { onError: (cause) => Effect.sync(() => void errors.push(String(Cause.squash(cause)))) }
      )
      yield* Effect.forEach([1, 2, 3], (n) => q.push(n))
      yield* q.finish()
      assert.deepStrictEqual(handled, [1, 3])
      assert.deepStrictEqual(errors, ["bad 2"])
    }))

  it.effect("destroy fails waiting pops and pushes and drops the items", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>({ capacity: 1 })
      const popper = yield* Effect.forkChild(q.pop())
      yield* settle()
      yield* q.push(1)
      assert.strictEqual(yield* Fiber.join(popper), 1)
      yield* q.push(2)
      const pusher = yield* Effect.forkChild(Effect.flip(q.push(3)))
      yield* settle()
      yield* q.destroy
      assert.strictEqual((yield* Fiber.join(pusher)).reason, "Stopped")
      assert.strictEqual(yield* q.length, 0)
      assert.strictEqual((yield* Effect.flip(q.pop())).reason, "Stopped")
    }))

  it.effect("closing the scope destroys the queue and interrupts its workers", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const q = yield* Queue.make<number>().pipe(Scope.provide(scope))
      const worker = yield* q.addWorker(() => Effect.never)
      yield* q.push(1)
      yield* settle()
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(worker)))
      assert.strictEqual((yield* Effect.flip(q.push(2))).reason, "Stopped")
    }))

  it.effect("interruption does not leak: a handed item goes back to the head", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>()
      const idle = yield* Effect.forkChild(q.pop())
      yield* settle()
      yield* Fiber.interrupt(idle)
      yield* q.push(1)
      assert.strictEqual(yield* q.length, 1)
      assert.strictEqual(yield* q.pop(), 1)
      const popper = yield* Effect.forkChild(q.pop())
      yield* settle()
      yield* q.push(10)
      yield* q.push(11)
      yield* Fiber.interrupt(popper)
      assert.strictEqual(yield* q.pop(), 10)
      assert.strictEqual(yield* q.pop(), 11)
      // Stopped with the last item in flight: the queue is done only once it is taken.
      const last = yield* Effect.forkChild(q.pop())
      yield* settle()
      yield* q.push(12)
      yield* q.stop
      yield* Fiber.interrupt(last)
      assert.strictEqual(yield* q.pop(), 12)
      assert.strictEqual((yield* Effect.flip(q.pop())).reason, "Stopped")
    }))

  it.effect.prop(
    "under random popper interruption every pushed item is popped exactly once",
    {
      poppers: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: 8 })))
        .check(Schema.isMinLength(1), Schema.isMaxLength(5))
    },
    ({ poppers }) =>
      Effect.gen(function*() {
        const q = yield* Queue.make<number>()
        const got: Array<number> = []
        const fibers = yield* Effect.forEach(poppers, () =>
          Effect.forkChild(
            Effect.forever(Effect.flatMap(q.pop(), (n) => Effect.sync(() => void got.push(n)))),
            { startImmediately: true }
          ))
        const producer = yield* Effect.forkChild(
          Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => Effect.andThen(q.push(i), Effect.yieldNow))
        )
        for (let t = 0; t <= 8; t++) {
          for (let i = 0; i < poppers.length; i++) {
            if (poppers[i] === t) yield* Fiber.interrupt(fibers[i])
          }
          yield* Effect.yieldNow
        }
        yield* Fiber.join(producer)
        yield* q.addWorker((n) => Effect.sync(() => void got.push(n)))
        yield* q.finish()
        yield* Fiber.interruptAll(fibers)
        const all = [...got].sort((a, b) => a - b)
        return all.length === 20 && all.every((v, i) => v === i)
      }),
    { timeout: 20_000, arbitrary: { runs: 60 } }
  )

  it.effect("pushes, pops and waits leave no observer on the caller", () =>
    Effect.gen(function*() {
      yield* Effect.yieldNow
      const self = Fiber.getCurrent()!
      const before = observersOf(self)
      const q = yield* Queue.make<number>({ capacity: 1 })
      for (let i = 0; i < 10_000; i++) {
        yield* q.push(i)
        yield* q.pop()
      }
      // A pop that waits and is served, one that times out, a push that waits.
      yield* Effect.forkChild(Effect.andThen(settle(), q.push(1)))
      assert.strictEqual(yield* q.pop(), 1)
      yield* Effect.forkChild(Effect.andThen(settle(), TestClock.adjust("1 second")))
      assert.strictEqual((yield* Effect.flip(q.pop("1 second"))).reason, "Timeout")
      yield* q.push(2)
      yield* Effect.forkChild(Effect.andThen(settle(), q.pop()))
      yield* q.push(3)
      assert.strictEqual(observersOf(self), before)
    }))

  it.live("workers drain a queue under real scheduling", () =>
    Effect.gen(function*() {
      const q = yield* Queue.make<number>({ capacity: 8 })
      let sum = 0
      for (let i = 0; i < 3; i++) yield* q.addWorker((n) => Effect.sync(() => void (sum += n)))
      yield* Effect.forEach(Array.from({ length: 500 }, (_, i) => i), (i) => q.push(i), { discard: true })
      yield* q.finish("1 second")
      assert.strictEqual(sum, (500 * 499) / 2)
    }).pipe(Effect.timeout("2 seconds")))
})
