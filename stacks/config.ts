/**
 * Typed, validated configuration of both stacks. Every default lives in `DEFAULTS`; every value is
 * checked when the program starts, so `pulumi preview` fails with a message that names the config key
 * and says what is expected, before any resource is planned.
 */
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, partitionOf } from "./conventions";
import { MEMBER_DEPLOY_ROLE_NAME } from "../bootstrap/memberDeployRole";

/** Defaults of every optional key, in one place (README "Configuration" lists the same values). */
export const DEFAULTS = {
    evidence: {
        objectLockMode: "GOVERNANCE" as ObjectLockMode,
        objectLockDays: 90,
        archiveAfterDays: 395,
        archiveStorageClass: "GLACIER" as ArchiveStorageClass,
        abortIncompleteUploadsAfterDays: 14,
    },
    trail: { managementEvents: false },
    memberDeployRoleName: MEMBER_DEPLOY_ROLE_NAME,
    isolation: { enabled: true, fallbackHttpsEgress: "0.0.0.0/0" as "0.0.0.0/0" | "none" },
    securityHub: { enabled: true },
    logRetentionDays: 365,
    acquisition: { deleteOriginalSnapshots: false },
    awsConfig: { enabled: false },
    analysisNetwork: {
        cidr: "10.66.0.0/16",
        subnetCount: 3,
        subnetPrefixLength: 24,
        access: "eic" as AccessMode,
        ssmEndpointAzCount: 1,
        ssmEc2MessagesEndpoint: false,
        flowLogAggregationSeconds: 600,
    },
    sift: {
        architecture: "x86_64" as SiftArchitecture,
        // Sundays 09:00 UTC; builds only when a newer base image or component exists.
        schedule: "cron(0 9 ? * sun *)",
        keepImages: 3,
        // Non-burstable: the SIFT install runs for about an hour at full CPU.
        buildInstanceTypes: ["m6i.large", "m5.large"],
        rootVolumeGiB: 100,
        buildCidr: "10.67.0.0/24",
    },
    workstation: {
        instanceType: "m6i.xlarge",
        idleStopHours: 4,
        launchAtCaseEnd: false,
    },
    moduleFactory: {
        schedule: "rate(1 day)",
        instanceTypes: { x86_64: "t3.large", arm64: "t4g.large" },
        maxBuildMinutes: 120,
        maxKernelsPerBuild: 6,
        rootVolumeGiB: 40,
        /**
         * The factory's pinned tools. LiME and dwarf2json are built from git at a pinned commit that the
         * builder checks after cloning (neither publishes checksums; LiME's last tag, v1.9.1 of 2020, predates
         * its fixes for current kernels). AVML publishes no checksums either: its SHA-256 per architecture has
         * no default and must be set (moduleFactory.tools.avml.sha256.<arch>) before anything is built.
         */
        tools: {
            lime: { version: "1.9.1+git7511bff", repository: "https://github.com/504ensicsLabs/LiME.git", commit: "7511bffe797df9d87ae4db853ef123745cc5bc2c" },
            dwarf2json: { version: "0.9.0", repository: "https://github.com/volatilityfoundation/dwarf2json.git", commit: "9f14607e0d339d463ea725fbd5c08aa7b7d40f75" },
            avml: {
                version: "0.20.0",
                urls: {
                    x86_64: "https://github.com/microsoft/avml/releases/download/v0.20.0/avml",
                    arm64: "https://github.com/microsoft/avml/releases/download/v0.20.0/avml-aarch64",
                },
            },
        },
    },
} as const;

export const MAX_SUBNETS = 200;
export const OBJECT_LOCK_MODES = ["GOVERNANCE", "COMPLIANCE"] as const;
export const ARCHIVE_STORAGE_CLASSES = ["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"] as const;
export const ACCESS_MODES = ["eic", "ssm"] as const;
export const STACK_ROLES = ["forensic", "security"] as const;
/** Architectures of the SIFT image: SIFT (cast and its salt states) installs on amd64 only. */
export const SIFT_ARCHITECTURES = ["x86_64"] as const;

export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];
export type ArchiveStorageClass = (typeof ARCHIVE_STORAGE_CLASSES)[number];
export type AccessMode = (typeof ACCESS_MODES)[number];
export type StackRole = (typeof STACK_ROLES)[number];
export type SiftArchitecture = (typeof SIFT_ARCHITECTURES)[number];

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

/** Top-level keys both stacks read. */
const COMMON_KEYS = ["role", "accounts", "organizationId", "tags"] as const;

