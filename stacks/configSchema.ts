/**
 * The configuration schema of both stacks (zod): every key, its type, its default and its documentation.
 * `stacks/config.ts` parses with it and turns the first issue into a ConfigError; `npm run docs` renders
 * docs/configuration.md's tables from it. Nothing here reads config.
 */
import { z } from "zod";
import { MEMBER_DEPLOY_ROLE_NAME } from "../bootstrap/memberDeployRole";

/** What errors and docs/configuration.md say about one key. */
export interface FieldDoc {
    /** What the value must be: the text after "expected" in errors (a function of the given value when it depends on it). */
    expected?: string | ((got: unknown) => string);
    /** What a "required, not set" error says instead of `expected`. */
    required?: string;
    /** docs/configuration.md's "meaning" column. */
    doc?: string;
    /** docs/configuration.md's "default" column, when the default is computed or there is none to show. */
    shownDefault?: string;
    /** A map whose keys are shown as `.key` (tags) rather than `["key"]`. */
    dottedKeys?: boolean;
    /** Never print the value (a secret). */
    secret?: boolean;
}

/** Documentation of schemas, looked up along an issue's path. */
export const fieldDocs = z.registry<FieldDoc>();

/** `schema` with its documentation (added to what it already has). */
function field<T extends z.ZodType>(schema: T, doc: FieldDoc): T {
    fieldDocs.add(schema as never, { ...fieldDocs.get(schema), ...doc } as never);
    return schema;
}

/** Defaults of every optional key, in one place (docs/configuration.md's tables show the same values: `npm run docs`). */
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
/** Architectures the module factory builds for (AMI architecture names, as index.json records them). */
export const MODULE_ARCHES = ["x86_64", "arm64"] as const;
/** Retention values CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];
export type ArchiveStorageClass = (typeof ARCHIVE_STORAGE_CLASSES)[number];
export type AccessMode = (typeof ACCESS_MODES)[number];
export type StackRole = (typeof STACK_ROLES)[number];
export type SiftArchitecture = (typeof SIFT_ARCHITECTURES)[number];
export type ModuleArch = (typeof MODULE_ARCHES)[number];

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

export function formatCidr(c: Cidr): string {
    return `${intToIp(c.base)}/${c.prefix}`;
}

/** `a.b.c.d/p` as a Cidr, or what is wrong with it: the address must be the network address of its prefix. */
export function readCidr(value: unknown, minPrefix: number, maxPrefix: number): Cidr | string {
    const m = typeof value === "string" ? /^([\d.]+)\/(\d{1,2})$/.exec(value) : null;
    const base = m ? ipToInt(m[1]) : undefined;
    const prefix = m ? Number(m[2]) : NaN;
    if (!m || base === undefined || prefix < minPrefix || prefix > maxPrefix) {
        return `an IPv4 CIDR block with a prefix from /${minPrefix} to /${maxPrefix}, like 10.66.0.0/16`;
    }
    const size = 2 ** (32 - prefix);
    if (base % size !== 0) {
        return `a network address (host bits zero), like ${formatCidr({ base: base - (base % size), prefix })}`;
    }
    return { base, prefix };
}

/** The first `count` subnets of `/subnetPrefix` inside `vpc`, in address order. */
export function carveSubnets(vpc: Cidr, subnetPrefix: number, count: number): string[] {
    const size = 2 ** (32 - subnetPrefix);
    return Array.from({ length: count }, (_, i) => formatCidr({ base: vpc.base + i * size, prefix: subnetPrefix }));
}

// ---------------------------------------------------------------------------------------------
// Value types. Each call makes a new schema, so each key carries its own documentation.

/** An integer, also given as a string of digits (a YAML value in quotes). */
function integer(min: number, max: number) {
    return field(
        z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(min).max(max)),
        { expected: `an integer from ${min} to ${max}` },
    );
}

/** true or false, also as a string. */
function bool() {
    return field(z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]), { expected: "true or false" });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T, expected = `one of ${values.join(", ")}`) {
    return field(z.enum(values), { expected });
}

function text(pattern: RegExp, expected: string) {
    return field(z.string().regex(pattern), { expected });
}

function list<T extends z.ZodType>(element: T, expected = "a list") {
    return field(z.array(element), { expected });
}

