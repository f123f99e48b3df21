import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { Actor, ActorSystem } from "../../src/actor/index.ts"
import { Counter } from "./support.ts"

describe("Actor", () => {
  it.effect("tells and asks in order", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      for (let i = 1; i <= 100; i++) yield* counter.tell("Add", { by: i })
      assert.strictEqual(yield* counter.ask("Get"), 5050)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("ask fails typed with the handler's error, and the actor goes on", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      yield* counter.tell("Add", { by: 2 })
      const error = yield* Effect.flip(counter.ask("Take", { n: 5 }))
      assert.strictEqual(error._tag, "Negative")
      assert.strictEqual(yield* counter.ask("Take", { n: 1 }), 1)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("ask times out with AskTimeout under TestClock", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      const fiber = yield* Effect.forkChild(Effect.flip(counter.ask("Slow", { millis: 5000 }, { timeout: "1 second" })))
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ActorError")
      assert.strictEqual((error as any).reason, "AskTimeout")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("asking a stopped actor fails with ActorStopped", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      yield* Actor.stop(counter)
      const error = yield* Effect.flip(counter.ask("Get"))
      assert.strictEqual(error.reason, "ActorStopped")
      const exit = yield* Actor.watch(counter)
      assert.isTrue(Exit.isSuccess(exit))
    }).pipe(Effect.provide(ActorSystem.layer)))
})
