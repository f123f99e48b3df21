import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Hash from "effect/Hash"
import * as HashMap from "effect/HashMap"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { Actor, ActorSystem } from "../../src/actor/index.ts"
import { Counter, eventually } from "./support.ts"

const Record = Rpc.make("Record", { payload: { from: Schema.Number, seq: Schema.Number } })
const Work = Rpc.make("Work", { payload: { millis: Schema.Number } })
const Wait = Rpc.make("Wait")
const Ping = Rpc.make("Ping", { success: Schema.String })
const RecorderProtocol = RpcGroup.make(Record, Work, Wait, Ping)

/** Records what it handles into `log`, tracks how many handlers overlap, and can park on `gate` concurrently. */
const recorder = (log: Array<string>, overlap: { now: number; max: number }, gate: Deferred.Deferred<void>) =>
  Actor.make("Recorder", {
    protocol: RecorderProtocol,
    behaviour: () =>
      Effect.succeed(RecorderProtocol.of({
        Record: ({ from, seq }) => Effect.sync(() => void log.push(`${from}:${seq}`)),
        Work: ({ millis }) =>
          Effect.gen(function*() {
            overlap.now++
            overlap.max = Math.max(overlap.max, overlap.now)
            yield* Effect.sleep(millis)
            overlap.now--
          }),
        Wait: () => Rpc.fork(Deferred.await(gate)),
        Ping: () => Effect.succeed("pong")
      }))
  })

const Tick = Rpc.make("Tick")
const Once = Rpc.make("Once")
const Count = Rpc.make("Count", { success: Schema.Struct({ ticks: Schema.Number, once: Schema.Number }) })
const TickerProtocol = RpcGroup.make(Tick, Once, Count)

/** Ticks every second and gets one `Once` after 5 seconds. */
const Ticker = Actor.make("Ticker", {
  protocol: TickerProtocol,
  behaviour: Effect.fnUntraced(function*(ctx) {
    const ticks = yield* Ref.make(0)
    const once = yield* Ref.make(0)
    yield* ctx.every("1 second", "Tick")
    yield* ctx.after("5 seconds", "Once")
    return TickerProtocol.of({
      Tick: () => Ref.update(ticks, (n) => n + 1),
      Once: () => Ref.update(once, (n) => n + 1),
      Count: () => Effect.all({ ticks: Ref.get(ticks), once: Ref.get(once) })
    })
  })
})

