/**
 * Where the memory of an idle connection goes: V8 heap per connection, by
 * kind of object, for the raw `node:net` echo and fiberloop's (both forms of
 * the handler), from heap snapshots of the server process taken before and
 * after `BENCH_HELD` (default 3,000) idle connections are opened.
 *
 * `npm run bench -- heap` prints, per server, the bytes and objects per
 * connection of each kind (constructor name and, for plain objects and
 * closure contexts, their property names), biggest first. The snapshots are
 * written to a temporary directory and removed. With `BENCH_SPOKEN=1` each
 * connection first exchanges one byte (a conversation idle between messages).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import type * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connectSpoken, connectTo } from "./load.ts"
import { withServer } from "./server-process.ts"

const HELD = Number(process.env.BENCH_HELD ?? 3000)
const TOP = Number(process.env.BENCH_TOP ?? 22)
const serverScript = new URL("./tcp-server.ts", import.meta.url).pathname
const connect = process.env.BENCH_SPOKEN === "1" ? connectSpoken : connectTo
const dir = mkdtempSync(join(tmpdir(), "fiberloop-heap-"))

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: Array<string>
      readonly node_types: [Array<string>]
      readonly edge_fields: Array<string>
      readonly edge_types: [Array<string>]
    }
  }
  readonly nodes: Array<number>
  readonly edges: Array<number>
  readonly strings: Array<string>
}

/** Bytes and objects by kind: `type:name {properties}`. */
const kinds = (file: string): Map<string, { count: number; bytes: number }> => {
  const s = JSON.parse(readFileSync(file, "utf8")) as Snapshot
  const meta = s.snapshot.meta
  const nf = meta.node_fields.length
  const ef = meta.edge_fields.length
  const [type, name, size, edgeCount] = ["type", "name", "self_size", "edge_count"].map((f) => meta.node_fields.indexOf(f))
  const [edgeType, edgeName] = ["type", "name_or_index"].map((f) => meta.edge_fields.indexOf(f))
  const out = new Map<string, { count: number; bytes: number }>()
  let e = 0
  for (let i = 0; i < s.nodes.length; i += nf) {
    const t = meta.node_types[0][s.nodes[i + type]!]!
    const props: Array<string> = []
    for (let k = 0; k < s.nodes[i + edgeCount]!; k++, e += ef) {
      const et = meta.edge_types[0][s.edges[e + edgeType]!]
      if (et === "property" || et === "context") props.push(s.strings[s.edges[e + edgeName]!]!)
    }
    const label = t === "object" && props.length > 0 && ["Object", "system / Context"].includes(s.strings[s.nodes[i + name]!]!)
      ? ` {${props.filter((p) => p !== "__proto__").slice(0, 8).join(",")}}`
      : ""
    const key = t === "string" || t === "concatenated string" || t === "sliced string"
      ? "strings"
      : `${t}:${s.strings[s.nodes[i + name]!]!.slice(0, 40)}${label}`
    const entry = out.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += s.nodes[i + size]!
    out.set(key, entry)
  }
  return out
}

const measure = (kind: string) =>
  withServer(serverScript, [kind], async (server) => {
    const before = join(dir, `${kind}-0.heapsnapshot`)
    const after = join(dir, `${kind}-1.heapsnapshot`)
    await server.snapshot(before)
    const sockets: Array<Net.Socket> = []
    for (let i = 0; i < HELD; i += 200) {
      sockets.push(...await Promise.all(Array.from({ length: Math.min(200, HELD - i) }, () => connect(server.port))))
    }
    let stats = await server.stats()
    for (let tries = 0; stats.open < HELD && tries < 100; tries++) {
      await new Promise((r) => setTimeout(r, 20))
      stats = await server.stats()
    }
    if (stats.open < HELD) throw new Error(`server holds ${stats.open} of ${HELD} connections`)
    await server.snapshot(after)
    for (const s of sockets) s.destroy()
    const a = kinds(before)
    const rows = [...kinds(after)].map(([key, v]) => {
      const o = a.get(key) ?? { count: 0, bytes: 0 }
      return { key, count: (v.count - o.count) / HELD, bytes: (v.bytes - o.bytes) / HELD }
    }).filter((r) => r.bytes >= 1).sort((x, y) => y.bytes - x.bytes)
    const total = rows.reduce((sum, r) => sum + r.bytes, 0)
    console.log(`\n## ${kind}: ${total.toFixed(0)} B of V8 heap per idle connection (${HELD} held)\n`)
    console.log("| B/conn | objects/conn | kind |")
    console.log("|---|---|---|")
    for (const r of rows.slice(0, TOP)) console.log(`| ${r.bytes.toFixed(0)} | ${r.count.toFixed(2)} | ${r.key} |`)
    return total
  })

try {
  const raw = await measure("raw")
  const hoisted = await measure("fiberloop")
  const inline = await measure("fiberloop-inline")
  console.log(`\nper idle connection: raw ${raw.toFixed(0)} B, fiberloop hoisted ${hoisted.toFixed(0)} B (${
    (hoisted / raw).toFixed(2)
  }x), inline ${inline.toFixed(0)} B (${(inline / raw).toFixed(2)}x)`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
