/**
 * Actors on the embedded (in-process, in-memory) cluster: the local actor behaviours that apply to
 * virtual actors, plus what is cluster-specific (entities by id, passivation, error mapping).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as ActorCluster from "../../src/actor/ActorCluster.ts"
import { ActorError } from "../../src/actor/ActorError.ts"
import * as ClusterLayer from "../../src/actor/cluster/ClusterLayer.ts"
import { Counter } from "./fixtures/actors.ts"

const embedded = (options?: ActorCluster.LayerOptions) =>
  ActorCluster.layer(Counter, options).pipe(Layer.provideMerge(ClusterLayer.layerEmbedded()))

/** Polls `check` every 50 ms until it returns true, for at most `attempts` tries. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, attempts: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < attempts; i++) {
      if (yield* check) return true
      yield* Effect.sleep(50)
    }
    return false
  })

describe("ActorCluster (embedded)", () => {
  it.live("ask returns the handler's typed success, per entity id", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      assert.strictEqual(yield* counters("a").ask("Increment", { by: 2 }), 2)
      assert.strictEqual(yield* counters("a").ask("Increment", { by: 3 }), 5)
      assert.strictEqual(yield* counters("b").ask("Increment", { by: 1 }), 1)
      assert.strictEqual(yield* counters("a").ask("Get"), 5)
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("ask fails with the protocol's typed error", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const error = yield* Effect.flip(counters("a").ask("Refuse", { why: "no" }))
      assert.strictEqual(error._tag, "Refused")
      assert.strictEqual(error._tag === "Refused" && error.why, "no")
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("tells from one sender are handled in order", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const ref = counters("ordered")
      for (let i = 0; i < 200; i++) yield* ref.tell("Append", { item: i })
      assert.deepStrictEqual(yield* ref.ask("List"), Array.from({ length: 200 }, (_, i) => i))
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("messages are handled one at a time", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const ref = counters("sequential")
      const slow = yield* Effect.forkChild(ref.ask("Slow", { millis: 200 }))
      yield* Effect.sleep(20)
      const started = Date.now()
      assert.strictEqual(yield* ref.ask("Increment", { by: 1 }), 1)
      assert.isAtLeast(Date.now() - started, 100)
      assert.strictEqual(yield* Fiber.join(slow), "local")
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("a defect fails the ask with ActorError Crashed and restarts the actor with fresh state", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const ref = counters("crashy")
      yield* ref.ask("Increment", { by: 7 })
      const error = yield* Effect.flip(ref.ask("Boom"))
      assert.instanceOf(error, ActorError)
      assert.strictEqual(error.reason, "Crashed")
      assert.strictEqual(error.actor, "Counter/crashy")
      assert.strictEqual(yield* ref.ask("Get"), 0)
      assert.strictEqual(yield* ref.ask("Increment", { by: 1 }), 1)
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("ask with a timeout fails with ActorError AskTimeout", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const error = yield* Effect.flip(counters("a").ask("Slow", { millis: 2_000 }, { timeout: "100 millis" }))
      assert.instanceOf(error, ActorError)
      assert.strictEqual(error.reason, "AskTimeout")
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("a full entity mailbox fails senders with ActorError MailboxFull", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const ref = counters("busy")
      const asks = Array.from({ length: 10 }, () => Effect.result(ref.ask("Slow", { millis: 300 })))
      const results = yield* Effect.all(asks, { concurrency: "unbounded" })
      const full = results.filter((r) => r._tag === "Failure" && r.failure._tag === "ActorError" && r.failure.reason === "MailboxFull")
      assert.isAtLeast(full.length, 1)
      assert.isAtLeast(results.filter((r) => r._tag === "Success").length, 1)
    }).pipe(Effect.provide(embedded({ mailboxCapacity: 2 })), Effect.timeout("10 seconds")))

  it.live("stop drops the state; the next message builds the actor again", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const ref = counters("stoppable")
      yield* ref.ask("Increment", { by: 5 })
      yield* ref.ask("Stop")
      assert.strictEqual(yield* ref.ask("Get"), 0)
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("timers send to self through the cluster", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const ref = counters("timer")
      yield* ref.ask("TickLater", { millis: 50 })
      assert.isTrue(yield* eventually(Effect.map(ref.ask("Get"), (n) => n === 100), 100))
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("an idle entity passivates and respawns with fresh state on the next message", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      const ref = counters("idle")
      yield* ref.ask("Increment", { by: 3 })
      // each probe is a message, so probes are spaced well beyond maxIdleTime; the reaper looks every 5 s
      let probes = 0
      let count = 3
      while (count !== 0 && probes < 15) {
        yield* Effect.sleep("1 second")
        count = yield* ref.ask("Get")
        probes++
      }
      assert.strictEqual(count, 0)
      assert.strictEqual(yield* ref.ask("Increment", { by: 1 }), 1)
    }).pipe(Effect.provide(embedded({ maxIdleTime: "10 millis" })), Effect.timeout("25 seconds")), 30_000)

  it.live("a ref used after its cluster has shut down fails with ActorError ActorStopped", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(embedded(), scope)
      const ref = (yield* Effect.provideContext(ActorCluster.client(Counter), context))("a")
      assert.strictEqual(yield* ref.ask("Increment", { by: 1 }), 1)
      yield* Scope.close(scope, Exit.void)
      const asked = yield* Effect.flip(ref.ask("Get"))
      assert.strictEqual(asked._tag === "ActorError" && asked.reason, "ActorStopped")
      const told = yield* Effect.flip(ref.tell("Increment", { by: 1 }))
      assert.strictEqual(told.reason, "ActorStopped")
    }).pipe(Effect.timeout("10 seconds")))

  it.live("refs are values: equal by definition and entity id, usable as map keys", () =>
    Effect.gen(function*() {
      const counters = yield* ActorCluster.client(Counter)
      assert.isTrue(Equal.equals(counters("a"), counters("a")))
      assert.isFalse(Equal.equals(counters("a"), counters("b")))
      const map = HashMap.make([counters("a"), 1], [counters("b"), 2])
      assert.deepStrictEqual(HashMap.get(map, counters("a")), HashMap.get(map, counters("a")))
      assert.strictEqual(HashMap.size(HashMap.set(map, counters("a"), 3)), 2)
      assert.strictEqual(counters("a").path, "Counter/a")
    }).pipe(Effect.provide(embedded()), Effect.timeout("10 seconds")))

  it.live("the entity is the actor's name and protocol", () =>
    Effect.sync(() => {
      const entity = ActorCluster.entity(Counter)
      assert.strictEqual(entity.type, "Counter")
      assert.deepStrictEqual(Array.from(entity.protocol.requests.keys()), Array.from(Counter.protocol.requests.keys()))
      assert.strictEqual(ActorCluster.entity(Counter), entity)
    }))
})
