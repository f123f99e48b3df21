/**
 * The `fiberloop` command: `fiberloop run script.ts` runs a script as the
 * first thread of a running Copas loop, like Copas's `copas` runtime script.
 *
 * The script runs as the thread `copas_initializer`, so its top level may
 * block (`await copas.pause(1)`); the Copas and socketloop instances are the
 * process's (`import { copas } from "fiberloop/coro"`) and are also set as the
 * globals `copas` and `socketloop`. The command returns when the loop has
 * nothing left to run. `--stats` prints live counts to stderr every second.
 * SIGINT or SIGTERM stops gracefully: servers stop accepting, the loop exits
 * (releasing `waitforexit` waiters) and gets `--drain` seconds to finish, then
 * every thread is cancelled; a second signal exits at once. The exit code is
 * 0, or 1 when the script's own thread failed, or 130 after a signal.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { getDefault } from "../coro/copas.ts"
import { socketloop } from "../coro/socketloop.ts"
import * as Stats from "../Stats.ts"

/**
 * The script's own thread failed (its error was printed by the error handler).
 *
 * **Example** (Telling it from other failures)
 *
 * ```ts
 * Effect.catchTag(program, "ScriptFailed", (e) => Effect.log(e.script))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ScriptFailed extends Data.TaggedError("ScriptFailed")<{ readonly script: string }> {}

const statsLine = Effect.gen(function*() {
  const s = getDefault().status()
  const servers = yield* Stats.snapshot
  return `[fiberloop] threads=${s.threads} reading=${s.read} writing=${s.write} sleeping=${s.timer} ` +
    `waiting=${s.inactive} timeouts=${s.timeout} sockets=${s.sockets} connections=${servers.active}/${servers.accepted} ` +
    `bytes in=${s.bytesRead + servers.bytesRead} out=${s.bytesWritten + servers.bytesWritten}\n`
})

const printStats = Effect.flatMap(statsLine, (line) => Effect.sync(() => process.stderr.write(line)))

/** Stops gracefully: no new clients, exit, `drain` seconds, then cancel everything. */
const stop = (loopDone: Promise<void>, drain: number) =>
  Effect.promise(async () => {
    const copas = getDefault()
    let signals = 1
    const force = () => {
      if (++signals >= 2) process.exit(130)
    }
    process.on("SIGINT", force)
    process.on("SIGTERM", force)
    process.stderr.write(`[fiberloop] stopping: draining for up to ${drain} s (signal again to force)\n`)
    copas.shutdown()
    let timer: ReturnType<typeof setTimeout> | undefined
    const drained = await Promise.race([
      loopDone.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), drain * 1000)))
    ])
    clearTimeout(timer)
    if (!drained) {
      copas.cancelall()
      for (const thread of [...copas.runtime.threads]) copas.removethread(thread)
      await Promise.race([loopDone, new Promise((r) => setTimeout(r, 1000))])
    }
  })

const run = Command.make("run", {
  script: Argument.String("script").pipe(Argument.withDescription("The script to run (.ts or .js)")),
  args: Argument.String("args").pipe(
    Argument.withDescription("Arguments for the script (its process.argv.slice(2))"),
    Argument.variadic()
  ),
  stats: Flag.Boolean("stats").pipe(Flag.withDescription("Print live counts to stderr every second"), Flag.withDefault(false)),
  drain: Flag.Finite("drain").pipe(
    Flag.withDescription("Seconds a signal leaves the loop to finish before cancelling"),
    Flag.withDefault(5)
  )
}, ({ args, drain, script, stats }) =>
  Effect.gen(function*() {
    const path = resolve(script)
    const copas = getDefault()
    const globals = globalThis as { copas?: unknown; socketloop?: unknown }
    globals.copas = copas
    globals.socketloop = socketloop
    process.argv = [process.argv[0]!, path, ...args]
    const init = copas.runtime.spawn(() => import(pathToFileURL(path).href), [], {
      name: "copas_initializer",
      defer: true
    })
    const loopDone = copas.loop()
    if (stats) {
      yield* printStats.pipe(Effect.delay("1 second"), Effect.forever, Effect.forkScoped)
    }
    yield* Effect.promise(() => loopDone).pipe(Effect.onInterrupt(() => stop(loopDone, drain)))
    if (stats) yield* printStats
    if (init.exit?._tag === "Failure") return yield* new ScriptFailed({ script })
  }).pipe(Effect.scoped)).pipe(
    Command.withDescription("Run a script with the Copas loop started and the coroutine API available")
  )

/**
 * The `fiberloop` command and its subcommands.
 *
 * **Example** (Running it from another entry point)
 *
 * ```ts
 * Command.run(command, { version: "0.1.0" })
 * ```
 *
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make("fiberloop").pipe(
  Command.withDescription("fiberloop: network concurrency for Effect"),
  Command.withSubcommands([run])
)

NodeRuntime.runMain(
  Command.run(command, { version: "0.1.0" }).pipe(Effect.provide(NodeServices.layer)),
  { disableErrorReporting: true }
)
