/**
 * What a stack would create, and what it costs per month while no incident runs, offline.
 *
 *   npm run plan -- forensic|security [--json] [--config <Pulumi.<stack>.yaml>]
 *
 * The stack's program runs under Pulumi mocks with the stack's settings file (default: the committed
 * Pulumi.<stack>.yaml), as in the resource-graph tests; no Pulumi CLI, no AWS credentials. Config errors
 * are reported as `pulumi preview` would report them. The idle cost is derived from the resources
 * rendered, priced by type from scripts/plan/prices.ts; types the table does not know are listed as unpriced.
 * The security stack reads the forensic stack by StackReference: the plan stands in for its outputs
 * (the configured forensic account and the home region; bucket and key names are placeholders).
 */
import * as path from "path";
import "../../emulator/node-compat";
import { CostLine, HOURS_PER_MONTH, idleCost, IdleCost, isBillable, list, PRICE_REGION, PRICES_AS_OF } from "./prices";
import { Json, loadConfigFile, loadStackConfig, RecordedResource, renderStack } from "../../emulator/deploy/render";
import { PROJECT_ROOT } from "../../emulator/paths";

export const STACKS = ["forensic", "security"] as const;
export type StackName = (typeof STACKS)[number];

export interface PlannedResource {
    type: string;
    name: string;
    /** The provider that deploys it (e.g. `member-444455556666-eu-west-1`), "" for the default one. */
    provider: string;
    /** Short summary of the settings that matter for review. */
    settings: string;
}

export interface Plan {
    stack: string;
    configFile: string;
    resources: PlannedResource[];
    /** Resources by type token. */
    counts: Record<string, number>;
    idleCost: IdleCost;
    prices: { asOf: string; region: string; table: string; hoursPerMonth: number };
}

export interface PlanOptions {
    /** Settings file (default: Pulumi.<stack>.yaml of the project). */
    configPath?: string;
    /** Dotted-path overrides of config keys, as in the resource-graph tests. */
    config?: Record<string, unknown>;
}

/** The provider's logical name from the engine's `<urn>::<id>` reference. */
export function providerName(ref: string): string {
    if (!ref) {
        return "";
    }
    // urn:pulumi:<stack>::<project>::pulumi:providers:aws::<name>::<id>
    const parts = ref.split("::");
    return parts.length >= 5 ? parts[parts.length - 2] : ref;
}

const join = (items: Array<string | false | undefined>): string => items.filter((x): x is string => typeof x === "string" && x.length > 0).join(", ");
const ports = (i: Record<string, Json>) => (i.fromPort === i.toPort ? `${i.ipProtocol}/${i.fromPort}` : `${i.ipProtocol}/${i.fromPort}-${i.toPort}`);

