import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Http from "../../src/net/Http.ts"
import * as HttpRequest from "../../src/net/HttpRequest.ts"
import type * as Tls from "../../src/net/Tls.ts"
import { Certs, CertsLive } from "./certs.ts"
import { TcpLive } from "./support.ts"

const live = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.timeout("15 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, Scope.Scope>

/** Routes for the client: echo, redirects, a slow answer. */
const routes = (target: () => string) => async (request: Request): Promise<Response> => {
  const url = new URL(request.url)
  switch (url.pathname) {
    case "/echo":
      return new Response(`${request.method} ${request.headers.get("content-type") ?? "-"} ${await request.text()}`, {
        headers: { "x-echo": "yes" }
      })
    case "/moved":
      return new Response(null, { status: 302, headers: { location: "/echo" } })
    case "/see-other":
      return new Response(null, { status: 303, headers: { location: "/echo" } })
    case "/loop":
      return new Response("again", { status: 302, headers: { location: "/loop" } })
    case "/elsewhere":
      return new Response(null, { status: 301, headers: { location: target() } })
    case "/slow":
      await new Promise((resolve) => setTimeout(resolve, 2000))
      return new Response("late")
    default:
      return new Response("not found", { status: 404 })
  }
}

const pem = (value: Tls.Pem): string => Redacted.isRedacted(value) ? Redacted.value(value) : ""

describe("HttpRequest", () => {
  it.live("the simple shape: GET, and POST of a form body; body, code, headers and status line", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, fetch: routes(() => "") })
      const got = yield* Effect.promise(() => HttpRequest.requestAsync(`${server.url}/echo`))
      assert.strictEqual(got.body, "GET - ")
      assert.strictEqual(got.code, 200)
      assert.strictEqual(got.status, "HTTP/1.1 200 OK")
      assert.strictEqual(got.headers["x-echo"], "yes")
      const posted = yield* Effect.promise(() => HttpRequest.requestAsync(`${server.url}/echo`, "a=1"))
      assert.strictEqual(posted.body, "POST application/x-www-form-urlencoded a=1")
      const missing = yield* Effect.promise(() => HttpRequest.requestAsync(`${server.url}/nope`))
      assert.strictEqual(missing.code, 404)
    })))

  it.live("the table shape: method, headers, body or source, sink", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, fetch: routes(() => "") })
      const put = yield* Effect.promise(() =>
        HttpRequest.requestAsync({
          url: `${server.url}/echo`,
          method: "put",
          headers: { "content-type": "text/plain" },
          body: "payload"
        })
      )
      assert.strictEqual(put.body, "PUT text/plain payload")
      async function* source() {
        yield "stre"
        yield new TextEncoder().encode("amed")
      }
      const chunks: Array<Uint8Array> = []
      const streamed = yield* Effect.promise(() =>
        HttpRequest.requestAsync({ url: `${server.url}/echo`, source: source(), sink: (chunk) => chunks.push(chunk) })
      )
      assert.strictEqual(streamed.body, "")
      assert.strictEqual(Buffer.concat(chunks).toString(), "POST application/octet-stream streamed")
    })))

  it.live("follows redirects (location of the last hop in headers), stops at maxredirects or redirect=false", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, fetch: routes(() => "") })
      const moved = yield* Effect.promise(() => HttpRequest.requestAsync(`${server.url}/moved`))
      assert.strictEqual(moved.body, "GET - ")
      assert.strictEqual(moved.headers.location, `${server.url}/echo`)
      // a POST answered with 303 goes on as a GET
      const seeOther = yield* Effect.promise(() =>
        HttpRequest.requestAsync({ url: `${server.url}/see-other`, body: "x" })
      )
      assert.strictEqual(seeOther.body, "GET - ")
      const loop = yield* Effect.promise(() => HttpRequest.requestAsync({ url: `${server.url}/loop`, maxredirects: 3 }))
      assert.strictEqual(loop.code, 302)
      assert.strictEqual(loop.body, "again")
      const notFollowed = yield* Effect.promise(() =>
        HttpRequest.requestAsync({ url: `${server.url}/moved`, redirect: false })
      )
      assert.strictEqual(notFollowed.code, 302)
    })))

  it.live("times out with err 'timeout', and a refused connection is a typed error", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, fetch: routes(() => "") })
      const timedOut = yield* Effect.promise(() =>
        HttpRequest.requestAsync({ url: `${server.url}/slow`, timeout: 0.2 }).then(() => undefined, (e: unknown) => e)
      )
      assert.instanceOf(timedOut, HttpRequest.HttpRequestError)
      assert.strictEqual((timedOut as HttpRequest.HttpRequestError).err, "timeout")
      const refused = yield* Effect.promise(() =>
        HttpRequest.requestAsync("http://127.0.0.1:1/").then(() => undefined, (e: unknown) => e)
      )
      assert.instanceOf(refused, HttpRequest.HttpRequestError)
      assert.strictEqual((refused as HttpRequest.HttpRequestError).reason, "Transport")
      assert.strictEqual((refused as HttpRequest.HttpRequestError).err, "connection refused")
      const invalid = yield* HttpRequest.request("ftp://x/").pipe(
        Effect.flip,
        Effect.provide(NodeHttpClient.layerUndici)
      )
      assert.strictEqual(invalid.reason, "InvalidUrl")
    })))

  it.live("refuses a redirect from https to http unless redirect is 'all'", () =>
    live(Effect.gen(function*() {
      const certs = yield* Certs
      const plain = yield* Http.serve({ host: "127.0.0.1", port: 0, fetch: routes(() => "") })
      const secure = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        fetch: routes(() => `${plain.url}/echo`),
        tls: { key: certs.server.key, cert: certs.server.cert }
      })
      const client = NodeHttpClient.layerUndiciOptions({ connect: { ca: pem(certs.ca) } })
      const refused = yield* HttpRequest.request(`${secure.url}/elsewhere`).pipe(Effect.flip, Effect.provide(client))
      assert.strictEqual(refused.reason, "InsecureRedirect")
      assert.strictEqual(refused.err, "Unallowed insecure redirect https to http")
      const allowed = yield* HttpRequest.request({ url: `${secure.url}/elsewhere`, redirect: "all" }).pipe(
        Effect.provide(client)
      )
      assert.strictEqual(allowed.body, "GET - ")
      // https to https is fine
      const secureEcho = yield* HttpRequest.request(`${secure.url}/moved`).pipe(Effect.provide(client))
      assert.strictEqual(secureEcho.body, "GET - ")
    }).pipe(Effect.provide(CertsLive))))
})
