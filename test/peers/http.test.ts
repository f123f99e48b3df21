import { assert, describe, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Schedule from "effect/Schedule"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Http from "../../src/net/Http.ts"
import * as HttpMetrics from "../../src/net/HttpMetrics.ts"
import { Certs, CertsLive } from "../net/certs.ts"
import { freePort, spawnProcess, TcpLive } from "../net/support.ts"
import { requireTool } from "./support.ts"

const live = <A, E>(effect: Effect.Effect<A, E, any>, timeout: Duration.Input = "25 seconds") =>
  effect.pipe(Effect.timeout(timeout), Effect.provide(TcpLive), Effect.provide(CertsLive)) as Effect.Effect<
    A,
    unknown,
    any
  >

/** `/` says hello, `/missing` is a 404, a POST is echoed. */
const app = Effect.flatMap(Effect.service(HttpServerRequest.HttpServerRequest), (request) => {
  if (request.method === "POST") return Effect.map(request.text, (body) => HttpServerResponse.text(`got ${body}`))
  if (request.url === "/missing") return Effect.succeed(HttpServerResponse.empty({ status: 404 }))
  return Effect.succeed(HttpServerResponse.text("hello"))
})

/** Runs a tool to its end and returns its stdout. */
const run = (command: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const child = yield* spawnProcess(command, args)
    const out: Array<string> = []
    child.child.stdout!.on("data", (chunk: Buffer) => out.push(chunk.toString()))
    const code = yield* child.exited
    return { code, stdout: out.join(""), stderr: child.stderr() }
  })

describe("outside peers: HTTP", () => {
  it.live("curl: keep-alive reuses the connection, a POST is echoed, HTTPS negotiates HTTP/2", () =>
    live(Effect.gen(function*() {
      requireTool("curl")
      const certs = yield* Certs
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app })
      const twice = yield* run("curl", [
        "-s",
        "-w",
        " %{http_code} %{num_connects}\\n",
        `${server.url}/`,
        `${server.url}/`
      ])
      // the second request went over the first one's connection
      assert.strictEqual(twice.stdout, "hello 200 1\nhello 200 0\n")
      const posted = yield* run("curl", ["-s", "--data-binary", "from curl", `${server.url}/`])
      assert.strictEqual(posted.stdout, "got from curl")

      const secure = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        app,
        tls: { key: certs.server.key, cert: certs.server.cert },
        http2: true
      })
      const h2 = yield* run("curl", ["-s", "--http2", "--cacert", certs.caFile, "-w", " %{http_version}", `${secure.url}/`])
      assert.strictEqual(h2.stdout, "hello 2")
      const h1 = yield* run("curl", ["-s", "--http1.1", "--cacert", certs.caFile, "-w", " %{http_version}", `${secure.url}/`])
      assert.strictEqual(h1.stdout, "hello 1.1")
    })))

  it.live("wrk: every request answered 2xx, and the server counted them", () =>
    live(Effect.gen(function*() {
      requireTool("wrk")
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app, maxConnections: 64 })
      const before = yield* HttpMetrics.snapshot
      const wrk = yield* run("wrk", ["-t1", "-c16", "-d1s", "--latency", `${server.url}/`])
      assert.strictEqual(wrk.code, 0, wrk.stderr)
      const total = Number(/(\d+) requests in/.exec(wrk.stdout)?.[1])
      assert.isAbove(total, 100)
      assert.notInclude(wrk.stdout, "Non-2xx")
      assert.notInclude(wrk.stdout, "Socket errors")
      const after = yield* HttpMetrics.snapshot
      // wrk counts the responses it read before it stopped; the server may have answered a few more
      assert.isAtLeast(after.requests["2xx"] - before.requests["2xx"], total)
      assert.strictEqual(after.requests["5xx"] - before.requests["5xx"], 0)
    })))

  it.live("h2load: HTTP/2 over TLS with many streams per connection, all succeeded", () =>
    live(Effect.gen(function*() {
      requireTool("h2load")
      const certs = yield* Certs
      const server = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        app,
        tls: { key: certs.server.key, cert: certs.server.cert },
        http2: true
      })
      const h2load = yield* run("h2load", ["-n", "400", "-c", "4", "-m", "10", `${server.url}/`])
      assert.strictEqual(h2load.code, 0, h2load.stderr)
      assert.include(h2load.stdout, "Application protocol: h2")
      assert.match(h2load.stdout, /requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed, 0 errored/)
      assert.match(h2load.stdout, /status codes: 400 2xx/)
    })))

  it.live("a real Prometheus scrapes GET /metrics and reports the counts the test caused", () =>
    live(
      Effect.gen(function*() {
        requireTool("prometheus")
        const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app, metrics: true })
        for (let i = 0; i < 3; i++) {
          yield* Effect.promise(() => fetch(`${server.url}/missing`).then((r) => r.arrayBuffer()))
        }
        const expected = (yield* HttpMetrics.snapshot).requests["4xx"]
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "fiberloop-prometheus-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        writeFileSync(
          join(dir, "prometheus.yml"),
          [
            "global:",
            "  scrape_interval: 1s",
            "scrape_configs:",
            "  - job_name: fiberloop",
            "    scrape_interval: 1s",
            "    static_configs:",
            `      - targets: ["127.0.0.1:${server.address.port}"]`,
            ""
          ].join("\n")
        )
        const port = yield* freePort
        // killed by PID when the test's scope closes
        yield* spawnProcess("prometheus", [
          `--config.file=${join(dir, "prometheus.yml")}`,
          `--storage.tsdb.path=${join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`
        ])
        const query = (promql: string) =>
          Effect.tryPromise(async () => {
            const response = await fetch(
              `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`
            )
            const json = await response.json() as { data: { result: Array<{ value: [number, string] }> } }
            const value = json.data.result[0]?.value[1]
            if (value === undefined) throw new Error(`no sample yet for ${promql}`)
            return Number(value)
          })
        // bounded: Prometheus starts, scrapes every second; 150 × 100 ms
        const notFound = yield* query(`fiberloop_http_requests{status_class="4xx",job="fiberloop"}`).pipe(
          Effect.retry({ times: 150, schedule: Schedule.spaced("100 millis") })
        )
        assert.strictEqual(notFound, expected)
        const scrapes = yield* query(`fiberloop_http_requests{status_class="2xx",job="fiberloop"}`)
        assert.isAtLeast(scrapes, 1) // the scrapes themselves
        const up = yield* query(`up{job="fiberloop"}`)
        assert.strictEqual(up, 1)
      }),
      "28 seconds"
    ))
})
