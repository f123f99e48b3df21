/**
 * An actor's cell (internal: use `Actor` and `ActorSystem`): its ref and its
 * machinery in one object, the system's state, spawning, watching and links.
 *
 * A cell holds a mailbox (an Effect `Queue` of envelopes), the handlers of its
 * current incarnation (built by the behaviour in a fresh `Scope`), and the
 * bookkeeping supervision needs. `tell` and `ask` offer to the mailbox by the
 * actor's `whenFull` policy; a message that lands in an empty mailbox starts
 * the cell's fiber. What that fiber does, how a failure is supervised and how
 * a cell ends is `ActorLifecycle`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Hash from "effect/Hash"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import type { ActorExit, Any, AskOptions, Policy, SpawnOptions } from "./Actor.ts"
import { ActorError, type Reason } from "./ActorError.ts"
import { RUNNING, start, stop, STOPPED, STOPPING } from "./ActorLifecycle.ts"
import type { ActorEvent } from "./ActorSystem.ts"
import type * as Supervision from "./Supervision.ts"

const DEFAULT_CAPACITY = 1024

// =============================================================================
// The system's state
// =============================================================================

/** What a system holds: names, top-level actors, counts, the event hub. */
export class Runtime {
  nextId = 0
  deadLetters = 0
  readonly names = new Map<string, Cell>()
  readonly root = new Group(undefined, "one-for-one")
  readonly all = new Set<Cell>()
  readonly events: PubSub.PubSub<ActorEvent>
  readonly hooks: RuntimeHooks
  constructor(events: PubSub.PubSub<ActorEvent>, hooks: RuntimeHooks) {
    this.events = events
    this.hooks = hooks
  }
  publish(event: ActorEvent): void {
    PubSub.publishUnsafe(this.events, event)
  }
  deadLetter(cell: Cell, env: Envelope, reason: "stopped" | "dropped"): void {
    this.deadLetters++
    cell.deadLetters++
    this.hooks.deadLetter(cell)
    this.publish({ _tag: "DeadLetter", actor: cell, message: { tag: env.tag, payload: env.payload }, reason })
  }
}

/** What the system does when an actor restarts, stops, or dead-letters a message (metrics). */
export interface RuntimeHooks {
  readonly restarted: (cell: Cell) => void
  readonly stopped: (cell: Cell) => void
  readonly deadLetter: (cell: Cell) => void
}

/** A parent's children, in spawn order, and how a restart spreads among them. */
export class Group {
  readonly owner: Cell | undefined
  readonly strategy: Supervision.Group
  readonly children = new Set<Cell>()
  lock: Semaphore.Semaphore | undefined
  constructor(owner: Cell | undefined, strategy: Supervision.Group) {
    this.owner = owner
    this.strategy = strategy
  }
}

/** A message in a mailbox, with the asker's reply when it is an ask. */
export class Envelope {
  readonly tag: string
  readonly payload: unknown
  readonly reply: Deferred.Deferred<any, any> | undefined
  constructor(tag: string, payload: unknown, reply: Deferred.Deferred<any, any> | undefined) {
    this.tag = tag
    this.payload = payload
    this.reply = reply
  }
}

// =============================================================================
// The cell
// =============================================================================

