/**
 * The life of an actor's cell (internal: use `Actor` and `ActorSystem`): the
 * fiber that handles its mailbox, the supervision of a failure, and its end.
 *
 * An idle actor has no fiber: a message that lands in an empty mailbox starts
 * one (`start`), which builds the behaviour if needed, handles the mailbox a
 * batch at a time and ends when it is empty (the check and the release are one
 * synchronous step, so no message is stranded). A failure ends the incarnation
 * (its scope closes: timers, resources and children go, in reverse order) and
 * the same fiber applies the strategy: restart rebuilds and goes on with the
 * same mailbox, stop and escalate finish the cell. A restart that spreads to
 * siblings, a linked failure and an escalation interrupt the other cell's
 * fiber, close its incarnation and start a new fiber for it; a `generation`
 * number makes those races harmless. The cell itself (ref, mailbox, spawning,
 * links) is `ActorCell`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Rpc from "effect/rpc/Rpc"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import type { ActorContext, ActorExit } from "./Actor.ts"
import type { Cell, Envelope } from "./ActorCell.ts"

// =============================================================================
// Shared shapes
// =============================================================================

/** A cell's `state`: taking messages. */
export const RUNNING = 0
/** A cell's `state`: stopping from outside (no new messages). */
export const STOPPING = 1
/** A cell's `state`: ended. */
export const STOPPED = 2

/** The fiber reference naming the actor whose fiber is running (children attach to it). */
export const Parent = Context.Reference<Cell | undefined>("fiberloop/actor/Parent", { defaultValue: () => undefined })

/** Why a new fiber starts for a cell: first start, a failure to supervise, or a restart spread by a sibling. */
type Start = undefined | "restart" | Failure

/** A failure on its way to a cell's supervision. */
export interface Failure {
  readonly cause: Cause.Cause<unknown>
  /** Identifies one original failure as it travels over links, so a cycle of links stops. */
  readonly token: object
}

// =============================================================================
// Handling messages
// =============================================================================

/** Calls a handler; a handler that throws (or a tag with no handler) is a defect, not a crashed loop. */
const invoke = (cell: Cell, handlers: Record<string, (payload: unknown) => unknown>, env: Envelope): unknown => {
  try {
    const handler = handlers[env.tag]
    if (handler === undefined) return Effect.die(new Error(`actor ${cell.path} has no handler for ${env.tag}`))
    return handler(env.payload)
  } catch (defect) {
    return Effect.die(defect)
  }
}

/**
 * Sends a handler's outcome to its asker. Returns `undefined` when the actor
 * goes on, or the cause its supervisor must see (a defect or interruption).
 */
const settle = (cell: Cell, env: Envelope, exit: Exit.Exit<unknown, unknown>): Cause.Cause<unknown> | undefined => {
  if (Exit.isSuccess(exit) || !(Cause.hasDies(exit.cause) || Cause.hasInterrupts(exit.cause))) {
    if (env.reply !== undefined) Deferred.doneUnsafe(env.reply, exit)
    return undefined
  }
  const cause = exit.cause
  if (env.reply !== undefined) {
    Deferred.doneUnsafe(
      env.reply,
      Exit.fail(Cause.hasDies(cause) ? cell.error("Crashed", Cause.squash(cause)) : cell.error("ActorStopped"))
    )
  }
  return cause
}

/** Runs a handler that opted in to concurrency (`Rpc.fork`) in the incarnation's scope. */
const forkHandler = (cell: Cell, env: Envelope, effect: Effect.Effect<unknown, unknown>, scope: Scope.Scope) =>
  Effect.forkIn(
    Effect.onExit(effect, (exit) =>
      Effect.sync(() => {
        const cause = settle(cell, env, exit)
        if (cause !== undefined && !Cause.hasInterruptsOnly(cause)) crashDetached(cell, { cause, token: {} })
      })),
    scope
  )

const isWrapper = (u: unknown): u is Rpc.Wrapper<Effect.Effect<unknown, unknown>> =>
  typeof u === "object" && u !== null && Rpc.isWrapper(u)

