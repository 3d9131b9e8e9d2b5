/**
 * Typed, validated configuration of both stacks. The schema (`configSchema.ts`, zod) holds every key, its
 * default and its documentation; this module reads the raw values, parses them with it, and turns the first
 * problem into a ConfigError, so `pulumi preview` fails with a message that names the config key and says
 * what is expected, before any resource is planned.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { ModuleBuilds } from "../components/security/moduleFactory";
import { PROJECT, partitionOf } from "../components/shared/conventions";
import {
    AccessMode, amiId as amiIdSchema, ArchiveStorageClass, awsRegion, Cidr, FieldDoc, fieldDocs, forensicSchema, ObjectLockMode,
    readCidr, region as regionSchema, SchemaContext, securitySchema, SEPARATELY_READ, SiftArchitecture, STACK_ROLES, StackRole,
} from "./configSchema";

export {
    ACCESS_MODES, ARCHIVE_STORAGE_CLASSES, carveSubnets, DEFAULTS, formatCidr, LOG_RETENTION_DAYS, MAX_SUBNETS, MODULE_ARCHES, OBJECT_LOCK_MODES,
    SIFT_ARCHITECTURES, STACK_ROLES,
} from "./configSchema";
export type { AccessMode, ArchiveStorageClass, Cidr, ModuleArch, ObjectLockMode, SiftArchitecture, StackRole } from "./configSchema";

/** Thrown for invalid configuration. A RunError prints its message without a stack trace. */
export class ConfigError extends pulumi.RunError {
    constructor(
        readonly key: string,
        readonly expected: string,
        readonly got?: unknown,
    ) {
        // Keys of other namespaces (aws:region) are given whole; ours get the project prefix.
        const fullKey = key.split(".")[0].includes(":") ? key : `${PROJECT}:${key}`;
        super(`Invalid config ${fullKey}: expected ${expected}${got === undefined ? "" : `, got ${JSON.stringify(got)}`}`);
        Object.setPrototypeOf(this, ConfigError.prototype);
    }
}

/** A key the program does not read: a typo, or a key of the other stack. Names the closest known key. */
export class NoSuchKeyError extends ConfigError {
    constructor(key: string, hint: string) {
        super(key, hint);
        this.message = `Invalid config ${PROJECT}:${key}: no such key; ${hint}`;
        Object.setPrototypeOf(this, NoSuchKeyError.prototype);
    }
}

/** Where raw values come from: `pulumi.Config` in a program, a plain map in tests. */
export interface ConfigSource {
    /** Raw string value of `<namespace>:<key>`, or undefined when unset. */
    get(key: string, namespace?: string): string | undefined;
    /** Every key set in this project's namespace, without the `ir-forensics:` prefix. */
    keys(): string[];
}

/** Keys of `${PROJECT}:...` among flat `namespace:key` names, without the prefix. */
function projectKeys(names: string[]): string[] {
    return names.filter((k) => k.startsWith(`${PROJECT}:`)).map((k) => k.slice(PROJECT.length + 1));
}

/** The stack's own config, as the Pulumi engine passes it. */
export function pulumiConfigSource(): ConfigSource {
    const byNamespace = new Map<string, pulumi.Config>();
    return {
        get(key, namespace = PROJECT) {
            let cfg = byNamespace.get(namespace);
            if (!cfg) {
                cfg = new pulumi.Config(namespace);
                byNamespace.set(namespace, cfg);
            }
            return cfg.get(key);
        },
        keys: () => projectKeys(Object.keys(pulumi.runtime.allConfig())),
    };
}

/** A source over a flat `{"ir-forensics:key": "value"}` map (the engine's own format). */
export function mapConfigSource(values: Record<string, string>): ConfigSource {
    return { get: (key, namespace = PROJECT) => values[`${namespace}:${key}`], keys: () => projectKeys(Object.keys(values)) };
}

/** The schemas' context for a home region. */
function schemaContext(homeRegion: string, defaultForensicStack = ""): SchemaContext {
    return { partition: partitionOf(homeRegion), partitionOf, defaultForensicStack };
}

