import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Actor, ActorSystem } from "../../src/actor/index.ts"
import { eventually } from "./support.ts"

const Block = Rpc.make("Block")
const Bump = Rpc.make("Bump")
const Total = Rpc.make("Total", { success: Schema.Number })
const GateProtocol = RpcGroup.make(Block, Bump, Total)

/** `Block` parks the actor until `gate` opens (after opening `started`); `Bump` counts. */
const gated = (started: Deferred.Deferred<void>, gate: Deferred.Deferred<void>) =>
  Actor.make("Gated", {
    protocol: GateProtocol,
    behaviour: Effect.fnUntraced(function*() {
      const total = yield* Ref.make(0)
      return GateProtocol.of({
        Block: () => Effect.andThen(Deferred.succeed(started, void 0), Deferred.await(gate)),
        Bump: () => Ref.update(total, (n) => n + 1),
        Total: () => Ref.get(total)
      })
    })
  })

const CAPACITY = 10
const FLOOD = 10 * CAPACITY

/** A gated actor already parked in `Block`, so its mailbox is empty and nothing drains it. */
const parked = (options: Actor.SpawnOptions) =>
  Effect.gen(function*() {
    const started = yield* Deferred.make<void>()
    const gate = yield* Deferred.make<void>()
    const actor = yield* Actor.spawn(gated(started, gate), { capacity: CAPACITY, ...options })
    yield* actor.tell("Block")
    yield* Deferred.await(started)
    return { actor, open: Deferred.succeed(gate, void 0) }
  })

/** Asks for the total once the mailbox has room again (the actor drains it after `open`). */
const totalWhenRoom = (actor: Actor.ActorRef<RpcGroup.Rpcs<typeof GateProtocol>>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      const exit = yield* Effect.exit(actor.ask("Total"))
      if (Exit.isSuccess(exit)) return exit.value
      yield* Effect.yieldNow
    }
    return -1
  })

describe("Mailbox", () => {
  it.effect("suspend (the default) holds senders while full, and loses nothing", () =>
    Effect.gen(function*() {
      const { actor, open } = yield* parked({})
      let sent = 0
      const flood = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: FLOOD }),
        () => Effect.map(actor.tell("Bump"), () => void sent++),
        { discard: true }
      ))
      yield* eventually(() => sent === CAPACITY)
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      assert.strictEqual(sent, CAPACITY, "the sender is held at capacity")
      assert.isUndefined(flood.pollUnsafe())
      assert.strictEqual((yield* Actor.stats(actor)).mailboxSize, CAPACITY)
      yield* open
      yield* Fiber.join(flood)
      assert.strictEqual(yield* actor.ask("Total"), FLOOD)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("fail gives MailboxFull beyond capacity", () =>
    Effect.gen(function*() {
      const { actor, open } = yield* parked({ whenFull: "fail" })
      const exits = yield* Effect.forEach(Array.from({ length: FLOOD }), () => Effect.exit(actor.tell("Bump")))
      const failed = exits.filter(Exit.isFailure)
      assert.strictEqual(failed.length, FLOOD - CAPACITY)
      for (const exit of failed) {
        assert.isTrue(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail")
      }
      const asked = yield* Effect.flip(actor.ask("Total"))
      assert.strictEqual(asked.reason, "MailboxFull")
      yield* open
      assert.strictEqual(yield* totalWhenRoom(actor), CAPACITY)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("drop counts what it drops, as dead letters", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const events = yield* system.subscribe
      const { actor, open } = yield* parked({ whenFull: "drop" })
      for (let i = 0; i < FLOOD; i++) yield* actor.tell("Bump")
      const stats = yield* Actor.stats(actor)
      assert.strictEqual(stats.deadLetters, FLOOD - CAPACITY)
      assert.strictEqual(yield* system.deadLetters, FLOOD - CAPACITY)
      const dropped = yield* events.pipe(
        Stream.filter((e) => e._tag === "DeadLetter" && e.reason === "dropped"),
        Stream.take(FLOOD - CAPACITY),
        Stream.runCount
      )
      assert.strictEqual(dropped, FLOOD - CAPACITY)
      assert.strictEqual((yield* Effect.flip(actor.ask("Total"))).reason, "MailboxFull", "an ask is never dropped silently")
      yield* open
      assert.strictEqual(yield* totalWhenRoom(actor), CAPACITY)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("unbounded only when asked for: it takes the whole flood without holding the sender", () =>
    Effect.gen(function*() {
      const { actor, open } = yield* parked({ capacity: "unbounded" })
      for (let i = 0; i < 100 * FLOOD; i++) yield* actor.tell("Bump")
      assert.strictEqual((yield* Actor.stats(actor)).mailboxSize, 100 * FLOOD)
      yield* open
      assert.strictEqual(yield* actor.ask("Total"), 100 * FLOOD)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("senders held by a full mailbox are released when the actor stops; their messages go to dead letters", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const { actor } = yield* parked({})
      for (let i = 0; i < CAPACITY; i++) yield* actor.tell("Bump")
      const held = yield* Effect.forkChild(actor.tell("Bump"))
      const heldAsk = yield* Effect.forkChild(Effect.flip(actor.ask("Total")))
      yield* Effect.yieldNow
      assert.isUndefined(held.pollUnsafe())
      yield* Actor.stop(actor)
      yield* Fiber.join(held)
      assert.strictEqual((yield* Fiber.join(heldAsk)).reason, "ActorStopped")
      assert.strictEqual(yield* system.deadLetters, CAPACITY + 2)
    }).pipe(Effect.provide(ActorSystem.layer)))
})
