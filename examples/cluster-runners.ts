/**
 * Starts N local runner processes against a database, for demos and tests; Ctrl-C (or SIGTERM) stops
 * them with SIGTERM, by PID, so each hands its shards over before it exits.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:PORT/fiberloop npx node examples/cluster-runners.ts N [script]
 *
 * `script` is a runner program taking `runner` as its first argument (default:
 * examples/cluster-counter.ts). Each runner binds a free loopback port and registers it in the database.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const count = Number(process.argv[2] ?? 2)
const script = process.argv[3] ?? fileURLToPath(new URL("./cluster-counter.ts", import.meta.url))

/** One runner process, stopped with SIGTERM (then SIGKILL after 20 seconds) when the scope closes. */
const runner = (index: number) =>
  Effect.gen(function*() {
    const exited = yield* Deferred.make<void>()
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, [script, "runner"], { stdio: ["ignore", "inherit", "inherit"] })
        child.once("exit", (code, signal) => {
          process.stderr.write(`runner ${index} (pid ${child.pid}) exited: ${signal ?? code}\n`)
          Deferred.doneUnsafe(exited, Effect.void)
        })
        return child
      }),
      (child) =>
        Effect.sync(() => child.exitCode === null && child.kill("SIGTERM")).pipe(
          Effect.andThen(Deferred.await(exited)),
          Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.sync(() => child.kill("SIGKILL")) })
        )
    )
    return yield* Deferred.await(exited)
  })

if (process.env.DATABASE_URL === undefined) {
  process.stderr.write("set DATABASE_URL (npx node test/cluster/postgres.ts starts a throwaway PostgreSQL)\n")
  process.exit(2)
}

NodeRuntime.runMain(
  Effect.scoped(Effect.all(Array.from({ length: count }, (_, i) => runner(i + 1)), { concurrency: "unbounded" }))
)
