/**
 * The actor system: the registry, dead letters, the inspection stream and
 * the actor metrics, as a service.
 *
 * `Actor.spawn` needs an `ActorSystem` in its context; `layer` provides one.
 * The system names actors (`lookup`), counts and publishes messages that
 * reached no actor (dead letters), publishes every lifecycle event on a
 * Stream (like XState's inspect API), and keeps Effect Metrics per actor
 * definition name: messages processed, processing time, mailbox size,
 * restarts, stops, dead letters and live actors. Actors count in plain fields
 * on their hot path; the metrics are brought up to date every second and on
 * `flushMetrics`. Closing the system stops every actor still running.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ActorExit, AnyRef } from "./Actor.ts"
import type * as Cause from "effect/Cause"
import { type Cell, mailboxSize as mailboxSizeOf, Runtime } from "./ActorCell.ts"
import { stop } from "./ActorLifecycle.ts"

// =============================================================================
// Events
// =============================================================================

/**
 * A lifecycle event of an actor system (`ActorSystem.events`): an actor
 * spawned, restarted by its supervisor, stopped (with its exit), or a message
 * that went to the dead letters (its actor had stopped, or its full mailbox
 * dropped it).
 *
 * ```ts
 * Stream.filter(system.events, (e) => e._tag === "DeadLetter")
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ActorEvent =
  | { readonly _tag: "Spawned"; readonly actor: AnyRef }
  | { readonly _tag: "Restarted"; readonly actor: AnyRef; readonly cause: Cause.Cause<unknown>; readonly restarts: number }
  | { readonly _tag: "Stopped"; readonly actor: AnyRef; readonly exit: ActorExit }
  | {
    readonly _tag: "DeadLetter"
    readonly actor: AnyRef
    readonly message: { readonly tag: string; readonly payload: unknown }
    readonly reason: "stopped" | "dropped"
  }

// =============================================================================
// Metrics
// =============================================================================

/**
 * Messages handled, per actor definition name (attribute `actor`).
 *
 * ```ts
 * yield* Metric.value(Metric.withAttributes(ActorSystem.messagesProcessed, { actor: "Counter" }))
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const messagesProcessed = Metric.counter("fiberloop_actor_messages_processed", {
  description: "Messages handled by actors",
  incremental: true
})

/**
 * Seconds spent in handlers, per actor definition name.
 *
 * ```ts
 * yield* Metric.value(Metric.withAttributes(ActorSystem.processingSeconds, { actor: "Counter" }))
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const processingSeconds = Metric.counter("fiberloop_actor_processing_seconds", {
  description: "Time actors spent handling messages"
})

/**
 * Messages waiting in mailboxes, per actor definition name.
 *
 * ```ts
 * yield* Metric.value(Metric.withAttributes(ActorSystem.mailboxSize, { actor: "Room" }))
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const mailboxSize = Metric.gauge("fiberloop_actor_mailbox_size", {
  description: "Messages waiting in actor mailboxes"
})

/**
 * Restarts by supervision, per actor definition name.
 *
 * ```ts
 * yield* Metric.value(Metric.withAttributes(ActorSystem.restarts, { actor: "Room" }))
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const restarts = Metric.counter("fiberloop_actor_restarts", {
  description: "Actor restarts",
  incremental: true
})

/**
 * Actors stopped, per actor definition name.
 *
 * ```ts
 * yield* Metric.value(Metric.withAttributes(ActorSystem.stops, { actor: "Room" }))
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const stops = Metric.counter("fiberloop_actor_stops", { description: "Actors stopped", incremental: true })

/**
 * Messages that reached no actor (stopped, or dropped by a full mailbox), per actor definition name.
 *
 * ```ts
 * yield* Metric.value(Metric.withAttributes(ActorSystem.deadLetters, { actor: "Room" }))
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const deadLetters = Metric.counter("fiberloop_actor_dead_letters", {
  description: "Messages sent to dead letters",
  incremental: true
})

/**
 * Actors running now.
 *
 * ```ts
 * yield* Metric.value(ActorSystem.actorsLive) // => { value: 3 }
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const actorsLive = Metric.gauge("fiberloop_actors_live", { description: "Actors running" })

// =============================================================================
// The service
// =============================================================================

/**
 * An actor system.
 *
 * **Example** (Watching the dead letters)
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const system = yield* ActorSystem.ActorSystem
 *   const events = yield* system.subscribe
 *   yield* Effect.forkScoped(Stream.runForEach(events, (e) => Effect.log(e._tag)))
 * }).pipe(Effect.provide(ActorSystem.layer))
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class ActorSystem extends Context.Service<ActorSystem, {
  /** The live actor registered under `name`. */
  readonly lookup: (name: string) => Effect.Effect<Option.Option<AnyRef>>
  /** Subscribes now (so nothing published after this is missed) to the lifecycle events. */
  readonly subscribe: Effect.Effect<Stream.Stream<ActorEvent>, never, Scope.Scope>
  /** The lifecycle events from when the stream starts. */
  readonly events: Stream.Stream<ActorEvent>
  /** Messages sent to dead letters so far. */
  readonly deadLetters: Effect.Effect<number>
  /** Actors running now. */
  readonly actors: Effect.Effect<number>
  /** Brings the actor metrics up to date. */
  readonly flushMetrics: Effect.Effect<void>
  /** @internal */
  readonly runtime: Runtime
}>()("fiberloop/actor/ActorSystem") {}