/** One actor: its ref, mailbox, fiber and supervision bookkeeping. */
export class Cell {
  readonly id: number
  readonly name: string
  readonly path: string
  readonly actor: Any
  readonly runtime: Runtime
  readonly queue: Queue.Queue<Envelope>
  readonly policy: Policy
  readonly strategy: Supervision.Strategy
  readonly group: Group
  readonly childStrategy: Supervision.Group
  readonly registered: boolean
  /** The spawner's services: the cell's fibers run with them (incarnations add `Parent` and `Scope`). */
  readonly context: Context.Context<never>
  /** Forked from the spawn scope; closing it stops the cell and detaches it from that scope. */
  readonly scope: Scope.Closeable
  state = RUNNING
  generation = 0
  /** A fiber is handling (or about to handle) the mailbox; an idle actor has none. */
  running = false
  fiber: Fiber.Fiber<void> | undefined = undefined
  incarnation: Scope.Closeable | undefined = undefined
  /** The incarnation's context: the spawner's, with `Parent` and the incarnation `Scope`. */
  incContext: Context.Context<never> | undefined = undefined
  handlers: Record<string, (payload: unknown) => unknown> | undefined = undefined
  batch: Array<Envelope> | undefined = undefined
  index = 0
  current: Envelope | undefined = undefined
  children: Group | undefined = undefined
  links: Set<Cell> | undefined = undefined
  lastToken: object | undefined = undefined
  exit: ActorExit | undefined = undefined
  stopped: Deferred.Deferred<ActorExit> | undefined = undefined
  restartTimes: Array<number> | undefined = undefined
  backoff: ((input: unknown) => Effect.Effect<unknown, unknown>) | undefined = undefined
  processed = 0
  processingMillis = 0
  failures = 0
  restarts = 0
  deadLetters = 0
  /** The counts already flushed into the Effect metrics. */
  flushedProcessed = 0
  flushedMillis = 0

  constructor(
    runtime: Runtime,
    actor: Any,
    queue: Queue.Queue<Envelope>,
    options: SpawnOptions | undefined,
    group: Group,
    context: Context.Context<never>,
    scope: Scope.Scope,
    strategy: Supervision.Strategy
  ) {
    this.id = ++runtime.nextId
    this.name = actor.name
    this.registered = options?.name !== undefined
    this.path = options?.name ?? `${actor.name}#${this.id}`
    this.actor = actor
    this.runtime = runtime
    this.queue = queue
    this.policy = options?.whenFull ?? "suspend"
    this.strategy = strategy
    this.group = group
    this.childStrategy = options?.children ?? "one-for-one"
    this.context = context
    this.scope = Scope.forkUnsafe(scope)
  }

  [Equal.symbol](that: unknown): boolean {
    return this === that
  }

  [Hash.symbol](): number {
    return Hash.number(this.id)
  }

  toString(): string {
    return `ActorRef(${this.path})`
  }

  error(reason: Reason, cause?: unknown): ActorError {
    return new ActorError(cause === undefined ? { reason, actor: this.path } : { reason, actor: this.path, cause })
  }

  tell(tag: string, payload?: unknown): Effect.Effect<void, ActorError> {
    return Effect.suspend(() => this.offerTell(new Envelope(tag, payload, undefined)))
  }

  ask(tag: string, payload?: unknown, options?: AskOptions): Effect.Effect<unknown, unknown> {
    const ask = Effect.suspend(() => this.offerAsk(new Envelope(tag, payload, Deferred.makeUnsafe())))
    return options?.timeout === undefined ? ask : Effect.timeoutOrElse(ask, {
      duration: options.timeout as Duration.Input,
      orElse: () => Effect.fail(this.error("AskTimeout"))
    })
  }

  private offerTell(env: Envelope): Effect.Effect<void, ActorError> {
    if (this.state !== RUNNING) {
      this.runtime.deadLetter(this, env, "stopped")
      return Effect.void
    }
    if (Queue.offerUnsafe(this.queue, env)) {
      if (!this.running) start(this, undefined)
      return Effect.void
    }
    if (this.policy === "suspend") {
      return Effect.map(Queue.offer(this.queue, env), (ok) => {
        if (!ok) this.runtime.deadLetter(this, env, "stopped")
      })
    }
    if (this.policy === "fail") return Effect.fail(this.error("MailboxFull"))
    this.runtime.deadLetter(this, env, "dropped")
    return Effect.void
  }

