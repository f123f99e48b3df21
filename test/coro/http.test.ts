import { assert, describe, it } from "@effect/vitest"
import * as Http from "node:http"
import type * as Net from "node:net"
import { CopasError, tuple } from "../../src/coro/Errors.ts"
import { bounded, loop, makeCopas } from "./support.ts"

/** A node:http server on 127.0.0.1: `/hello` answers, `/moved` redirects to it, `/slow` never answers. */
const withServer = async (body: (base: string) => Promise<void>): Promise<void> => {
  const server = Http.createServer((req, res) => {
    if (req.url === "/hello") {
      let got = ""
      req.on("data", (chunk) => (got += chunk))
      req.on("end", () => res.end(`${req.method} ${got}`))
    } else if (req.url === "/moved") {
      res.writeHead(302, { location: "/hello" }).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  try {
    await body(`http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`)
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
}

describe("copas.http", () => {
  it.live("request(url) GETs, request(url, body) POSTs, redirects are followed, in a thread", () =>
    bounded(() =>
      withServer(async (base) => {
        const c = makeCopas()
        const seen: Array<string> = []
        await loop(c, async () => {
          const got = await c.http.request(`${base}/hello`)
          seen.push(`${got.code} ${got.body}`)
          const posted = await c.http.request(`${base}/hello`, "x=1")
          seen.push(`${posted.code} ${posted.body}`)
          const moved = await c.http.request({ url: `${base}/moved` })
          seen.push(`${moved.code} ${moved.body}`)
        })
        assert.deepStrictEqual(seen, ["200 GET ", "200 POST x=1", "200 GET "])
      })
    ))

  it.live("a request that times out rejects with Copas's \"timeout\"", () =>
    bounded(() =>
      withServer(async (base) => {
        const c = makeCopas()
        let err: unknown
        await loop(c, async () => {
          const [, e] = await tuple(c.http.request({ url: `${base}/slow`, timeout: 0.2 }))
          err = e
        })
        assert.strictEqual(err, "timeout")
      })
    ))

  it.live("a failure is a CopasError carrying the typed HttpRequestError", () =>
    bounded(async () => {
      const c = makeCopas()
      let caught: unknown
      await loop(c, async () => {
        try {
          await c.http.request("not a url")
        } catch (e) {
          caught = e
        }
      })
      assert.instanceOf(caught, CopasError)
      assert.strictEqual(((caught as CopasError).cause as { _tag: string })._tag, "HttpRequestError")
    }))
})
