/**
 * The one typed error of fiberloop's actors, with a `reason`.
 *
 * What can go wrong when talking to an actor (an ask that timed out, a full
 * mailbox with the `"fail"` policy, a stopped actor, a registry name already
 * taken, a handler that crashed on the asked message) is an `ActorError`; the
 * errors a protocol declares itself (its Rpc `error` Schemas) stay separate and
 * typed per message. It is a Schema error, so it crosses the wire unchanged
 * when the same actors run on effect/cluster.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why an actor operation failed.
 *
 * - `AskTimeout`: no reply within the ask's `timeout` (the message may still be
 *   processed; its reply is discarded).
 * - `MailboxFull`: the mailbox was full and its policy is `"fail"` (or `"drop"`
 *   for an ask, which cannot be dropped silently).
 * - `ActorStopped`: the actor had stopped, or stopped before the message was
 *   handled (the message went to the dead letters).
 * - `NameTaken`: another live actor is registered under that name.
 * - `Crashed`: the handler of the asked message died (a defect): the
 *   supervisor saw the failure, the asker gets this.
 * - `Escalated`: a child failed beyond its restart intensity and escalated:
 *   the cause its parent's supervisor sees.
 * - `Linked`: a linked actor failed: the cause the other side's supervisor sees.
 *
 * ```ts
 * const timedOut = (e: ActorError) => e.reason === "AskTimeout"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Reason = "AskTimeout" | "MailboxFull" | "ActorStopped" | "NameTaken" | "Crashed" | "Escalated" | "Linked"

/**
 * A failed actor operation: `reason` says which, `actor` names the actor it
 * concerns (its registered name, or its definition name and id), `cause` keeps
 * the defect for `Crashed`, `Escalated` and `Linked`.
 *
 * **Example** (Telling a timeout apart)
 *
 * ```ts
 * ref.ask("Get", undefined, { timeout: "1 second" }).pipe(
 *   Effect.catchTag("ActorError", (e) => e.reason === "AskTimeout" ? Effect.succeed(0) : Effect.fail(e))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ActorError extends Schema.TaggedError<ActorError>()("ActorError", {
  reason: Schema.Literals(["AskTimeout", "MailboxFull", "ActorStopped", "NameTaken", "Crashed", "Escalated", "Linked"]),
  actor: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    switch (this.reason) {
      case "AskTimeout":
        return `ask to ${this.actor} timed out`
      case "MailboxFull":
        return `mailbox of ${this.actor} is full`
      case "ActorStopped":
        return `actor ${this.actor} has stopped`
      case "NameTaken":
        return `actor name ${this.actor} is taken`
      case "Crashed":
        return `actor ${this.actor} crashed handling the message`
      case "Escalated":
        return `child ${this.actor} failed beyond its restart intensity`
      case "Linked":
        return `linked actor ${this.actor} failed`
    }
  }
}