/** Key settings of a resource, by type; other types show their physical name when they have one. */
const SETTINGS: Record<string, (i: Record<string, Json>, r: RecordedResource) => string> = {
    "aws:s3/bucket:Bucket": (i) => join([i.bucket ? `bucket ${i.bucket}` : "name generated at deploy", i.objectLockEnabled && "object lock enabled", i.forceDestroy === false && "no force destroy"]),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": (i) => {
        const retention = i.rule?.defaultRetention;
        return retention ? `${retention.mode} ${retention.days ? `${retention.days} days` : `${retention.years} years`}` : "no default retention";
    },
    "aws:s3/bucketVersioning:BucketVersioning": (i) => `versioning ${i.versioningConfiguration?.status}`,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (i) => {
        const d = list(i.rules)[0]?.applyServerSideEncryptionByDefault;
        return join([d?.sseAlgorithm, list(i.rules)[0]?.bucketKeyEnabled && "bucket key"]);
    },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (i) =>
        (i.blockPublicAcls && i.blockPublicPolicy && i.ignorePublicAcls && i.restrictPublicBuckets ? "all public access blocked" : "public access NOT fully blocked"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (i) => list(i.rules).map((rule) => join([
        ...list(rule.transitions).map((t) => `${t.storageClass} after ${t.days} d`),
        rule.expiration?.days && `expire after ${rule.expiration.days} d`,
        rule.abortIncompleteMultipartUpload && `abort uploads after ${rule.abortIncompleteMultipartUpload.daysAfterInitiation} d`,
    ])).filter((s) => s).join("; "),
    "aws:kms/key:Key": (i) => join([
        i.enableKeyRotation ? `rotation every ${i.rotationPeriodInDays ?? 365} d` : "NO rotation",
        i.deletionWindowInDays && `deletion window ${i.deletionWindowInDays} d`,
        i.multiRegion && "multi-Region",
    ]),
    "aws:kms/alias:Alias": (i) => i.name,
    "aws:ec2/vpc:Vpc": (i) => join([i.cidrBlock, i.enableDnsHostnames && "DNS hostnames"]),
    "aws:ec2/subnet:Subnet": (i) => join([i.cidrBlock, i.availabilityZone, i.mapPublicIpOnLaunch ? "PUBLIC IPs on launch" : "private"]),
    "aws:ec2/vpcEndpoint:VpcEndpoint": (i) => join([
        `${i.vpcEndpointType ?? "Gateway"} ${i.serviceName}`,
        (i.vpcEndpointType ?? "Gateway") !== "Gateway" && `${list(i.subnetIds).length} AZ(s)`,
        i.policy && "endpoint policy",
    ]),
    "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint": (i) => `preserveClientIp ${i.preserveClientIp}`,
    "aws:ec2/securityGroup:SecurityGroup": (i) => i.description,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (i) => `egress ${ports(i)}: ${i.description ?? ""}`,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (i) => `ingress ${ports(i)}: ${i.description ?? ""}`,
    "aws:ec2/flowLog:FlowLog": (i) => join([`${i.trafficType} to ${i.logDestinationType}`, i.maxAggregationInterval && `${i.maxAggregationInterval} s`]),
    "aws:cloudtrail/trail:Trail": (i) => join([
        i.name,
        i.isMultiRegionTrail && "multi-Region",
        i.enableLogFileValidation && "log file validation",
        `management events ${list(i.advancedEventSelectors).some((s) => JSON.stringify(s).includes("Management")) || list(i.eventSelectors).some((s) => s.includeManagementEvents) ? "on" : "off"}`,
    ]),
    "aws:iam/role:Role": (i) => join([`${i.path ?? "/"}${i.name ?? ""}`, i.maxSessionDuration && `max session ${i.maxSessionDuration} s`]),
    "aws:iam/rolePolicy:RolePolicy": (i) => {
        const doc = typeof i.policy === "string" ? JSON.parse(i.policy) : i.policy;
        return `${list(doc?.Statement).length} statement(s)`;
    },
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (i) => String(i.policyArn ?? "").split(":").pop() ?? "",
    "aws:iam/instanceProfile:InstanceProfile": (i) => `${i.path ?? "/"}${i.name ?? ""}`,
    "aws:lambda/function:Function": (i) => join([i.runtime, `${i.memorySize ?? 128} MB`, `timeout ${i.timeout ?? 3} s`, list(i.architectures)[0]]),
    "aws:cloudwatch/logGroup:LogGroup": (i) => join([i.name, `retention ${i.retentionInDays ?? "never expires"} d`]),
    "aws:sfn/stateMachine:StateMachine": (i) => join([i.name, i.type ?? "STANDARD", i.loggingConfiguration?.level && `logs ${i.loggingConfiguration.level}`, i.tracingConfiguration?.enabled && "X-Ray"]),
    "aws:dynamodb/table:Table": (i) => join([i.name, i.billingMode ?? "PROVISIONED", i.pointInTimeRecovery?.enabled && "point-in-time recovery"]),
    "aws:sns/topic:Topic": (i) => join([i.name, i.kmsMasterKeyId && `key ${i.kmsMasterKeyId}`]),
    "aws:sns/topicSubscription:TopicSubscription": (i) => i.protocol,
    "aws:cloudwatch/eventRule:EventRule": (i) => join([i.name, i.eventBusName && `bus ${i.eventBusName}`]),
    "aws:cloudwatch/eventBus:EventBus": (i) => i.name,
    "aws:cfg/recorder:Recorder": (i) => (i.recordingGroup?.allSupported ? "all supported resource types" : "selected resource types"),
    // Provider inputs reach the engine as JSON strings.
    "pulumi:providers:aws": (i) => {
        const accounts = list(typeof i.allowedAccountIds === "string" ? JSON.parse(i.allowedAccountIds) : i.allowedAccountIds);
        return join([i.region, accounts.length > 0 && `account ${accounts.join(" ")}`]);
    },
    "awsx:ec2:Vpc": (i) => join([
        i.cidrBlock ?? "10.0.0.0/16",
        `NAT ${i.natGateways?.strategy ?? "awsx default"}`,
        `${list(i.availabilityZoneNames).length || (i.numberOfAvailabilityZones ?? "3")} AZ(s)`,
        i.subnetSpecs && `subnets ${list(i.subnetSpecs).map((s) => s.type).join("+")}`,
    ]),
};

