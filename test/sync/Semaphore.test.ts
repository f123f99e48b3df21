import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import { Semaphore } from "../../src/sync/index.ts"
import { observersOf, yieldUntil } from "./support.ts"

// Yields until `n` permits are requested by waiters; dies rather than hangs.
const waitingFor = (sem: Semaphore.Semaphore, n: number): Effect.Effect<void> => yieldUntil(sem.waiting, n)

describe("Semaphore", () => {
  it.effect("starts with `start` permits and takes and gives them", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 3, start: 2 })
      assert.strictEqual(sem.max, 3)
      assert.strictEqual(yield* sem.count, 2)
      yield* sem.take(2)
      assert.strictEqual(yield* sem.count, 0)
      yield* sem.give()
      yield* Semaphore.give(sem, 2)
      assert.strictEqual(yield* sem.count, 3)
      const empty = yield* Semaphore.make({ max: 1 })
      assert.strictEqual(yield* empty.count, 0)
    }))

  // Copas semaphore_spec: "give" beyond max returns "too many".
  it.effect("giving beyond max fails with TooManyPermits and changes nothing", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 3, start: 2 })
      const error = yield* Effect.flip(sem.give(2))
      assert.strictEqual(error.reason, "TooManyPermits")
      assert.strictEqual(yield* sem.count, 2)
      yield* sem.give(1)
      assert.strictEqual(yield* sem.count, 3)
    }))

  it.effect("taking more than max fails at once", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 3, start: 3 })
      const error = yield* Effect.flip(sem.take(4))
      assert.strictEqual(error.reason, "TooManyPermits")
      assert.strictEqual(yield* sem.waiting, 0)
      assert.strictEqual(yield* sem.count, 3)
    }))

  it.effect("a waiter is served when enough permits are given", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 5 })
      const taker = yield* Effect.forkChild(sem.take(3))
      yield* waitingFor(sem, 3)
      yield* sem.give(2)
      yield* Effect.yieldNow
      assert.isUndefined(taker.pollUnsafe())
      yield* sem.give(1)
      yield* Fiber.join(taker)
      assert.strictEqual(yield* sem.count, 0)
      assert.strictEqual(yield* sem.waiting, 0)
    }))

  it.effect("strict FIFO: a later small request never overtakes an earlier large one", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 5, start: 2 })
      const order: Array<string> = []
      const large = yield* Effect.forkChild(Effect.andThen(sem.take(4), Effect.sync(() => void order.push("large"))))
      yield* waitingFor(sem, 4)
      const small = yield* Effect.forkChild(Effect.andThen(sem.take(1), Effect.sync(() => void order.push("small"))))
      yield* waitingFor(sem, 5)
      // Two permits are free and the small request fits, yet it waits its turn.
      yield* Effect.yieldNow
      assert.deepStrictEqual(order, [])
      assert.strictEqual(yield* sem.count, 2)
      yield* sem.give(2)
      yield* Fiber.join(large)
      assert.deepStrictEqual(order, ["large"])
      yield* sem.give(1)
      yield* Fiber.join(small)
      assert.deepStrictEqual(order, ["large", "small"])
    }))

  it.effect("a waiter times out with the time waited and unblocks those behind it", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 5, start: 1, timeout: "1 second" })
      const large = yield* Effect.forkChild(Effect.flip(sem.take(3)))
      yield* waitingFor(sem, 3)
      const small = yield* Effect.forkChild(sem.take(1, "1 hour"))
      yield* waitingFor(sem, 4)
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(large)
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.waited, 1000)
      yield* Fiber.join(small)
      assert.strictEqual(yield* sem.count, 0)
      assert.strictEqual((yield* Effect.flip(sem.take(1, 0))).reason, "Timeout")
    }))

  // Copas semaphore_spec: "destroy" releases all waiting threads with "destroyed".
  it.effect("destroy wakes every waiter with Destroyed and fails later calls", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 4 })
      const waiters = yield* Effect.forEach([1, 2, 3], (n) => Effect.forkChild(Effect.flip(sem.take(n))))
      yield* waitingFor(sem, 6)
      yield* Semaphore.destroy(sem)
      for (const waiter of waiters) assert.strictEqual((yield* Fiber.join(waiter)).reason, "Destroyed")
      assert.strictEqual(yield* sem.waiting, 0)
      assert.strictEqual((yield* Effect.flip(sem.take())).reason, "Destroyed")
      assert.strictEqual((yield* Effect.flip(sem.give())).reason, "Destroyed")
      assert.strictEqual((yield* Effect.flip(sem.withPermits(1)(Effect.void))).reason, "Destroyed")
    }))

  it.effect("withPermits gives back on success, failure and interruption", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 2, start: 2 })
      assert.strictEqual(yield* Semaphore.withPermits(sem, 2, Effect.succeed("ok")), "ok")
      assert.strictEqual(yield* sem.count, 2)
      const failed = yield* Effect.exit(Effect.fail("boom").pipe(Semaphore.withPermits(sem, 1)))
      assert.isTrue(Exit.isFailure(failed))
      assert.strictEqual(yield* sem.count, 2)
      const holder = yield* Effect.forkChild(sem.withPermits(2)(Effect.never), { startImmediately: true })
      assert.strictEqual(yield* sem.count, 0)
      yield* Fiber.interrupt(holder)
      assert.strictEqual(yield* sem.count, 2)
    }))

  it.effect("interruption does not leak permits, waiting or between grant and resume", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 3, start: 0 })
      // Interrupted while waiting: its request is withdrawn.
      const waiter = yield* Effect.forkChild(sem.take(2))
      yield* waitingFor(sem, 2)
      yield* Fiber.interrupt(waiter)
      assert.strictEqual(yield* sem.waiting, 0)
      // Interrupted after the permits were granted but before it resumed.
      // Grants resume inline only two levels deep: the give below runs `a`,
      // which hands its permits to `b`, which hands them to `grantee`, whose
      // resume is queued, so the test fiber interrupts it in between.
      const a = yield* Effect.forkChild(sem.withPermits(3)(Effect.void))
      yield* waitingFor(sem, 3)
      const b = yield* Effect.forkChild(sem.withPermits(3)(Effect.void))
      yield* waitingFor(sem, 6)
      let ran = false
      const grantee = yield* Effect.forkChild(sem.withPermits(3)(Effect.sync(() => void (ran = true))))
      yield* waitingFor(sem, 9)
      yield* sem.give(3)
      assert.isDefined(a.pollUnsafe())
      assert.isDefined(b.pollUnsafe())
      assert.strictEqual(yield* sem.count, 0)
      yield* Fiber.interrupt(grantee)
      assert.isFalse(ran)
      assert.strictEqual(yield* sem.count, 3)
      const ok = yield* Effect.forkChild(sem.take(3, 0))
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(ok)))
    }))

  it.effect.prop(
    "under random interruption no permit is lost and FIFO holds",
    {
      ops: Schema.Array(
        Schema.Struct({
          n: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3 })),
          hold: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
          interruptAt: Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: 6 }))
        })
      ).check(Schema.isMaxLength(12))
    },
    ({ ops }) =>
      Effect.gen(function*() {
        const sem = yield* Semaphore.make({ max: 4, start: 4 })
        const order: Array<number> = []
        let held = 0
        let overdrawn = false
        const fibers: Array<Fiber.Fiber<void, Semaphore.SemaphoreError>> = []
        for (let i = 0; i < ops.length; i++) {
          const { hold, n } = ops[i]
          const body = Effect.suspend(() => {
            held += n
            if (held > 4) overdrawn = true
            order.push(i)
            return Effect.sleep(hold)
          }).pipe(Effect.ensuring(Effect.sync(() => held -= n)))
          fibers.push(yield* Effect.forkChild(sem.withPermits(n)(body), { startImmediately: true }))
        }
        for (let t = 0; t <= 6; t++) {
          for (let i = 0; i < ops.length; i++) {
            if (ops[i].interruptAt === t) yield* Fiber.interrupt(fibers[i])
          }
          yield* TestClock.adjust("1 millis")
        }
        yield* TestClock.adjust("1 minute")
        yield* Fiber.awaitAll(fibers)
        const sorted = [...order].sort((a, b) => a - b)
        return !overdrawn && (yield* sem.count) === 4 && (yield* sem.waiting) === 0 &&
          order.every((v, i) => v === sorted[i])
      }),
    { timeout: 20_000, arbitrary: { runs: 60 } }
  )

  // Lock watches its owner fiber; a semaphore's permits have no owner, so no
  // operation may leave an observer behind on the caller (as Lock once did).
  it.effect("takes, gives and waits leave no observer on the caller", () =>
    Effect.gen(function*() {
      yield* Effect.yieldNow
      const self = Fiber.getCurrent()!
      const before = observersOf(self)
      for (let i = 0; i < 10_000; i++) {
        const each = yield* Semaphore.make({ max: 1, start: 1 })
        yield* each.take()
        yield* each.give()
        yield* each.withPermits(1)(Effect.void)
      }
      const sem = yield* Semaphore.make({ max: 1 })
      // A take that waits and is served, then one that times out.
      yield* Effect.forkChild(Effect.andThen(waitingFor(sem, 1), sem.give()))
      yield* sem.take()
      yield* Effect.forkChild(Effect.andThen(waitingFor(sem, 1), TestClock.adjust("1 second")))
      assert.strictEqual((yield* Effect.flip(sem.take(1, "1 second"))).reason, "Timeout")
      assert.strictEqual(observersOf(self), before)
    }))

  it.live("serves many contending fibers under real scheduling", () =>
    Effect.gen(function*() {
      const sem = yield* Semaphore.make({ max: 2, start: 2 })
      let inside = 0
      let peak = 0
      yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        () =>
          sem.withPermits(1)(Effect.gen(function*() {
            peak = Math.max(peak, ++inside)
            yield* Effect.yieldNow
            inside--
          })),
        { concurrency: "unbounded", discard: true }
      )
      assert.strictEqual(peak, 2)
      assert.strictEqual(yield* sem.count, 2)
    }).pipe(Effect.timeout("2 seconds")))
})
