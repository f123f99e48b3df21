import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import { Timer } from "../../src/sync/index.ts"

describe("Timer", () => {
  it.effect("a one-shot timer fires once after its delay", () =>
    Effect.gen(function*() {
      let runs = 0
      const timer = yield* Timer.make({ delay: "100 millis", callback: () => Effect.sync(() => void runs++) })
      assert.strictEqual(yield* timer.status, "Armed")
      yield* TestClock.adjust("99 millis")
      assert.strictEqual(runs, 0)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(runs, 1)
      assert.strictEqual(yield* timer.status, "Expired")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(runs, 1)
      assert.isFalse(yield* timer.cancel)
    }))

  // Copas timer_spec: "recurring timer with initial delay".
  it.effect("a recurring timer with an initial delay", () =>
    Effect.gen(function*() {
      const at: Array<number> = []
      yield* Timer.make({
        delay: "10 millis",
        initialDelay: "50 millis",
        recurring: true,
        callback: () => Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => void at.push(t)))
      })
      yield* TestClock.adjust("49 millis")
      assert.deepStrictEqual(at, [])
      yield* TestClock.adjust("31 millis")
      assert.deepStrictEqual(at, [50, 60, 70, 80])
    }))

  // Copas timer_spec: "cancelling a timer from within its own callback".
  it.effect("cancel inside its own callback stops a recurring timer", () =>
    Effect.gen(function*() {
      let runs = 0
      const timer = yield* Timer.make({
        delay: "10 millis",
        recurring: true,
        callback: (self) => Effect.suspend(() => ++runs === 3 ? Effect.asVoid(self.cancel) : Effect.void)
      })
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(runs, 3)
      assert.strictEqual(yield* timer.status, "Cancelled")
    }))

  it.effect("a callback slower than the period never piles up", () =>
    Effect.gen(function*() {
      let runs = 0
      let inside = 0
      let overlap = false
      yield* Timer.make({
        delay: "10 millis",
        recurring: true,
        callback: () =>
          Effect.gen(function*() {
            if (++inside > 1) overlap = true
            runs++
            yield* Effect.sleep("25 millis")
            inside--
          })
      })
      // Runs start at 10, 45, 80: each 10 ms after the previous run ended.
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(runs, 3)
      assert.isFalse(overlap)
    }))

  it.effect("a failing callback is reported and the timer goes on", () =>
    Effect.gen(function*() {
      let runs = 0
      const reported: Array<string> = []
      yield* Timer.make({
        delay: "10 millis",
        recurring: true,
        callback: () => Effect.suspend(() => ++runs % 2 === 1 ? Effect.fail(`run ${runs}`) : Effect.void),
        onError: (cause) => Effect.sync(() => void reported.push(String(Cause.squash(cause))))
      })
      yield* TestClock.adjust("40 millis")
      assert.strictEqual(runs, 4)
      assert.deepStrictEqual(reported, ["run 1", "run 3"])
    }))

  it.effect("cancel stops a waiting timer; arm restarts it with a new delay", () =>
    Effect.gen(function*() {
      let runs = 0
      const timer = yield* Timer.make({ delay: "10 millis", callback: () => Effect.sync(() => void runs++) })
      assert.isTrue(yield* Timer.cancel(timer))
      assert.strictEqual(yield* timer.status, "Cancelled")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(runs, 0)
      yield* Timer.arm(timer, "50 millis")
      assert.strictEqual(yield* timer.status, "Armed")
      yield* TestClock.adjust("30 millis")
      // Arming an armed timer restarts the wait.
      yield* timer.arm("50 millis")
      yield* TestClock.adjust("49 millis")
      assert.strictEqual(runs, 0)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(runs, 1)
      // Without a delay, arm uses the timer's own.
      yield* timer.arm()
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(runs, 2)
    }))

  it.effect("a one-shot timer can re-arm itself from its callback", () =>
    Effect.gen(function*() {
      let runs = 0
      const timer = yield* Timer.make({
        delay: "10 millis",
        callback: (self) => Effect.suspend(() => ++runs < 3 ? self.arm("5 millis") : Effect.void)
      })
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(runs, 3)
      assert.strictEqual(yield* timer.status, "Expired")
    }))

  it.effect("interruption does not leak: closing the scope cancels, even mid-callback", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const started = yield* Deferred.make<void>()
      let finished = false
      const timer = yield* Timer.make({
        delay: "10 millis",
        recurring: true,
        callback: () =>
          Effect.andThen(Deferred.succeed(started, undefined), Effect.sleep("1 hour")).pipe(
            Effect.andThen(Effect.sync(() => void (finished = true)))
          )
      }).pipe(Scope.provide(scope))
      yield* TestClock.adjust("10 millis")
      yield* Deferred.await(started)
      assert.strictEqual(yield* timer.status, "Running")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* timer.status, "Cancelled")
      yield* TestClock.adjust("2 hours")
      assert.isFalse(finished)
    }))

  // A negative or NaN delay sleeps for nothing: a recurring timer fired ~10k
  // times in 100 ms. So does a recurring timer with a zero delay.
  it.effect("refuses a negative, NaN or recurring zero delay with a RangeError", () =>
    Effect.gen(function*() {
      let runs = 0
      const callback = () => Effect.sync(() => void runs++)
      const refusal = (options: Timer.TimerOptions<never, never>) =>
        Effect.map(Effect.exit(Timer.make(options)), (exit) => {
          assert.isTrue(Exit.isFailure(exit))
          const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
          assert.instanceOf(error, RangeError)
          return (error as RangeError).message
        })
      assert.strictEqual(
        yield* refusal({ delay: -1, recurring: true, callback }),
        "Timer delay must be a non-negative duration, got -1"
      )
      assert.strictEqual(
        yield* refusal({ delay: "-5 millis", callback }),
        "Timer delay must be a non-negative duration, got -5 millis"
      )
      assert.strictEqual(
        yield* refusal({ delay: NaN, recurring: true, callback }),
        "Timer delay must be a non-negative duration, got NaN"
      )
      assert.strictEqual(
        yield* refusal({ delay: "1 second", initialDelay: -1, callback }),
        "Timer initialDelay must be a non-negative duration, got -1"
      )
      assert.strictEqual(
        yield* refusal({ delay: 0, recurring: true, callback }),
        "Timer delay of a recurring timer must be above zero, got 0"
      )
      // arm refuses the same; the timer stays as it was.
      const timer = yield* Timer.make({ delay: "10 millis", callback })
      const armed = yield* Effect.exit(timer.arm(-1))
      assert.isTrue(Exit.isFailure(armed) && Cause.squash(armed.cause) instanceof RangeError)
      assert.strictEqual(yield* timer.status, "Armed")
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(runs, 1)
      // A one-shot zero delay runs once, at once; an infinite one never runs.
      yield* Timer.make({ delay: 0, callback })
      const never = yield* Timer.make({ delay: "Infinity", callback })
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(runs, 2)
      assert.strictEqual(yield* never.status, "Armed")
    }))

  it.live("fires on the real clock", () =>
    Effect.gen(function*() {
      const fired = yield* Deferred.make<void>()
      const timer = yield* Timer.make({ delay: "5 millis", callback: () => Deferred.succeed(fired, undefined) })
      assert.strictEqual(yield* timer.status, "Armed")
      yield* Deferred.await(fired)
      assert.notStrictEqual(yield* timer.status, "Armed")
    }).pipe(Effect.timeout("1 second")))
})