/** The stack schemas, as `npm run docs` and the key lists see them (the aws partition). */
export const STACK_SCHEMAS = {
    forensic: forensicSchema(schemaContext("us-east-1")),
    security: securitySchema(schemaContext("us-east-1")),
};

/** Top-level keys each stack role reads, in the schema's order. */
export const STACK_KEYS: Record<StackRole, readonly string[]> = {
    forensic: Object.keys(STACK_SCHEMAS.forensic.shape),
    security: Object.keys(STACK_SCHEMAS.security.shape),
};

/** Levenshtein distance (insertions, deletions, substitutions), for "did you mean". */
export function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const row = [i];
        for (let j = 1; j <= b.length; j++) {
            row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        previous = row;
    }
    return previous[b.length];
}

/** The known key closest to `key` (case-insensitive), when it is close enough to be a typo of it. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
    const scored = known.map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) })).sort((x, y) => x.d - y.d);
    const best = scored[0];
    return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.k : undefined;
}

/** What to say about a key that `scope` does not take: the likely typo, else the keys it takes. */
function noSuchKeyHint(key: string, known: readonly string[], scope: string, prefix = `${PROJECT}:`): string {
    const near = closestKey(key, known);
    return near ? `did you mean ${prefix}${near}?` : `${scope} takes ${known.join(", ")}`;
}

/** Fails on a top-level key this stack does not read, naming the likely typo or the stack it belongs to. */
function checkTopLevelKeys(source: ConfigSource, role: StackRole): void {
    const known = STACK_KEYS[role];
    const other: StackRole = role === "forensic" ? "security" : "forensic";
    for (const key of source.keys()) {
        if (known.includes(key)) {
            continue;
        }
        if (STACK_KEYS[other].includes(key)) {
            throw new NoSuchKeyError(key, `it belongs to the ${other} stack (set it there; this is the ${role} stack)`);
        }
        throw new NoSuchKeyError(key, noSuchKeyHint(key, known, `the ${role} stack`));
    }
}

// ---------------------------------------------------------------------------------------------
// From schema issues to ConfigErrors.

/** The message of issues whose schema sets none: the key's FieldDoc then says what is expected. */
const UNSET = "\u0000";

type AnySchema = z.core.$ZodType;

/** A schema with its wrappers (optional, default, pipes) peeled off, and the documentation found on the way. */
export function unwrapSchema(schema: AnySchema): { node: AnySchema; doc: FieldDoc; optional: boolean; defaultValue?: unknown } {
    const docs: FieldDoc[] = [];
    let node = schema;
    let optional = false;
    let defaultValue: unknown;
    for (;;) {
        const doc = fieldDocs.get(node as z.ZodType);
        if (doc) {
            docs.push(doc);
        }
        const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
        if (def.type === "optional" || def.type === "default" || def.type === "prefault" || def.type === "nullable") {
            optional = true;
            if ((def.type === "default" || def.type === "prefault") && defaultValue === undefined) {
                defaultValue = def.defaultValue;
            }
            node = def.innerType as AnySchema;
        } else if (def.type === "pipe") {
            const inner = def.in as AnySchema;
            node = inner._zod.def.type === "transform" ? (def.out as AnySchema) : inner;
        } else {
            // Outer documentation wins over the value type's own.
            return { node, doc: Object.assign({}, ...docs.reverse()) as FieldDoc, optional, defaultValue };
        }
    }
}

/** The schema at one step below `node` (an object's key, a list's item, a map's value), if any. */
export function childSchema(node: AnySchema, segment: PropertyKey): AnySchema | undefined {
    const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
        case "object":
            return (def.shape as Record<string, AnySchema>)[String(segment)];
        case "array":
            return def.element as AnySchema;
        case "record":
            return def.valueType as AnySchema;
        default:
            return undefined;
    }
}

