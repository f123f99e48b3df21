/**
 * Sync primitives against Effect's own: Lock and Semaphore vs
 * `effect/Semaphore`, Channel vs `effect/Queue`, all in one process.
 *
 * Run with `npm run bench -- sync` (BENCH_ROUNDS overrides the round count).
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as EffectQueue from "effect/Queue"
import * as EffectSemaphore from "effect/Semaphore"
import { Channel, Lock, Semaphore } from "../src/sync/index.ts"
import { compare, opsPerSecond } from "./harness.ts"

const MILLIS = Number(process.env.BENCH_MILLIS ?? 250)
const BATCH = 20_000
const FIBERS = 8

// Runs `body` BATCH times in one fiber.
const repeat = (body: Effect.Effect<unknown, unknown>): Effect.Effect<void, unknown> =>
  Effect.suspend(() => {
    let i = 0
    return Effect.whileLoop({ while: () => i++ < BATCH, body: () => body, step: () => {} })
  })

// Runs `body` BATCH times in total, spread over FIBERS concurrent fibers.
const contend = (body: Effect.Effect<unknown, unknown>): Effect.Effect<void, unknown> =>
  Effect.forEach(
    Array.from({ length: FIBERS }),
    () =>
      Effect.suspend(() => {
        let i = 0
        return Effect.whileLoop({ while: () => i++ < BATCH / FIBERS, body: () => body, step: () => {} })
      }),
    { concurrency: "unbounded", discard: true }
  )

// Moves BATCH values from a producer fiber to a consumer fiber.
const pipeline = (
  send: (i: number) => Effect.Effect<unknown, unknown>,
  receive: Effect.Effect<unknown, unknown>
): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    const producer = yield* Effect.forkChild(Effect.suspend(() => {
      let i = 0
      return Effect.whileLoop({ while: () => i < BATCH, body: () => send(i++), step: () => {} })
    }))
    yield* repeat(receive)
    yield* Fiber.join(producer)
  })

const measure = (make: () => Effect.Effect<void, unknown>) => () =>
  opsPerSecond(MILLIS, () => Effect.runPromise(make()).then(() => BATCH))

const lock = Lock.makeUnsafe()
const mutex = EffectSemaphore.makeUnsafe(1)
const sem = Semaphore.makeUnsafe({ max: 4, start: 4 })
const effectSem = EffectSemaphore.makeUnsafe(4)
const pair = Semaphore.makeUnsafe({ max: 2, start: 2 })
const effectPair = EffectSemaphore.makeUnsafe(2)

const lockUncontended = repeat(lock.withLock(Effect.void))
const mutexUncontended = repeat(mutex.withPermits(1)(Effect.void))
const lockGetRelease = repeat(Effect.flatMap(lock.get(), () => lock.release))
const mutexTakeRelease = repeat(Effect.flatMap(mutex.take(1), () => mutex.release(1)))
const lockContended = contend(lock.withLock(Effect.yieldNow))
const mutexContended = contend(mutex.withPermits(1)(Effect.yieldNow))
const semTakeGive = repeat(Effect.flatMap(sem.take(), () => sem.give()))
const effectSemTakeRelease = repeat(Effect.flatMap(effectSem.take(1), () => effectSem.release(1)))
const semContended = contend(pair.withPermits(1)(Effect.yieldNow))
const effectSemContended = contend(effectPair.withPermits(1)(Effect.yieldNow))

const channelPipeline = (capacity: number) =>
  Effect.suspend(() => {
    const ch = Channel.makeUnsafe<number>({ capacity })
    return pipeline((i) => ch.send(i), ch.receive)
  })
const queuePipeline = (capacity: number) =>
  Effect.flatMap(
    EffectQueue.bounded<number>(capacity),
    (q) => pipeline((i) => EffectQueue.offer(q, i), EffectQueue.take(q))
  )

await compare("sync: Lock and Semaphore", "effect/Semaphore", [
  {
    name: "lock withLock, uncontended",
    unit: "ops/s",
    higherIsBetter: true,
    target: 0.8,
    subject: measure(() => lockUncontended),
    baseline: measure(() => mutexUncontended)
  },
  {
    name: "lock get+release, uncontended",
    unit: "ops/s",
    higherIsBetter: true,
    target: 0.8,
    subject: measure(() => lockGetRelease),
    baseline: measure(() => mutexTakeRelease)
  },
  {
    name: `lock withLock, ${FIBERS} fibers contending`,
    unit: "ops/s",
    higherIsBetter: true,
    target: 0.8,
    subject: measure(() => lockContended),
    baseline: measure(() => mutexContended)
  },
  {
    name: "semaphore take+give, uncontended",
    unit: "ops/s",
    higherIsBetter: true,
    target: 0.8,
    subject: measure(() => semTakeGive),
    baseline: measure(() => effectSemTakeRelease)
  },
  {
    name: `semaphore withPermits(1) of 2, ${FIBERS} fibers`,
    unit: "ops/s",
    higherIsBetter: true,
    target: 0.8,
    subject: measure(() => semContended),
    baseline: measure(() => effectSemContended)
  }
])

await compare("sync: Channel", "effect/Queue", [
  {
    name: "channel send/receive, bounded 1024",
    unit: "msg/s",
    higherIsBetter: true,
    target: 1.0,
    subject: measure(() => channelPipeline(1024)),
    baseline: measure(() => queuePipeline(1024))
  },
  {
    name: "channel send/receive, rendezvous",
    unit: "msg/s",
    higherIsBetter: true,
    target: 1.0,
    subject: measure(() => channelPipeline(0)),
    baseline: measure(() => queuePipeline(0))
  }
])
