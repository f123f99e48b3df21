import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { Actor, ActorSystem, Supervision } from "../../src/actor/index.ts"
import { Counter, eventually } from "./support.ts"

const Kids = Rpc.make("Kids")
const Fail = Rpc.make("Fail")
const ParentProtocol = RpcGroup.make(Kids, Fail)

/**
 * A parent that spawns `n` Counter children (each with `child` strategy) into
 * `out`, and records its own and its children's stops into `log`.
 */
const parent = (
  n: number,
  out: Array<Actor.AnyRef>,
  log: Array<string>,
  child: Supervision.Strategy = Supervision.restart()
) =>
  Actor.make("Parent", {
    protocol: ParentProtocol,
    behaviour: Effect.fnUntraced(function*() {
      yield* Effect.addFinalizer(() => Effect.sync(() => log.push("parent")))
      out.length = 0
      for (let i = 1; i <= n; i++) {
        out.push(yield* Actor.spawn(Counter, { supervision: child }))
        yield* Effect.addFinalizer(() => Effect.sync(() => log.push(`child ${i}`)))
      }
      return ParentProtocol.of({ Kids: () => Effect.void, Fail: () => Effect.die("parent failed") })
    })
  })

const BadInit = Actor.make("BadInit", {
  protocol: RpcGroup.make(Kids),
  behaviour: () => Effect.die("cannot start")
})

const Throws = Actor.make("Throws", {
  protocol: RpcGroup.make(Kids),
  behaviour: () =>
    Effect.succeed({
      Kids: (): Effect.Effect<void> => {
        throw new Error("thrown, not failed")
      }
    })
})

type CounterRef = Actor.AnyRef

/** Waits for the `n`-th event matching `tag` (from a subscription made before the cause). */
const nth = (events: Stream.Stream<ActorSystem.ActorEvent>, tag: ActorSystem.ActorEvent["_tag"], n = 1) =>
  events.pipe(Stream.filter((e) => e._tag === tag), Stream.take(n), Stream.runCollect)

const counts = (refs: ReadonlyArray<CounterRef>) => Effect.forEach(refs, (r) => r.ask("Get") as Effect.Effect<number>)