/** The dotted config key of `path` (`a.b[0]`, `m["eu-west-1"]`) and the schema found there. */
function locate(root: AnySchema, path: readonly PropertyKey[]): { key: string; schema?: AnySchema } {
    let key = "";
    let schema: AnySchema | undefined = root;
    for (const segment of path) {
        const here: ReturnType<typeof unwrapSchema> | undefined = schema ? unwrapSchema(schema) : undefined;
        const type = here?.node._zod.def.type;
        if (typeof segment === "number") {
            key += `[${segment}]`;
        } else if (type === "record" && !here?.doc.dottedKeys) {
            key += `[${JSON.stringify(segment)}]`;
        } else {
            key += key === "" ? String(segment) : `.${String(segment)}`;
        }
        schema = here ? childSchema(here.node, segment) : undefined;
    }
    return { key, schema };
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
    return path.reduce<unknown>((v, segment) => (v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[segment] : undefined), raw);
}

/** What `doc` says is expected of `got`, or what the value's kind says. */
function expectedOf(schema: AnySchema | undefined, got: unknown): string {
    if (!schema) {
        return "a valid value";
    }
    const { node, doc } = unwrapSchema(schema);
    if (doc.expected !== undefined) {
        return typeof doc.expected === "function" ? doc.expected(got) : doc.expected;
    }
    const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === "object") {
        return `an object with keys ${Object.keys(def.shape as object).join(", ")}`;
    }
    if (def.type === "enum") {
        return `one of ${Object.values(def.entries as object).join(", ")}`;
    }
    return def.type === "array" ? "a list" : def.type === "record" ? "a map" : "a valid value";
}

/** The issue to report: unknown keys first, then type and range problems, then cross-field checks. */
function firstIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
    return issues.find((i) => i.code === "unrecognized_keys") ?? issues.find((i) => i.code !== "custom") ?? issues[0];
}

/** The ConfigError of one issue in parsing `raw` with `root`; `baseKey` names `raw` when it is one value. */
function toConfigError(issue: z.core.$ZodIssue, raw: unknown, root: AnySchema, baseKey = ""): ConfigError {
    const located = locate(root, issue.path);
    const key = [baseKey, located.key].filter((k) => k !== "").join(".");
    if (issue.code === "unrecognized_keys") {
        const node = located.schema ? unwrapSchema(located.schema).node : undefined;
        const known = node ? Object.keys((node._zod.def as unknown as { shape: object }).shape) : [];
        const name = issue.keys[0];
        return new NoSuchKeyError(`${key}.${name}`, noSuchKeyHint(name, known, key, `${PROJECT}:${key}.`));
    }
    if (issue.code === "invalid_key") {
        // A map's key (a region name) is the wrong value: say what its key schema expects.
        const got = issue.path[issue.path.length - 1];
        const map = locate(root, issue.path.slice(0, -1)).schema;
        const keySchema = map ? (unwrapSchema(map).node._zod.def as unknown as { keyType?: AnySchema }).keyType : undefined;
        const inner = issue.issues.find((i) => i.message !== UNSET);
        return new ConfigError(key, inner?.message ?? expectedOf(keySchema, got), got);
    }
    const given = (issue as { input?: unknown }).input;
    const got = given !== undefined ? given : valueAt(raw, issue.path);
    const doc = located.schema ? unwrapSchema(located.schema).doc : {};
    const expected = issue.message !== UNSET ? issue.message : expectedOf(located.schema, got);
    if (got === undefined && issue.message === UNSET) {
        return new ConfigError(key, `${doc.required ?? expected} (required, not set)`);
    }
    return new ConfigError(key, expected, doc.secret ? undefined : got);
}

/** Parses `raw` with `schema`, or throws the ConfigError of its first issue. */
function parseWith<T extends z.ZodType>(schema: T, raw: unknown, baseKey = ""): z.output<T> {
    const result = schema.safeParse(raw, { error: () => UNSET });
    if (!result.success) {
        throw toConfigError(firstIssue(result.error.issues), raw, schema, baseKey);
    }
    return result.data;
}

