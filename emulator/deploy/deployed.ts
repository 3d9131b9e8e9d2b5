/**
 * The Lambda code a rendered stack would deploy, made runnable here: each CallbackFunction's generated
 * `__index.js` is written under `.cache/callbacks/<function>-<digest of its files>/`, with the packages the
 * archive carries (its node_modules, which resolve first); `require`s of what Lambda's runtime provides (the
 * AWS SDK) resolve from the project's node_modules. Each is loaded with the environment the
 * stack gives it. The directory is named by its content and each file lands by rename, so that runs in
 * parallel (mocha's workers, a drill beside the tests) never load each other's or a half-written file.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as aws from "@pulumi/aws";
import { cachePath, PROJECT_ROOT } from "../paths";
import { ofType, RenderedStack, resolve } from "./render";

export interface DeployedCallback {
    /** Logical name in the stack, e.g. `engine-triage`. */
    name: string;
    /** The function's ARN as the stack knows it (what the state machine definition names). */
    arn: string;
    /** Files of the deployment archive, with their sizes in bytes. */
    files: Record<string, number>;
    /** Path of the generated handler module. */
    file: string;
    /** Environment variables the stack sets on the function. */
    environment: Record<string, string>;
    /** The function's execution role, as the stack gives it (undefined when it has none). */
    roleArn?: string;
}

/** A handler as Lambda calls it; what it returns is whatever the function returns (callers read its fields). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LambdaHandler = (event: unknown, context?: unknown) => Promise<any>;

/** The archive's entries: generated code (StringAsset, `text`) and packaged dependencies (FileAsset, `path`). */
export type Assets = Record<string, { text?: Promise<string> | string; path?: Promise<string> | string }>;


/**
 * An entry's files: its text, or what a FileAsset or FileArchive names (a dependency that Lambda's runtime
 * does not provide, packaged file by file or as its folder), each with its path inside the archive.
 */
export async function entryFiles(name: string, asset: Assets[string]): Promise<Array<[string, Buffer]>> {
    const text = await asset.text;
    if (typeof text === "string") {
        return [[name, Buffer.from(text)]];
    }
    const source = await asset.path;
    if (typeof source !== "string") {
        throw new Error(`archive entry ${name} is neither text nor a file`);
    }
    const walk = (from: string, to: string): Array<[string, Buffer]> => fs.statSync(from).isDirectory()
        ? fs.readdirSync(from).sort().flatMap((child) => walk(path.join(from, child), path.join(to, child)))
        : [[to, fs.readFileSync(from)]];
    return walk(path.isAbsolute(source) ? source : path.join(PROJECT_ROOT, source), name);
}

/** Every CallbackFunction of a rendered stack, with its generated code written to disk. */
export async function deployedCallbacks(stack: RenderedStack): Promise<Record<string, DeployedCallback>> {
    const out: Record<string, DeployedCallback> = {};
    for (const fn of ofType(stack, aws.lambda.Function)) {
        const archive = await resolve<{ assets: Assets | Promise<Assets> }>(fn.props.code);
        const assets = await archive.assets;
        const files: Record<string, number> = {};
        const texts = (await Promise.all(Object.entries(assets).map(([file, asset]) => entryFiles(file, asset)))).flat();
        const digest = createHash("sha256");
        for (const [file, text] of texts) {
            digest.update(`${file}\0`).update(text).update("\0");
        }
        const dir = cachePath("callbacks", `${fn.name}-${digest.digest("hex").slice(0, 16)}`);
        fs.mkdirSync(dir, { recursive: true });
        for (const [file, text] of texts) {
            files[file] = text.length;
            const target = path.join(dir, file);
            if (!fs.existsSync(target)) {
                fs.mkdirSync(path.dirname(target), { recursive: true });
                const partial = `${target}.${process.pid}.tmp`;
                fs.writeFileSync(partial, text);
                fs.renameSync(partial, target);
            }
        }
        const environment = await resolve<{ variables?: Record<string, string> } | undefined>(fn.props.environment);
        const role = await resolve<unknown>(fn.props.role);
        const roleArn = typeof role === "string" ? role : typeof fn.state.role === "string" ? fn.state.role : undefined;
        out[fn.name] = {
            roleArn,
            name: fn.name,
            arn: fn.state.arn,
            files,
            file: path.join(dir, "__index.js"),
            environment: { ...(environment?.variables ?? {}) },
        };
    }
    return out;
}

/**
 * Loads a deployed callback as Lambda would: a fresh module, its factory run with the function's
 * environment (plus `extra`, e.g. AWS_ENDPOINT_URL), which stays set for the caller to restore.
 */
export function loadCallback(cb: DeployedCallback, extra: Record<string, string> = {}): LambdaHandler {
    Object.assign(process.env, cb.environment, extra);
    delete require.cache[require.resolve(cb.file)];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(cb.file) as { handler?: LambdaHandler };
    if (typeof mod.handler !== "function") {
        throw new Error(`${cb.name}: the generated module exports no handler`);
    }
    return mod.handler;
}

/** Sets environment variables and returns a function that puts the previous values back. */
export function withEnvironment(values: Record<string, string>): () => void {
    const previous = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
    Object.assign(process.env, values);
    return () => {
        for (const [k, v] of Object.entries(previous)) {
            if (v === undefined) {
                delete process.env[k];
            } else {
                process.env[k] = v;
            }
        }
    };
}
