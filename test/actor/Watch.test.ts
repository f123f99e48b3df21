import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Actor, ActorSystem, Supervision } from "../../src/actor/index.ts"
import { Counter } from "./support.ts"

const StopSelf = Rpc.make("StopSelf")
const StopCtx = Rpc.make("StopCtx")
const StopParent = Rpc.make("StopParent")
const Spawn = Rpc.make("Spawn")
const StopperProtocol = RpcGroup.make(StopSelf, StopCtx, StopParent, Spawn)
type StopperRef = Actor.ActorRef<RpcGroup.Rpcs<typeof StopperProtocol>>

/** Stops itself (`Actor.stop(self)` or `ctx.stop`), its parent, or spawns a child of its own kind into `kids`. */
const stopper = (
  parent: StopperRef | undefined,
  kids: Array<StopperRef>
): Actor.Actor<"Stopper", RpcGroup.Rpcs<typeof StopperProtocol>, never, ActorSystem.ActorSystem | Scope.Scope> =>
  Actor.make("Stopper", {
    protocol: StopperProtocol,
    behaviour: (ctx) =>
      Effect.succeed(StopperProtocol.of({
        StopSelf: () => Actor.stop(ctx.self),
        StopCtx: () => ctx.stop,
        StopParent: () => parent === undefined ? Effect.void : Actor.stop(parent),
        Spawn: () => Effect.map(Actor.spawn(stopper(ctx.self, kids)).pipe(Effect.orDie), (kid) => void kids.push(kid))
      }))
  })

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

  it.effect("an actor stops itself from a handler, with Actor.stop(self) or ctx.stop", () =>
    Effect.gen(function*() {
      for (const tag of ["StopSelf", "StopCtx"] as const) {
        const actor = yield* Actor.spawn(stopper(undefined, []))
        yield* actor.tell(tag)
        assert.isTrue(Exit.isSuccess(yield* Actor.watch(actor)))
        assert.strictEqual((yield* Effect.flip(actor.ask("Spawn"))).reason, "ActorStopped")
      }
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("a child stops its parent (and is stopped with it) without a deadlock", () =>
    Effect.gen(function*() {
      const kids: Array<StopperRef> = []
      const parent = yield* Actor.spawn(stopper(undefined, kids))
      yield* parent.ask("Spawn")
      yield* kids[0]!.tell("StopParent")
      assert.isTrue(Exit.isSuccess(yield* Actor.watch(parent)))
      assert.isTrue(Exit.isSuccess(yield* Actor.watch(kids[0]!)))
    }).pipe(Effect.provide(ActorSystem.layer)))
})
