/**
 * Builds of this repository against a patched copy of effect, for the
 * upstream proposals (docs/performance.md, "Upstream proposals"): effect's
 * package copied from node_modules with some of bench/upstream/patches.ts
 * applied, next to the committed files of this repository (git HEAD) that the
 * measurement needs. node_modules is never modified.
 *
 * ```ts
 * makeBuild("/tmp/x/all", pick("all"), ["src", "bench", "examples"])
 * ```
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { type Patch, patches } from "./patches.ts"

/** This repository's root. */
export const repo = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../..")
const shipped = Path.join(repo, "node_modules/effect")

const countOf = (text: string, part: string): number => text.split(part).length - 1

const apply = (dir: string, patch: Patch): void => {
  for (const edit of patch.edits) {
    const file = Path.join(dir, edit.file)
    const text = Fs.readFileSync(file, "utf8")
    const n = countOf(text, edit.from)
    if (edit.all === true ? n === 0 : n !== 1) {
      throw new Error(`patch ${patch.name}: ${edit.file}: expected ${edit.all ? ">= 1" : "1"} match, found ${n}`)
    }
    Fs.writeFileSync(file, text.split(edit.from).join(edit.to))
  }
}

/**
 * Writes into `dir` effect with the `chosen` patches applied
 * (`dir/node_modules/effect`) and the committed `paths` of this repository.
 * With `dependencies`, the other packages too: `@effect/*` copied (they import
 * effect, and must get the patched copy), the rest linked.
 */
export const makeBuild = (
  dir: string,
  chosen: ReadonlyArray<Patch>,
  paths: ReadonlyArray<string>,
  dependencies = false
): void => {
  const modules = Path.join(repo, "node_modules")
  if (dependencies) {
    Fs.mkdirSync(Path.join(dir, "node_modules/@effect"), { recursive: true })
    for (const entry of Fs.readdirSync(modules)) {
      if (entry === "effect" || entry === ".bin" || entry === "node" || entry.startsWith(".")) continue
      if (entry === "@effect") {
        for (const pkg of Fs.readdirSync(Path.join(modules, entry))) {
          Fs.cpSync(Path.join(modules, entry, pkg), Path.join(dir, "node_modules", entry, pkg), { recursive: true })
        }
      } else Fs.symlinkSync(Path.join(modules, entry), Path.join(dir, "node_modules", entry))
    }
  }
  const effect = Path.join(dir, "node_modules/effect")
  Fs.mkdirSync(effect, { recursive: true })
  Fs.cpSync(Path.join(shipped, "package.json"), Path.join(effect, "package.json"))
  Fs.cpSync(Path.join(shipped, "dist"), Path.join(effect, "dist"), { recursive: true })
  for (const patch of chosen) apply(effect, patch)
  const tar = execFileSync("git", ["-C", repo, "archive", "HEAD", ...paths], { maxBuffer: 1 << 28 })
  execFileSync("tar", ["-x", "-C", dir], { input: tar })
  Fs.writeFileSync(Path.join(dir, "package.json"), JSON.stringify({ type: "module" }))
}

/** The patches a build name stands for: `4.1.0` (none), `all`, or names joined by `+` (`a+b`). */
export const pick = (name: string): ReadonlyArray<Patch> =>
  name === "4.1.0" ? [] : name === "all" ? patches : name.split("+").map((n) => {
    const patch = patches.find((p) => p.name === n)
    if (patch === undefined) throw new Error(`unknown patch ${n}`)
    return patch
  })
