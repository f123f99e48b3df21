/**
 * What one suspended fiber is made of: forks 2,000 fibers suspended in the
 * same hoisted `Effect.callback` as measure.ts's `heap` mode (one observer
 * each), takes V8 heap snapshots before and after, and prints the objects
 * that grew by at least one per fiber, as count per fiber and bytes per
 * fiber. Run inside a build made by run.ts (`KEEP=1`), or in the repository
 * for Effect as shipped (`ASYNC_CONTEXT=on` leaves (a)'s capture on):
 *
 * ```sh
 * npx node --expose-gc bench/upstream/breakdown.ts
 * ```
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as V8 from "node:v8"

interface Snapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: Array<string>; readonly node_types: [Array<string>] } }
  readonly nodes: Array<number>
  readonly strings: Array<string>
}

const gc = (globalThis as unknown as { readonly gc: () => void }).gc
const n = 2000
const fibers: Array<Fiber.Fiber<void> | undefined> = new Array(n).fill(undefined)
const resumes: Array<unknown> = new Array(n).fill(undefined)
let next = 0
const cancel = Effect.sync(() => {})
const wait = Effect.callback<void>((resume) => {
  resumes[next++ % n] = resume
  return cancel
})
const onExit = (): void => {}
// Proposal (a)'s opt-out, as in measure.ts (ignored by builds without it).
const AsyncContextPropagation = Context.Reference<boolean>("effect/References/AsyncContextPropagation", {
  defaultValue: () => true
})
const fork = (count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < count; i++) {
      const fiber = yield* Effect.forkDetach(wait)
      fiber.addObserver(onExit)
      fibers[i] = fiber
    }
  }).pipe(Effect.provideService(AsyncContextPropagation, process.env.ASYNC_CONTEXT === "on"))

const named = new Set(["object", "closure", "array"])

const census = (): Map<string, { count: number; size: number }> => {
  gc()
  gc()
  const file = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "breakdown-")), "s.heapsnapshot")
  V8.writeHeapSnapshot(file)
  const snap = JSON.parse(Fs.readFileSync(file, "utf8")) as Snapshot
  Fs.rmSync(Path.dirname(file), { recursive: true, force: true })
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f))
  const out = new Map<string, { count: number; size: number }>()
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt!]!]!
    // Strings are named by their content: count them by type only.
    const key = named.has(type) ? `${type} ${snap.strings[snap.nodes[i + nameAt!]!]!.slice(0, 60)}` : type
    const entry = out.get(key) ?? { count: 0, size: 0 }
    entry.count++
    entry.size += snap.nodes[i + sizeAt!]!
    out.set(key, entry)
  }
  return out
}

const turns = async (k: number) => {
  for (let i = 0; i < k; i++) await new Promise((resolve) => setImmediate(resolve))
}

await Effect.runPromise(fork(100))
await turns(3)
fibers.fill(undefined)
resumes.fill(undefined)
next = 0
await turns(3)
const before = census()
await Effect.runPromise(fork(n))
await turns(3)
const after = census()
let total = 0
const rows: Array<[string, number, number]> = []
for (const [key, a] of after) {
  const b = before.get(key) ?? { count: 0, size: 0 }
  const count = (a.count - b.count) / n
  const size = (a.size - b.size) / n
  if (count >= 0.99) rows.push([key, count, size])
  total += size
}
rows.sort((x, y) => y[2] - x[2])
for (const [key, count, size] of rows) console.log(`${size.toFixed(1).padStart(7)} B  ${count.toFixed(2)}x  ${key}`)
console.log(`${total.toFixed(1).padStart(7)} B  total growth per fiber`)