/** A section: a strict object (unknown keys fail), empty when unset or null (a YAML key with no value). */
function section<T extends z.ZodRawShape>(shape: T) {
    return z.preprocess((v) => v ?? {}, z.strictObject(shape));
}

const REGION = /^(?:[a-z]{2}(?:-gov|-iso[a-z]?)?)-(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const SHA256 = /^[0-9a-f]{64}$/;
const COMMIT = /^[0-9a-f]{40}$/;
const TOOL_VERSION = /^[A-Za-z0-9._+-]{1,64}$/;
const HTTPS_URL = /^https:\/\/[\w.-]+\/[^\s'"\\]+$/;
const QUOTE_ACCOUNT_IDS = " (quote account ids in YAML so leading zeros survive)";

/** An AWS region name such as `eu-west-1`. */
export const region = () => text(REGION, "an AWS region name such as us-east-1 or eu-west-1");

/** An AMI id: `ami-` and 8 or 17 lower-case hex digits. */
export const amiId = () => text(/^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, "an AMI id: ami- followed by 8 or 17 hex digits");

/** A 12-digit AWS account id. YAML turns an unquoted id into a number: accept it only if no digit was lost. */
function accountId() {
    return field(z.union([z.string().regex(/^\d{12}$/), z.number().int().min(1e11).max(1e12 - 1).transform(String)]), {
        expected: (got) => `a 12-digit AWS account id${typeof got === "number" ? QUOTE_ACCOUNT_IDS : ""}`,
    });
}

/** An IAM role ARN (or an ArnLike pattern with `*`) in the given partition, optionally in one account. */
export function roleArnPattern(partition: string, account?: string): RegExp {
    return new RegExp(`^arn:${partition}:iam::${account ?? "\\d{12}"}:role/[\\w+=,.@/*-]+$`);
}

export function roleArnExpected(partition: string, account?: string): string {
    return `an IAM role ARN${account ? ` in account ${account}` : ""}, like arn:${partition}:iam::${account ?? "123456789012"}:role/Name`;
}

const roleArn = (partition: string) => text(roleArnPattern(partition), roleArnExpected(partition));

/** A CIDR block, normalised. */
function cidr(minPrefix: number, maxPrefix: number) {
    const schema = z.string().transform((v, ctx) => {
        const parsed = readCidr(v, minPrefix, maxPrefix);
        if (typeof parsed === "string") {
            ctx.addIssue({ code: "custom", message: parsed, input: v });
            return z.NEVER;
        }
        return parsed;
    });
    return field(schema, { expected: readCidr(undefined, minPrefix, maxPrefix) as string });
}

const instanceType = (example: string) => text(INSTANCE_TYPE, `an EC2 instance type such as ${example}`);

/** A region key of a per-region map: a region of the stack's partition. */
function regionKey(partition: string, partitionOf: (region: string) => string) {
    return region().refine((r) => partitionOf(r) === partition, { error: `a region of the ${partition} partition (the module store's)` });
}

/** Adds a custom issue at `path` (relative to the refined value). */
function fail(ctx: z.RefinementCtx, path: PropertyKey[], expected: string, input?: unknown): void {
    ctx.addIssue({ code: "custom", message: expected, path, input });
}

// ---------------------------------------------------------------------------------------------
// Sections.

/** What the schemas need to know beyond the config: the home region's partition. */
export interface SchemaContext {
    partition: string;
    /** Partition of any region name (conventions.ts). */
    partitionOf: (region: string) => string;
    /** StackReference name of the forensic stack when `forensicStack` is unset. */
    defaultForensicStack: string;
}

/** `aws:region`, read from the aws namespace. */
export const awsRegion = () => field(region(), { required: "an AWS region", doc: "the stack's home region" });

function commonShape() {
    return {
        role: field(oneOf(STACK_ROLES).optional(), { shownDefault: "from the stack name", doc: "`forensic` or `security`" }),
        accounts: field(z.strictObject({
            forensic: field(accountId(), { doc: "12-digit forensic account id (evidence, analysis)" }),
            security: field(accountId(), { doc: "12-digit security account id (responders, automation); must differ from forensic" }),
        }), { required: "an object with forensic and security account ids" }),
        organizationId: field(z.string().regex(/^o-[a-z0-9]{10,32}$/), {
            expected: "an AWS Organizations id such as o-a1b2c3d4e5", required: "an AWS Organizations id",
            doc: "`o-…`: only principals of this organization may touch the evidence bucket",
        }),
        tags: field(z.record(z.string(), z.unknown()).default({}).superRefine((tags, ctx) => {
            for (const [k, v] of Object.entries(tags)) {
                if (typeof v !== "string" || k.length === 0 || k.length > 128 || v.length > 256 || k.toLowerCase().startsWith("aws:")) {
                    fail(ctx, [k], "a tag value string (keys 1-128 characters, values up to 256, no aws: prefix)", v);
                }
            }
        }).transform((tags) => tags as Record<string, string>), {
            expected: "a map of tag names to string values", dottedKeys: true, shownDefault: "none",
            doc: "extra tags on every resource; `Project`, `Stack` and `ManagedBy` are always set (provider default tags)",
        }),
    };
}

/** Both stacks: the two accounts must differ. */
function checkCommon(config: { accounts: { forensic: string; security: string } }, ctx: z.RefinementCtx): void {
    if (config.accounts.forensic === config.accounts.security) {
        fail(ctx, ["accounts"], "different forensic and security accounts (evidence is kept apart from the responders)", config.accounts);
    }
}

function evidenceSection(partition: string) {
    const d = DEFAULTS.evidence;
    return section({
        objectLockMode: field(oneOf(OBJECT_LOCK_MODES).default(d.objectLockMode), {
            doc: "default retention mode of every evidence object: `GOVERNANCE` or `COMPLIANCE` (irreversible, see above)",
        }),
        objectLockDays: field(integer(1, 36500).default(d.objectLockDays), { doc: "default retention in days (1–36500)" }),
        archiveAfterDays: field(integer(1, 36500).default(d.archiveAfterDays), {
            doc: "days before every version moves to the archive tier (also applies to the log buckets)",
        }),
        archiveStorageClass: field(oneOf(ARCHIVE_STORAGE_CLASSES).default(d.archiveStorageClass), { doc: "`GLACIER_IR`, `GLACIER` or `DEEP_ARCHIVE`" }),
        expireAfterDays: field(integer(1, 36500).optional(), {
            shownDefault: "unset: never", doc: "delete evidence after this many days; must exceed `objectLockDays` and `archiveAfterDays`",
        }),
        abortIncompleteUploadsAfterDays: field(integer(1, 365).default(d.abortIncompleteUploadsAfterDays), {
            doc: "abort incomplete multipart uploads (never stored objects)",
        }),
        breakGlassRoleArn: field(roleArn(partition).optional(), {
            shownDefault: "none",
            doc: "the only role that may delete evidence, lift governance retention, release legal holds or schedule the key's deletion; a role of the forensic account",
        }),
        deployRoleArns: field(list(roleArn(partition)).default([]), {
            shownDefault: "none",
            doc: "roles (ArnLike patterns) that may change the bucket's policy and protection settings: the identity that runs `pulumi up`",
        }),
        investigatorPrincipalArns: field(list(roleArn(partition)).default([]), {
            shownDefault: "none",
            doc: "human investigators' roles (ArnLike patterns, e.g. an IAM Identity Center permission set) that may read and decrypt evidence",
        }),
    }).superRefine((e, ctx) => {
        if (e.expireAfterDays !== undefined && e.expireAfterDays <= Math.max(e.objectLockDays, e.archiveAfterDays)) {
            fail(ctx, ["expireAfterDays"], `more days than evidence.objectLockDays (${e.objectLockDays}) and evidence.archiveAfterDays ` +
                `(${e.archiveAfterDays}), or unset to keep evidence forever`, e.expireAfterDays);
        }
    });
}

function analysisNetworkSection() {
    const d = DEFAULTS.analysisNetwork;
    return section({
        cidr: field(cidr(16, 28).prefault(d.cidr), { doc: "VPC CIDR, a network address from /16 to /28" }),
        subnetCount: field(integer(1, MAX_SUBNETS).default(d.subnetCount), {
            doc: `private subnets, 1–${MAX_SUBNETS}, spread round-robin over the region's AZs (one analysis per subnet)`,
        }),
        subnetPrefixLength: field(integer(16, 28).optional(), {
            shownDefault: `\`${d.subnetPrefixLength}\``, doc: "size of each subnet (at least the VPC's prefix); `subnetCount` must fit in `cidr`",
        }),
        access: field(oneOf(ACCESS_MODES).default(d.access), {
            doc: "how investigators reach workstations: `eic` (EC2 Instance Connect Endpoint, no hourly charge, every connection in CloudTrail) " +
                "or `ssm` (Session Manager through interface endpoints)",
        }),
        ssmEndpointAzCount: field(integer(1, MAX_SUBNETS).optional(), {
            shownDefault: `\`${d.ssmEndpointAzCount}\``,
            doc: "`ssm` mode: AZs that get endpoint interfaces (at most `subnetCount`); every subnet reaches them through private DNS",
        }),
        ssmEc2MessagesEndpoint: field(bool().default(d.ssmEc2MessagesEndpoint), {
            doc: "`ssm` mode: add the ec2messages endpoint, needed only by SSM Agent older than 3.3.40.0",
        }),
        flowLogAggregationSeconds: field(integer(60, 600).refine((v) => v === 60 || v === 600, "60 or 600")
            .transform((v) => v as 60 | 600).default(d.flowLogAggregationSeconds as 600), { doc: "VPC flow log aggregation interval, 60 or 600" }),
    }).transform((n, ctx) => {
        const vpc = n.cidr as Cidr;
        const subnetPrefixLength = n.subnetPrefixLength ?? Math.max(d.subnetPrefixLength, vpc.prefix);
        if (subnetPrefixLength < vpc.prefix) {
            fail(ctx, ["subnetPrefixLength"], `an integer from ${vpc.prefix} to 28`, subnetPrefixLength);
        }
        const fits = 2 ** (subnetPrefixLength - vpc.prefix);
        if (n.subnetCount > fits) {
            fail(ctx, ["subnetCount"], `at most ${fits} subnets of /${subnetPrefixLength} in ${formatCidr(vpc)} ` +
                "(raise analysisNetwork.subnetPrefixLength or widen analysisNetwork.cidr)", n.subnetCount);
        }
        const ssmEndpointAzCount = n.ssmEndpointAzCount ?? Math.min(d.ssmEndpointAzCount, n.subnetCount);
        if (ssmEndpointAzCount > n.subnetCount) {
            fail(ctx, ["ssmEndpointAzCount"], `an integer from 1 to ${n.subnetCount}`, ssmEndpointAzCount);
        }
        return {
            ...n,
            cidr: formatCidr(vpc),
            subnetPrefixLength,
            subnetCidrs: carveSubnets(vpc, subnetPrefixLength, Math.min(n.subnetCount, fits)),
            ssmEndpointAzCount,
        };
    });
}

function siftSection() {
    const d = DEFAULTS.sift;
    return section({
        architecture: field(z.enum(SIFT_ARCHITECTURES).default(d.architecture), {
            expected: (got) => got === "arm64"
                ? "x86_64 (SIFT's installer, cast, and its salt states support amd64 only)"
                : `one of ${SIFT_ARCHITECTURES.join(", ")}`,
            doc: "the SIFT image's architecture; `arm64` is refused (SIFT's installer and salt states are amd64 only)",
        }),
        schedule: field(text(/^cron\((\S+ ){5}\S+\)$/, "an Image Builder cron expression with six fields, like cron(0 9 ? * sun *)").default(d.schedule), {
            doc: "Image Builder cron (six fields, UTC) on which the pipeline looks for a newer Ubuntu base image or component; it builds only when there is one",
        }),
        keepImages: field(integer(1, 50).default(d.keepImages), { doc: "SIFT AMIs kept (1–50); the lifecycle policy deletes older ones with their snapshots" }),
        buildInstanceTypes: field(list(instanceType("m6i.large")).min(1, "at least one EC2 instance type").default([...d.buildInstanceTypes]), {
            doc: "build and test instance types, tried in order",
        }),
        // SIFT with its tools takes about 45 GiB; below 60 the build runs out of space.
        rootVolumeGiB: field(integer(60, 1024).default(d.rootVolumeGiB), { doc: "encrypted gp3 root volume of the image (60–1024 GiB)" }),
        buildCidr: field(cidr(16, 28).prefault(d.buildCidr).transform(formatCidr), { doc: "CIDR of the build VPC and its one public subnet" }),
    });
}

function workstationSection() {
    const d = DEFAULTS.workstation;
    return section({
        instanceType: field(instanceType("m6i.large").default(d.instanceType), { doc: "analysis workstation instance type" }),
        idleStopHours: field(integer(1, 168).default(d.idleStopHours), {
            doc: "a workstation stops itself after this many hours without a session or load (1–168)",
        }),
        launchAtCaseEnd: field(bool().default(d.launchAtCaseEnd), {
            doc: "launch a workstation when a case's final manifest is written (analyze cases only)",
        }),
    });
}

/** The forensic stack's keys (`role` is read by resolveRole, before the rest). */
export function forensicSchema(ctx: SchemaContext) {
    return z.strictObject({
        ...commonShape(),
        evidence: evidenceSection(ctx.partition),
        trail: section({
            managementEvents: field(bool().default(DEFAULTS.trail.managementEvents), {
                doc: "also record management events in the evidence trail (an organization trail usually has them; a second copy is billed)",
            }),
        }),
        awsConfig: section({
            enabled: field(bool().default(DEFAULTS.awsConfig.enabled), {
                doc: "AWS Config recorder in this account and region (Control Tower accounts already have one; two cannot coexist)",
            }),
        }),
        analysisNetwork: analysisNetworkSection(),
        sift: siftSection(),
        workstation: workstationSection(),
    }).superRefine((c, rctx) => {
        checkCommon(c, rctx);
        // The evidence bucket's exempt roles live in the forensic account.
        const inAccount = roleArnPattern(ctx.partition, c.accounts.forensic);
        const expected = roleArnExpected(ctx.partition, c.accounts.forensic);
        if (c.evidence.breakGlassRoleArn !== undefined && !inAccount.test(c.evidence.breakGlassRoleArn)) {
            fail(rctx, ["evidence", "breakGlassRoleArn"], expected, c.evidence.breakGlassRoleArn);
        }
        c.evidence.deployRoleArns.forEach((arn, i) => inAccount.test(arn) || fail(rctx, ["evidence", "deployRoleArns", i], expected, arn));
    });
}

function memberList() {
    return field(list(z.strictObject({
        accountId: accountId(),
        regions: field(list(region()).min(1, "at least one region, each listed once"), { required: "a list of regions" }),
    })).default([]).superRefine((members, ctx) => {
        const seen = new Set<string>();
        members.forEach((m, i) => {
            if (seen.has(m.accountId)) {
                fail(ctx, [i, "accountId"], "each member account listed once (give all its regions in one entry)", m.accountId);
            }
            seen.add(m.accountId);
            if (new Set(m.regions).size !== m.regions.length) {
                fail(ctx, [i, "regions"], "at least one region, each listed once", m.regions);
            }
        });
    }), {
        shownDefault: "none",
        doc: "list of `{accountId, regions}`: the accounts and regions the engine responds for. Each gets the member footprint; " +
            "events from any other account are rejected",
    });
}

function acquisitionSection() {
    return section({
        deleteOriginalSnapshots: field(bool().default(DEFAULTS.acquisition.deleteOriginalSnapshots), {
            doc: "delete the member-side original snapshots once their evidence copy has completed (the evidence copies in the forensic " +
                "account are never deleted by the engine)",
        }),
        snapshotLock: z.strictObject({
            mode: field(oneOf(["governance", "compliance"]), {
                required: "governance or compliance", shownDefault: "unset: not locked",
                doc: "EBS snapshot lock of the evidence snapshots: `governance` (removable by whoever holds `ec2:UnlockSnapshot`) or " +
                    "`compliance` (by nobody once the cool-off is over)",
            }),
            days: field(integer(1, 36500), { required: "a number of days", shownDefault: "required with `mode`", doc: "lock duration, 1–36500 days" }),
            coolOffHours: field(integer(1, 72).optional(), { shownDefault: "none", doc: "`compliance` mode: hours (1–72) in which the lock can still be lifted" }),
        }).optional().superRefine((lock, ctx) => {
            if (lock?.coolOffHours !== undefined && lock.mode !== "compliance") {
                fail(ctx, ["coolOffHours"], "no value in governance mode (a cool-off period only applies to compliance mode)", lock.coolOffHours);
            }
        }),
    });
}

function gitTool(d: { version: string; repository: string; commit: string }, name: string) {
    return section({
        version: field(text(TOOL_VERSION, "a version label (letters, digits and ._+-)").default(d.version), { doc: `${name} version label` }),
        repository: field(text(HTTPS_URL, "an https:// git repository URL").default(d.repository), { doc: `${name} git repository` }),
        commit: field(text(COMMIT, "a full 40-hex-digit git commit id").default(d.commit), {
            doc: `${name} source pin, checked after cloning; changing it rebuilds every AMI`,
        }),
    });
}

/** Keys per module architecture. */
function perArch<T extends z.ZodType>(make: (arch: ModuleArch) => T) {
    return section(Object.fromEntries(MODULE_ARCHES.map((a) => [a, make(a)])) as Record<ModuleArch, T>);
}

function avmlHashExpected(arch: string): string {
    // AVML publishes no checksums: the value is the one you verified, never a default of ours.
    return `the lower-case hex SHA-256 of the AVML ${arch} binary you verified (no published checksum exists; required once moduleFactory.amiIds lists an AMI)`;
}

function moduleFactorySection(ctx: SchemaContext) {
    const d = DEFAULTS.moduleFactory;
    const perRegion = <T extends z.ZodType>(value: T, expected: string) =>
        field(z.record(regionKey(ctx.partition, ctx.partitionOf), value).default({}), { expected });
    const network = z.strictObject({
        subnetId: field(text(/^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, "a subnet id: subnet- followed by 8 or 17 hex digits"), { required: "a subnet id" }),
        securityGroupId: field(text(/^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, "a security group id: sg- followed by 8 or 17 hex digits"), { required: "a security group id" }),
        publicIp: bool().default(false),
    });
    return section({
        amiIds: field(perRegion(list(amiId()).refine((ids) => new Set(ids).size === ids.length, "each AMI id listed once"),
            "a map of region names to lists of AMI ids"), {
            shownDefault: "none",
            doc: "map of region → list of AMI ids: one LiME/Volatility build per AMI (see [Module factory](architecture.md#module-factory)); regions of the stack's partition",
        }),
        schedule: field(text(/^(?:rate\(\d+ (?:minutes?|hours?|days?)\)|cron\([^()]+\))$/,
            "an EventBridge Scheduler expression such as rate(1 day) or cron(0 3 * * ? *)").default(d.schedule), {
            doc: "EventBridge Scheduler expression of the refresh that builds newly published kernels",
        }),
        networks: field(perRegion(network, "a map of region names to {subnetId, securityGroupId, publicIp}"), {
            shownDefault: "none: a NAT-free build network per region",
            doc: "map of region → `{subnetId, securityGroupId, publicIp}` (an existing subnet with internet access; `publicIp` default `false`)",
        }),
        instanceTypes: perArch((a) => field(instanceType(d.instanceTypes[a]).default(d.instanceTypes[a]), { doc: `${a} builder instance type` })),
        maxBuildMinutes: field(integer(15, 720).default(d.maxBuildMinutes), { doc: "hard time limit of a build (15–720)" }),
        maxKernelsPerBuild: field(integer(1, 50).default(d.maxKernelsPerBuild), { doc: "newer kernels a build covers besides the AMI's own (1–50)" }),
        rootVolumeGiB: field(integer(16, 1024).default(d.rootVolumeGiB), { doc: "builder root volume (at least the AMI's)" }),
        tools: section({
            lime: gitTool(d.tools.lime, "LiME"),
            dwarf2json: gitTool(d.tools.dwarf2json, "dwarf2json"),
            avml: section({
                version: field(text(TOOL_VERSION, "a version label (letters, digits and ._+-)").default(d.tools.avml.version), { doc: "the AVML release to stage" }),
                urls: perArch((a) => field(text(HTTPS_URL, "an https:// download URL").default(d.tools.avml.urls[a]), { doc: `download URL of the ${a} binary` })),
                sha256: perArch((a) => field(text(SHA256, avmlHashExpected(a)).optional(), {
                    shownDefault: "none (**required** once an AMI is listed)",
                    doc: `SHA-256 of the AVML ${a} release binary you verified; AVML is staged only with a matching hash`,
                })),
            }),
        }),
    }).transform((f, rctx) => {
        // Regions listed with no AMI build nothing.
        const amiIds = Object.fromEntries(Object.entries(f.amiIds).filter(([, ids]) => ids.length > 0));
        const building = Object.keys(amiIds).length > 0;
        const sha256 = Object.fromEntries(MODULE_ARCHES.map((a) => {
            const hash = f.tools.avml.sha256[a];
            if (hash === undefined && building) {
                fail(rctx, ["tools", "avml", "sha256", a], `${avmlHashExpected(a)} (required, not set)`);
            }
            return [a, hash ?? ""];
        })) as Record<ModuleArch, string>;
        return { ...f, amiIds, tools: { ...f.tools, avml: { ...f.tools.avml, sha256 } } };
    });
}

/** The security stack's keys. `slackWebhookUrl` is a secret, read apart from the rest. */
export function securitySchema(ctx: SchemaContext) {
    return z.strictObject({
        ...commonShape(),
        forensicStack: field(text(/^(?:[\w.-]+\/){0,2}[\w.-]+$/, "a stack name such as acme/ir-forensics/forensic").default(ctx.defaultForensicStack), {
            shownDefault: "`<organization>/ir-forensics/forensic`", doc: "the forensic stack read by StackReference",
        }),
        memberDeployRoleName: field(text(/^[\w+=,.@-]{1,64}$/, "an IAM role name (1-64 letters, digits or +=,.@_-)").default(DEFAULTS.memberDeployRoleName), {
            shownDefault: `\`${DEFAULTS.memberDeployRoleName}\` (step 0 of "Deploy")`,
            doc: "role assumed in each member account to deploy its footprint (one provider per account and region)",
        }),
        members: memberList(),
        isolation: section({
            enabled: field(bool().default(DEFAULTS.isolation.enabled), {
                doc: "fast isolation first, before triage; `false` leaves the instance's network alone until containment",
            }),
            fallbackHttpsEgress: field(oneOf(["0.0.0.0/0", "none"]).default(DEFAULTS.isolation.fallbackHttpsEgress), {
                doc: "what the acquisition-isolation group allows out for a service acquisition needs that has no private path (no interface " +
                    "endpoint for ssm or ec2messages, no S3 endpoint, a bucket in another region: endpoints are regional): HTTPS anywhere, " +
                    "through the VPC's NAT or internet gateway (a deliberate trade-off), or `none` (memory acquisition then needs endpoints for everything)",
            }),
        }),
        notifications: section({
            emails: field(list(text(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, "an e-mail address")).default([]), {
                shownDefault: "none", doc: "e-mail subscribers of the notification topic (each confirms by e-mail)",
            }),
        }),
        guardDuty: section({
            minSeverity: field(z.number().min(1).max(8.9).optional(), {
                expected: "a GuardDuty severity from 1 to 8.9 (7 = high), or unset to leave GuardDuty out", shownDefault: "unset: off",
                doc: "GuardDuty EC2 findings at or above this severity (1–8.9; 7 = high) open cases through the same path; so do AWS Security Hub's " +
                    "OCSF findings (`Findings Imported V2`, e.g. GuardDuty or Inspector through the new Security Hub) on an EC2 instance at or above " +
                    "the matching OCSF `severity_id` (≥ 7 → High, 4; ≥ 4 → Medium, 3; ≥ 9 → Critical, 5)",
            }),
        }),
        securityHub: section({
            enabled: field(bool().default(DEFAULTS.securityHub.enabled), {
                doc: "the Security Hub custom actions \"Analyze instance\" and \"Contain instance\", in the home region and every member region " +
                    "(Security Hub must be enabled in the security account there)",
            }),
        }),
        logRetentionDays: field(z.number().refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n)).default(DEFAULTS.logRetentionDays), {
            expected: `one of the CloudWatch Logs retention values ${LOG_RETENTION_DAYS.join(", ")}`,
            doc: "retention of the engine's logs (a CloudWatch Logs retention value)",
        }),
        acquisition: acquisitionSection(),
        moduleFactory: moduleFactorySection(ctx),
        slackWebhookUrl: field(text(/^https:\/\/[\w.-]+\/\S+$/,
            "an https:// webhook URL (set it with pulumi config set --secret ir-forensics:slackWebhookUrl ...)").optional(), {
            secret: true, shownDefault: "none",
            doc: "**secret** (`pulumi config set --secret`): Slack incoming webhook; every notification is posted there. The stack stores it in " +
                "the SSM SecureString `/ir-forensics/slack/webhook-url` (aws/ssm key), which only the Slack function may read; no function's environment holds it",
        }),
    }).superRefine(checkCommon);
}

/** Keys read apart from the schema's parse: the role (first, to pick the program) and the secret. */
export const SEPARATELY_READ = ["role", "slackWebhookUrl"] as const;
