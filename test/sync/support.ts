/**
 * Test helpers for the sync primitives.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"

/**
 * Yields until `count` reads `n` (waiters queued, permits requested); dies
 * after `budget` yields rather than hang.
 */
export const yieldUntil = (count: Effect.Effect<number>, n: number, budget = 10_000): Effect.Effect<void> =>
  Effect.flatMap(count, (now) =>
    now === n
      ? Effect.void
      : budget === 0
      ? Effect.die(new Error(`count stayed at ${now}, expected ${n}`))
      : Effect.andThen(Effect.yieldNow, yieldUntil(count, n, budget - 1)))

/**
 * How many exit observers a fiber holds. Effect 4.1 exposes no count, so this
 * reads the fiber's internal `_observers` array (the one `addObserver` pushes
 * to); a fiber that never had an observer has none.
 */
export const observersOf = (fiber: Fiber.Fiber<unknown, unknown>): number => {
  const observers = (fiber as unknown as { readonly _observers?: ReadonlyArray<unknown> })._observers
  return observers?.length ?? 0
}
