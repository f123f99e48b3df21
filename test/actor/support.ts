/**
 * Actor definitions shared by the actor tests: a counter with typed errors,
 * a recorder that logs what it handles, and helpers.
 */
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import { Actor } from "../../src/actor/index.ts"

export class Negative extends Schema.TaggedError<Negative>()("Negative", { value: Schema.Number }) {}

export const Add = Rpc.make("Add", { payload: { by: Schema.Number } })
export const Get = Rpc.make("Get", { success: Schema.Number })
export const Take = Rpc.make("Take", { payload: { n: Schema.Number }, success: Schema.Number, error: Negative })
export const Boom = Rpc.make("Boom")
export const Slow = Rpc.make("Slow", { payload: { millis: Schema.Number }, success: Schema.Number })
export const CounterProtocol = RpcGroup.make(Add, Get, Take, Boom, Slow)

/** A counter: Add/Get, Take fails typed below zero, Boom dies, Slow sleeps then replies with the count. */
export const Counter = Actor.make("Counter", {
  protocol: CounterProtocol,
  behaviour: Effect.fnUntraced(function*() {
    const count = yield* Ref.make(0)
    return CounterProtocol.of({
      Add: ({ by }) => Ref.update(count, (n) => n + by),
      Get: () => Ref.get(count),
      Take: ({ n }) =>
        Effect.flatMap(Ref.get(count), (c) =>
          c - n < 0 ? Effect.fail(new Negative({ value: c - n })) : Effect.as(Ref.set(count, c - n), c - n)),
      Boom: () => Effect.die("boom"),
      Slow: ({ millis }) => Effect.andThen(Effect.sleep(millis), Ref.get(count))
    })
  })
})

/** Yields until `check` holds, at most `max` times. */
export const eventually = (check: () => boolean, max = 1000): Effect.Effect<void> =>
  Effect.suspend(() => {
    let i = 0
    return Effect.whileLoop({ while: () => !check() && i++ < max, body: () => Effect.yieldNow, step: () => {} })
  })