/** Handles the mailbox until it is empty; fails with a cause the strategy must see. */
const handleAll = Effect.fnUntraced(function*(cell: Cell) {
  const handlers = cell.handlers!
  const scope = cell.incarnation!
  for (;;) {
    let batch = cell.batch
    if (batch === undefined) {
      if (Queue.sizeUnsafe(cell.queue) === 0) return
      batch = yield* Queue.takeAll(cell.queue)
      cell.batch = batch
      cell.index = 0
    }
    const start = performance.now()
    while (cell.index < batch.length) {
      const env = batch[cell.index++]!
      const result = invoke(cell, handlers, env)
      if (isWrapper(result) && result.fork) {
        cell.processed++
        yield* forkHandler(cell, env, result.value, scope)
        continue
      }
      cell.current = env
      const exit = yield* Effect.exit(isWrapper(result) ? result.value : result as Effect.Effect<unknown, unknown>)
      cell.current = undefined
      cell.processed++
      const cause = settle(cell, env, exit)
      if (cause === undefined) continue
      if (cell.strategy._tag === "Resume" && !Cause.hasInterruptsOnly(cause)) {
        cell.failures++
        yield* Effect.logWarning(`actor ${cell.path} resumed after a failure`, cause)
        continue
      }
      cell.processingMillis += performance.now() - start
      return yield* Effect.failCause(cause)
    }
    cell.processingMillis += performance.now() - start
    cell.batch = undefined
  }
})

/** Starts an incarnation: a fresh scope and context, the behaviour run in them. */
const build = (cell: Cell): Effect.Effect<void, unknown> =>
  Effect.suspend(() => {
    const scope = Scope.makeUnsafe()
    const context = Context.add(Context.add(cell.context, Parent, cell), Scope.Scope, scope)
    cell.incarnation = scope
    cell.incContext = context
    return Effect.map(
      Effect.provideContext(cell.actor.behaviour(actorContext(cell)) as Effect.Effect<any, unknown>, context),
      (handlers) => {
        cell.handlers = handlers
      }
    )
  })

/** Ends the incarnation: its scope closes (timers, resources, children in reverse order). */
const closeIncarnation = (cell: Cell, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const scope = cell.incarnation
    cell.incarnation = undefined
    cell.incContext = undefined
    cell.handlers = undefined
    return scope === undefined ? Effect.void : Scope.close(scope, exit)
  })

// =============================================================================
// Lifecycle
// =============================================================================

/**
 * Starts a fiber for the cell: it supervises a pending failure, builds the
 * behaviour if needed, handles the mailbox until it is empty, and ends. The
 * fiber starts on the scheduler's next turn, not inside the sender's call.
 */
export const start = (cell: Cell, why: Start): void => {
  cell.running = true
  cell.fiber = Effect.runForkWith(cell.context)(Effect.andThen(Effect.yieldNow, run(cell, why)) as Effect.Effect<void>)
}

/** The body of a cell's fiber. */
const run = Effect.fnUntraced(function*(cell: Cell, why: Start) {
  const generation = cell.generation
  let pending = why
  for (;;) {
    if (pending !== undefined && pending !== "restart" && !(yield* supervise(cell, pending))) return
    if (pending !== undefined || cell.handlers === undefined) {
      pending = undefined
      const built = yield* Effect.exit(build(cell))
      if (Exit.isFailure(built)) {
        if (Cause.hasInterruptsOnly(built.cause)) return
        yield* closeIncarnation(cell, built)
        pending = { cause: built.cause, token: {} }
        continue
      }
    }
    const exit = yield* Effect.exit(Effect.provideContext(handleAll(cell), cell.incContext!))
    if (Exit.isSuccess(exit)) {
      // checked and released in one synchronous step: a message offered after this starts a new fiber
      if (cell.batch === undefined && Queue.sizeUnsafe(cell.queue) === 0) {
        if (cell.generation === generation) {
          cell.running = false
          cell.fiber = undefined
        }
        return
      }
      continue
    }
    if (Cause.hasInterruptsOnly(exit.cause)) return
    yield* closeIncarnation(cell, exit)
    pending = { cause: exit.cause, token: {} }
  }
})

