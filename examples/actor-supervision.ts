/**
 * A supervision tree, watched through the system's event stream.
 *
 *   npx node examples/actor-supervision.ts
 *
 * A Pipeline actor supervises three stages with "rest-for-one": when a stage
 * fails, it and the stages after it restart (they depend on it), the ones
 * before it keep their state. Each stage restarts with exponential backoff,
 * at most 3 times in 10 seconds; the fourth failure in the window escalates
 * to the Pipeline, whose own strategy (restart, once) rebuilds the whole
 * tree. Every event prints as it happens; the program ends by itself.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Rpc from "effect/rpc/Rpc"
import * as RpcGroup from "effect/rpc/RpcGroup"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Actor, ActorSystem, Supervision } from "../src/actor/index.ts"

// A stage counts what it processed; "Fail" makes its handler die.
const Process = Rpc.make("Process", { payload: { item: Schema.String }, success: Schema.Number })
const Fail = Rpc.make("Fail")
const StageProtocol = RpcGroup.make(Process, Fail)
type StageRef = Actor.ActorRef<RpcGroup.Rpcs<typeof StageProtocol>>

const stage = (name: string) =>
  Actor.make(name, {
    protocol: StageProtocol,
    behaviour: Effect.fnUntraced(function*() {
      const processed = yield* Ref.make(0)
      return StageProtocol.of({
        Process: () => Ref.updateAndGet(processed, (n) => n + 1),
        Fail: () => Effect.die(new Error(`${name} failed`))
      })
    })
  })

// The pipeline spawns its stages as children; it answers with their refs.
const Stages = Rpc.make("Stages", { success: Schema.Array(Actor.refSchema<RpcGroup.Rpcs<typeof StageProtocol>>()) })
const PipelineProtocol = RpcGroup.make(Stages)

const stageSupervision = Supervision.restart({
  maxRestarts: 3,
  within: "10 seconds",
  backoff: Schedule.exponential("50 millis")
})

const Pipeline = Actor.make("Pipeline", {
  protocol: PipelineProtocol,
  behaviour: Effect.fnUntraced(function*() {
    const stages: Array<StageRef> = []
    for (const name of ["parse", "enrich", "store"]) {
      stages.push(yield* Actor.spawn(stage(name), { name, supervision: stageSupervision }))
    }
    return PipelineProtocol.of({ Stages: () => Effect.succeed(stages) })
  })
})

const describe = (event: ActorSystem.ActorEvent): string => {
  switch (event._tag) {
    case "Spawned":
      return `spawned   ${event.actor.path}`
    case "Restarted":
      return `restarted ${event.actor.path} (restart ${event.restarts})`
    case "Stopped":
      return `stopped   ${event.actor.path}${event.exit._tag === "Success" ? "" : " on failure"}`
    case "DeadLetter":
      return `dead letter to ${event.actor.path}: ${event.message.tag}`
  }
}

const program = Effect.gen(function*() {
  const system = yield* ActorSystem.ActorSystem
  const events = yield* system.subscribe
  yield* Effect.forkScoped(Stream.runForEach(events, (e) => Console.log(`  [event] ${describe(e)}`)))

  const pipeline = yield* Actor.spawn(Pipeline, {
    name: "pipeline",
    children: "rest-for-one",
    supervision: Supervision.restart({ maxRestarts: 1 })
  })
  const [parse, enrich, store] = yield* pipeline.ask("Stages")
  for (const s of [parse!, enrich!, store!]) yield* s.ask("Process", { item: "a" })

  yield* Console.log("enrich fails: rest-for-one restarts enrich and store, parse keeps its count")
  yield* Effect.ignore(enrich!.ask("Fail"))
  yield* Effect.sleep("200 millis")
  yield* Console.log(
    `processed so far: parse ${yield* parse!.ask("Process", { item: "b" })}, enrich ${yield* enrich!.ask(
      "Process",
      { item: "b" }
    )}, store ${yield* store!.ask("Process", { item: "b" })}`
  )

  yield* Console.log("store fails 4 times within 10 seconds: it escalates, the pipeline restarts with new stages")
  for (let i = 0; i < 4; i++) {
    yield* Effect.ignore(store!.ask("Fail"))
    yield* Effect.sleep("500 millis")
  }
  const [freshParse] = yield* pipeline.ask("Stages")
  yield* Console.log(`the new parse stage starts from zero: ${yield* freshParse!.ask("Process", { item: "c" })}`)
  yield* Console.log(`the old store stage stopped: ${(yield* Actor.stats(store!)).status}`)
  yield* Effect.sleep("100 millis")
})

Effect.runFork(program.pipe(Effect.provide(ActorSystem.layer), Effect.scoped))
