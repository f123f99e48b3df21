import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/testing/TestClock"
import { Actor, ActorSystem } from "../../src/actor/index.ts"
import * as Ref from "effect/Ref"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import { eventually } from "./support.ts"

const Tick = Rpc.make("Tick")
const Ticks = Rpc.make("Ticks", { success: Schema.Number })
const TickerProtocol = RpcGroup.make(Tick, Ticks)

/** An actor with a recurring timer, so closing must cancel a timer fiber per actor too. */
const Ticker = Actor.make("LeakTicker", {
  protocol: TickerProtocol,
  behaviour: Effect.fnUntraced(function*(ctx) {
    const ticks = yield* Ref.make(0)
    yield* ctx.every("1 second", "Tick")
    return TickerProtocol.of({ Tick: () => Ref.update(ticks, (n) => n + 1), Ticks: () => Ref.get(ticks) })
  })
})

const ACTORS = 10_000

describe("Actor leaks", () => {
  it.effect("no fiber or timer is left after a system with 10,000 actors is closed", () =>
    Effect.gen(function*() {
      const fibers = { started: 0, active: 0 }
      const runtimeMetrics: Metric.FiberRuntimeMetricsService = {
        recordFiberStart: () => {
          fibers.started++
          fibers.active++
        },
        recordFiberEnd: () => {
          fibers.active--
        }
      }
      let system: ActorSystem.ActorSystemShape | undefined
      yield* Effect.scoped(Effect.gen(function*() {
        system = yield* ActorSystem.ActorSystem
        const refs = []
        for (let i = 0; i < ACTORS; i++) refs.push(yield* Actor.spawn(Ticker))
        const ticks = yield* Effect.forEach(refs, (ref) => ref.ask("Ticks"))
        assert.isTrue(ticks.every((n) => n === 0), "every actor is up, its timer armed")
        assert.strictEqual(yield* system.actors, ACTORS)
        assert.isAtLeast(fibers.active, ACTORS, "a timer fiber each (an idle actor has no fiber of its own)")
      }).pipe(Effect.provide(ActorSystem.layer), Effect.provideService(Metric.FiberRuntimeMetrics, runtimeMetrics)))
      yield* eventually(() => fibers.active === 0)
      assert.strictEqual(fibers.active, 0, `fibers left: ${fibers.active} of ${fibers.started}`)
      assert.strictEqual(yield* system!.actors, 0)
      assert.strictEqual(system!.runtime.all.size, 0)
      assert.strictEqual(system!.runtime.root.children.size, 0)
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(fibers.active, 0, "no timer woke up")
      assert.strictEqual(yield* system!.deadLetters, 0, "no timer told a stopped actor")
    }), { timeout: 60_000 })
})
