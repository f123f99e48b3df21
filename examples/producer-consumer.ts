/**
 * Producers and consumers over channels, with `select`.
 *
 *   npx node examples/producer-consumer.ts
 *
 * Two producers feed a bounded `jobs` channel (backpressure: they wait when it
 * is full) and one feeds a small `urgent` channel. Three workers `select` over
 * both, urgent first, with a timeout so an idle worker notices; a channel that
 * closes drops out of a worker's select (Go's nil-channel idiom), and a worker
 * stops when both are closed. Results go through a third channel to a
 * collector reading it as a Stream. It prints what each worker did, then exits.
 *
 * fiberloop's channels are `Sync.Channel` at the package root (in an app:
 * `import { Sync } from "fiberloop"`), so they never clash with `effect/Channel`;
 * `import { Channel } from "fiberloop/sync"` is the unprefixed alternative.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { Sync } from "../src/index.ts"

interface Result {
  readonly worker: number
  readonly job: string
  readonly urgent: boolean
}

const program = Effect.gen(function*() {
  const jobs = yield* Sync.Channel.make<string>({ capacity: 4 })
  const urgent = yield* Sync.Channel.make<string>({ capacity: 1 })
  const results = yield* Sync.Channel.make<Result>({ capacity: "unbounded" })

  const producer = (name: string, count: number, channel: Sync.Channel.Channel<string>, pause: Duration.Input) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => `${name}-${i + 1}`),
      (job) => Effect.andThen(channel.send(job), Effect.sleep(pause)),
      { discard: true }
    )

  const worker = (id: number) =>
    Effect.gen(function*() {
      let idle = 0
      let open = { urgent: true, jobs: true }
      while (open.urgent || open.jobs) {
        const cases = [
          ...(open.urgent ? [Sync.Channel.onReceive(urgent)] : []),
          ...(open.jobs ? [Sync.Channel.onReceive(jobs)] : [])
        ]
        const r = yield* Sync.Channel.select(cases, { timeout: "30 millis" })
        switch (r._tag) {
          case "Received": {
            const isUrgent = cases[r.index].channel === urgent
            yield* Effect.sleep(isUrgent ? "2 millis" : "10 millis") // the work
            yield* results.send({ worker: id, job: r.value, urgent: isUrgent })
            break
          }
          case "Closed":
            open = cases[r.index].channel === urgent ? { ...open, urgent: false } : { ...open, jobs: false }
            break
          case "Timeout":
            idle++
            break
        }
      }
      return idle
    })

  const workers = yield* Effect.forEach([1, 2, 3], (id) => Effect.forkChild(worker(id)))
  const collector = yield* Effect.forkChild(Stream.runCollect(Sync.Channel.toStream(results)))

  yield* Effect.all([
    producer("a", 8, jobs, "1 millis"),
    producer("b", 8, jobs, "3 millis"),
    Effect.andThen(Effect.sleep("20 millis"), producer("urgent", 4, urgent, "40 millis"))
  ], { concurrency: "unbounded", discard: true })
  yield* jobs.close
  yield* urgent.close

  const idle = yield* Fiber.joinAll(workers)
  yield* results.close
  const done = yield* Fiber.join(collector)

  for (const [i, id] of [1, 2, 3].entries()) {
    const mine = done.filter((r) => r.worker === id)
    yield* Console.log(
      `worker ${id}: ${mine.length} jobs (${mine.filter((r) => r.urgent).length} urgent), ` +
        `idle ${idle[i]} time(s): ${mine.map((r) => r.job).join(" ")}`
    )
  }
  const urgentDone = done.filter((r) => r.urgent).map((r) => r.job)
  yield* Console.log(`${done.length} jobs done; urgent ones: ${urgentDone.join(", ")}`)
  // A non-blocking poll on the drained, closed channels.
  const last = yield* Sync.Channel.select(
    [Sync.Channel.onReceive(jobs), Sync.Channel.onReceive(urgent)],
    { default: true }
  )
  yield* Console.log(`after close, select reports: ${last._tag}`)
})

NodeRuntime.runMain(program)
