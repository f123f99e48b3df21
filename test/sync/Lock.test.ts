import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import { Lock } from "../../src/sync/index.ts"
import { observersOf, yieldUntil } from "./support.ts"

// Yields until `n` fibers wait for the lock; dies rather than hangs.
const waitersOf = (lock: Lock.Lock, n: number): Effect.Effect<void> => yieldUntil(lock.waiting, n)

describe("Lock", () => {
  it.effect("acquires uncontended with zero wait", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      assert.strictEqual(yield* lock.get(), 0)
      assert.isTrue(yield* lock.locked)
      yield* lock.release
      assert.isFalse(yield* lock.locked)
    }))

  it.effect("reentrant acquisitions nest and need as many releases", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      yield* lock.get()
      yield* lock.get()
      yield* lock.release
      const other = yield* Effect.forkChild(Effect.flip(lock.get(0)))
      assert.strictEqual((yield* Fiber.join(other)).reason, "Timeout")
      yield* lock.release
      assert.isFalse(yield* lock.locked)
      const again = yield* Effect.forkChild(lock.get(0))
      assert.strictEqual(yield* Fiber.join(again), 0)
    }))

  it.effect("a non-reentrant lock refuses its owner", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make({ reentrant: false })
      yield* lock.get()
      const error = yield* Effect.flip(lock.get())
      assert.strictEqual(error.reason, "NotReentrant")
      yield* lock.release
      assert.isFalse(yield* lock.locked)
    }))

  it.effect("release by a non-owner fails with NotOwner", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      yield* lock.get()
      const error = yield* Effect.forkChild(Effect.flip(lock.release)).pipe(Effect.flatMap(Fiber.join))
      assert.strictEqual(error.reason, "NotOwner")
      assert.isTrue(yield* lock.locked)
      const unheld = yield* Lock.make()
      assert.strictEqual((yield* Effect.flip(unheld.release)).reason, "NotOwner")
    }))

  // Copas lock_spec: "times out" / get returns nil, "timeout", waited time.
  it.effect("a waiter times out and the error carries the time waited", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make({ timeout: "1 second" })
      yield* lock.get()
      const waiter = yield* Effect.forkChild(Effect.flip(lock.get()))
      yield* waitersOf(lock, 1)
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(waiter.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(waiter)
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.waited, 1000)
      assert.strictEqual(yield* lock.waiting, 0)
    }))

  it.effect("a per-call timeout overrides the default, and 0 never waits", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make({ timeout: "1 hour" })
      yield* lock.get()
      const quick = yield* Effect.forkChild(Effect.flip(lock.get("50 millis")))
      const now = yield* Effect.forkChild(Effect.flip(lock.get(0)))
      assert.deepStrictEqual((yield* Fiber.join(now)).waited, 0)
      yield* TestClock.adjust("50 millis")
      const error = yield* Fiber.join(quick)
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.waited, 50)
    }))

  it.effect("a waiter that gets the lock reports the time waited", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      yield* lock.get()
      const waiter = yield* Effect.forkChild(Effect.andThen(lock.get(), (w) => Effect.as(lock.release, w)))
      yield* waitersOf(lock, 1)
      yield* TestClock.adjust("300 millis")
      yield* lock.release
      assert.strictEqual(yield* Fiber.join(waiter), 300)
      assert.isFalse(yield* lock.locked)
    }))

  it.effect("waiters acquire in strict FIFO order", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      const order: Array<number> = []
      yield* lock.get()
      const fibers: Array<Fiber.Fiber<void, Lock.LockError>> = []
      for (let i = 0; i < 5; i++) {
        fibers.push(yield* Effect.forkChild(lock.withLock(Effect.sync(() => void order.push(i)))))
        yield* waitersOf(lock, i + 1)
      }
      // A newcomer arriving at release time queues behind everyone.
      const late = yield* Effect.forkChild(lock.withLock(Effect.sync(() => void order.push(99))))
      yield* lock.release
      yield* Fiber.joinAll([...fibers, late])
      assert.deepStrictEqual(order, [0, 1, 2, 3, 4, 99])
    }))

  // Copas lock_spec: "destroy" releases all waiting threads with "destroyed".
  it.effect("destroy fails every waiter and every later call", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      yield* lock.get()
      const waiters = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(Effect.flip(lock.get())))
      yield* waitersOf(lock, 3)
      yield* TestClock.adjust("20 millis")
      yield* lock.destroy
      for (const waiter of waiters) {
        const error = yield* Fiber.join(waiter)
        assert.strictEqual(error.reason, "Destroyed")
        assert.strictEqual(error.waited, 20)
      }
      assert.strictEqual((yield* Effect.flip(lock.get())).reason, "Destroyed")
      assert.strictEqual((yield* Effect.flip(lock.withLock(Effect.void))).reason, "Destroyed")
    }))

  it.effect("withLock releases on success, failure and defect", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      assert.strictEqual(yield* Lock.withLock(lock, Effect.succeed(1)), 1)
      assert.isFalse(yield* lock.locked)
      const failed = yield* Effect.exit(Effect.fail("boom").pipe(Lock.withLock(lock)))
      assert.isTrue(Exit.isFailure(failed))
      assert.isFalse(yield* lock.locked)
      const died = yield* Effect.exit(lock.withLock(Effect.die("defect")))
      assert.isTrue(Exit.isFailure(died))
      assert.isFalse(yield* lock.locked)
    }))

  it.effect("interruption does not leak: waiting, holding, or between hand-off and resume", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      // A holder interrupted inside withLock.
      const holder = yield* Effect.forkChild(lock.withLock(Effect.never), { startImmediately: true })
      assert.isTrue(yield* lock.locked)
      // A waiter interrupted while queued.
      const waiter = yield* Effect.forkChild(lock.get())
      yield* waitersOf(lock, 1)
      yield* Fiber.interrupt(waiter)
      assert.strictEqual(yield* lock.waiting, 0)
      yield* Fiber.interrupt(holder)
      assert.isFalse(yield* lock.locked)
      // A waiter interrupted after the lock was handed to it, before it resumed.
      // Hand-offs resume inline only two levels deep: the release below runs
      // `a`, which hands to `b`, which hands to `grantee`, whose resume is
      // queued, so the test fiber interrupts it in between.
      yield* lock.get()
      const a = yield* Effect.forkChild(lock.withLock(Effect.void))
      yield* waitersOf(lock, 1)
      const b = yield* Effect.forkChild(lock.withLock(Effect.void))
      yield* waitersOf(lock, 2)
      let ran = false
      const grantee = yield* Effect.forkChild(lock.withLock(Effect.sync(() => void (ran = true))))
      yield* waitersOf(lock, 3)
      yield* lock.release
      assert.isDefined(a.pollUnsafe())
      assert.isDefined(b.pollUnsafe())
      assert.isTrue(yield* lock.locked)
      yield* Fiber.interrupt(grantee)
      assert.isFalse(ran)
      assert.isFalse(yield* lock.locked)
      // A fiber that took the lock with `get` and ended without releasing.
      const latch = yield* Deferred.make<void>()
      const leaker = yield* Effect.forkChild(Effect.andThen(lock.get(), Deferred.await(latch)), {
        startImmediately: true
      })
      assert.isTrue(yield* lock.locked)
      const next = yield* Effect.forkChild(lock.get())
      yield* waitersOf(lock, 1)
      yield* Deferred.succeed(latch, undefined)
      assert.strictEqual(yield* Fiber.join(next), 0)
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(leaker)))
    }))

  it.effect("locks taken with get leave one observer on the fiber, however many", () =>
    Effect.gen(function*() {
      // The test runner observes this fiber once it first yields.
      yield* Effect.yieldNow
      const self = Fiber.getCurrent()!
      const before = observersOf(self)
      // Held with `get`: the fiber is observed, to free the lock if it ends.
      const lock = yield* Lock.make()
      yield* lock.get()
      yield* lock.get()
      assert.strictEqual(observersOf(self), before + 1)
      yield* lock.release
      yield* lock.release
      for (let i = 0; i < 100_000; i++) {
        const each = yield* Lock.make()
        yield* each.get()
        yield* each.release
      }
      const held = yield* Effect.forEach([1, 2, 3], () => Lock.make())
      yield* Effect.forEach(held, (each) => each.get())
      assert.strictEqual(observersOf(self), before + 1)
      yield* Effect.forEach(held, (each) => each.release)
      // A waiter that got the lock by hand-off: observed once too.
      yield* lock.get()
      const waiter = yield* Effect.forkChild(
        Effect.andThen(lock.get(), Effect.sync(() => observersOf(Fiber.getCurrent()!)))
      )
      yield* waitersOf(lock, 1)
      const base = observersOf(waiter)
      yield* lock.release
      assert.strictEqual(yield* Fiber.join(waiter), base + 1)
      // It ended holding the lock, so the lock is free again.
      assert.isFalse(yield* lock.locked)
    }))

  it.effect("a fiber that released a lock and ended does not free it under its next owner", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      const done = yield* Deferred.make<void>()
      const user = yield* Effect.forkChild(
        Effect.andThen(Effect.andThen(lock.get(), lock.release), Deferred.await(done)),
        { startImmediately: true }
      )
      assert.isFalse(yield* lock.locked)
      const latch = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(lock.withLock(Deferred.await(latch)), { startImmediately: true })
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(user)
      assert.isTrue(yield* lock.locked)
      assert.strictEqual((yield* Effect.flip(lock.get(0))).reason, "Timeout")
      yield* Deferred.succeed(latch, undefined)
      yield* Fiber.join(holder)
      assert.isFalse(yield* lock.locked)
    }))

  it.effect.prop(
    "under random interruption no lock is lost, exclusion and FIFO hold",
    {
      ops: Schema.Array(
        Schema.Struct({
          hold: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
          interruptAt: Schema.Int.check(Schema.isBetween({ minimum: -1, maximum: 6 }))
        })
      ).check(Schema.isMaxLength(12))
    },
    ({ ops }) =>
      Effect.gen(function*() {
        const lock = yield* Lock.make()
        const order: Array<number> = []
        let inside = 0
        let overlap = false
        const fibers: Array<Fiber.Fiber<void, Lock.LockError>> = []
        for (let i = 0; i < ops.length; i++) {
          const body = Effect.gen(function*() {
            if (++inside > 1) overlap = true
            order.push(i)
            yield* Effect.sleep(ops[i].hold)
          }).pipe(Effect.ensuring(Effect.sync(() => inside--)))
          fibers.push(yield* Effect.forkChild(lock.withLock(body), { startImmediately: true }))
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
        return !overlap && !(yield* lock.locked) && (yield* lock.waiting) === 0 &&
          order.every((v, i) => v === sorted[i])
      }),
    { timeout: 20_000, arbitrary: { runs: 60 } }
  )

  it.effect("a chain of 10,000 hand-offs neither overflows the stack nor reorders", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      yield* lock.get()
      const order: Array<number> = []
      const fibers = yield* Effect.forEach(
        Array.from({ length: 10_000 }, (_, i) => i),
        (i) => Effect.forkChild(lock.withLock(Effect.sync(() => void order.push(i))), { startImmediately: true })
      )
      assert.strictEqual(yield* lock.waiting, 10_000)
      yield* lock.release
      yield* Fiber.joinAll(fibers)
      assert.strictEqual(order.length, 10_000)
      assert.isTrue(order.every((v, i) => v === i))
      assert.isFalse(yield* lock.locked)
    }))

  it.live("hands off under real scheduling without losing the lock", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.make()
      let count = 0
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        () => lock.withLock(Effect.andThen(Effect.yieldNow, Effect.sync(() => count++))),
        { concurrency: "unbounded", discard: true }
      )
      assert.strictEqual(count, 50)
      assert.isFalse(yield* lock.locked)
    }).pipe(Effect.timeout("2 seconds")))
})
