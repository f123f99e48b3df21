/**
 * Copas timers: one-shot or recurring callbacks on a fiber, scoped.
 *
 * `Timer.make` arms a timer at once: after `initialDelay` (default `delay`)
 * its callback runs on the timer's own fiber, and a recurring timer then waits
 * `delay` again, measured from the end of the callback, so a callback slower
 * than the period never piles up runs. A failing callback is reported (logged,
 * or passed to `onError`) and a recurring timer goes on. `cancel` stops a
 * waiting timer at once; a callback already running (including one that
 * cancels its own timer) finishes, and is simply not rescheduled. `arm`
 * (re)starts the timer with an optional new delay, also from inside its own
 * callback. Closing the scope the timer was made in cancels it.
 *
 * Delays are durations of at least zero (`Duration.infinity` waits until the
 * timer is re-armed), and a recurring timer's `delay` is above zero: a
 * negative, NaN or (recurring) zero delay would fire again at once, forever,
 * so `make` and `arm` refuse it with a `RangeError`, as `Semaphore.make` and
 * `Queue.make` refuse bad sizes.
 *
 * Copas: `copas.timer.new({ delay, recurring, initial_delay, callback })`,
 * `timer:arm(delay)`, `timer:cancel()`. Unlike Copas, arming an armed timer
 * restarts it instead of failing with "already armed", and cancelling an idle
 * timer succeeds with `false` instead of "not armed".
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberHandle from "effect/FiberHandle"
import type * as Scope from "effect/Scope"
import { counts } from "../internal/counters.ts"

// =============================================================================
// Models
// =============================================================================

/**
 * Where a timer is in its life: waiting to fire (`Armed`), running its
 * callback (`Running`), fired once and done (`Expired`) or `Cancelled`.
 *
 * **Example** (Checking whether a timer is done)
 *
 * ```ts
 * import { Timer } from "fiberloop/sync"
 *
 * const finished = (s: Timer.TimerStatus): boolean => s === "Expired" || s === "Cancelled"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type TimerStatus = "Armed" | "Running" | "Expired" | "Cancelled"

/**
 * A handle on a running timer.
 *
 * **Example** (Cancelling a recurring timer)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Timer } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const timer = yield* Timer.make({ delay: "1 second", recurring: true, callback: () => Effect.log("tick") })
 *   yield* timer.cancel
 *   return yield* timer.status // => "Cancelled"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Timer {
  /**
   * Cancels the timer: a waiting timer stops at once, a running callback
   * finishes and is not rescheduled. Succeeds with `false` when the timer was
   * not armed.
   */
  readonly cancel: Effect.Effect<boolean>
  /**
   * Arms the timer to fire after `delay` (default: the timer's delay), first
   * cancelling a pending wait. Called from the callback, it schedules the next
   * run (and re-arms a one-shot timer).
   */
  arm(delay?: Duration.Input): Effect.Effect<void>
  /** The timer's status. */
  readonly status: Effect.Effect<TimerStatus>
}

/**
 * Options for {@link make}.
 *
 * **Example** (A heartbeat every second)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Timer } from "fiberloop/sync"
 *
 * const heartbeat: Timer.TimerOptions<never, never> = {
 *   delay: "1 second",
 *   recurring: true,
 *   callback: () => Effect.log("beat")
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TimerOptions<E, R> {
  /** The delay before each run of the callback (and between runs); above zero when recurring. */
  readonly delay: Duration.Input
  /** Whether to run again after each run; default `false`. */
  readonly recurring?: boolean | undefined
  /** The delay before the first run; defaults to `delay`. */
  readonly initialDelay?: Duration.Input | undefined
  /** The work to do; it gets the timer, so it can cancel or re-arm it. */
  readonly callback: (timer: Timer) => Effect.Effect<void, E, R>
  /** Reports a failed callback; logs the cause by default. */
  readonly onError?: ((cause: Cause.Cause<E>) => Effect.Effect<void, never, R>) | undefined
}

// =============================================================================
// Implementation
// =============================================================================

// A delay in milliseconds, refused when negative or NaN (`Duration` reads NaN
// as zero, so the input is checked too).
const delayMillis = (name: string, input: Duration.Input): number => {
  const millis = Duration.toMillis(input)
  if (!(millis >= 0) || (typeof input === "number" && Number.isNaN(input))) {
    throw new RangeError(`Timer ${name} must be a non-negative duration, got ${String(input)}`)
  }
  return millis
}

class TimerImpl<E, R> implements Timer {
  private current: TimerStatus = "Expired"
  // Every change of status goes through here, so armed timers are counted exactly.
  get state(): TimerStatus {
    return this.current
  }
  set state(next: TimerStatus) {
    if (this.current === "Armed") counts.timersArmed--
    if (next === "Armed") counts.timersArmed++
    this.current = next
  }
  // Set while the callback runs: the next delay (re-armed), or a cancel.
  next: number | undefined = undefined
  cancelled = false
  readonly delay: number
  readonly recurring: boolean
  readonly options: TimerOptions<E, R>
  readonly run: (effect: Effect.Effect<void, never, R>) => Fiber.Fiber<void>
  readonly clear: Effect.Effect<void>
  readonly onError: (cause: Cause.Cause<E>) => Effect.Effect<void, never, R>