/** Applies the cell's strategy to a failure; `true` means build a new incarnation. */
const supervise = Effect.fnUntraced(function*(cell: Cell, failure: Failure) {
  const { cause } = failure
  cell.failures++
  notifyLinks(cell, failure.token)
  const strategy = cell.strategy
  if (strategy._tag === "Escalate") {
    yield* escalate(cell, cause)
    return false
  }
  if (strategy._tag !== "Restart") {
    yield* finish(cell, Exit.failCause(cause))
    return false
  }
  const now = yield* Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))
  const times = (cell.restartTimes ??= []).filter((t) => now - t < strategy.withinMillis)
  cell.restartTimes = times
  if (times.length === 0) cell.backoff = undefined
  if (times.length >= strategy.maxRestarts) {
    yield* escalate(cell, cause)
    return false
  }
  times.push(now)
  const group = cell.group
  const restartGroup = Effect.gen(function*() {
    const siblings = affected(cell)
    for (let i = siblings.length - 1; i >= 0; i--) yield* suspend(siblings[i]!)
    let exhausted = false
    if (strategy.backoff !== undefined) {
      const step = cell.backoff ??= yield* Schedule.toStepWithSleep(strategy.backoff)
      exhausted = Exit.isFailure(yield* Effect.exit(step(undefined)))
    }
    for (const sibling of siblings) {
      if (sibling.state !== RUNNING) continue
      start(sibling, "restart")
      restarted(sibling, cause)
      yield* Effect.logWarning(`actor ${sibling.path} restarting with ${cell.path} (${group.strategy})`)
    }
    return exhausted
  })
  const exhausted = group.strategy === "one-for-one" ?
    yield* restartGroup :
    yield* (group.lock ??= Semaphore.makeUnsafe(1)).withPermit(restartGroup)
  if (exhausted) {
    yield* escalate(cell, cause)
    return false
  }
  restarted(cell, cause)
  yield* Effect.logWarning(`actor ${cell.path} restarting (restart ${cell.restarts})`, cause)
  return true
})

/** Counts, reports and publishes a restart. */
const restarted = (cell: Cell, cause: Cause.Cause<unknown>): void => {
  cell.restarts++
  cell.runtime.hooks.restarted(cell)
  cell.runtime.publish({ _tag: "Restarted", actor: cell, cause, restarts: cell.restarts })
}

/** The siblings a restart of `cell` takes along, in spawn order. */
const affected = (cell: Cell): Array<Cell> => {
  const group = cell.group
  if (group.strategy === "one-for-one") return []
  const out: Array<Cell> = []
  let after = false
  for (const sibling of group.children) {
    if (sibling === cell) after = true
    else if (group.strategy === "one-for-all" || after) out.push(sibling)
  }
  return out
}

/** Ends a sibling's incarnation so that it can be started again. */
const suspend = (cell: Cell): Effect.Effect<void> =>
  Effect.suspend(() => {
    cell.generation++
    cell.running = true
    const fiber = cell.fiber
    cell.fiber = undefined
    const close = closeIncarnation(cell, Exit.void)
    return fiber === undefined ? close : Effect.andThen(Fiber.interrupt(fiber), close)
  })

/** Stops the cell and fails its parent (or just stops it at the top level). */
const escalate = (cell: Cell, cause: Cause.Cause<unknown>): Effect.Effect<void> =>
  Effect.andThen(finish(cell, Exit.failCause(cause)), () => {
    const owner = cell.group.owner
    if (owner === undefined) return Effect.logError(`actor ${cell.path} escalated at the top level: stopped`, cause)
    crashDetached(owner, { cause: Cause.die(cell.error("Escalated", Cause.squash(cause))), token: {} })
    return Effect.logWarning(`actor ${cell.path} escalated to ${owner.path}`, cause)
  })

const notifyLinks = (cell: Cell, token: object): void => {
  cell.lastToken = token
  if (cell.links === undefined) return
  for (const linked of cell.links) {
    if (linked.lastToken === token) continue
    crashDetached(linked, { cause: Cause.die(cell.error("Linked")), token })
  }
}

/** Makes another cell fail with `failure`, as if one of its handlers had died; runs in a fiber of its own. */
const crashDetached = (cell: Cell, failure: Failure): void => {
  if (cell.state !== RUNNING || cell.lastToken === failure.token) return
  if (cell.strategy._tag === "Resume") {
    cell.failures++
    cell.lastToken = failure.token
    Effect.runForkWith(cell.context)(Effect.logWarning(`actor ${cell.path} resumed after a failure`, failure.cause))
    return
  }
  const generation = ++cell.generation
  cell.running = true
  const fiber = cell.fiber
  cell.fiber = undefined
  Effect.runForkWith(cell.context)(Effect.suspend(() => {
    const go = Effect.andThen(
      closeIncarnation(cell, Exit.failCause(failure.cause)),
      Effect.sync(() => {
        if (cell.state === RUNNING && cell.generation === generation) start(cell, failure)
      })
    )
    return fiber === undefined ? go : Effect.andThen(Fiber.interrupt(fiber), go)
  }))
}

