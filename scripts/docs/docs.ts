/**
 * The configuration tables of docs/configuration.md, rendered from the config schema (stacks/configSchema.ts).
 *
 *   npm run docs            rewrite the tables in docs/configuration.md
 *   npm run docs -- --check exit 1 when docs/configuration.md's tables differ from the schema
 *
 * Each table sits between `<!-- config:<table> -->` and `<!-- /config:<table> -->`; the text around them is
 * left alone. A row per key: objects are opened down to their keys, lists and maps are one row.
 */
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { STACK_SCHEMAS, unwrapSchema } from "../../stacks/config";
import { awsRegion } from "../../stacks/configSchema";

export const CONFIGURATION_DOC = path.join(__dirname, "..", "..", "docs", "configuration.md");
export const TABLES = ["common", "forensic", "security"] as const;
export type TableName = (typeof TABLES)[number];

interface Row {
    key: string;
    shownDefault: string;
    meaning: string;
}

function formatDefault(value: unknown): string {
    if (Array.isArray(value)) {
        return `\`[${value.join(", ")}]\``;
    }
    return typeof value === "object" ? `\`${JSON.stringify(value)}\`` : `\`${String(value)}\``;
}

/** The row of one key; fails on a key without documentation, so every key the schema takes is documented. */
function row(key: string, schema: z.core.$ZodType): Row {
    const { doc, optional, defaultValue } = unwrapSchema(schema);
    if (!doc.doc) {
        throw new Error(`config key ${key} has no documentation in stacks/configSchema.ts (field(..., { doc }))`);
    }
    const shownDefault = doc.shownDefault ?? (defaultValue !== undefined ? formatDefault(defaultValue) : optional ? "none" : "required");
    return { key, shownDefault, meaning: doc.doc };
}

/** Rows of an object's keys, opening nested objects that carry no documentation of their own. */
function rows(shape: Record<string, z.core.$ZodType>, prefix = ""): Row[] {
    return Object.entries(shape).flatMap(([name, schema]) => {
        const key = `${prefix}${name}`;
        const { node, doc } = unwrapSchema(schema);
        const def = node._zod.def as unknown as { type: string; shape?: Record<string, z.core.$ZodType> };
        return def.type === "object" && !doc.doc ? rows(def.shape ?? {}, `${key}.`) : [row(key, schema)];
    });
}

function table(list: Row[]): string {
    const escape = (s: string) => s.replace(/\|/g, "\\|");
    return ["| key | default | meaning |", "|---|---|---|", ...list.map((r) => `| \`${r.key}\` | ${escape(r.shownDefault)} | ${escape(r.meaning)} |`)].join("\n");
}

/** The three tables: keys both stacks take (with `aws:region`), then each stack's own. */
export function configTables(): Record<TableName, string> {
    const forensic = STACK_SCHEMAS.forensic.shape as Record<string, z.core.$ZodType>;
    const security = STACK_SCHEMAS.security.shape as Record<string, z.core.$ZodType>;
    const common = Object.keys(forensic).filter((k) => k in security);
    const only = (shape: Record<string, z.core.$ZodType>) => Object.fromEntries(Object.entries(shape).filter(([k]) => !common.includes(k)));
    const commonShape = Object.fromEntries(common.map((k) => [k, forensic[k]]));
    return {
        common: table([row("aws:region", awsRegion()), ...rows(commonShape)]),
        forensic: table(rows(only(forensic))),
        security: table(rows(only(security))),
    };
}

const marker = (name: TableName) => new RegExp(`(<!-- config:${name} -->\\n)[\\s\\S]*?(<!-- /config:${name} -->)`);

/** `doc` with its tables replaced by the schema's; fails when a table's markers are missing. */
export function renderConfigurationDoc(doc: string): string {
    const tables = configTables();
    return TABLES.reduce((text, name) => {
        if (!marker(name).test(text)) {
            throw new Error(`docs/configuration.md has no <!-- config:${name} --> ... <!-- /config:${name} --> markers`);
        }
        return text.replace(marker(name), (_, open: string, close: string) => `${open}${tables[name]}\n${close}`);
    }, doc);
}

/** `npm run docs [-- --check]`: rewrites the tables, or exits 1 when they differ from the schema. */
export function cli(): void {
    const current = fs.readFileSync(CONFIGURATION_DOC, "utf8");
    const rendered = renderConfigurationDoc(current);
    if (process.argv.includes("--check")) {
        if (rendered !== current) {
            console.error("docs/configuration.md's configuration tables differ from stacks/configSchema.ts: run npm run docs");
            process.exit(1);
        }
        console.log("docs/configuration.md's configuration tables match the schema");
    } else if (rendered !== current) {
        fs.writeFileSync(CONFIGURATION_DOC, rendered);
        console.log("docs/configuration.md: configuration tables rewritten from the schema");
    } else {
        console.log("docs/configuration.md: configuration tables already match the schema");
    }
}