function settingsOf(r: RecordedResource): string {
    const summarize = SETTINGS[r.type];
    try {
        return summarize ? summarize(r.inputs, r) ?? "" : String(r.inputs.name ?? "");
    } catch {
        return "";
    }
}

/**
 * What the security stack reads from the forensic stack by StackReference, standing in for a deployed one:
 * the configured forensic account and the home region, placeholder bucket and key names.
 */
export function forensicStandIn(values: Record<string, string>): Record<string, Record<string, unknown>> {
    const accounts = values["ir-forensics:accounts"] ? JSON.parse(values["ir-forensics:accounts"]) : {};
    const region = values["aws:region"] ?? "us-east-1";
    const forensicAccount = String(accounts.forensic ?? "");
    return {
        [values["ir-forensics:forensicStack"] ?? "organization/ir-forensics/forensic"]: {
            accountId: forensicAccount,
            region,
            evidenceBucketName: "forensic-stack-evidence-bucket",
            evidenceBucketArn: "arn:aws:s3:::forensic-stack-evidence-bucket",
            evidenceKeyArn: `arn:aws:kms:${region}:${forensicAccount}:key/forensic-stack-evidence-key`,
        },
    };
}

/** Renders `stack` under mocks and returns what it would create and its idle monthly cost. */
export async function planStack(stack: StackName, options: PlanOptions = {}): Promise<Plan> {
    const configFile = options.configPath ? path.resolve(options.configPath) : path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`);
    const values = options.configPath ? loadConfigFile(configFile, options.config) : loadStackConfig(stack, options.config);
    const stackOutputs = stack === "security" ? forensicStandIn(values) : {};
    const rendered = await renderStack(stack, { configPath: options.configPath ? configFile : undefined, config: options.config, stackOutputs });
    const shown = rendered.resources.filter((r) => r.type !== "pulumi:pulumi:Stack" && r.type !== "pulumi:pulumi:StackReference");
    const resources = shown.map((r) => ({ type: r.type, name: r.name, provider: providerName(r.provider), settings: settingsOf(r) }));
    const counts: Record<string, number> = {};
    for (const r of shown) {
        counts[r.type] = (counts[r.type] ?? 0) + 1;
    }
    return {
        stack,
        configFile,
        resources,
        counts,
        idleCost: idleCost(shown.map((r) => ({ type: r.type, name: r.name, inputs: r.inputs, provider: providerName(r.provider) }))),
        prices: { asOf: PRICES_AS_OF, region: PRICE_REGION, table: "scripts/plan/prices.ts", hoursPerMonth: HOURS_PER_MONTH },
    };
}

/** `aws:s3/bucket:Bucket` → `aws.s3.Bucket`, `awsx:ec2:Vpc` → `awsx.ec2.Vpc`. */
export function shortType(type: string): string {
    const [pkg, mod = "", cls = ""] = type.split(":");
    if (pkg === "pulumi" && mod === "providers") {
        return `provider ${cls}`;
    }
    return [pkg, mod.split("/")[0], cls].filter((s) => s).join(".");
}

const usd = (n: number) => (n > 0 && n < 0.01 ? `$${Number(n.toPrecision(2))}` : `$${n.toFixed(2)}`);
/** Unit prices keep their published precision ($0.003, $0.045). */
const unitUsd = (n: number) => `$${n.toFixed(Math.min(Math.max(2, (String(n).split(".")[1] ?? "").length), 4))}`;
const amount = (n: number) => (Number.isInteger(n) ? n.toLocaleString("en-US") : String(Math.round(n * 100) / 100));

/** Cost lines of the same driver, type, price and basis, printed as one (the JSON keeps one line per resource). */
function grouped(lines: CostLine[]): Array<CostLine & { count: number }> {
    const groups = new Map<string, CostLine & { count: number }>();
    for (const l of lines) {
        const key = [l.driver, l.type, l.unit, l.unitPrice, l.basis].join("|");
        const g = groups.get(key);
        if (g) {
            g.count += 1;
            g.quantity += l.quantity;
            g.monthly += l.monthly;
        } else {
            groups.set(key, { ...l, count: 1 });
        }
    }
    return [...groups.values()].sort((a, b) => b.monthly - a.monthly || a.driver.localeCompare(b.driver));
}

function table(header: string[], rows: string[][]): string[] {
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd();
    return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

/** The plan as text: resources by type, then the idle cost lines, unpriced resources and the total. */
export function formatPlan(plan: Plan): string {
    const order = (type: string) => (type.startsWith("pulumi:") ? 0 : isBillable(type) ? 2 : 1);
    const sorted = [...plan.resources].sort((a, b) => order(a.type) - order(b.type) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
    const out = [
        `Stack ${plan.stack} (${path.relative(process.cwd(), plan.configFile) || plan.configFile}): ${plan.resources.length} resources`,
        "",
        ...table(["type", "name", "provider", "key settings"], sorted.map((r) => [shortType(r.type), r.name, r.provider || (isBillable(r.type) ? "default" : "-"), r.settings])),
        "",
        `Idle monthly cost (list prices ${plan.prices.region}, ${plan.prices.asOf}, ${plan.prices.hoursPerMonth} h/month; table: ${plan.prices.table})`,
        "",
        ...table(["driver", "resource", "quantity", "unit price", "per month", "basis"], grouped(plan.idleCost.lines).map((l) => [
            l.driver, l.count === 1 ? `${shortType(l.type)} ${l.name}` : `${l.count} × ${shortType(l.type)}`,
            `${amount(l.quantity)} ${l.unit}`, unitUsd(l.unitPrice), usd(l.monthly), l.basis,
        ])),
    ];
    const freeCount = Object.values(plan.idleCost.free).reduce((a, b) => a + b, 0);
    out.push("", `${freeCount} resources of ${Object.keys(plan.idleCost.free).length} types bill nothing while idle (IAM, bucket settings, subnets, security groups, functions, rules, ...).`);
    if (plan.idleCost.unpriced.length > 0) {
        out.push("", `UNPRICED (${plan.idleCost.unpriced.length}): not included in the total`);
        for (const u of plan.idleCost.unpriced) {
            out.push(`  ${shortType(u.type)} ${u.name}: ${u.reason}`);
        }
    }
    const providers = Object.entries(plan.idleCost.byProvider);
    if (providers.length > 1) {
        out.push("", `By provider (account and region): ${providers.map(([p, m]) => `${p || "default"} ${usd(m)}`).join(", ")}`);
    }
    out.push("", `Total idle: ${usd(plan.idleCost.totalMonthly)} per month${plan.idleCost.unpriced.length > 0 ? " + unpriced resources" : ""}`);
    return out.join("\n");
}

const USAGE = "usage: npm run plan -- forensic|security [--json] [--config <stack settings file>]";

/** The command line: one stack name, `--json`, `--config <file>`; anything else is a usage error. */
export function parseArgs(argv: string[]): { stack: StackName; json: boolean; configPath?: string } {
    const args = [...argv];
    let configPath: string | undefined;
    const c = args.indexOf("--config");
    if (c >= 0) {
        configPath = args[c + 1];
        if (!configPath || configPath.startsWith("--")) {
            throw new Error(`--config needs a file\n${USAGE}`);
        }
        args.splice(c, 2);
    }
    const positional = args.filter((a) => !a.startsWith("--"));
    const unknown = args.filter((a) => a.startsWith("--") && a !== "--json");
    if (positional.length !== 1 || !STACKS.includes(positional[0] as StackName) || unknown.length > 0) {
        throw new Error(USAGE);
    }
    return { stack: positional[0] as StackName, json: args.includes("--json"), configPath };
}

async function main(argv: string[]): Promise<void> {
    const { stack, json, configPath } = parseArgs(argv);
    const plan = await planStack(stack, { configPath });
    console.log(json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
}

/** `npm run plan`: prints the plan of the stack the command line names. */
export function cli(): void {
    main(process.argv.slice(2)).catch((err: unknown) => {
        // Config errors carry the key and what was expected: the message is the report.
        console.error(err instanceof Error ? err.message : String(err));
        process.exitCode = 1;
    });
}
