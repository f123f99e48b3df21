/**
 * fiberloop actors against (a) a hand-rolled Effect actor (one fiber over an
 * Effect `Queue`, a `Deferred` per ask) and (b) XState v5 (`createActor` over
 * `fromTransition`), A/B interleaved in one process: tell throughput (1M
 * messages to one actor), ask round trips (sequential and 64 concurrent
 * askers), spawn+stop rate, and heap per idle actor with 100,000 spawned.
 *
 * Run with `npm run bench -- actor` (BENCH_ROUNDS, BENCH_TELLS, BENCH_ASKS,
 * BENCH_SPAWNS and BENCH_IDLE override the sizes).
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { createActor, fromTransition } from "xstate"
import { Actor, ActorSystem } from "../src/actor/index.ts"
import { compare } from "./harness.ts"

const TELLS = Number(process.env.BENCH_TELLS ?? 1_000_000)
const ASKS = Number(process.env.BENCH_ASKS ?? 100_000)
const SPAWNS = Number(process.env.BENCH_SPAWNS ?? 20_000)
const IDLE = Number(process.env.BENCH_IDLE ?? 100_000)
const ASKERS = 64

// =============================================================================
// The three actors: a counter with Add (tell) and Get (ask)
// =============================================================================

const Add = Rpc.make("Add")
const Get = Rpc.make("Get", { success: Schema.Number })
const CounterProtocol = RpcGroup.make(Add, Get)

const Counter = Actor.make("Counter", {
  protocol: CounterProtocol,
  behaviour: () =>
    Effect.sync(() => {
      let count = 0
      return CounterProtocol.of({
        Add: () =>
          Effect.sync(() => {
            count++
          }),
        Get: () => Effect.sync(() => count)
      })
    })
})

/** The hand-rolled baseline: a fiber over a bounded Queue; an ask carries a Deferred. */
interface Hand {
  readonly queue: Queue.Queue<{ readonly tag: "Add" | "Get"; readonly reply: Deferred.Deferred<number> | undefined }>
  readonly fiber: Fiber.Fiber<never>
}

const handSpawn: Effect.Effect<Hand> = Effect.gen(function*() {
  const queue = yield* Queue.bounded<{ readonly tag: "Add" | "Get"; readonly reply: Deferred.Deferred<number> | undefined }>(
    1024
  )
  let count = 0
  const fiber = yield* Effect.forkDetach(Effect.forever(Effect.flatMap(Queue.take(queue), (msg) =>
    Effect.sync(() => {
      if (msg.tag === "Add") count++
      else Deferred.doneUnsafe(msg.reply!, Exit.succeed(count))
    }))))
  return { queue, fiber }
})
const handTell = (hand: Hand) => Queue.offer(hand.queue, { tag: "Add", reply: undefined })
const handAsk = (hand: Hand) =>
  Effect.suspend(() => {
    const reply = Deferred.makeUnsafe<number>()
    return Effect.andThen(Queue.offer(hand.queue, { tag: "Get", reply }), Deferred.await(reply))
  })

const machine = fromTransition((count: number, event: { readonly type: "Add" }) => event.type === "Add" ? count + 1 : count, 0)

// =============================================================================
// Measurements
// =============================================================================

const times = <R>(n: number, body: Effect.Effect<unknown, unknown, R>): Effect.Effect<void, unknown, R> =>
  Effect.suspend(() => {
    let i = 0
    return Effect.whileLoop({ while: () => i++ < n, body: () => body, step: () => {} })
  })

const rate = async (n: number, run: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await run()
  return n / ((performance.now() - start) / 1000)
}

const withSystem = <A, E>(effect: Effect.Effect<A, E, ActorSystem.ActorSystem | Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.provide(effect, ActorSystem.layer)))

const fiberloopTell = () =>
  rate(TELLS, () =>
    withSystem(Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      yield* times(TELLS, counter.tell("Add"))
      yield* counter.ask("Get")
    })))

const handRolledTell = () =>
  rate(TELLS, () =>
    Effect.runPromise(Effect.gen(function*() {
      const hand = yield* handSpawn
      yield* times(TELLS, handTell(hand))
      yield* handAsk(hand)
      yield* Fiber.interrupt(hand.fiber)
    })))

const xstateTell = () =>
  rate(TELLS, async () => {
    const actor = createActor(machine).start()
    for (let i = 0; i < TELLS; i++) actor.send({ type: "Add" })
    if (actor.getSnapshot().context !== TELLS) throw new Error("xstate lost messages")
    actor.stop()
  })

const fiberloopAsk = (askers: number) => () =>
  rate(ASKS, () =>
    withSystem(Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      yield* Effect.forEach(Array.from({ length: askers }), () => times(ASKS / askers, counter.ask("Get")), {
        concurrency: "unbounded",
        discard: true
      })
    })))