describe("Supervision", () => {
  it.effect("restart rebuilds the state and keeps the mailbox", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      yield* counter.tell("Add", { by: 5 })
      yield* counter.tell("Boom")
      yield* counter.tell("Add", { by: 2 })
      assert.strictEqual(yield* counter.ask("Get"), 2)
      assert.strictEqual((yield* Actor.stats(counter)).restarts, 1)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("an asker of the failing message gets Crashed with the defect", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter)
      const error = yield* Effect.flip(counter.ask("Boom"))
      assert.strictEqual(error.reason, "Crashed")
      assert.strictEqual(error.cause, "boom")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("a handler that throws is a failure the supervisor sees", () =>
    Effect.gen(function*() {
      const events = yield* (yield* ActorSystem.ActorSystem).subscribe
      const actor = yield* Actor.spawn(Throws)
      assert.strictEqual((yield* Effect.flip(actor.ask("Kids"))).reason, "Crashed")
      yield* nth(events, "Restarted")
      assert.strictEqual((yield* Actor.stats(actor)).restarts, 1)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("resume keeps the state and drops the failing message", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { supervision: Supervision.resume })
      yield* counter.tell("Add", { by: 5 })
      yield* counter.tell("Boom")
      yield* counter.tell("Add", { by: 2 })
      assert.strictEqual(yield* counter.ask("Get"), 7)
      const stats = yield* Actor.stats(counter)
      assert.strictEqual(stats.failures, 1)
      assert.strictEqual(stats.restarts, 0)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("stop ends the actor with the failure; watchers see it", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, { supervision: Supervision.stop })
      yield* counter.tell("Boom")
      const exit = yield* Actor.watch(counter)
      assert.isTrue(Exit.isFailure(exit) && Cause.squash(exit.cause) === "boom")
      assert.strictEqual((yield* Effect.flip(counter.ask("Get"))).reason, "ActorStopped")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("escalate stops the child and fails the parent with Escalated", () =>
    Effect.gen(function*() {
      const kids: Array<CounterRef> = []
      const p = yield* Actor.spawn(parent(1, kids, [], Supervision.escalate), { supervision: Supervision.stop })
      yield* p.ask("Kids")
      const child = kids[0]!
      yield* child.tell("Boom")
      const childExit = yield* Actor.watch(child)
      assert.isTrue(Exit.isFailure(childExit))
      const parentExit = yield* Actor.watch(p)
      assert.isTrue(Exit.isFailure(parentExit))
      const error = Exit.isFailure(parentExit) ? Cause.squash(parentExit.cause) as { reason: string } : undefined
      assert.strictEqual(error?.reason, "Escalated")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("more restarts than the intensity allows within the window escalate", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, {
        supervision: Supervision.restart({ maxRestarts: 2, within: "1 minute" })
      })
      for (let i = 0; i < 3; i++) yield* counter.tell("Boom")
      const exit = yield* Actor.watch(counter)
      assert.isTrue(Exit.isFailure(exit), "the third failure stops it (top level: nobody to escalate to)")
      assert.strictEqual((yield* Actor.stats(counter)).restarts, 2)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("failures spread out beyond the window restart again", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, {
        supervision: Supervision.restart({ maxRestarts: 1, within: "10 seconds" })
      })
      for (let i = 0; i < 3; i++) {
        yield* Effect.flip(counter.ask("Boom"))
        yield* TestClock.adjust("11 seconds")
      }
      assert.strictEqual(yield* counter.ask("Get"), 0)
      assert.strictEqual((yield* Actor.stats(counter)).restarts, 3)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("restart waits the backoff schedule under TestClock", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, {
        supervision: Supervision.restart({ maxRestarts: 5, within: "1 hour", backoff: Schedule.exponential("1 second") })
      })
      yield* Effect.flip(counter.ask("Boom"))
      const first = yield* Effect.forkChild(counter.ask("Get"))
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(first.pollUnsafe(), "still backing off")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(first), 0)
      yield* Effect.flip(counter.ask("Boom"))
      const second = yield* Effect.forkChild(counter.ask("Get"))
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(second.pollUnsafe(), "the second delay is twice the first")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(second), 0)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("a schedule that ends escalates", () =>
    Effect.gen(function*() {
      const counter = yield* Actor.spawn(Counter, {
        supervision: Supervision.restart({ maxRestarts: 10, backoff: Schedule.recurs(1) })
      })
      yield* counter.tell("Boom")
      yield* counter.tell("Boom")
      assert.isTrue(Exit.isFailure(yield* Actor.watch(counter)))
      assert.strictEqual((yield* Actor.stats(counter)).restarts, 1)
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("a behaviour that fails to build restarts, then escalates", () =>
    Effect.gen(function*() {
      const actor = yield* Actor.spawn(BadInit, { supervision: Supervision.restart({ maxRestarts: 3 }) })
      const exit = yield* Actor.watch(actor)
      assert.isTrue(Exit.isFailure(exit) && Cause.squash(exit.cause) === "cannot start")
      assert.strictEqual((yield* Actor.stats(actor)).restarts, 3)
    }).pipe(Effect.provide(ActorSystem.layer)))

  for (
    const [group, expected] of [
      ["one-for-one", [1, 0, 1]],
      ["one-for-all", [0, 0, 0]],
      ["rest-for-one", [1, 0, 0]]
    ] as const
  ) {
    it.effect(`${group}: a child's restart spreads as its parent says`, () =>
      Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const events = yield* system.subscribe
        const kids: Array<CounterRef> = []
        const p = yield* Actor.spawn(parent(3, kids, []), { children: group })
        yield* p.ask("Kids")
        const before = [...kids]
        for (const kid of kids) yield* kid.tell("Add", { by: 1 })
        yield* counts(kids)
        yield* kids[1]!.tell("Boom")
        const restarts = expected.filter((n) => n === 0).length
        yield* nth(events, "Restarted", restarts)
        assert.deepStrictEqual(yield* counts(kids), [...expected])
        const stats = yield* Effect.forEach(kids, Actor.stats)
        assert.deepStrictEqual(stats.map((s) => s.restarts), expected.map((n) => n === 0 ? 1 : 0), "each restart is counted")
        assert.deepStrictEqual(kids, before, "the refs stay the same across restarts")
      }).pipe(Effect.provide(ActorSystem.layer)))
  }

  it.effect("a parent's restart restarts its children (fresh ones, spawned again)", () =>
    Effect.gen(function*() {
      const kids: Array<CounterRef> = []
      const log: Array<string> = []
      const p = yield* Actor.spawn(parent(2, kids, log))
      yield* p.ask("Kids")
      const first = [...kids]
      yield* Effect.flip(p.ask("Fail"))
      yield* p.ask("Kids")
      assert.deepStrictEqual(log, ["child 2", "child 1", "parent"])
      for (const old of first) assert.isTrue(Exit.isSuccess(yield* Actor.watch(old)))
      assert.notStrictEqual(kids[0], first[0])
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("stopping a parent stops its children first, in reverse order of spawn", () =>
    Effect.gen(function*() {
      const kids: Array<CounterRef> = []
      const log: Array<string> = []
      const p = yield* Actor.spawn(parent(3, kids, log))
      yield* p.ask("Kids")
      yield* Actor.stop(p)
      assert.deepStrictEqual(log, ["child 3", "child 2", "child 1", "parent"])
      for (const kid of kids) assert.strictEqual((yield* Actor.stats(kid)).status, "stopped")
    }).pipe(Effect.provide(ActorSystem.layer)))

  it.effect("closing the system stops top-level actors in reverse order", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      yield* Effect.scoped(Effect.gen(function*() {
        yield* (yield* Actor.spawn(parent(1, [], log))).ask("Kids")
        yield* (yield* Actor.spawn(parent(0, [], log))).ask("Kids")
        assert.deepStrictEqual(log, [])
      }).pipe(Effect.provide(ActorSystem.layer)))
      yield* eventually(() => log.length === 3)
      assert.deepStrictEqual(log, ["parent", "child 1", "parent"])
    }))

  it.effect("restarts and stops are counted in the metrics", () =>
    Effect.gen(function*() {
      const system = yield* ActorSystem.ActorSystem
      const counter = yield* Actor.spawn(Counter, { supervision: Supervision.restart({ maxRestarts: 1 }) })
      yield* counter.tell("Boom")
      yield* counter.tell("Boom")
      yield* Actor.watch(counter)
      yield* system.flushMetrics
      assert.strictEqual(yield* system.actors, 0)
      assert.isTrue(Option.isNone(yield* system.lookup("nothing")))
    }).pipe(Effect.provide(ActorSystem.layer)))
})

