/**
 * The suspend/resume loop that bench/upstream/measure.ts and
 * bench/upstream/cpu.ts measure: one fiber looping on a hoisted
 * `Effect.callback` that returns a cancel effect (fiberloop's read-wait
 * shape), resumed by a plain loop outside the fiber, so every cycle is one
 * real suspension (register, yield, capture) and one resume.
 *
 * ```ts
 * const loop = makeLoop(true)
 * loop.cycles(1000)
 * loop.stop()
 * ```
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/**
 * Proposal (a)'s opt-out, looked up by key: a build without the patch
 * ignores it, so every build runs the same program.
 *
 * ```ts
 * Effect.provideService(effect, AsyncContextPropagation, false)
 * ```
 */
export const AsyncContextPropagation = Context.Reference<boolean>("effect/References/AsyncContextPropagation", {
  defaultValue: () => true
})

/**
 * `effect` with async-context capture opted out when the environment says
 * `BENCH_ASYNC_CONTEXT=off`: the real-socket benches' servers, run from a build
 * with proposal (a) (`BENCH_FIBERLOOP`, bench/upstream/install.ts).
 *
 * ```ts
 * Effect.runFork(withAsyncContextFromEnv(program))
 * ```
 */
export const withAsyncContextFromEnv = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  process.env.BENCH_ASYNC_CONTEXT === "off" ? Effect.provideService(effect, AsyncContextPropagation, false) : effect

/** A running loop: `cycles(n)` resumes it `n` times; `stop` interrupts it. */
export interface Loop {
  readonly cycles: (n: number) => void
  readonly stop: () => void
}

/**
 * Starts the loop, with async-context capture opted out when `optOut`.
 *
 * ```ts
 * const loop = makeLoop(process.env.ASYNC_CONTEXT !== "on")
 * ```
 */
export const makeLoop = (optOut: boolean): Loop => {
  let resume: ((effect: Effect.Effect<void>) => void) | undefined
  const wait = Effect.callback<void>((r) => {
    resume = r
    return cancel
  })
  const cancel = Effect.sync(() => {})
  const loop = Effect.forever(wait, { disableYield: true })
  const fiber = Effect.runFork(optOut ? Effect.provideService(loop, AsyncContextPropagation, false) : loop)
  return {
    cycles: (n) => {
      for (let i = 0; i < n; i++) resume!(Effect.void)
    },
    stop: () => fiber.interruptUnsafe()
  }
}
