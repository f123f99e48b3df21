/**
 * Test helpers for the sync primitives.
 */
import * as Effect from "effect/Effect"

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