describe("Actor", () => {
  it.effect("tells and asks in order", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      for (let i = 1; i <= 100; i++) yield* counter.tell("Add", { by: i })
      assert.strictEqual(yield* counter.ask("Get"), 5050)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("keeps each sender's messages in order", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const actor = yield* Actor.spawn(recorder(log, { now: 0, max: 0 }, gate))
      yield* Effect.forEach([1, 2, 3], (from) =>
        Effect.forEach(Array.from({ length: 50 }, (_, seq) => seq), (seq) =>
          Effect.andThen(actor.tell("Record", { from, seq }), Effect.yieldNow), { discard: true }), {
        concurrency: "unbounded",
        discard: true
      })
      yield* actor.ask("Ping")
      assert.strictEqual(log.length, 150)
      for (const from of [1, 2, 3]) {
        const seqs = log.filter((l) => l.startsWith(`${from}:`)).map((l) => Number(l.split(":")[1]))
        assert.deepStrictEqual(seqs, Array.from({ length: 50 }, (_, i) => i))
      }
      assert.notDeepEqual(log.slice(0, 50).map((l) => l[0]), Array(50).fill("1"), "senders interleave")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("handles one message at a time", () =>
    Effect.gen(function*() {
      const overlap = { now: 0, max: 0 }
      const actor = yield* Actor.spawn(recorder([], overlap, yield* Deferred.make<void>()))
      for (let i = 0; i < 5; i++) yield* actor.tell("Work", { millis: 100 })
      const done = yield* Effect.forkChild(actor.ask("Ping"))
      for (let i = 0; i < 5; i++) {
        yield* eventually(() => overlap.now === 1)
        yield* TestClock.adjust("100 millis")
      }
      assert.strictEqual(yield* Fiber.join(done), "pong")
      assert.strictEqual(overlap.max, 1)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("a handler returning Rpc.fork runs concurrently with the next messages", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const actor = yield* Actor.spawn(recorder([], { now: 0, max: 0 }, gate))
      const waiting = yield* Effect.forkChild(actor.ask("Wait"))
      assert.strictEqual(yield* actor.ask("Ping"), "pong")
      assert.isUndefined(waiting.pollUnsafe())
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(waiting)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("ask fails typed with the handler's error, and the actor goes on", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      yield* counter.tell("Add", { by: 2 })
      const error = yield* Effect.flip(counter.ask("Take", { n: 5 }))
      assert.strictEqual(error._tag, "Negative")
      assert.strictEqual(error._tag === "Negative" && error.value, -3)
      assert.strictEqual(yield* counter.ask("Take", { n: 1 }), 1)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("ask times out with AskTimeout under TestClock", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      const fiber = yield* Effect.forkChild(Effect.flip(counter.ask("Slow", { millis: 5000 }, { timeout: "1 second" })))
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "AskTimeout")
      assert.strictEqual(error.actor, `Counter#${(counter as Actor.AnyRef).id}`)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("asking a stopped actor fails with ActorStopped, also with asks still queued", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      const slow = yield* Effect.forkChild(Effect.flip(counter.ask("Slow", { millis: 1000 })))
      const queued = yield* Effect.forkChild(Effect.flip(counter.ask("Get")))
      yield* Effect.yieldNow
      yield* Actor.stop(counter)
      assert.strictEqual((yield* Fiber.join(slow)).reason, "ActorStopped")
      assert.strictEqual((yield* Fiber.join(queued)).reason, "ActorStopped")
      assert.strictEqual((yield* Effect.flip(counter.ask("Get"))).reason, "ActorStopped")
      assert.isTrue(Exit.isSuccess(yield* Actor.watch(counter)))
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("refs are values: Equal, Hash, HashMap keys", () =>
    Effect.gen(function*() {
      const a = yield* Actor.spawn(Counter)
      const b = yield* Actor.spawn(Counter)
      assert.isTrue(Equal.equals(a, a))
      assert.isFalse(Equal.equals(a, b))
      assert.strictEqual(Hash.hash(a), Hash.hash(a))
      const map = HashMap.make([a, "a"], [b, "b"])
      assert.deepStrictEqual(HashMap.get(map, b), Option.some("b"))
      assert.strictEqual(new Map([[a, 1], [b, 2]]).get(a), 1)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("registers names: lookup, NameTaken, removed on stop", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const counter = yield* Actor.spawn(Counter, { name: "counter" })
      assert.strictEqual(counter.path, "counter")
      const error = yield* Effect.flip(Actor.spawn(Counter, { name: "counter" }))
      assert.strictEqual(error.reason, "NameTaken")
      const found = yield* Actor.lookup(Counter, "counter")
      assert.isTrue(Option.isSome(found) && Equal.equals(found.value, counter))
      assert.isTrue(Option.isNone(yield* Actor.lookup(Ticker, "counter")), "another definition does not match")
      assert.isTrue(Option.isSome(yield* system.lookup("counter")))
      yield* Actor.stop(counter)
      assert.isTrue(Option.isNone(yield* system.lookup("counter")))
      const again = yield* Actor.spawn(Counter, { name: "counter" })
      assert.isFalse(Equal.equals(again, counter))
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("messages to a stopped actor go to the dead letters, counted and published", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const events = yield* system.subscribe
      const counter = yield* Actor.spawn(Counter)
      yield* Actor.stop(counter)
      yield* counter.tell("Add", { by: 1 })
      yield* Effect.flip(counter.ask("Get"))
      assert.strictEqual(yield* system.deadLetters, 2)
      assert.strictEqual((yield* Actor.stats(counter)).deadLetters, 2)
      const dead = yield* events.pipe(Stream.filter((e) => e._tag === "DeadLetter"), Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(
        dead.map((e) => e._tag === "DeadLetter" ? [e.message.tag, e.reason] : []),
        [["Add", "stopped"], ["Get", "stopped"]]
      )
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("timers tell self on the Clock and are cancelled on stop", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const ticker = yield* Actor.spawn(Ticker)
      yield* Effect.yieldNow
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(yield* ticker.ask("Count"), { ticks: 3, once: 0 })
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* ticker.ask("Count"), { ticks: 5, once: 1 })
      yield* Actor.stop(ticker)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* system.deadLetters, 0, "no timer told the stopped actor")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("publishes lifecycle events and keeps per-actor stats and metrics", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const events = yield* system.subscribe
      const processed = Metric.withAttributes(ActorSystem.messagesProcessed, { actor: "Counter" })
      const before = (yield* Metric.value(processed)).count
      const counter = yield* Actor.spawn(Counter)
      yield* counter.tell("Add", { by: 1 })
      yield* Effect.flip(counter.ask("Boom"))
      assert.strictEqual(yield* counter.ask("Get"), 0, "restarted with fresh state")
      const stats = yield* Actor.stats(counter)
      assert.strictEqual(stats.processed, 3)
      assert.strictEqual(stats.restarts, 1)
      assert.strictEqual(stats.failures, 1)
      assert.strictEqual(stats.status, "running")
      yield* Actor.stop(counter)
      const tags = yield* events.pipe(Stream.take(3), Stream.runCollect)
      assert.deepStrictEqual(tags.map((e) => e._tag), ["Spawned", "Restarted", "Stopped"])
      assert.isTrue(tags.every((e) => Equal.equals(e.actor, counter)))
      yield* system.flushMetrics
      assert.strictEqual((yield* Metric.value(processed)).count - before, 3)
      assert.strictEqual(yield* system.actors, 0)
    }).pipe(Effect.provide(ActorSystem.layer)))
})
