import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Deferred from "effect/Deferred"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Exit from "effect/Exit"
import { mkdtempSync, rmSync } from "node:fs"
import * as NodeHttp from "node:http"
import * as Http2 from "node:http2"
import * as Https from "node:https"
import type * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TLSSocket as TlsSocket } from "node:tls"
import * as Http from "../../src/net/Http.ts"
import * as HttpMetrics from "../../src/net/HttpMetrics.ts"
import * as Stats from "../../src/Stats.ts"
import type * as Tls from "../../src/net/Tls.ts"
import { Certs, CertsLive } from "./certs.ts"
import { rawClient, rawWrite, readToEnd, TcpLive } from "./support.ts"

const live = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.timeout("15 seconds"), Effect.provide(TcpLive)) as Effect.Effect<
    A,
    unknown,
    Scope.Scope
  >

/** One request with Node's client (no agent: a connection per request); the status and body. */
const request = (url: string, init?: { method?: string; body?: string; headers?: Record<string, string> }) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url, {
      method: init?.method ?? "GET",
      ...(init?.body !== undefined && { body: init.body }),
      headers: { connection: "close", ...init?.headers }
    })
    return { status: response.status, body: await response.text(), headers: response.headers }
  }).pipe(Effect.timeout("5 seconds"))

const hello = Effect.succeed(HttpServerResponse.text("hello"))

const echoBody = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  return HttpServerResponse.text(`${request.method} ${request.url} ${yield* request.text}`)
})

/** Responds after `ms` milliseconds. */
const slow = (ms: number) => Effect.as(Effect.sleep(ms), HttpServerResponse.text("slow"))

const portOf = (server: Http.Server) => server.address.port

const head = (method: string, path: string, extra = "") =>
  `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`