  private offerAsk(env: Envelope): Effect.Effect<unknown, unknown> {
    const reply = env.reply!
    if (this.state !== RUNNING) {
      this.runtime.deadLetter(this, env, "stopped")
      return Effect.fail(this.error("ActorStopped"))
    }
    if (Queue.offerUnsafe(this.queue, env)) {
      if (!this.running) start(this, undefined)
      return Deferred.await(reply)
    }
    if (this.policy === "suspend") {
      return Effect.flatMap(Queue.offer(this.queue, env), (ok) => {
        if (ok) return Deferred.await(reply)
        this.runtime.deadLetter(this, env, "stopped")
        return Effect.fail(this.error("ActorStopped"))
      })
    }
    if (this.policy === "drop") this.runtime.deadLetter(this, env, "dropped")
    return Effect.fail(this.error("MailboxFull"))
  }
}

// =============================================================================
// Spawning, watching, linking
// =============================================================================

/** Creates and starts a cell; fails with `NameTaken` when the name is registered. */
export const spawn = (
  runtime: Runtime,
  actor: Any,
  options: SpawnOptions | undefined,
  strategy: Supervision.Strategy,
  context: Context.Context<never>,
  scope: Scope.Scope,
  parent: Cell | undefined
): Effect.Effect<Cell, ActorError> => {
  const name = options?.name
  if (name !== undefined && runtime.names.has(name)) {
    return Effect.fail(new ActorError({ reason: "NameTaken", actor: name }))
  }
  const capacity = options?.capacity ?? DEFAULT_CAPACITY
  const makeQueue = capacity === "unbounded" ? Queue.unbounded<Envelope>() : Queue.bounded<Envelope>(capacity)
  return Effect.flatMap(makeQueue, (queue) => {
    if (name !== undefined && runtime.names.has(name)) {
      return Effect.fail(new ActorError({ reason: "NameTaken", actor: name }))
    }
    const group = parent === undefined ? runtime.root : (parent.children ??= new Group(parent, parent.childStrategy))
    const cell = new Cell(runtime, actor, queue, options, group, context, scope, strategy)
    if (name !== undefined) runtime.names.set(name, cell)
    group.children.add(cell)
    runtime.all.add(cell)
    return Effect.map(Scope.addFinalizer(cell.scope, Effect.suspend(() => stop(cell, Exit.void))), () => {
      runtime.publish({ _tag: "Spawned", actor: cell })
      if (cell.state === RUNNING) start(cell, undefined)
      return cell
    })
  })
}

/** Completes with the cell's exit once it has stopped. */
export const watch = (cell: Cell): Effect.Effect<ActorExit> =>
  Effect.suspend(() =>
    cell.exit !== undefined ? Effect.succeed(cell.exit) : Deferred.await(cell.stopped ??= Deferred.makeUnsafe())
  )

/** Links two cells: a failure of either fails the other. */
export const link = (a: Cell, b: Cell): Effect.Effect<void, ActorError> =>
  Effect.suspend(() => {
    if (a.state !== RUNNING) return Effect.fail(a.error("ActorStopped"))
    if (b.state !== RUNNING) return Effect.fail(b.error("ActorStopped"))
    ;(a.links ??= new Set()).add(b)
    ;(b.links ??= new Set()).add(a)
    return Effect.void
  })

/** Removes a link. */
export const unlink = (a: Cell, b: Cell): Effect.Effect<void> =>
  Effect.sync(() => {
    a.links?.delete(b)
    b.links?.delete(a)
  })

/** `true` for a ref made by this runtime. */
export const isCell = (u: unknown): u is Cell => u instanceof Cell

/** The mailbox size of a cell (0 once stopped). */
export const mailboxSize = (cell: Cell): number =>
  cell.state === STOPPED ? 0 : Queue.sizeUnsafe(cell.queue) + (cell.batch === undefined ? 0 : cell.batch.length - cell.index)

/** `"running"`, `"stopping"` or `"stopped"`. */
export const status = (cell: Cell): "running" | "stopping" | "stopped" =>
  cell.state === RUNNING ? "running" : cell.state === STOPPING ? "stopping" : "stopped"