/** Fails the asks still queued, sends the queued messages to the dead letters, closes the mailbox. */
const drain = (cell: Cell): void => {
  const runtime = cell.runtime
  if (cell.current?.reply !== undefined) Deferred.doneUnsafe(cell.current.reply, Exit.fail(cell.error("ActorStopped")))
  cell.current = undefined
  const dead = (env: Envelope) => {
    runtime.deadLetter(cell, env, "stopped")
    if (env.reply !== undefined) Deferred.doneUnsafe(env.reply, Exit.fail(cell.error("ActorStopped")))
  }
  if (cell.batch !== undefined) {
    for (let i = cell.index; i < cell.batch.length; i++) dead(cell.batch[i]!)
    cell.batch = undefined
  }
  for (;;) {
    const taken = Queue.takeUnsafe(cell.queue)
    if (taken === undefined || Exit.isFailure(taken)) break
    dead(taken.value)
  }
  Queue.shutdownUnsafe(cell.queue)
}

/** The end of a cell: mailbox drained, name freed, watchers told, event published; after its fiber ended. */
const finish = (cell: Cell, exit: ActorExit): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (cell.state === STOPPED) return Effect.void
    cell.state = STOPPED
    cell.exit = exit
    cell.fiber = undefined
    drain(cell)
    const runtime = cell.runtime
    if (cell.registered && runtime.names.get(cell.path) === cell) runtime.names.delete(cell.path)
    cell.group.children.delete(cell)
    runtime.all.delete(cell)
    if (cell.links !== undefined) {
      for (const linked of cell.links) linked.links?.delete(cell)
      cell.links = undefined
    }
    if (cell.stopped !== undefined) Deferred.doneUnsafe(cell.stopped, Exit.succeed(exit))
    runtime.hooks.stopped(cell)
    runtime.publish({ _tag: "Stopped", actor: cell, exit })
    const log = Exit.isSuccess(exit) ?
      Effect.logDebug(`actor ${cell.path} stopped`) :
      Effect.logWarning(`actor ${cell.path} stopped on failure`, exit.cause)
    return Effect.andThen(log, Scope.close(cell.scope, Exit.void))
  })

/**
 * Stops a cell from outside: no new messages, its fiber interrupted (its
 * incarnation closes: children stop in reverse order), then finished. Runs
 * in the fiber closing the cell's scope; `stopDetached` is for callers that
 * may be the cell itself or one of its children.
 */
export const stop = (cell: Cell, exit: ActorExit): Effect.Effect<void> =>
  Effect.uninterruptible(Effect.suspend(() => {
    if (cell.state !== RUNNING) return Effect.void
    cell.state = STOPPING
    cell.generation++
    const fiber = cell.fiber
    cell.fiber = undefined
    const wait = fiber === undefined || fiber === Fiber.getCurrent() ? Effect.void : Fiber.interrupt(fiber)
    return Effect.andThen(Effect.andThen(wait, closeIncarnation(cell, exit)), finish(cell, exit))
  }))

/** What a behaviour gets: methods on a class, so a cell costs no closures for it. */
class Context_ {
  readonly self: Cell
  constructor(self: Cell) {
    this.self = self
  }
  after(delay: Duration.Input, tag: string, payload?: unknown): Effect.Effect<Fiber.Fiber<void>> {
    return timer(this.self, Effect.delay(Effect.ignore(this.self.tell(tag, payload)), delay))
  }
  every(interval: Duration.Input, tag: string, payload?: unknown): Effect.Effect<Fiber.Fiber<void>> {
    const tell = Effect.ignore(this.self.tell(tag, payload))
    return timer(this.self, Effect.forever(Effect.andThen(Effect.sleep(interval), tell)))
  }
  get stop(): Effect.Effect<void> {
    return stopDetached(this.self)
  }
}

/**
 * Stops a cell; called from inside an actor, in a fiber of its own, waited
 * for interruptibly: an actor stopping itself, or a child stopping its parent
 * (which stops the child on the way), must not wait for its own end.
 */
export const stopDetached = (cell: Cell): Effect.Effect<void> =>
  Effect.withFiber((fiber) =>
    fiber.getRef(Parent) === undefined ?
      stop(cell, Exit.void) :
      Fiber.join(Effect.runForkWith(cell.context)(stop(cell, Exit.void)))
  )

const actorContext = (cell: Cell): ActorContext<any> => new Context_(cell) as unknown as ActorContext<any>

/** A timer lives in the current incarnation's scope: a restart or stop cancels it. */
const timer = (cell: Cell, effect: Effect.Effect<void>): Effect.Effect<Fiber.Fiber<void>> =>
  Effect.suspend(() =>
    cell.incarnation === undefined ? Effect.forkDetach(Effect.void) : Effect.forkIn(effect, cell.incarnation)
  )