/** Checks one value against a value schema, naming `key` in the error. */
export function checkValue<T extends z.ZodType>(key: string, schema: T, value: unknown): z.output<T> {
    return parseWith(schema, value, key);
}

/** An AWS region name such as `eu-west-1`. */
export const region = (key: string, value: unknown): string => checkValue(key, regionSchema(), value);

/** An AMI id: `ami-` and 8 or 17 lower-case hex digits. */
export const amiId = (key: string, value: unknown): string => checkValue(key, amiIdSchema(), value);

/** Parses `a.b.c.d/p`; the address must be the network address of its prefix. */
export function parseCidr(key: string, value: unknown, minPrefix: number, maxPrefix: number): Cidr {
    const parsed = readCidr(value, minPrefix, maxPrefix);
    if (typeof parsed === "string") {
        throw new ConfigError(key, parsed, value);
    }
    return parsed;
}

// ---------------------------------------------------------------------------------------------
// Stack config objects.

export interface CommonConfig {
    /** Which program this stack runs. */
    role: StackRole;
    region: string;
    partition: string;
    accounts: { forensic: string; security: string };
    organizationId: string;
    /** Extra tags for every resource (on top of Project, Stack, ManagedBy). */
    tags: Record<string, string>;
}

export interface EvidenceConfig {
    objectLockMode: ObjectLockMode;
    objectLockDays: number;
    archiveAfterDays: number;
    archiveStorageClass: ArchiveStorageClass;
    /** Unset: evidence never expires. */
    expireAfterDays?: number;
    abortIncompleteUploadsAfterDays: number;
    /** The one role exempt from the bucket's delete / bypass / policy-change denies. */
    breakGlassRoleArn?: string;
    /** Roles (patterns allowed) that may update the bucket's policy and settings, e.g. the CI deploy role. */
    deployRoleArns: string[];
    /** Human investigators' roles (patterns allowed) that may read evidence and decrypt it. */
    investigatorPrincipalArns: string[];
}

export interface AnalysisNetworkConfig {
    cidr: string;
    subnetCount: number;
    subnetPrefixLength: number;
    /** The subnets' CIDR blocks, computed from the above. */
    subnetCidrs: string[];
    access: AccessMode;
    ssmEndpointAzCount: number;
    ssmEc2MessagesEndpoint: boolean;
    flowLogAggregationSeconds: 60 | 600;
}

export interface SiftConfig {
    architecture: SiftArchitecture;
    /** Image Builder cron expression (six fields) on which the pipeline checks for newer dependencies. */
    schedule: string;
    /** AMIs (with their snapshots) the lifecycle policy keeps, newest first. */
    keepImages: number;
    buildInstanceTypes: string[];
    rootVolumeGiB: number;
    /** CIDR of the build VPC's one public subnet (the VPC has the same block). */
    buildCidr: string;
}

export interface WorkstationConfig {
    instanceType: string;
    /** The workstation powers itself off (stop) after this many hours without a session. */
    idleStopHours: number;
    /** Launch a workstation automatically when a case's final manifest is written. */
    launchAtCaseEnd: boolean;
}

export interface ForensicConfig extends CommonConfig {
    role: "forensic";
    evidence: EvidenceConfig;
    trail: { managementEvents: boolean };
    awsConfig: { enabled: boolean };
    analysisNetwork: AnalysisNetworkConfig;
    sift: SiftConfig;
    workstation: WorkstationConfig;
}

export interface MemberConfig {
    accountId: string;
    /** Regions where the member's instances are watched (at least one). */
    regions: string[];
}

/** The module factory's pinned tools (defaults in `DEFAULTS.moduleFactory.tools`). */
export interface SecurityConfig extends CommonConfig {
    role: "security";
    /** Fully qualified name of the forensic stack, read by StackReference. */
    forensicStack: string;
    /** Accounts and regions that get the member footprint; the engine acts only on these. */
    members: MemberConfig[];
    /** Role assumed in each member account to deploy its footprint. */
    memberDeployRoleName: string;
    isolation: { enabled: boolean; fallbackHttpsEgress: "0.0.0.0/0" | "none" };
    notifications: { emails: string[] };
    /** GuardDuty EC2 findings at or above this severity open cases; undefined: off. */
    guardDutyMinSeverity?: number;
    securityHub: { enabled: boolean };
    logRetentionDays: number;
    acquisition: AcquisitionConfig;
    /** The module factory's arguments, validated. */
    moduleFactory: ModuleBuilds;
}

