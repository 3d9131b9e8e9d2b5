/** The project's source files, found in their area subfolders. */
import * as fs from "fs";
import * as path from "path";

import { PROJECT_ROOT } from "../../emulator/paths";

/** Every `.ts` file under `folder` (relative to the project root), subfolders included, sorted. */
export function sourceFiles(folder: string): string[] {
    const dir = path.join(PROJECT_ROOT, folder);
    return (fs.readdirSync(dir, { recursive: true }) as string[])
        .filter((f) => f.endsWith(".ts"))
        .map((f) => path.join(dir, f))
        .sort();
}

/** The path of `functions/<area>/<file>`, from the file's name alone (names are unique across areas). */
export function functionSource(file: string): string {
    const hits = sourceFiles("functions").filter((f) => path.basename(f) === file);
    if (hits.length !== 1) {
        throw new Error(`functions/**/${file}: ${hits.length} files`);
    }
    return hits[0];
}
