/**
 * Behaviour checks that every Effect build measured by bench/upstream/run.ts
 * must pass before it is measured: the parts of the runtime the proposals
 * touch (callback resume, interrupt, stale resumes and abort; stacks deeper
 * than the initial size; observers; async-context propagation). Exits non-zero on the
 * first failure.
 *
 * ```sh
 * node bench/upstream/check.ts
 * ```
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { AsyncLocalStorage } from "node:async_hooks"

const AsyncContextPropagation = Context.Reference<boolean>("effect/References/AsyncContextPropagation", {
  defaultValue: () => true
})

const check = (name: string, ok: boolean): void => {
  if (!ok) throw new Error(`check failed: ${name}`)
}
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

// Interrupting a suspended callback runs its cancel effect once; a later resume is ignored.
{
  let cancelled = 0
  let resume: ((effect: Effect.Effect<number>) => void) | undefined
  const fiber = Effect.runFork(Effect.callback<number>((r) => {
    resume = r
    return Effect.sync(() => cancelled++)
  }))
  await tick()
  await Effect.runPromise(Fiber.interrupt(fiber))
  resume!(Effect.succeed(1))
  check("interrupt runs cancel once", cancelled === 1)
  check("interrupted", Exit.hasInterrupts(fiber.pollUnsafe()!))
}

// A stale resume after an interrupt is ignored even when the fiber has moved on
// to another suspension (here: an interrupt finalizer waiting in a callback).
{
  let stale: ((effect: Effect.Effect<number>) => void) | undefined
  let second: ((effect: Effect.Effect<void>) => void) | undefined
  let finished = false
  const fiber = Effect.runFork(
    Effect.callback<number>((r) => {
      stale = r
    }).pipe(Effect.onInterrupt(() =>
      Effect.callback<void>((r) => {
        second = r
      }).pipe(Effect.andThen(Effect.sync(() => {
        finished = true
      })))
    ))
  )
  await tick()
  fiber.interruptUnsafe()
  stale!(Effect.succeed(1))
  check("stale resume ignored", !finished && fiber.pollUnsafe() === undefined)
  second!(Effect.void)
  await tick()
  check("finalizer resumed", finished && Exit.hasInterrupts(fiber.pollUnsafe()!))
}

// The AbortSignal aborts on interrupt.
{
  let signal: AbortSignal | undefined
  const fiber = Effect.runFork(Effect.callback<number>((_resume, s) => {
    signal = s
  }))
  await tick()
  await Effect.runPromise(Fiber.interrupt(fiber))
  check("signal aborted", signal!.aborted)
}

// Resumed inside register (no suspension), resumed twice (second ignored), resumed later.
{
  const now = await Effect.runPromise(Effect.callback<number>((resume) => resume(Effect.succeed(1))))
  check("sync resume", now === 1)
  const twice = await Effect.runPromise(Effect.callback<number>((resume) => {
    setImmediate(() => {
      resume(Effect.succeed(2))
      resume(Effect.succeed(3))
    })
    return Effect.void
  }))
  check("second resume ignored", twice === 2)
  let n = 0
  await Effect.runPromise(Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) =>
    Effect.callback<void>((resume) => {
      setImmediate(() => {
        n += i
        resume(Effect.void)
      })
      return Effect.void
    }), { concurrency: 50 }))
  check("1000 callbacks", n === 499500)
}

// A stack far deeper than any initial size unwinds in order, across suspensions.
{
  const order: Array<number> = []
  let effect: Effect.Effect<number> = Effect.callback<number>((resume) => {
    setImmediate(() => resume(Effect.succeed(7)))
  })
  for (let i = 0; i < 100; i++) {
    effect = effect.pipe(Effect.map((x) => x + 1), Effect.ensuring(Effect.sync(() => order.push(i))))
  }
  const result = await Effect.runPromise(effect)
  check("deep stack result", result === 107)
  check("deep stack finalizers in order", order.length === 100 && order.every((x, i) => x === i))
  const failed = await Effect.runPromise(Effect.exit(Effect.uninterruptible(Effect.fail("e").pipe(Effect.ensuring(Effect.void)))))
  check("failure through frames", Exit.isFailure(failed))
}

// Observers: one, two, one removed, added after exit.
{
  let resume: ((effect: Effect.Effect<number>) => void) | undefined
  const fiber = Effect.runFork(Effect.callback<number>((r) => {
    resume = r
  }))
  await tick()
  const seen: Array<string> = []
  const remove = fiber.addObserver(() => seen.push("a"))
  fiber.addObserver(() => seen.push("b"))
  remove()
  const fiber2 = Effect.runFork(Effect.callback<number>((r) => {
    setImmediate(() => r(Effect.succeed(2)))
  }))
  const removeOnly = fiber2.addObserver(() => seen.push("x"))
  removeOnly()
  fiber2.addObserver(() => seen.push("c"))
  resume!(Effect.succeed(1))
  const joined = await Effect.runPromise(Effect.all([Fiber.join(fiber), Fiber.join(fiber), Fiber.join(fiber2)]))
  fiber.addObserver(() => seen.push("d"))
  check("joins", joined[0] === 1 && joined[1] === 1 && joined[2] === 2)
  check("observers", seen.join("") === "bcd")
}

// Async context: kept across a suspension by default; with the (a) opt-out the
// resuming callback's context is seen instead (only on a build with patch a).
{
  const als = new AsyncLocalStorage<string>()
  const wait = Effect.callback<void>((resume) => {
    als.run("resumer", () => setImmediate(() => resume(Effect.void)))
  })
  const seen = Effect.gen(function*() {
    yield* wait
    return als.getStore()
  })
  const kept = await als.run("fiber", () => Effect.runPromise(seen))
  check("async context kept by default", kept === "fiber")
  const optedOut = await als.run("fiber", () =>
    Effect.runPromise(Effect.provideService(seen, AsyncContextPropagation, false)))
  process.stdout.write(JSON.stringify({ check: "ok", optedOutStore: optedOut ?? null }) + "\n")
}