export interface AcquisitionConfig {
    /** Delete the member-side original snapshots once their evidence copy completed (default: keep them). */
    deleteOriginalSnapshots: boolean;
    /** EBS snapshot lock of the evidence snapshots; unset: not locked. */
    snapshotLock?: { mode: "governance" | "compliance"; days: number; coolOffHours?: number };
}

export interface AcquisitionConfig {
    /** Delete the member-side original snapshots once their evidence copy completed (default: keep them). */
    deleteOriginalSnapshots: boolean;
    /** EBS snapshot lock of the evidence snapshots; unset: not locked. */
    snapshotLock?: { mode: "governance" | "compliance"; days: number; coolOffHours?: number };
}

/** A config value: JSON (objects, lists, numbers, booleans) or else the plain string. */
function parse(source: ConfigSource, key: string, namespace = PROJECT): unknown {
    const raw = source.get(key, namespace);
    if (raw === undefined) {
        return undefined;
    }
    try {
        return JSON.parse(raw);
    } catch {
        return raw;
    }
}

/**
 * Which program a stack runs: the `role` key when set, else the stack's name (`forensic`, `security`,
 * or one of them followed by `-` or `_` and anything, such as `forensic-prod`).
 */
export function resolveRole(source: ConfigSource, stackName: string): StackRole {
    const configured = parse(source, "role");
    if (configured !== undefined) {
        return checkValue("role", z.enum(STACK_ROLES), configured);
    }
    const match = STACK_ROLES.find((r) => stackName === r || stackName.startsWith(`${r}-`) || stackName.startsWith(`${r}_`));
    if (!match) {
        throw new ConfigError("role", `forensic or security (the stack name "${stackName}" does not say which program to run)`);
    }
    return match;
}

/** Reads the stack's keys (but the separately read ones) and parses them with its schema. */
function loadStack<T extends z.ZodType>(source: ConfigSource, role: StackRole, schema: (ctx: SchemaContext) => T, defaultForensicStack = "") {
    checkTopLevelKeys(source, role);
    const homeRegion = checkValue("aws:region", awsRegion(), parse(source, "region", "aws"));
    const raw: Record<string, unknown> = {};
    for (const key of STACK_KEYS[role]) {
        if (!(SEPARATELY_READ as readonly string[]).includes(key)) {
            const value = parse(source, key);
            if (value !== undefined) {
                raw[key] = value;
            }
        }
    }
    return { data: parseWith(schema(schemaContext(homeRegion, defaultForensicStack)), raw), region: homeRegion, partition: partitionOf(homeRegion) };
}

export function loadForensicConfig(source: ConfigSource): ForensicConfig {
    const { data, ...home } = loadStack(source, "forensic", forensicSchema);
    return { ...data, ...home, role: "forensic" };
}

/**
 * @param defaultForensicStack the StackReference name used when `forensicStack` is unset
 *   (`<organization>/<project>/forensic`).
 */
export function loadSecurityConfig(source: ConfigSource, defaultForensicStack: string): SecurityConfig {
    const { data, ...home } = loadStack(source, "security", securitySchema, defaultForensicStack);
    const { guardDuty, slackWebhookUrl: _secret, ...config } = data;
    return { ...config, ...home, role: "security", guardDutyMinSeverity: guardDuty.minSeverity };
}

/** Checks the Slack webhook (a Pulumi secret, `ir-forensics:slackWebhookUrl`) without revealing it. */
export function checkSlackWebhook(url: string): string {
    return checkValue("slackWebhookUrl", STACK_SCHEMAS.security.shape.slackWebhookUrl, url) as string;
}
