import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { Actor, ActorSystem } from "../../src/actor/index.ts"

const Echo = Rpc.make("Echo", { payload: { id: Schema.Number, spin: Schema.Number }, success: Schema.Number })
const EchoProtocol = RpcGroup.make(Echo)

/** Replies with the id it was asked, after yielding `spin` times; records every id it handles. */
const echo = (handled: Array<number>) =>
  Actor.make("Echo", {
    protocol: EchoProtocol,
    behaviour: () =>
      Effect.succeed(EchoProtocol.of({
        Echo: ({ id, spin }) =>
          Effect.suspend(() => {
            handled.push(id)
            let i = 0
            return Effect.as(Effect.whileLoop({ while: () => i++ < spin, body: () => Effect.yieldNow, step: () => {} }), id)
          })
      }))
  })

interface Asker {
  readonly spin: number
  /** Interrupt the asker after yielding this many times, or never. */
  readonly interruptAfter: number | null
  readonly concurrent: boolean
}

const asker = fc.record({
  spin: fc.nat({ max: 4 }),
  interruptAfter: fc.option(fc.nat({ max: 12 }), { nil: null }),
  concurrent: fc.boolean()
})

/** One run of the plan: every asker not interrupted gets exactly its own reply; nothing is handled twice. */
const check = (plan: ReadonlyArray<Asker>) =>
  Effect.scoped(Effect.gen(function*() {
    const handled: Array<number> = []
    const ref = yield* Actor.spawn(echo(handled), { capacity: 8 })
    const fibers = yield* Effect.forEach(plan, (a, id) =>
      Effect.forkChild(ref.ask("Echo", { id, spin: a.spin }), { startImmediately: !a.concurrent }))
    const interruptions = plan.flatMap((a, id) => a.interruptAfter === null ? [] : [{ id, after: a.interruptAfter }])
      .sort((x, y) => x.after - y.after)
    let yielded = 0
    for (const { id, after } of interruptions) {
      for (; yielded < after; yielded++) yield* Effect.yieldNow
      yield* Fiber.interrupt(fibers[id]!)
    }
    const exits = yield* Effect.forEach(fibers, Fiber.await)
    yield* ref.ask("Echo", { id: -1, spin: 0 })
    const ok = exits.every((exit, id) =>
      plan[id]!.interruptAfter === null ? Exit.isSuccess(exit) && exit.value === id : !Exit.isSuccess(exit) || exit.value === id
    )
    const seen = new Set(handled)
    return ok && seen.size === handled.length &&
      plan.every((a, id) => a.interruptAfter !== null || seen.has(id))
  }).pipe(Effect.provide(ActorSystem.layer)))

describe("Actor asks under interruption", () => {
  it.effect("random interruption of askers never loses or duplicates a reply", () =>
    Effect.gen(function*() {
      let runs = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(asker, { minLength: 1, maxLength: 40 }), (plan) => {
            runs++
            return Effect.runPromise(check(plan))
          }),
          { numRuns: 200 }
        )
      )
      assert.strictEqual(runs, 200)
    }))
})