/**
 * The shape of the service.
 *
 * ```ts
 * const system: ActorSystem.ActorSystemShape = yield* ActorSystem.ActorSystem
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ActorSystemShape = ActorSystem["Service"]

/** Per definition name: its metrics (with the `actor` attribute) and what was flushed of the stopped ones. */
class NameMetrics {
  readonly processed: Metric.Metric<number, unknown>
  readonly seconds: Metric.Metric<number, unknown>
  readonly mailbox: Metric.Metric<number, unknown>
  readonly restarts: Metric.Metric<number, unknown>
  readonly stops: Metric.Metric<number, unknown>
  readonly deadLetters: Metric.Metric<number, unknown>
  constructor(name: string) {
    const attributes = { actor: name }
    this.processed = Metric.withAttributes(messagesProcessed, attributes)
    this.seconds = Metric.withAttributes(processingSeconds, attributes)
    this.mailbox = Metric.withAttributes(mailboxSize, attributes)
    this.restarts = Metric.withAttributes(restarts, attributes)
    this.stops = Metric.withAttributes(stops, attributes)
    this.deadLetters = Metric.withAttributes(deadLetters, attributes)
  }
}

/**
 * Makes an actor system; closing the scope stops its actors (top-level ones
 * in reverse order of spawn, each after its children).
 *
 * ```ts
 * const system = yield* ActorSystem.make({ eventsCapacity: 256 })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options?: {
  /** Events kept per slow subscriber before the oldest are dropped. Default: 1024. */
  readonly eventsCapacity?: number | undefined
  /** How often the metrics are brought up to date. Default: 1 second. */
  readonly metricsInterval?: number | undefined
}) {
  const events = yield* PubSub.sliding<ActorEvent>(options?.eventsCapacity ?? 1024)
  const context = yield* Effect.context<never>()
  const byName = new Map<string, NameMetrics>()
  const metricsOf = (name: string) => {
    let m = byName.get(name)
    if (m === undefined) byName.set(name, m = new NameMetrics(name))
    return m
  }
  const flushCell = (cell: Cell): void => {
    if (cell.processed === cell.flushedProcessed) return
    const m = metricsOf(cell.name)
    m.processed.updateUnsafe(cell.processed - cell.flushedProcessed, context)
    m.seconds.updateUnsafe((cell.processingMillis - cell.flushedMillis) / 1000, context)
    cell.flushedProcessed = cell.processed
    cell.flushedMillis = cell.processingMillis
  }
  const runtime = new Runtime(events, {
    restarted: (cell) => metricsOf(cell.name).restarts.updateUnsafe(1, context),
    deadLetter: (cell) => metricsOf(cell.name).deadLetters.updateUnsafe(1, context),
    stopped: (cell) => {
      flushCell(cell)
      metricsOf(cell.name).stops.updateUnsafe(1, context)
    }
  })
  const flush = (): void => {
    const mailbox = new Map<string, number>()
    for (const name of byName.keys()) mailbox.set(name, 0)
    for (const cell of runtime.all) {
      flushCell(cell)
      mailbox.set(cell.name, (mailbox.get(cell.name) ?? 0) + mailboxSizeOf(cell))
    }
    for (const [name, size] of mailbox) metricsOf(name).mailbox.updateUnsafe(size, context)
    actorsLive.updateUnsafe(runtime.all.size, context)
  }
  const interval = setInterval(flush, options?.metricsInterval ?? 1000)
  interval.unref()
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      const top = Array.from(runtime.root.children)
      for (let i = top.length - 1; i >= 0; i--) yield* stop(top[i]!, Exit.void)
      clearInterval(interval)
      flush()
      yield* PubSub.shutdown(events)
    })
  )
  return ActorSystem.of({
    lookup: (name) => Effect.sync(() => Option.fromUndefinedOr(runtime.names.get(name) as AnyRef | undefined)),
    subscribe: Effect.map(PubSub.subscribe(events), Stream.fromSubscription),
    events: Stream.fromPubSub(events),
    deadLetters: Effect.sync(() => runtime.deadLetters),
    actors: Effect.sync(() => runtime.all.size),
    flushMetrics: Effect.sync(flush),
    runtime
  })
})

/**
 * An actor system with the default options.
 *
 * ```ts
 * program.pipe(Effect.provide(ActorSystem.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<ActorSystem> = Layer.effect(ActorSystem, make())
