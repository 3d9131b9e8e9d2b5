/**
 * Where the project lives on this machine, and its git-ignored cache (`.cache/`: moto's virtualenv, the
 * deployed callbacks' bundles, the drill's, bench's and lab's work files).
 */
import * as path from "path";

export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** A path under `.cache/` of the project. */
export function cachePath(...parts: string[]): string {
    return path.join(PROJECT_ROOT, ".cache", ...parts);
}
