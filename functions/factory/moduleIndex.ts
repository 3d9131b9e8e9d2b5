/**
 * The module store's `index.json` (imagebuilder/module-index.schema.json): what LiME modules, symbol
 * tables and AVML binaries exist, with their SHA-256. Written by the module factory only, read by the
 * memory acquisition host script (line-oriented: entries stay flat, strings free of braces, quotes and
 * backslashes) and by the engine. Updates are compare-and-swap on the object's ETag, so that builds
 * finishing at the same time never lose each other's entries.
 */
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";

export const INDEX_KEY = "index.json";
export const INDEX_SCHEMA_VERSION = 1;

export type Arch = "x86_64" | "arm64";

/** A LiME module for one kernel (an entry with `kernelRelease`). */
export interface ModuleEntry {
    arch: Arch;
    kernelRelease: string;
    /** `lime/<arch>/<kernelRelease>/lime.ko` */
    path: string;
    sha256: string;
    /** LiME version the module was built from. */
    version: string;
    /** The kernel's linux_banner (or, when not known, its prefix `Linux version <release>`). */
    banner: string;
    distribution?: string;
    sourceAmi: string;
    sourceRegion?: string;
    builtAt: string;
    symbolsStatus: "available" | "unavailable";
    /** `symbols/<arch>/<kernelRelease>.json.xz` (available only). */
    symbolsPath?: string;
    symbolsSha256?: string;
    dwarf2jsonVersion?: string;
    /** Why there is no symbol table (unavailable only). */
    symbolsReason?: string;
}

/** An AVML binary (an entry with `arch` and no `kernelRelease`). */
export interface AvmlEntry {
    arch: Arch;
    /** `avml/<arch>/avml` */
    path: string;
    sha256: string;
    version: string;
    stagedAt: string;
}

export interface ModuleIndex {
    schemaVersion: 1;
    updatedAt: string;
    modules: ModuleEntry[];
    avml: AvmlEntry[];
}

const KERNEL_RELEASE = /^[A-Za-z0-9._+~-]{1,128}$/;

/** True for a kernel release that can be part of an S3 key and an index entry. */
export function isKernelRelease(value: unknown): value is string {
    return typeof value === "string" && KERNEL_RELEASE.test(value);
}

/** Free text made safe for the line-oriented reader: no braces, quotes, backslashes or control characters. */
export function safeText(value: string, max = 1024): string {
    const printable = [...value].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? " " : c)).join("");
    return printable.replace(/[{}"\\]/g, "'").replace(/ {2,}/g, " ").trim().slice(0, max);
}

export function lime(arch: Arch, kernelRelease: string): string {
    return `lime/${arch}/${kernelRelease}/lime.ko`;
}

export function symbols(arch: Arch, kernelRelease: string): string {
    return `symbols/${arch}/${kernelRelease}.json.xz`;
}

export function avmlKey(arch: Arch): string {
    return `avml/${arch}/avml`;
}

export function emptyIndex(at: string): ModuleIndex {
    return { schemaVersion: INDEX_SCHEMA_VERSION, updatedAt: at, modules: [], avml: [] };
}

/** Parses index.json; refuses a file of another schema version rather than overwrite what it does not know. */
export function parseIndex(text: string): ModuleIndex {
    const doc = JSON.parse(text) as Partial<ModuleIndex>;
    if (doc.schemaVersion !== INDEX_SCHEMA_VERSION || !Array.isArray(doc.modules) || !Array.isArray(doc.avml)) {
        throw new Error(`${INDEX_KEY} is not a schema version ${INDEX_SCHEMA_VERSION} module index`);
    }
    return doc as ModuleIndex;
}

/** Adds or replaces modules (one entry per arch and kernel release), sorted for stable diffs. */
export function withModules(index: ModuleIndex, entries: ModuleEntry[], at: string): ModuleIndex {
    const id = (e: { arch: string; kernelRelease: string }) => `${e.arch}/${e.kernelRelease}`;
    const replaced = new Set(entries.map(id));
    const modules = [...index.modules.filter((m) => !replaced.has(id(m))), ...entries]
        .sort((a, b) => id(a).localeCompare(id(b)));
    return { ...index, updatedAt: at, modules };
}

/** Adds or replaces AVML binaries (one per arch). */
export function withAvml(index: ModuleIndex, entries: AvmlEntry[], at: string): ModuleIndex {
    const arches = new Set(entries.map((e) => e.arch));
    const avml = [...index.avml.filter((a) => !arches.has(a.arch)), ...entries].sort((a, b) => a.arch.localeCompare(b.arch));
    return { ...index, updatedAt: at, avml };
}

/**
 * Kernel releases of `arch` that need no new build: a module from the current LiME version exists and
 * either its symbols were built by the current dwarf2json or they are unavailable for a reason that a
 * rebuild would not change (no debug symbols for that kernel).
 */
export function builtKernels(index: ModuleIndex, arch: Arch, tools: { lime: string; dwarf2json: string }): string[] {
    return index.modules
        .filter((m) => m.arch === arch && m.version === tools.lime &&
            (m.symbolsStatus === "unavailable" || m.dwarf2jsonVersion === tools.dwarf2json))
        .map((m) => m.kernelRelease)
        .sort();
}

/** The JSON text written to S3: one entry per line, so that a diff of two versions reads well. */
export function renderIndex(index: ModuleIndex): string {
    const lines = (entries: object[]) => entries.map((e) => `    ${JSON.stringify(e)}`).join(",\n");
    return [
        "{",
        `  "schemaVersion": ${index.schemaVersion},`,
        `  "updatedAt": ${JSON.stringify(index.updatedAt)},`,
        `  "modules": [${index.modules.length ? `\n${lines(index.modules)}\n  ` : ""}],`,
        `  "avml": [${index.avml.length ? `\n${lines(index.avml)}\n  ` : ""}]`,
        "}",
        "",
    ].join("\n");
}

function isStatus(err: unknown, ...codes: number[]): boolean {
    const status = (err as S3ServiceException)?.$metadata?.httpStatusCode;
    return status !== undefined && codes.includes(status);
}

/** The index and its ETag; an empty index (and no ETag) when the store has none yet. */
export async function readIndex(s3: S3Client, bucket: string, at: string): Promise<{ index: ModuleIndex; etag?: string }> {
    try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: INDEX_KEY }));
        return { index: parseIndex(await out.Body!.transformToString()), etag: out.ETag };
    } catch (err) {
        if ((err as { name?: string }).name === "NoSuchKey" || isStatus(err, 404)) {
            return { index: emptyIndex(at) };
        }
        throw err;
    }
}

/**
 * Applies `change` to the current index and writes it only if nobody wrote in between (If-Match on the
 * ETag read, If-None-Match when there was none); on a conflict, reads again and retries.
 */
export async function updateIndex(
    s3: S3Client,
    bucket: string,
    at: () => string,
    change: (index: ModuleIndex) => ModuleIndex,
    attempts = 8,
): Promise<ModuleIndex> {
    for (let attempt = 1; ; attempt++) {
        const { index, etag } = await readIndex(s3, bucket, at());
        const next = change(index);
        try {
            await s3.send(new PutObjectCommand({
                Bucket: bucket,
                Key: INDEX_KEY,
                Body: renderIndex(next),
                ContentType: "application/json",
                ...(etag ? { IfMatch: etag } : { IfNoneMatch: "*" }),
            }));
            return next;
        } catch (err) {
            // 412: someone wrote first; 409: a concurrent conditional write is in progress.
            if (attempt >= attempts || !isStatus(err, 409, 412)) {
                throw err;
            }
        }
    }
}