/** Top-level keys each stack role reads (a test checks them against what the loaders ask for). */
export const STACK_KEYS: Record<StackRole, readonly string[]> = {
    forensic: [...COMMON_KEYS, "evidence", "trail", "awsConfig", "analysisNetwork", "sift", "workstation"],
    security: [
        ...COMMON_KEYS, "forensicStack", "memberDeployRoleName", "members", "isolation", "notifications", "guardDuty", "securityHub",
        "logRetentionDays", "acquisition", "moduleFactory", "slackWebhookUrl",
    ],
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
// Value checks. Each takes the dotted key for its message.

type Raw = unknown;

function parse(source: ConfigSource, key: string, namespace = PROJECT): Raw {
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

function objectOf(key: string, value: Raw, allowed: readonly string[]): Record<string, Raw> {
    if (value === undefined || value === null) {
        return {};
    }
    if (typeof value !== "object" || Array.isArray(value)) {
        throw new ConfigError(key, `an object with keys ${allowed.join(", ")}`, value);
    }
    for (const k of Object.keys(value)) {
        if (!allowed.includes(k)) {
            throw new NoSuchKeyError(`${key}.${k}`, noSuchKeyHint(k, allowed, key, `${PROJECT}:${key}.`));
        }
    }
    return value as Record<string, Raw>;
}

function integer(key: string, value: Raw, min: number, max: number, fallback?: number): number {
    if (value === undefined && fallback !== undefined) {
        return fallback;
    }
    const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
        throw new ConfigError(key, `an integer from ${min} to ${max}`, value);
    }
    return n;
}

function optionalInteger(key: string, value: Raw, min: number, max: number): number | undefined {
    return value === undefined ? undefined : integer(key, value, min, max);
}

function bool(key: string, value: Raw, fallback: boolean): boolean {
    if (value === undefined) {
        return fallback;
    }
    if (value === true || value === "true") {
        return true;
    }
    if (value === false || value === "false") {
        return false;
    }
    throw new ConfigError(key, "true or false", value);
}

function oneOf<T extends string>(key: string, value: Raw, allowed: readonly T[], fallback?: T): T {
    if (value === undefined && fallback !== undefined) {
        return fallback;
    }
    if (typeof value !== "string" || !allowed.includes(value as T)) {
        throw new ConfigError(key, `one of ${allowed.join(", ")}`, value);
    }
    return value as T;
}

function required(key: string, value: Raw, expected: string): Raw {
    if (value === undefined || value === null || value === "") {
        throw new ConfigError(key, `${expected} (required, not set)`);
    }
    return value;
}

/** A 12-digit AWS account id. YAML turns an unquoted id into a number: accept it only if no digit was lost. */
export function accountId(key: string, value: Raw): string {
    const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
    if (typeof text !== "string" || !/^\d{12}$/.test(text)) {
        const hint = typeof value === "number" ? " (quote account ids in YAML so leading zeros survive)" : "";
        throw new ConfigError(key, `a 12-digit AWS account id${hint}`, value);
    }
    return text;
}

const REGION = /^(?:[a-z]{2}(?:-gov|-iso[a-z]?)?)-(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}$/;

/** An AWS region name such as `eu-west-1`. */
export function region(key: string, value: Raw): string {
    if (typeof value !== "string" || !REGION.test(value)) {
        throw new ConfigError(key, "an AWS region name such as us-east-1 or eu-west-1", value);
    }
    return value;
}

/** An AMI id: `ami-` and 8 or 17 lower-case hex digits. */
export function amiId(key: string, value: Raw): string {
    if (typeof value !== "string" || !/^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/.test(value)) {
        throw new ConfigError(key, "an AMI id: ami- followed by 8 or 17 hex digits", value);
    }
    return value;
}

/** An AWS Organizations id: `o-` and 10 to 32 lower-case letters or digits. */
export function organizationId(key: string, value: Raw): string {
    if (typeof value !== "string" || !/^o-[a-z0-9]{10,32}$/.test(value)) {
        throw new ConfigError(key, "an AWS Organizations id such as o-a1b2c3d4e5", value);
    }
    return value;
}

/** An IAM role ARN (or an ArnLike pattern with `*`) in the given partition, optionally in one account. */
export function roleArnPattern(key: string, value: Raw, partition: string, account?: string): string {
    const accountPart = account ?? "\\d{12}";
    const re = new RegExp(`^arn:${partition}:iam::${accountPart}:role/[\\w+=,.@/*-]+$`);
    if (typeof value !== "string" || !re.test(value)) {
        const where = account ? ` in account ${account}` : "";
        throw new ConfigError(key, `an IAM role ARN${where}, like arn:${partition}:iam::${account ?? "123456789012"}:role/Name`, value);
    }
    return value;
}

function list(key: string, value: Raw): Raw[] {
    if (value === undefined) {
        return [];
    }
    if (!Array.isArray(value)) {
        throw new ConfigError(key, "a list", value);
    }
    return value;
}

function stringMap(key: string, value: Raw): Record<string, string> {
    if (value === undefined) {
        return {};
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new ConfigError(key, "a map of tag names to string values", value);
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string" || k.length === 0 || k.length > 128 || v.length > 256 || k.toLowerCase().startsWith("aws:")) {
            throw new ConfigError(`${key}.${k}`, "a tag value string (keys 1-128 characters, values up to 256, no aws: prefix)", v);
        }
        out[k] = v;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// IPv4 CIDR arithmetic, for the analysis network's subnets.

export interface Cidr {
    /** Network address as an unsigned 32-bit integer. */
    base: number;
    prefix: number;
}

function ipToInt(ip: string): number | undefined {
    const parts = ip.split(".");
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
        return undefined;
    }
    return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

function intToIp(n: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** Parses `a.b.c.d/p`; the address must be the network address of its prefix. */
export function parseCidr(key: string, value: Raw, minPrefix: number, maxPrefix: number): Cidr {
    const m = typeof value === "string" ? /^([\d.]+)\/(\d{1,2})$/.exec(value) : null;
    const base = m ? ipToInt(m[1]) : undefined;
    const prefix = m ? Number(m[2]) : NaN;
    if (!m || base === undefined || prefix < minPrefix || prefix > maxPrefix) {
        throw new ConfigError(key, `an IPv4 CIDR block with a prefix from /${minPrefix} to /${maxPrefix}, like 10.66.0.0/16`, value);
    }
    const size = 2 ** (32 - prefix);
    if (base % size !== 0) {
        const network = intToIp(base - (base % size));
        throw new ConfigError(key, `a network address (host bits zero), like ${network}/${prefix}`, value);
    }
    return { base, prefix };
}

export function formatCidr(c: Cidr): string {
    return `${intToIp(c.base)}/${c.prefix}`;
}

/** The first `count` subnets of `/subnetPrefix` inside `vpc`, in address order. */
export function carveSubnets(vpc: Cidr, subnetPrefix: number, count: number): string[] {
    const size = 2 ** (32 - subnetPrefix);
    return Array.from({ length: count }, (_, i) => formatCidr({ base: vpc.base + i * size, prefix: subnetPrefix }));
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

/** Architectures the module factory builds for (AMI architecture names, as index.json records them). */
export const MODULE_ARCHES = ["x86_64", "arm64"] as const;
export type ModuleArch = (typeof MODULE_ARCHES)[number];

/** The module factory's pinned tools (defaults in `DEFAULTS.moduleFactory.tools`). */
export interface ModuleTools {
    lime: { version: string; repository: string; commit: string };
    dwarf2json: { version: string; repository: string; commit: string };
    avml: { version: string; urls: Record<ModuleArch, string>; sha256: Record<ModuleArch, string> };
}

/** An existing subnet for builders (it needs a route to the internet: package repositories, git). */
export interface BuildNetworkConfig {
    subnetId: string;
    /** A group that allows the builder's outbound HTTP(S) and no inbound traffic. */
    securityGroupId: string;
    /** Give builders a public IPv4 address (a public subnet without NAT). Default false. */
    publicIp: boolean;
}

export interface ModuleFactoryConfig {
    /** AMI ids to build LiME modules and Volatility symbols for, by region. */
    amiIds: Record<string, string[]>;
    /** EventBridge Scheduler expression of the refresh that builds kernels published since the last run. */
    schedule: string;
    /** Where builders run, by region; regions without an entry get a build network of their own. */
    networks: Record<string, BuildNetworkConfig>;
    instanceTypes: Record<ModuleArch, string>;
    /** Hard limit of one build; the builder powers off (and so terminates) after it. */
    maxBuildMinutes: number;
    /** Newest kernels a build covers besides the running one. */
    maxKernelsPerBuild: number;
    rootVolumeGiB: number;
    tools: ModuleTools;
}

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
    moduleFactory: ModuleFactoryConfig;
}

export interface AcquisitionConfig {
    /** Delete the member-side original snapshots once their evidence copy completed (default: keep them). */
    deleteOriginalSnapshots: boolean;
    /** EBS snapshot lock of the evidence snapshots; unset: not locked. */
    snapshotLock?: { mode: "governance" | "compliance"; days: number; coolOffHours?: number };
}

/** `acquisition`: what happens to snapshots. */
function loadAcquisition(source: ConfigSource): AcquisitionConfig {
    const key = "acquisition";
    const raw = objectOf(key, parse(source, key), ["deleteOriginalSnapshots", "snapshotLock"]);
    const config: AcquisitionConfig = {
        deleteOriginalSnapshots: bool(`${key}.deleteOriginalSnapshots`, raw.deleteOriginalSnapshots, DEFAULTS.acquisition.deleteOriginalSnapshots),
    };
    if (raw.snapshotLock !== undefined) {
        const lock = objectOf(`${key}.snapshotLock`, raw.snapshotLock, ["mode", "days", "coolOffHours"]);
        const mode = oneOf(`${key}.snapshotLock.mode`, required(`${key}.snapshotLock.mode`, lock.mode, "governance or compliance"), ["governance", "compliance"] as const);
        const days = integer(`${key}.snapshotLock.days`, required(`${key}.snapshotLock.days`, lock.days, "a number of days"), 1, 36500);
        const coolOffHours = optionalInteger(`${key}.snapshotLock.coolOffHours`, lock.coolOffHours, 1, 72);
        if (coolOffHours !== undefined && mode !== "compliance") {
            throw new ConfigError(`${key}.snapshotLock.coolOffHours`, "no value in governance mode (a cool-off period only applies to compliance mode)", coolOffHours);
        }
        config.snapshotLock = { mode, days, ...(coolOffHours !== undefined ? { coolOffHours } : {}) };
    }
    return config;
}

/** Retention values CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/**
 * Which program a stack runs: the `role` key when set, else the stack's name (`forensic`, `security`,
 * or one of them followed by `-` or `_` and anything, such as `forensic-prod`).
 */
export function resolveRole(source: ConfigSource, stackName: string): StackRole {
    const configured = parse(source, "role");
    if (configured !== undefined) {
        return oneOf("role", configured, STACK_ROLES);
    }
    const match = STACK_ROLES.find((r) => stackName === r || stackName.startsWith(`${r}-`) || stackName.startsWith(`${r}_`));
    if (!match) {
        throw new ConfigError("role", `forensic or security (the stack name "${stackName}" does not say which program to run)`);
    }
    return match;
}

function loadCommon(source: ConfigSource, role: StackRole): CommonConfig {
    const regionName = region("aws:region", required("aws:region", parse(source, "region", "aws"), "an AWS region"));
    const accountsRaw = objectOf("accounts", required("accounts", parse(source, "accounts"), "an object with forensic and security account ids"), ["forensic", "security"]);
    const accounts = {
        forensic: accountId("accounts.forensic", required("accounts.forensic", accountsRaw.forensic, "a 12-digit AWS account id")),
        security: accountId("accounts.security", required("accounts.security", accountsRaw.security, "a 12-digit AWS account id")),
    };
    if (accounts.forensic === accounts.security) {
        throw new ConfigError("accounts", "different forensic and security accounts (evidence is kept apart from the responders)", accounts);
    }
    return {
        role,
        region: regionName,
        partition: partitionOf(regionName),
        accounts,
        organizationId: organizationId("organizationId", required("organizationId", parse(source, "organizationId"), "an AWS Organizations id")),
        tags: stringMap("tags", parse(source, "tags")),
    };
}

function loadEvidence(source: ConfigSource, common: CommonConfig): EvidenceConfig {
    const d = DEFAULTS.evidence;
    const raw = objectOf("evidence", parse(source, "evidence"), [
        "objectLockMode", "objectLockDays", "archiveAfterDays", "archiveStorageClass", "expireAfterDays",
        "abortIncompleteUploadsAfterDays", "breakGlassRoleArn", "deployRoleArns", "investigatorPrincipalArns",
    ]);
    const objectLockDays = integer("evidence.objectLockDays", raw.objectLockDays, 1, 36500, d.objectLockDays);
    const archiveAfterDays = integer("evidence.archiveAfterDays", raw.archiveAfterDays, 1, 36500, d.archiveAfterDays);
    const expireAfterDays = optionalInteger("evidence.expireAfterDays", raw.expireAfterDays, 1, 36500);
    if (expireAfterDays !== undefined && expireAfterDays <= Math.max(objectLockDays, archiveAfterDays)) {
        throw new ConfigError(
            "evidence.expireAfterDays",
            `more days than evidence.objectLockDays (${objectLockDays}) and evidence.archiveAfterDays (${archiveAfterDays}), or unset to keep evidence forever`,
            expireAfterDays,
        );
    }
    const p = common.partition;
    return {
        objectLockMode: oneOf("evidence.objectLockMode", raw.objectLockMode, OBJECT_LOCK_MODES, d.objectLockMode),
        objectLockDays,
        archiveAfterDays,
        archiveStorageClass: oneOf("evidence.archiveStorageClass", raw.archiveStorageClass, ARCHIVE_STORAGE_CLASSES, d.archiveStorageClass),
        expireAfterDays,
        abortIncompleteUploadsAfterDays: integer("evidence.abortIncompleteUploadsAfterDays", raw.abortIncompleteUploadsAfterDays, 1, 365, d.abortIncompleteUploadsAfterDays),
        breakGlassRoleArn: raw.breakGlassRoleArn === undefined
            ? undefined
            : roleArnPattern("evidence.breakGlassRoleArn", raw.breakGlassRoleArn, p, common.accounts.forensic),
        deployRoleArns: list("evidence.deployRoleArns", raw.deployRoleArns)
            .map((v, i) => roleArnPattern(`evidence.deployRoleArns[${i}]`, v, p, common.accounts.forensic)),
        investigatorPrincipalArns: list("evidence.investigatorPrincipalArns", raw.investigatorPrincipalArns)
            .map((v, i) => roleArnPattern(`evidence.investigatorPrincipalArns[${i}]`, v, p)),
    };
}

function loadAnalysisNetwork(source: ConfigSource): AnalysisNetworkConfig {
    const d = DEFAULTS.analysisNetwork;
    const key = "analysisNetwork";
    const raw = objectOf(key, parse(source, key), [
        "cidr", "subnetCount", "subnetPrefixLength", "access", "ssmEndpointAzCount", "ssmEc2MessagesEndpoint", "flowLogAggregationSeconds",
    ]);
    const cidrText = raw.cidr === undefined ? d.cidr : raw.cidr;
    const vpc = parseCidr(`${key}.cidr`, cidrText, 16, 28);
    const subnetCount = integer(`${key}.subnetCount`, raw.subnetCount, 1, MAX_SUBNETS, d.subnetCount);
    const subnetPrefixLength = integer(`${key}.subnetPrefixLength`, raw.subnetPrefixLength, vpc.prefix, 28, Math.max(d.subnetPrefixLength, vpc.prefix));
    const fits = 2 ** (subnetPrefixLength - vpc.prefix);
    if (subnetCount > fits) {
        throw new ConfigError(
            `${key}.subnetCount`,
            `at most ${fits} subnets of /${subnetPrefixLength} in ${formatCidr(vpc)} (raise ${key}.subnetPrefixLength or widen ${key}.cidr)`,
            subnetCount,
        );
    }
    const aggregation = integer(`${key}.flowLogAggregationSeconds`, raw.flowLogAggregationSeconds, 60, 600, d.flowLogAggregationSeconds);
    if (aggregation !== 60 && aggregation !== 600) {
        throw new ConfigError(`${key}.flowLogAggregationSeconds`, "60 or 600", aggregation);
    }
    return {
        cidr: formatCidr(vpc),
        subnetCount,
        subnetPrefixLength,
        subnetCidrs: carveSubnets(vpc, subnetPrefixLength, subnetCount),
        access: oneOf(`${key}.access`, raw.access, ACCESS_MODES, d.access),
        ssmEndpointAzCount: integer(`${key}.ssmEndpointAzCount`, raw.ssmEndpointAzCount, 1, subnetCount, Math.min(d.ssmEndpointAzCount, subnetCount)),
        ssmEc2MessagesEndpoint: bool(`${key}.ssmEc2MessagesEndpoint`, raw.ssmEc2MessagesEndpoint, d.ssmEc2MessagesEndpoint),
        flowLogAggregationSeconds: aggregation,
    };
}

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;

function instanceType(key: string, value: Raw): string {
    if (typeof value !== "string" || !INSTANCE_TYPE.test(value)) {
        throw new ConfigError(key, "an EC2 instance type such as m6i.large", value);
    }
    return value;
}

/** Image Builder's six-field cron (minute hour day month weekday year), e.g. `cron(0 9 ? * sun *)`. */
const IMAGE_BUILDER_CRON = /^cron\((\S+ ){5}\S+\)$/;

function loadSift(source: ConfigSource): SiftConfig {
    const d = DEFAULTS.sift;
    const key = "sift";
    const raw = objectOf(key, parse(source, key), ["architecture", "schedule", "keepImages", "buildInstanceTypes", "rootVolumeGiB", "buildCidr"]);
    if (raw.architecture === "arm64") {
        throw new ConfigError(`${key}.architecture`, "x86_64 (SIFT's installer, cast, and its salt states support amd64 only)", raw.architecture);
    }
    const schedule = raw.schedule ?? d.schedule;
    if (typeof schedule !== "string" || !IMAGE_BUILDER_CRON.test(schedule)) {
        throw new ConfigError(`${key}.schedule`, "an Image Builder cron expression with six fields, like cron(0 9 ? * sun *)", schedule);
    }
    const types = raw.buildInstanceTypes === undefined ? [...d.buildInstanceTypes] : list(`${key}.buildInstanceTypes`, raw.buildInstanceTypes);
    if (types.length === 0) {
        throw new ConfigError(`${key}.buildInstanceTypes`, "at least one EC2 instance type", types);
    }
    return {
        architecture: oneOf(`${key}.architecture`, raw.architecture, SIFT_ARCHITECTURES, d.architecture),
        schedule,
        keepImages: integer(`${key}.keepImages`, raw.keepImages, 1, 50, d.keepImages),
        buildInstanceTypes: types.map((t, i) => instanceType(`${key}.buildInstanceTypes[${i}]`, t)),
        // SIFT with its tools takes about 45 GiB; below 60 the build runs out of space.
        rootVolumeGiB: integer(`${key}.rootVolumeGiB`, raw.rootVolumeGiB, 60, 1024, d.rootVolumeGiB),
        buildCidr: formatCidr(parseCidr(`${key}.buildCidr`, raw.buildCidr ?? d.buildCidr, 16, 28)),
    };
}

function loadWorkstation(source: ConfigSource): WorkstationConfig {
    const d = DEFAULTS.workstation;
    const key = "workstation";
    const raw = objectOf(key, parse(source, key), ["instanceType", "idleStopHours", "launchAtCaseEnd"]);
    return {
        instanceType: instanceType(`${key}.instanceType`, raw.instanceType ?? d.instanceType),
        idleStopHours: integer(`${key}.idleStopHours`, raw.idleStopHours, 1, 168, d.idleStopHours),
        launchAtCaseEnd: bool(`${key}.launchAtCaseEnd`, raw.launchAtCaseEnd, d.launchAtCaseEnd),
    };
}

export function loadForensicConfig(source: ConfigSource): ForensicConfig {
    checkTopLevelKeys(source, "forensic");
    const common = loadCommon(source, "forensic");
    const trail = objectOf("trail", parse(source, "trail"), ["managementEvents"]);
    const awsConfig = objectOf("awsConfig", parse(source, "awsConfig"), ["enabled"]);
    return {
        ...common,
        role: "forensic",
        evidence: loadEvidence(source, common),
        trail: { managementEvents: bool("trail.managementEvents", trail.managementEvents, DEFAULTS.trail.managementEvents) },
        awsConfig: { enabled: bool("awsConfig.enabled", awsConfig.enabled, DEFAULTS.awsConfig.enabled) },
        analysisNetwork: loadAnalysisNetwork(source),
        sift: loadSift(source),
        workstation: loadWorkstation(source),
    };
}

/**
 * @param defaultForensicStack the StackReference name used when `forensicStack` is unset
 *   (`<organization>/<project>/forensic`).
 */
function loadMembers(source: ConfigSource): MemberConfig[] {
    const seen = new Set<string>();
    return list("members", parse(source, "members")).map((raw, i) => {
        const key = `members[${i}]`;
        const m = objectOf(key, raw, ["accountId", "regions"]);
        const id = accountId(`${key}.accountId`, required(`${key}.accountId`, m.accountId, "a 12-digit AWS account id"));
        if (seen.has(id)) {
            throw new ConfigError(`${key}.accountId`, "each member account listed once (give all its regions in one entry)", id);
        }
        seen.add(id);
        const regions = list(`${key}.regions`, required(`${key}.regions`, m.regions, "a list of regions"))
            .map((r, j) => region(`${key}.regions[${j}]`, r));
        if (regions.length === 0 || new Set(regions).size !== regions.length) {
            throw new ConfigError(`${key}.regions`, "at least one region, each listed once", regions);
        }
        return { accountId: id, regions };
    });
}

function text(key: string, value: Raw, pattern: RegExp, expected: string, fallback: string): string {
    if (value === undefined) {
        return fallback;
    }
    if (typeof value !== "string" || !pattern.test(value)) {
        throw new ConfigError(key, expected, value);
    }
    return value;
}

const SHA256 = /^[0-9a-f]{64}$/;
const COMMIT = /^[0-9a-f]{40}$/;
const TOOL_VERSION = /^[A-Za-z0-9._+-]{1,64}$/;
const HTTPS_URL = /^https:\/\/[\w.-]+\/[^\s'"\\]+$/;

function loadModuleTools(key: string, raw: Raw, needAvmlHashes: boolean): ModuleTools {
    const d = DEFAULTS.moduleFactory.tools;
    const tools = objectOf(key, raw, ["lime", "dwarf2json", "avml"]);
    const gitTool = (name: "lime" | "dwarf2json") => {
        const t = objectOf(`${key}.${name}`, tools[name], ["version", "repository", "commit"]);
        return {
            version: text(`${key}.${name}.version`, t.version, TOOL_VERSION, "a version label (letters, digits and ._+-)", d[name].version),
            repository: text(`${key}.${name}.repository`, t.repository, HTTPS_URL, "an https:// git repository URL", d[name].repository),
            commit: text(`${key}.${name}.commit`, t.commit, COMMIT, "a full 40-hex-digit git commit id", d[name].commit),
        };
    };
    const avml = objectOf(`${key}.avml`, tools.avml, ["version", "urls", "sha256"]);
    const urls = objectOf(`${key}.avml.urls`, avml.urls, MODULE_ARCHES);
    const hashes = objectOf(`${key}.avml.sha256`, avml.sha256, MODULE_ARCHES);
    const version = text(`${key}.avml.version`, avml.version, TOOL_VERSION, "a version label (letters, digits and ._+-)", d.avml.version);
    const perArch = <T>(f: (arch: ModuleArch) => T) => Object.fromEntries(MODULE_ARCHES.map((a) => [a, f(a)])) as Record<ModuleArch, T>;
    return {
        lime: gitTool("lime"),
        dwarf2json: gitTool("dwarf2json"),
        avml: {
            version,
            urls: perArch((a) => text(`${key}.avml.urls.${a}`, urls[a], HTTPS_URL, "an https:// download URL", d.avml.urls[a])),
            sha256: perArch((a) => {
                const k = `${key}.avml.sha256.${a}`;
                if (hashes[a] === undefined && !needAvmlHashes) {
                    return "";
                }
                // AVML publishes no checksums: the value is the one you verified, never a default of ours.
                const expected = `the lower-case hex SHA-256 of the AVML ${version} ${a} binary you verified (no published checksum exists; ` +
                    "required once moduleFactory.amiIds lists an AMI)";
                return text(k, required(k, hashes[a], expected), SHA256, expected, "");
            }),
        },
    };
}

function loadModuleFactory(source: ConfigSource, common: CommonConfig): ModuleFactoryConfig {
    const d = DEFAULTS.moduleFactory;
    const key = "moduleFactory";
    const raw = objectOf(key, parse(source, key), ["amiIds", "schedule", "networks", "instanceTypes", "maxBuildMinutes", "maxKernelsPerBuild", "rootVolumeGiB", "tools"]);
    const regionKey = (map: string, r: string) => `${key}.${map}["${r}"]`;
    const checkRegion = (map: string, r: string) => {
        region(regionKey(map, r), r);
        if (partitionOf(r) !== common.partition) {
            throw new ConfigError(regionKey(map, r), `a region of the ${common.partition} partition (the module store's)`, r);
        }
    };
    const amiIds: Record<string, string[]> = {};
    const amiMap = raw.amiIds === undefined ? {} : raw.amiIds;
    if (typeof amiMap !== "object" || amiMap === null || Array.isArray(amiMap)) {
        throw new ConfigError(`${key}.amiIds`, "a map of region names to lists of AMI ids", amiMap);
    }
    for (const [r, ids] of Object.entries(amiMap as Record<string, Raw>)) {
        checkRegion("amiIds", r);
        const listed = list(regionKey("amiIds", r), ids).map((id, i) => amiId(`${regionKey("amiIds", r)}[${i}]`, id));
        if (new Set(listed).size !== listed.length) {
            throw new ConfigError(regionKey("amiIds", r), "each AMI id listed once", listed);
        }
        if (listed.length > 0) {
            amiIds[r] = listed;
        }
    }
    const networkMap = raw.networks === undefined ? {} : raw.networks;
    if (typeof networkMap !== "object" || networkMap === null || Array.isArray(networkMap)) {
        throw new ConfigError(`${key}.networks`, "a map of region names to {subnetId, securityGroupId, publicIp}", networkMap);
    }
    const networks: Record<string, BuildNetworkConfig> = {};
    for (const [r, value] of Object.entries(networkMap as Record<string, Raw>)) {
        checkRegion("networks", r);
        const k = regionKey("networks", r);
        const n = objectOf(k, value, ["subnetId", "securityGroupId", "publicIp"]);
        networks[r] = {
            subnetId: text(`${k}.subnetId`, required(`${k}.subnetId`, n.subnetId, "a subnet id"), /^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/,
                "a subnet id: subnet- followed by 8 or 17 hex digits", ""),
            securityGroupId: text(`${k}.securityGroupId`, required(`${k}.securityGroupId`, n.securityGroupId, "a security group id"),
                /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, "a security group id: sg- followed by 8 or 17 hex digits", ""),
            publicIp: bool(`${k}.publicIp`, n.publicIp, false),
        };
    }
    const schedule = text(`${key}.schedule`, raw.schedule, /^(?:rate\(\d+ (?:minutes?|hours?|days?)\)|cron\([^()]+\))$/,
        "an EventBridge Scheduler expression such as rate(1 day) or cron(0 3 * * ? *)", d.schedule);
    const types = objectOf(`${key}.instanceTypes`, raw.instanceTypes, MODULE_ARCHES);
    const instanceType = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
    return {
        amiIds,
        schedule,
        networks,
        instanceTypes: {
            x86_64: text(`${key}.instanceTypes.x86_64`, types.x86_64, instanceType, "an EC2 instance type such as t3.large", d.instanceTypes.x86_64),
            arm64: text(`${key}.instanceTypes.arm64`, types.arm64, instanceType, "an EC2 instance type such as t4g.large", d.instanceTypes.arm64),
        },
        maxBuildMinutes: integer(`${key}.maxBuildMinutes`, raw.maxBuildMinutes, 15, 720, d.maxBuildMinutes),
        maxKernelsPerBuild: integer(`${key}.maxKernelsPerBuild`, raw.maxKernelsPerBuild, 1, 50, d.maxKernelsPerBuild),
        rootVolumeGiB: integer(`${key}.rootVolumeGiB`, raw.rootVolumeGiB, 16, 1024, d.rootVolumeGiB),
        tools: loadModuleTools(`${key}.tools`, raw.tools, Object.keys(amiIds).length > 0),
    };
}

/**
 * @param defaultForensicStack the StackReference name used when `forensicStack` is unset
 *   (`<organization>/<project>/forensic`).
 */
export function loadSecurityConfig(source: ConfigSource, defaultForensicStack: string): SecurityConfig {
    checkTopLevelKeys(source, "security");
    const common = loadCommon(source, "security");
    const forensicStack = parse(source, "forensicStack") ?? defaultForensicStack;
    if (typeof forensicStack !== "string" || !/^(?:[\w.-]+\/){0,2}[\w.-]+$/.test(forensicStack)) {
        throw new ConfigError("forensicStack", "a stack name such as acme/ir-forensics/forensic", forensicStack);
    }
    const deployRole = parse(source, "memberDeployRoleName") ?? DEFAULTS.memberDeployRoleName;
    if (typeof deployRole !== "string" || !/^[\w+=,.@-]{1,64}$/.test(deployRole)) {
        throw new ConfigError("memberDeployRoleName", "an IAM role name (1-64 letters, digits or +=,.@_-)", deployRole);
    }
    const isolation = objectOf("isolation", parse(source, "isolation"), ["enabled", "fallbackHttpsEgress"]);
    const notifications = objectOf("notifications", parse(source, "notifications"), ["emails"]);
    const guardDuty = objectOf("guardDuty", parse(source, "guardDuty"), ["minSeverity"]);
    const securityHub = objectOf("securityHub", parse(source, "securityHub"), ["enabled"]);
    const minSeverity = guardDuty.minSeverity;
    if (minSeverity !== undefined && (typeof minSeverity !== "number" || minSeverity < 1 || minSeverity > 8.9)) {
        throw new ConfigError("guardDuty.minSeverity", "a GuardDuty severity from 1 to 8.9 (7 = high), or unset to leave GuardDuty out", minSeverity);
    }
    const retention = parse(source, "logRetentionDays") ?? DEFAULTS.logRetentionDays;
    if (!LOG_RETENTION_DAYS.includes(retention as (typeof LOG_RETENTION_DAYS)[number])) {
        throw new ConfigError("logRetentionDays", `one of the CloudWatch Logs retention values ${LOG_RETENTION_DAYS.join(", ")}`, retention);
    }
    return {
        ...common,
        role: "security",
        forensicStack,
        members: loadMembers(source),
        memberDeployRoleName: deployRole,
        isolation: {
            enabled: bool("isolation.enabled", isolation.enabled, DEFAULTS.isolation.enabled),
            fallbackHttpsEgress: oneOf("isolation.fallbackHttpsEgress", isolation.fallbackHttpsEgress, ["0.0.0.0/0", "none"] as const, DEFAULTS.isolation.fallbackHttpsEgress),
        },
        notifications: {
            emails: list("notifications.emails", notifications.emails).map((e, i) => {
                if (typeof e !== "string" || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e)) {
                    throw new ConfigError(`notifications.emails[${i}]`, "an e-mail address", e);
                }
                return e;
            }),
        },
        guardDutyMinSeverity: minSeverity as number | undefined,
        securityHub: { enabled: bool("securityHub.enabled", securityHub.enabled, DEFAULTS.securityHub.enabled) },
        logRetentionDays: retention as number,
        acquisition: loadAcquisition(source),
        moduleFactory: loadModuleFactory(source, common),
    };
}

/** Checks the Slack webhook (a Pulumi secret, `ir-forensics:slackWebhookUrl`) without revealing it. */
export function checkSlackWebhook(url: string): string {
    if (!/^https:\/\/[\w.-]+\/\S+$/.test(url)) {
        throw new ConfigError("slackWebhookUrl", "an https:// webhook URL (set it with pulumi config set --secret ir-forensics:slackWebhookUrl ...)");
    }
    return url;
}