describe("Http", () => {
  it.live("serves an effect/http app and a fetch handler", () =>
    live(Effect.gen(function*() {
      const app = yield* Http.serve({ host: "127.0.0.1", port: 0, app: echoBody })
      const posted = yield* request(`${app.url}/echo?x=1`, { method: "POST", body: "body!" })
      assert.strictEqual(posted.status, 200)
      assert.strictEqual(posted.body, "POST /echo?x=1 body!")

      const fetch = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        fetch: async (request) => new Response(`${request.method} ${new URL(request.url).pathname} ${await request.text()}`)
      })
      const fetched = yield* request(`${fetch.url}/path`, { method: "PUT", body: "put" })
      assert.strictEqual(fetched.status, 200)
      assert.strictEqual(fetched.body, "PUT /path put")
      assert.strictEqual(fetched.headers.get("content-length"), "13") // complete at once: sent whole

      // a body still being produced is streamed
      const streaming = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        fetch: () =>
          new Response(
            new ReadableStream({
              async start(controller) {
                controller.enqueue(new TextEncoder().encode("one "))
                await new Promise((resolve) => setTimeout(resolve, 50))
                controller.enqueue(new TextEncoder().encode("two"))
                controller.close()
              }
            })
          )
      })
      const streamed = yield* request(streaming.url)
      assert.strictEqual(streamed.body, "one two")
      assert.strictEqual(streamed.headers.get("transfer-encoding"), "chunked")
    })))

  it.live("a fetch handler: body limit, cookies, HEAD, and request.signal aborted when the client goes away", () =>
    live(Effect.gen(function*() {
      const aborted = yield* Deferred.make<string>()
      const server = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        maxBodySize: 1000,
        fetch: async (request) => {
          const path = new URL(request.url).pathname
          if (path === "/wait") {
            request.signal.addEventListener("abort", () => Deferred.doneUnsafe(aborted, Exit.succeed("aborted")))
            return new Promise<Response>(() => {})
          }
          if (path === "/cookies") {
            const headers = new Headers({ "x-one": "1" })
            headers.append("set-cookie", "a=1")
            headers.append("set-cookie", "b=2")
            return new Response("cookies", { headers })
          }
          return new Response(`read ${(await request.text()).length}`)
        }
      })
      const chunked = yield* rawClient(portOf(server))
      const chunk = "x".repeat(600)
      const answer = yield* ask(
        chunked,
        head("POST", "/", "transfer-encoding: chunked\r\n") + `258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`
      )
      assert.match(answer, /^HTTP\/1.1 413 /)
      assert.strictEqual((yield* request(server.url, { method: "POST", body: "small" })).body, "read 5")

      const cookies = yield* rawClient(portOf(server))
      yield* rawWrite(cookies, head("GET", "/cookies"))
      const text = yield* readUntil(cookies, "\r\n\r\ncookies")
      assert.include(text.toLowerCase(), "set-cookie: a=1\r\nset-cookie: b=2")
      assert.include(text.toLowerCase(), "content-length: 7")

      const headOnly = yield* rawClient(portOf(server))
      const headAnswer = yield* ask(headOnly, head("HEAD", "/cookies", "connection: close\r\n"))
      assert.match(headAnswer, /^HTTP\/1.1 200 /)
      assert.notInclude(headAnswer, "\r\n\r\ncookies")

      const waiting = yield* rawClient(portOf(server))
      yield* rawWrite(waiting, head("GET", "/wait"))
      yield* waitFor(() => server.stats().active >= 1)
      waiting.destroy()
      assert.strictEqual(yield* Deferred.await(aborted), "aborted")
    })))

  it.live("a fetch handler's request is a Request: each property, a body read once, clone, formData", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        fetch: async (request) => {
          const path = new URL(request.url).pathname
          if (path === "/props") {
            return Response.json({
              instance: request instanceof Request,
              tag: Object.prototype.toString.call(request),
              method: request.method,
              url: request.url,
              custom: request.headers.get("x-custom"),
              headers: request.headers instanceof Headers,
              signal: request.signal instanceof AbortSignal && !request.signal.aborted,
              bodyUsed: request.bodyUsed,
              body: request.body === null,
              redirect: request.redirect
            })
          }
          if (path === "/twice") {
            const custom = request.headers.get("x-custom") // headers read before the body
            const first = await request.text()
            const again = await request.text().then(
              () => "read again",
              (e) => e instanceof TypeError ? "TypeError" : `${e}`
            )
            return Response.json({ custom, first, again, bodyUsed: request.bodyUsed })
          }
          if (path === "/clone") {
            const copy = request.clone()
            return Response.json({
              instance: copy instanceof Request,
              method: copy.method,
              url: copy.url,
              custom: copy.headers.get("x-custom"),
              copy: await copy.text(),
              original: await request.json()
            })
          }
          if (path === "/form") return new Response(`${(await request.formData()).get("a")}`)
          if (path === "/bytes") return new Response(new Uint8Array(await request.arrayBuffer()).reverse())
          return new Response("héllo ✓ \u{1F600}") // not latin1: its UTF-8 bytes go out unchanged
        }
      })
      const props = yield* request(`${server.url}/props?q=1`, { headers: { "x-custom": "yes" } })
      assert.deepStrictEqual(JSON.parse(props.body), {
        instance: true,
        tag: "[object Request]",
        method: "GET",
        url: `${server.url}/props?q=1`,
        custom: "yes",
        headers: true,
        signal: true,
        bodyUsed: false,
        body: true,
        redirect: "follow"
      })
      const twice = yield* request(`${server.url}/twice`, {
        method: "POST",
        body: "once",
        headers: { "x-custom": "1" }
      })
      assert.deepStrictEqual(JSON.parse(twice.body), { custom: "1", first: "once", again: "TypeError", bodyUsed: true })
      const cloned = yield* request(`${server.url}/clone`, {
        method: "PUT",
        body: "{\"a\":1}",
        headers: { "x-custom": "c" }
      })
      assert.deepStrictEqual(JSON.parse(cloned.body), {
        instance: true,
        method: "PUT",
        url: `${server.url}/clone`,
        custom: "c",
        copy: "{\"a\":1}",
        original: { a: 1 }
      })
      const form = yield* request(`${server.url}/form`, {
        method: "POST",
        body: "a=b%20c",
        headers: { "content-type": "application/x-www-form-urlencoded" }
      })
      assert.strictEqual(form.body, "b c")
      const bytes = yield* request(`${server.url}/bytes`, { method: "POST", body: "abc" })
      assert.strictEqual(bytes.body, "cba")
      assert.strictEqual(bytes.headers.get("content-length"), "3")
      const utf8 = yield* request(`${server.url}/utf8`)
      assert.strictEqual(utf8.body, "héllo ✓ \u{1F600}")
      assert.strictEqual(utf8.headers.get("content-length"), String(Buffer.byteLength("héllo ✓ \u{1F600}")))
    })))

  it.live("runs HttpRouter.serve unchanged on the layer", () =>
    Effect.gen(function*() {
      const Routes = Layer.mergeAll(
        HttpRouter.add("GET", "/hello", HttpServerResponse.text("hello")),
        HttpRouter.add("GET", "/users/:id", Effect.map(HttpRouter.params, (p) => HttpServerResponse.text(`user ${p.id}`)))
      )
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        HttpRouter.serve(Routes, { disableListenLog: true, disableLogger: true }).pipe(
          Layer.provideMerge(Http.layer({ host: "127.0.0.1", port: 0 })),
          Layer.provide(TcpLive)
        ),
        scope
      )
      const port = yield* Effect.provideContext(Http.port, context)
      assert.strictEqual((yield* request(`http://127.0.0.1:${port}/hello`)).body, "hello")
      assert.strictEqual((yield* request(`http://127.0.0.1:${port}/users/7`)).body, "user 7")
      assert.strictEqual((yield* request(`http://127.0.0.1:${port}/nothing`)).status, 404)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.timeout("15 seconds")))

  it.live("serves on a Unix domain socket", () =>
    live(Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "fiberloop-http-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const path = join(dir, "http.sock")
      const server = yield* Http.serve({ path, app: echoBody })
      assert.strictEqual(server.url, `http+unix://${encodeURIComponent(path)}`)
      const body = yield* Effect.callback<string, Error>((resume) => {
        const req = NodeHttp.request({ socketPath: path, path: "/unix", method: "POST", agent: false }, (res) => {
          let text = ""
          res.on("data", (chunk) => text += chunk)
          res.on("end", () => resume(Effect.succeed(text)))
        })
        req.on("error", (error) => resume(Effect.fail(error)))
        req.end("over a socket file")
      })
      assert.strictEqual(body, "POST /unix over a socket file")
    })))

  it.live("answers keep-alive and pipelined requests in order on one connection", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app: echoBody })
      const peer = yield* rawClient(portOf(server))
      yield* rawWrite(peer, head("GET", "/1") + head("GET", "/2") + head("POST", "/3", "content-length: 3\r\n") + "abc")
      const text = yield* readUntil(peer, "POST /3 abc")
      const order = [...text.matchAll(/(GET|POST) \/(\d)/g)].map((m) => m[2])
      assert.deepStrictEqual(order, ["1", "2", "3"])
      assert.strictEqual(server.stats().accepted, 1)
      // the same connection serves the next request too
      yield* rawWrite(peer, head("GET", "/4"))
      assert.include(yield* readUntil(peer, "GET /4 "), "HTTP/1.1 200 OK")
    })))

  it.live("upgrades to a WebSocket through effect/http's request.upgrade", () =>
    live(Effect.gen(function*() {
      const echoOnce = Effect.scoped(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const socket = yield* request.upgrade
        const reader = yield* socket.reader
        const writer = yield* socket.writer
        for (const chunk of yield* reader.pull) {
          yield* writer.write(typeof chunk === "string" ? `echo ${chunk}` : chunk)
        }
        return HttpServerResponse.empty()
      }))
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app: echoOnce })
      const reply = yield* Effect.callback<string, Error>((resume) => {
        const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws`)
        ws.onopen = () => ws.send("ping")
        ws.onmessage = (event) => {
          resume(Effect.succeed(String(event.data)))
          ws.close()
        }
        ws.onerror = () => resume(Effect.fail(new Error("websocket error")))
      })
      assert.strictEqual(reply, "echo ping")
    })))

  it.live("answers Expect: 100-continue, and refuses a too large body before it is sent", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app: echoBody, maxBodySize: 100 })
      const peer = yield* rawClient(portOf(server))
      yield* rawWrite(peer, head("POST", "/c", "content-length: 5\r\nexpect: 100-continue\r\n"))
      assert.include(yield* readUntil(peer, "\r\n\r\n"), "HTTP/1.1 100 Continue")
      yield* rawWrite(peer, "12345")
      assert.include(yield* readUntil(peer, "POST /c 12345"), "200 OK")

      const big = yield* rawClient(portOf(server))
      yield* rawWrite(big, head("POST", "/c", "content-length: 1000\r\nexpect: 100-continue\r\n"))
      const answer = yield* readToEnd(big)
      assert.match(answer, /^HTTP\/1.1 413 /)
      assert.notInclude(answer, "100 Continue")
    })))

  it.live("limits request bodies: 413 by Content-Length, and for a chunked body read past the limit", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app: echoBody, maxBodySize: 1000 })
      assert.strictEqual((yield* request(server.url, { method: "POST", body: "x".repeat(1001) })).status, 413)
      const chunked = yield* rawClient(portOf(server))
      const chunk = "x".repeat(600)
      yield* rawWrite(
        chunked,
        head("POST", "/", "transfer-encoding: chunked\r\n") + `258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`
      )
      assert.match(yield* readUntil(chunked, "\r\n\r\n"), /^HTTP\/1.1 413 /)
      // and the server goes on
      assert.strictEqual((yield* request(server.url, { method: "POST", body: "ok" })).body, "POST / ok")
    })))

  it.live("answers a slow request head with 408 and closes (slowloris), and keeps serving", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app: hello, headersTimeout: "400 millis" })
      const slowPeer = yield* rawClient(portOf(server))
      yield* rawWrite(slowPeer, "GET / HTTP/1.1\r\nHost: x\r\n")
      const started = Date.now()
      const answer = yield* readToEnd(slowPeer)
      assert.match(answer, /^HTTP\/1.1 408 /)
      assert.isBelow(Date.now() - started, 3000)
      assert.strictEqual((yield* request(server.url)).body, "hello")
      // a connection that sends nothing at all is closed too: it cannot hold a slot
      const silent = yield* rawClient(portOf(server))
      assert.match(yield* readToEnd(silent), /^HTTP\/1.1 408 /)
      assert.isBelow(Date.now() - started, 5000)
      // the connections' fibers ended with their sockets
      yield* waitFor(() => server.stats().active === 0)
    })))

  it.live("closes idle keep-alive connections after keepAliveTimeout", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app: hello, keepAliveTimeout: "200 millis" })
      const peer = yield* rawClient(portOf(server))
      yield* rawWrite(peer, head("GET", "/"))
      const answer = yield* readToEnd(peer)
      assert.include(answer, "hello")
      yield* waitFor(() => server.stats().active === 0)
    })))

  it.live("serves maxConnections at once under a 2x flood: the rest wait, the overflow is closed, and it goes on", () =>
    live(Effect.gen(function*() {
      const server = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        app: hello,
        maxConnections: 4,
        backlog: 4,
        keepAliveTimeout: "300 millis"
      })
      const peers = yield* Effect.forEach(Array.from({ length: 12 }), () => rawClient(portOf(server)))
      const answers = yield* Effect.forEach(peers, (peer) => ask(peer, head("GET", "/")), { concurrency: "unbounded" })
      const served = answers.filter((a) => a.includes("hello")).length
      // 4 served at once, 4 waited for a slot (served once keep-alive freed one), the rest closed unserved
      assert.strictEqual(served, 8)
      assert.strictEqual(answers.filter((a) => a === "").length, 4)
      assert.strictEqual(server.stats().rejected, 4)
      assert.strictEqual((yield* request(server.url)).body, "hello")
    })))

  it.live("a failing app answers 500 and the server keeps serving", () =>
    live(Effect.gen(function*() {
      const app = Effect.flatMap(Effect.service(HttpServerRequest.HttpServerRequest), (request) =>
        request.url === "/die" ? Effect.die(new Error("boom")) : hello)
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app })
      assert.strictEqual((yield* request(`${server.url}/die`)).status, 500)
      assert.strictEqual((yield* request(`${server.url}/`)).body, "hello")

      const failing = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        fetch: (request) => {
          if (request.url.endsWith("/throw")) throw new Error("boom")
          return new Response("fine")
        }
      })
      assert.strictEqual((yield* request(`${failing.url}/throw`)).status, 500)
      assert.strictEqual((yield* request(`${failing.url}/`)).body, "fine")
    })))

  it.live("drains on close: requests in flight finish with Connection: close, idle keep-alive sockets close at once", () =>
    live(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const app = Effect.flatMap(Effect.service(HttpServerRequest.HttpServerRequest), (request) =>
        request.url === "/slow" ? slow(300) : hello)
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app, keepAliveTimeout: "1 minute" }).pipe(
        Scope.provide(scope)
      )
      const idle = yield* rawClient(portOf(server))
      yield* rawWrite(idle, head("GET", "/"))
      yield* readUntil(idle, "hello")
      const busy = yield* rawClient(portOf(server))
      yield* rawWrite(busy, head("GET", "/slow"))
      yield* waitFor(() => server.stats().active === 2)
      const idleClosed = yield* Effect.forkChild(readToEnd(idle))
      const busyAnswer = yield* Effect.forkChild(readToEnd(busy))
      const started = Date.now()
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* Fiber.join(idleClosed)
      assert.isBelow(Date.now() - started, 250) // before the slow request is done
      const answer = yield* Fiber.join(busyAnswer)
      assert.include(answer, "slow")
      assert.include(answer.toLowerCase(), "connection: close")
      yield* Fiber.join(closing)
      assert.isBelow(Date.now() - started, 3000) // well before the 1 minute keep-alive or the 5 s drain
    })))

  it.live("drains HTTP/2: an idle session gets GOAWAY and closes at once", () =>
    live(Effect.gen(function*() {
      const certs = yield* Certs
      const scope = yield* Scope.make()
      const server = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        app: hello,
        tls: { key: certs.server.key, cert: certs.server.cert },
        http2: true
      }).pipe(Scope.provide(scope))
      const session = yield* Effect.acquireRelease(
        Effect.sync(() => Http2.connect(server.url, { ca: redactedValue(certs.ca) })),
        (session) => Effect.sync(() => session.destroy())
      )
      session.on("error", () => {})
      const status = yield* Effect.callback<number>((resume) => {
        const stream = session.request({ ":path": "/" })
        stream.on("response", (headers) => resume(Effect.succeed(Number(headers[":status"]))))
        stream.resume()
      })
      assert.strictEqual(status, 200)
      const closed = Effect.callback<boolean>((resume) => {
        session.once("close", () => resume(Effect.succeed(true)))
      })
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(yield* closed)
      assert.isBelow(Date.now() - started, 2000) // not the 5 s drain
    }).pipe(Effect.provide(CertsLive))))

  it.live("closes at once when no app was ever installed (connections waiting for one are closed)", () =>
    live(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Http.make({ host: "127.0.0.1", port: 0 }).pipe(Scope.provide(scope))
      const peer = yield* rawClient(portOf(server))
      yield* waitFor(() => server.stats().active === 1)
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      assert.isBelow(Date.now() - started, 2000) // not the 5 s drain
      assert.strictEqual(yield* readToEnd(peer), "")
    })))

  it.live("serves HTTPS, and HTTP/2 to clients that pick h2 through ALPN", () =>
    live(Effect.gen(function*() {
      const certs = yield* Certs
      const server = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        app: Effect.map(Effect.service(HttpServerRequest.HttpServerRequest), (request) =>
          HttpServerResponse.text(`over ${(request.source as NodeHttp.IncomingMessage).httpVersion}`)),
        tls: { key: certs.server.key, cert: certs.server.cert },
        http2: true
      })
      assert.match(server.url, /^https:/)
      const h1 = yield* Effect.tryPromise(() =>
        new Promise<string>((resolve, reject) => {
          const req = Https.get(`${server.url}/`, { ca: redactedValue(certs.ca), agent: false, ALPNProtocols: ["http/1.1"] } as Https.RequestOptions, (res) => {
            let body = ""
            res.on("data", (c) => body += c)
            res.on("end", () => resolve(`${(res.socket as TlsSocket).alpnProtocol || "none"} ${body}`))
          })
          req.on("error", reject)
        })
      )
      assert.strictEqual(h1, "http/1.1 over 1.1")
      const h2 = yield* Effect.tryPromise(() =>
        new Promise<string>((resolve, reject) => {
          const session = Http2.connect(server.url, { ca: redactedValue(certs.ca) })
          session.on("error", reject)
          const stream = session.request({ ":path": "/" })
          let body = ""
          stream.on("data", (c) => body += c)
          stream.on("end", () => {
            session.close()
            resolve(`${session.alpnProtocol} ${body}`)
          })
          stream.on("error", reject)
        })
      )
      assert.strictEqual(h2, "h2 over 2.0")
      // a too large body over HTTP/2 gets 413 on its stream; the session goes on
      const statuses = yield* Effect.tryPromise(() =>
        new Promise<Array<number>>((resolve, reject) => {
          const session = Http2.connect(server.url, { ca: redactedValue(certs.ca) })
          session.on("error", reject)
          // the big one never sends its body: the answer comes from the headers alone
          const ask = (headers: Http2.OutgoingHttpHeaders, endStream: boolean) =>
            new Promise<number>((done, failed) => {
              const stream = session.request(headers, { endStream })
              stream.on("response", (h) => {
                done(Number(h[":status"]))
                stream.close()
              })
              stream.on("error", failed)
              stream.resume()
            })
          ask({ ":path": "/", ":method": "POST", "content-length": String(20 * 1024 * 1024) }, false)
            .then((big) => ask({ ":path": "/" }, true).then((small) => [big, small]))
            .then((result) => {
              session.close()
              resolve(result)
            }, reject)
        })
      )
      assert.deepStrictEqual(statuses, [413, 200])

      // a fetch handler over HTTP/2 sees the URL and scheme the client used
      const fetchServer = yield* Http.serve({
        host: "127.0.0.1",
        port: 0,
        fetch: (request) => new Response(`${request.method} ${request.url}`),
        tls: { key: certs.server.key, cert: certs.server.cert },
        http2: true
      })
      const fetched = yield* Effect.tryPromise(() =>
        new Promise<string>((resolve, reject) => {
          const session = Http2.connect(fetchServer.url, { ca: redactedValue(certs.ca) })
          session.on("error", reject)
          const stream = session.request({ ":path": "/x?y=1" })
          let body = ""
          stream.on("data", (c) => body += c)
          stream.on("end", () => {
            session.close()
            resolve(body)
          })
          stream.on("error", reject)
        })
      )
      assert.strictEqual(fetched, `GET ${fetchServer.url}/x?y=1`)
    }).pipe(Effect.provide(CertsLive))))

  it.live("counts requests by status class and answers GET /metrics in the Prometheus format", () =>
    live(Effect.gen(function*() {
      const before = yield* HttpMetrics.snapshot
      const app = Effect.flatMap(Effect.service(HttpServerRequest.HttpServerRequest), (request) =>
        request.url === "/missing" ? Effect.succeed(HttpServerResponse.empty({ status: 404 })) : hello)
      const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app, metrics: true })
      yield* request(`${server.url}/`)
      yield* request(`${server.url}/`)
      yield* request(`${server.url}/missing`)
      const after = yield* HttpMetrics.snapshot
      assert.strictEqual(after.requests["2xx"] - before.requests["2xx"], 2)
      assert.strictEqual(after.requests["4xx"] - before.requests["4xx"], 1)
      // Stats.snapshot carries the same counts
      assert.deepStrictEqual((yield* Stats.snapshot).http.requests, after.requests)
      const metrics = yield* request(`${server.url}/metrics`)
      assert.strictEqual(metrics.status, 200)
      assert.match(metrics.body, /fiberloop_http_requests\{status_class="2xx"\} \d+/)
      assert.include(metrics.body, "fiberloop_http_request_duration_seconds_bucket")
      assert.include(metrics.body, "fiberloop_connections_accepted")
    })))

  it.live("exports a span per request and per connection with Effect's OTLP exporter", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const tracing = OtlpTracer.layer({
        url: `${receiver.url}/v1/traces`,
        exportInterval: "100 millis",
        resource: { serviceName: "fiberloop-test" }
      }).pipe(
        Layer.provide(OtlpSerialization.layerJson),
        Layer.provide(FetchHttpClient.layer)
      )
      // the tracer layer flushes what is left when it closes
      yield* live(Effect.gen(function*() {
        const server = yield* Http.serve({ host: "127.0.0.1", port: 0, app: hello, connectionSpans: true })
        assert.strictEqual((yield* request(`${server.url}/traced`)).body, "hello")
        // with a tracer, a fetch handler runs as a traced effect/http request too
        const fetchServer = yield* Http.serve({ host: "127.0.0.1", port: 0, fetch: () => new Response("traced") })
        assert.strictEqual((yield* request(`${fetchServer.url}/fetched`, { method: "PUT", body: "x" })).body, "traced")
      }).pipe(Effect.scoped, Effect.provide(tracing)))
      const spans = yield* receiver.spans.pipe(
        Effect.filterOrFail((spans) => spans.some((span) => span.name === "http.connection")),
        Effect.retry({ times: 100, schedule: Schedule.spaced("20 millis") })
      )
      const requestSpan = spans.find((span) => span.name === "GET")
      assert.isDefined(requestSpan)
      assert.strictEqual(attribute(requestSpan!, "url.path"), "/traced")
      assert.strictEqual(attribute(requestSpan!, "http.response.status_code"), 200)
      const fetchSpan = spans.find((span) => span.name === "PUT")
      assert.isDefined(fetchSpan)
      assert.strictEqual(attribute(fetchSpan!, "url.path"), "/fetched")
      const connection = spans.find((span) => span.name === "http.connection")!
      assert.strictEqual(attribute(connection, "net.peer.ip"), "127.0.0.1")
      assert.isAbove(attribute(connection, "net.bytes_written") as number, 0)
      assert.strictEqual(attribute(connection, "outcome"), "closed")
      // one span per connection: Tcp.serve's own connection span is not added beside it
      assert.isFalse(spans.some((span) => span.name === "Tcp.connection"))
    }).pipe(Effect.timeout("15 seconds")))
})

/** The text of a test PEM. */
const redactedValue = (pem: Tls.Pem): string => Redacted.isRedacted(pem) ? Redacted.value(pem) : ""

/** What a raw socket receives until the text includes `marker` (or the socket ends). */
const readUntil = (socket: Net.Socket, marker: string) =>
  Effect.callback<string>((resume) => {
    let got = ""
    const onData = (chunk: Buffer) => {
      got += chunk.toString()
      if (got.includes(marker)) done()
    }
    const done = () => {
      socket.off("data", onData)
      socket.off("close", done)
      resume(Effect.succeed(got))
    }
    socket.on("data", onData)
    socket.on("error", () => {})
    socket.once("close", done)
  })

/** Writes `data` and collects what the socket receives until it ends or closes (a reset included). */
const ask = (socket: Net.Socket, data: string) =>
  Effect.callback<string>((resume) => {
    // a connection closed unserved may be gone already
    if (socket.destroyed || socket.readableEnded) return resume(Effect.succeed(""))
    const chunks: Array<Buffer> = []
    const done = () => resume(Effect.succeed(Buffer.concat(chunks).toString()))
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.once("end", done)
    socket.once("close", done)
    socket.on("error", () => {})
    socket.write(data, () => {})
  })

interface OtlpSpan {
  readonly name: string
  readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
}

/** The value of a span attribute, whatever its OTLP type. */
const attribute = (span: OtlpSpan, key: string): unknown => {
  const value = span.attributes.find((a) => a.key === key)?.value
  if (value === undefined) return undefined
  const raw = value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue
  return typeof raw === "string" && value.intValue !== undefined ? Number(raw) : raw
}

/** A local OTLP/HTTP receiver (JSON encoding) that keeps every span it is sent. */
const otlpReceiver = Effect.acquireRelease(
  Effect.callback<{ server: NodeHttp.Server; received: Array<OtlpSpan> }>((resume) => {
    const received: Array<OtlpSpan> = []
    const server = NodeHttp.createServer((req, res) => {
      let body = ""
      req.on("data", (chunk) => body += chunk)
      req.on("end", () => {
        const data = JSON.parse(body) as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }>
        }
        for (const rs of data.resourceSpans) for (const ss of rs.scopeSpans) received.push(...ss.spans)
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, received })))
  }),
  ({ server }) => Effect.sync(() => server.close())
).pipe(Effect.map(({ server, received }) => ({
  url: `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`,
  spans: Effect.sync(() => received as ReadonlyArray<OtlpSpan>)
})))

/** Polls `condition` every 10 ms, up to 3 seconds. */
const waitFor = (condition: () => boolean) =>
  Effect.suspend(() => condition() ? Effect.void : Effect.fail("not yet" as const)).pipe(
    Effect.retry({ times: 300, schedule: Schedule.spaced("10 millis") }),
    Effect.orDie
  )