  readonly cancel: Effect.Effect<boolean>
  readonly status: Effect.Effect<TimerStatus>

  constructor(
    options: TimerOptions<E, R>,
    run: (effect: Effect.Effect<void, never, R>) => Fiber.Fiber<void>,
    clear: Effect.Effect<void>
  ) {
    this.options = options
    this.run = run
    this.clear = clear
    this.delay = delayMillis("delay", options.delay)
    this.recurring = options.recurring ?? false
    if (this.recurring && this.delay === 0) {
      throw new RangeError(`Timer delay of a recurring timer must be above zero, got ${String(options.delay)}`)
    }
    this.onError = options.onError ?? ((cause) => Effect.logError("Timer callback failed", cause))
    this.cancel = Effect.suspend(() => this.cancelUnsafe())
    this.status = Effect.sync(() => this.state)
  }

  arm(delay?: Duration.Input): Effect.Effect<void> {
    return Effect.sync(() => this.armUnsafe(delay === undefined ? this.delay : delayMillis("delay", delay)))
  }

  armUnsafe(delay: number): void {
    if (this.state === "Running") {
      this.next = delay
      this.cancelled = false
      return
    }
    this.state = "Armed"
    this.cancelled = false
    // Replaces (and interrupts) the fiber of a pending wait.
    this.run(this.loop(delay))
  }

  cancelUnsafe(): Effect.Effect<boolean> {
    switch (this.state) {
      case "Running": {
        this.cancelled = true
        this.next = undefined
        return Effect.succeed(true)
      }
      case "Armed": {
        this.state = "Cancelled"
        return Effect.as(this.clear, true)
      }
      default:
        return Effect.succeed(false)
    }
  }

  loop(delay: number): Effect.Effect<void, never, R> {
    return Effect.flatMap(Effect.sleep(delay), () => {
      this.state = "Running"
      this.next = undefined
      return Effect.flatMap(Effect.exit(Effect.suspend(() => this.options.callback(this))), (exit) => {
        const report = exit._tag === "Failure" && !Cause.hasInterruptsOnly(exit.cause)
          ? this.onError(exit.cause)
          : Effect.void
        return Effect.flatMap(report, () => {
          if (this.cancelled) {
            this.state = "Cancelled"
            return Effect.void
          }
          const next = this.next ?? (this.recurring ? this.delay : undefined)
          this.next = undefined
          if (next === undefined) {
            this.state = "Expired"
            return Effect.void
          }
          this.state = "Armed"
          return this.loop(next)
        })
      })
    })
  }
}

// =============================================================================
// Constructors
// =============================================================================

/**
 * Creates and arms a timer whose fiber lives in the current scope.
 *
 * **Example** (A recurring timer with an initial delay)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Timer } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   let ticks = 0
 *   yield* Timer.make({
 *     delay: "10 millis",
 *     initialDelay: "50 millis",
 *     recurring: true,
 *     callback: (timer) => Effect.suspend(() => ++ticks === 3 ? Effect.asVoid(timer.cancel) : Effect.void)
 *   })
 *   yield* Effect.sleep("100 millis")
 *   return ticks // => 3
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*<E = never, R = never>(
  options: TimerOptions<E, R>
): Effect.fn.Return<Timer, never, R | Scope.Scope> {
  const initialDelay = options.initialDelay === undefined ? undefined : delayMillis("initialDelay", options.initialDelay)
  const handle = yield* FiberHandle.make<void, never>()
  const run = yield* FiberHandle.runtime(handle)<R>()
  const timer = new TimerImpl<E, R>(options, run, FiberHandle.clear(handle))
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      if (timer.state === "Armed" || timer.state === "Running") timer.state = "Cancelled"
    })
  )
  timer.armUnsafe(initialDelay ?? timer.delay)
  return timer
})

/**
 * Cancels a timer; see {@link Timer.cancel}. Copas: `timer:cancel()`.
 *
 * **Example** (Cancelling before it fires)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Timer } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const timer = yield* Timer.make({ delay: "1 minute", callback: () => Effect.log("never") })
 *   return yield* Timer.cancel(timer) // => true
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
export const cancel = (self: Timer): Effect.Effect<boolean> => self.cancel

/**
 * (Re)arms a timer; see {@link Timer.arm}. Copas: `timer:arm(delay)`.
 *
 * **Example** (Re-arming a one-shot timer)
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Timer } from "fiberloop/sync"
 *
 * const program = Effect.gen(function*() {
 *   const timer = yield* Timer.make({ delay: "1 second", callback: () => Effect.log("fired") })
 *   yield* Timer.arm(timer, "5 seconds")
 *   return yield* timer.status // => "Armed"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
export const arm = (self: Timer, delay?: Duration.Input): Effect.Effect<void> => self.arm(delay)
