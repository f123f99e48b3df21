import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { Actor, ActorSystem, Supervision } from "../../src/actor/index.ts"
import { Counter } from "./support.ts"

describe("watch and link", () => {
  it.effect("watch completes with success on a normal stop", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      const watching = yield* Effect.forkChild(Actor.watch(counter))
      yield* Effect.yieldNow
      assert.isUndefined(watching.pollUnsafe())
      yield* Actor.stop(counter)
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(watching)))
      assert.isTrue(Exit.isSuccess(yield* Actor.watch(counter)), "a stopped actor answers at once")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("watch completes with the failure when the actor stops on one", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { supervision: Supervision.stop })
      const watching = yield* Effect.forkChild(Actor.watch(counter))
      yield* counter.tell("Boom")
      const exit = yield* Fiber.join(watching)
      assert.isTrue(Exit.isFailure(exit) && Cause.squash(exit.cause) === "boom")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("link: a failure of one fails the other, both ways", () =>
    Effect.gen(function*() {
      const a = yield* Actor.spawn(Counter, { supervision: Supervision.stop })
      const b = yield* Actor.spawn(Counter, { supervision: Supervision.stop })
      yield* Actor.link(a, b)
      yield* b.tell("Boom")
      const exit = yield* Actor.watch(a)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) as { reason: string; actor: string } : undefined
      assert.strictEqual(error?.reason, "Linked")
      assert.strictEqual(error?.actor, b.path)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("link: a restarting pair fails once each, not forever", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const events = yield* system.subscribe
      const a = yield* Actor.spawn(Counter)
      const b = yield* Actor.spawn(Counter)
      yield* Actor.link(a, b)
      yield* a.tell("Add", { by: 1 })
      yield* b.tell("Add", { by: 1 })
      assert.deepStrictEqual([yield* a.ask("Get"), yield* b.ask("Get")], [1, 1])
      yield* a.tell("Boom")
      yield* events.pipe(Stream.filter((e) => e._tag === "Restarted"), Stream.take(2), Stream.runDrain)
      assert.strictEqual(yield* a.ask("Get"), 0)
      assert.strictEqual(yield* b.ask("Get"), 0, "b restarted with a")
      assert.strictEqual((yield* Actor.stats(a)).restarts, 1)
      assert.strictEqual((yield* Actor.stats(b)).restarts, 1)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("link: a normal stop does not propagate, and unlink cuts the link", () =>
    Effect.gen(function*() {
      const a = yield* Actor.spawn(Counter, { supervision: Supervision.stop })
      const b = yield* Actor.spawn(Counter, { supervision: Supervision.stop })
      const c = yield* Actor.spawn(Counter, { supervision: Supervision.stop })
      yield* Actor.link(a, b)
      yield* Actor.link(a, c)
      yield* Actor.stop(b)
      yield* Actor.unlink(a, c)
      yield* c.tell("Boom")
      yield* Actor.watch(c)
      yield* a.tell("Add", { by: 3 })
      assert.strictEqual(yield* a.ask("Get"), 3)
      assert.strictEqual((yield* Effect.flip(Actor.link(a, b))).reason, "ActorStopped")
    }).pipe(Effect.provide(ActorSystem.layer)))
})