const handRolledAsk = (askers: number) => () =>
  rate(ASKS, () =>
    Effect.runPromise(Effect.gen(function*() {
      const hand = yield* handSpawn
      yield* Effect.forEach(Array.from({ length: askers }), () => times(ASKS / askers, handAsk(hand)), {
        concurrency: "unbounded",
        discard: true
      })
      yield* Fiber.interrupt(hand.fiber)
    })))

const fiberloopSpawnStop = () =>
  rate(SPAWNS, () =>
    withSystem(times(SPAWNS, Effect.flatMap(Actor.spawn(Counter), Actor.stop))))

const handRolledSpawnStop = () =>
  rate(SPAWNS, () => Effect.runPromise(times(SPAWNS, Effect.flatMap(handSpawn, (hand) => Fiber.interrupt(hand.fiber)))))

const xstateSpawnStop = () =>
  rate(SPAWNS, async () => {
    for (let i = 0; i < SPAWNS; i++) createActor(machine).start().stop()
  })

const gc = (): void => (globalThis as { gc?: () => void }).gc?.()
const heap = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Heap bytes per idle actor: IDLE actors spawned, each asked once (so it is up and parked on its mailbox). */
const fiberloopIdle = async (): Promise<number> => {
  let perActor = 0
  await withSystem(Effect.gen(function*() {
    const before = heap()
    const refs: Array<Actor.ActorRef<RpcGroup.Rpcs<typeof CounterProtocol>>> = []
    for (let i = 0; i < IDLE; i++) refs.push(yield* Actor.spawn(Counter))
    for (const ref of refs) yield* ref.ask("Get")
    perActor = (heap() - before) / IDLE
  }))
  return perActor
}

const handRolledIdle = async (): Promise<number> => {
  const before = heap()
  const hands = await Effect.runPromise(Effect.forEach(Array.from({ length: IDLE }), () => handSpawn))
  await Effect.runPromise(Effect.forEach(hands, handAsk, { discard: true }))
  const perActor = (heap() - before) / IDLE
  await Effect.runPromise(Effect.forEach(hands, (h) => Fiber.interrupt(h.fiber), { discard: true }))
  return perActor
}

const xstateIdle = async (): Promise<number> => {
  const before = heap()
  const actors = Array.from({ length: IDLE }, () => createActor(machine).start())
  const perActor = (heap() - before) / IDLE
  for (const a of actors) a.stop()
  return perActor
}

// =============================================================================
// Run
// =============================================================================

const rows = [
  ...(await compare("actor", "hand-rolled Effect actor", [
    {
      name: `tell (${TELLS.toLocaleString("en-US")} to one actor)`,
      unit: "msg/s",
      higherIsBetter: true,
      target: 1,
      subject: fiberloopTell,
      baseline: handRolledTell
    },
    { name: "ask, sequential", unit: "asks/s", higherIsBetter: true, target: 0.8, subject: fiberloopAsk(1), baseline: handRolledAsk(1) },
    {
      name: `ask, ${ASKERS} concurrent askers`,
      unit: "asks/s",
      higherIsBetter: true,
      target: 0.8,
      subject: fiberloopAsk(ASKERS),
      baseline: handRolledAsk(ASKERS)
    },
    {
      name: "spawn+stop",
      unit: "/s",
      higherIsBetter: true,
      target: 0.5,
      subject: fiberloopSpawnStop,
      baseline: handRolledSpawnStop
    },
    {
      name: `heap per idle actor (${IDLE.toLocaleString("en-US")})`,
      unit: "B",
      higherIsBetter: false,
      target: 2,
      subject: fiberloopIdle,
      baseline: handRolledIdle
    }
  ])),
  ...(await compare("actor", "XState v5", [
    {
      name: `tell (${TELLS.toLocaleString("en-US")} to one actor)`,
      unit: "msg/s",
      higherIsBetter: true,
      target: 1,
      subject: fiberloopTell,
      baseline: xstateTell
    },
    { name: "spawn+stop", unit: "/s", higherIsBetter: true, target: 1, subject: fiberloopSpawnStop, baseline: xstateSpawnStop },
    {
      name: `heap per idle actor (${IDLE.toLocaleString("en-US")})`,
      unit: "B",
      higherIsBetter: false,
      target: 1,
      subject: fiberloopIdle,
      baseline: xstateIdle
    }
  ], { rounds: Number(process.env.BENCH_ROUNDS ?? 3) }))
]
const idle = rows.find((r) => r.name.startsWith("heap per idle actor"))!
console.log(`\nheap per idle fiberloop actor: ${Math.round(idle.subject)} B (target <= 2048 B: ${idle.subject <= 2048 ? "met" : "NO"})`)

