// Bench only (docs/performance.md, "Upstream proposals", proposal a): hides AsyncResource
// from effect's internal/effect.js, so fibers capture no async context on
// suspension, as the proposed opt-out would. Loaded into the server processes
// with BENCH_SERVER_ARGS="--import ./bench/upstream/no-async-resource.mjs";
// never part of the package (it changes every fiber in the process).
const original = process.getBuiltinModule
process.getBuiltinModule = function(id) {
  if (
    (id === "node:async_hooks" || id === "async_hooks") &&
    /[\\/]effect[\\/]dist[\\/]internal[\\/]effect\.js/.test(new Error().stack ?? "")
  ) return undefined
  return original.call(process, id)
}
