/**
 * Waiters of the sync primitives (Lock, Semaphore, Channel, Queue): waking
 * them, their shared fields, their order and their timeouts.
 *
 * A waiter is resumed inline, as `Deferred.succeed` would, unless resumes are
 * already nested `MAX_DEPTH` deep, wake-ups are already queued, or the caller
 * asks to defer: then it joins one queue, flushed in order from the waking
 * fiber's dispatcher (Effect's scheduler, so TestClock and the default
 * scheduler both drive it). So fiber evaluations nest at most `MAX_DEPTH`
 * levels however long a chain of hand-offs, wake-ups keep their order, and a
 * ping-pong between two fibers never waits for the event loop.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"

/**
 * A fiber waiting on a primitive: the deferred it awaits, and the outcome
 * held while its wake-up is queued.
 *
 * @category models
 * @since 0.1.0
 */
export interface Waiter<A, E> {
  readonly deferred: Deferred.Deferred<A, E>
  readonly fiber: Fiber.Fiber<unknown, unknown>
  exit: Exit.Exit<A, E> | undefined
}

const MAX_DEPTH = 2
let depth = 0
let flushScheduled = false
// Queued wake-ups, `queued[head..]` still to resume.
let queued: Array<Waiter<any, any> | undefined> = []
let head = 0

const resume = <A, E>(waiter: Waiter<A, E>, exit: Exit.Exit<A, E>): void => {
  depth++
  try {
    Deferred.doneUnsafe(waiter.deferred, exit)
  } finally {
    depth--
  }
}

// Resumes the wake-ups queued so far; later ones wait for the next flush, so
// a long chain of hand-offs still lets the event loop run.
const flush = (): void => {
  flushScheduled = false
  const end = queued.length
  while (head < end) {
    const waiter = queued[head]!
    queued[head++] = undefined
    const exit = waiter.exit!
    waiter.exit = undefined
    resume(waiter, exit)
  }
  if (head === queued.length) {
    queued = []
    head = 0
  }
}

/**
 * Ends a waiter's wait with `exit`, inline or (when nested too deep, behind
 * other wake-ups, or asked to `defer`) from the scheduler, in order.
 *
 * ```ts
 * wake(waiter, Exit.succeed(1))
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const wake = <A, E>(waiter: Waiter<A, E>, exit: Exit.Exit<A, E>, defer = false): void => {
  if (!defer && depth < MAX_DEPTH && head === queued.length) return resume(waiter, exit)
  waiter.exit = exit
  queued.push(waiter)
  if (!flushScheduled) {
    flushScheduled = true
    ;(Fiber.getCurrent() ?? waiter.fiber).currentDispatcher.scheduleTask(flush, 0)
  }
}

/**
 * The state every waiter starts in; each primitive numbers its other states
 * (granted, handed, done) from 1.
 *
 * @category models
 * @since 0.1.0
 */
export const WAITING = 0

/**
 * What every primitive's waiter holds: its state, its timeout's fiber, the
 * deferred it awaits and the outcome held while its wake-up is queued.
 *
 * ```ts
 * class PopWaiter extends BaseWaiter<Item, QueueError> {}
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class BaseWaiter<A, E> implements Waiter<A, E> {
  state = WAITING
  timer: Fiber.Fiber<void> | undefined = undefined
  exit: Exit.Exit<A, E> | undefined = undefined
  readonly deferred = Deferred.makeUnsafe<A, E>()
  readonly fiber: Fiber.Fiber<unknown, unknown>
  constructor(fiber: Fiber.Fiber<unknown, unknown>) {
    this.fiber = fiber
  }
}

/**
 * A waiter that knows how long it has waited (for timeouts that report it).
 *
 * @category models
 * @since 0.1.0
 */
export class TimedWaiter<A, E> extends BaseWaiter<A, E> {
  readonly start: number
  constructor(fiber: Fiber.Fiber<unknown, unknown>) {
    super(fiber)
    this.start = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
  }
  /** Milliseconds since the wait began, on the fiber's clock. */
  waited(): number {
    return this.fiber.getRef(Clock.Clock).currentTimeMillisUnsafe() - this.start
  }
}

/**
 * A wait's timeout in milliseconds: `fallback` (no limit by default) when
 * none is given.
 *
 * ```ts
 * timeoutMillis(options?.timeout) // => Infinity when absent
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const timeoutMillis = (input: Duration.Input | undefined, fallback = Infinity): number =>
  input === undefined ? fallback : Duration.toMillis(input)

/**
 * The oldest member of a set (sets iterate in insertion order): the next
 * waiter in FIFO order.
 *
 * ```ts
 * first(new Set([1, 2])) // => 1
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const first = <A>(set: Set<A>): A => set.values().next().value!
