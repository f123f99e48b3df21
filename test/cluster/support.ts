/**
 * Runner processes for the cluster suite: spawned with Node 24 (this process's `execPath`), ready when
 * they print their port, killed by PID when the scope closes (or the test process exits).
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { createInterface } from "node:readline"

const fixture = fileURLToPath(new URL("./fixtures/runner.ts", import.meta.url))

/** A runner that exited before printing its port (`output`: its exit status and stderr). */
export class RunnerStartError extends Data.TaggedError("RunnerStartError")<{ readonly output: string }> {
  override get message() {
    return this.output
  }
}

/** How a runner process ended. */
export interface RunnerExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running runner process. */
export interface RunnerProcess {
  readonly name: string
  readonly port: number
  readonly child: ChildProcess
  /** Completes when the process has exited. */
  readonly exit: Deferred.Deferred<RunnerExit>
  /** Everything it wrote to stderr (for failure messages). */
  readonly output: () => string
}

/** Sends `signal` to the runner's PID (only if it still runs). */
export const signal = (runner: RunnerProcess, signal: NodeJS.Signals) =>
  Effect.sync(() => {
    if (runner.child.exitCode === null && runner.child.signalCode === null) runner.child.kill(signal)
  })

/**
 * Starts `test/cluster/fixtures/runner.ts` against `url`; killed (SIGKILL, by PID) with the scope.
 *
 * @example
 * const a = yield* spawnRunner({ name: "a", url: pg.url })
 */
export const spawnRunner = (options: {
  readonly name: string
  readonly url: string
  readonly transport?: "fiberloop" | "node" | undefined
}) =>
  Effect.gen(function*() {
    const exit = yield* Deferred.make<RunnerExit>()
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, [fixture], {
          env: {
            ...process.env,
            DATABASE_URL: options.url,
            FIBERLOOP_RUNNER: options.name,
            TRANSPORT: options.transport ?? "fiberloop"
          },
          stdio: ["ignore", "pipe", "pipe"]
        })
        const onExit = () => child.kill("SIGKILL")
        process.once("exit", onExit)
        child.stderr!.on("data", (chunk: Buffer) => {
          output = (output + chunk.toString()).slice(-20_000)
        })
        child.once("exit", (code, signal) => {
          process.off("exit", onExit)
          Deferred.doneUnsafe(exit, Effect.succeed({ code, signal }))
        })
        return child
      }),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        }).pipe(Effect.andThen(Effect.timeout(Deferred.await(exit), "5 seconds")), Effect.ignore)
    )
    const port = yield* Effect.callback<number, RunnerStartError>((resume) => {
      const lines = createInterface({ input: child.stdout! })
      lines.on("line", (line) => {
        if (line.startsWith("{")) resume(Effect.succeed((JSON.parse(line) as { port: number }).port))
      })
      // "close", not "exit": by then stderr has been read to its end, so the failure says why
      child.once("close", (code, signal) =>
        resume(Effect.fail(new RunnerStartError({ output: `exited (code ${code}, signal ${signal})\n${output}` }))))
    }).pipe(
      Effect.timeoutOrElse({
        duration: "60 seconds",
        orElse: () => Effect.fail(new RunnerStartError({ output: `no port after 60 seconds\n${output}` }))
      })
    )
    const runner: RunnerProcess = { name: options.name, port, child, exit, output: () => output }
    return runner
  })
