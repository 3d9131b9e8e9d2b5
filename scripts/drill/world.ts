/** The drill's world: moto behind the strict layer, both stacks deployed on it, the module store seeded, and the victims launched. */
import "../../emulator/node-compat";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { AttachInstancesCommand, CreateAutoScalingGroupCommand } from "@aws-sdk/client-auto-scaling";
import { AssignIpv6AddressesCommand, AuthorizeSecurityGroupIngressCommand, CreateLaunchTemplateCommand, CreateSecurityGroupCommand, CreateVpcCommand, CreateVpcEndpointCommand, DescribeNetworkInterfacesCommand, DescribeVpcsCommand, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { CreateTargetGroupCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { AddRoleToInstanceProfileCommand, AttachRolePolicyCommand, CreateInstanceProfileCommand, CreateRoleCommand } from "@aws-sdk/client-iam";
import { CreateKeyCommand } from "@aws-sdk/client-kms";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { avmlKey, emptyIndex, lime, renderIndex, withAvml, withModules } from "../../functions/factory/moduleIndex";
import { STATUS_TAG } from "../../functions/shared/types";
import { CaseCommandClients, CaseCommandConfig } from "../../functions/response/caseCommands";
import { AccountClients, clientsFor } from "../../emulator/aws/aws-clients";
import { limeImage } from "../../emulator/host/lime-image";
import { natRoutedSubnet } from "../../emulator/aws/emulated-vpc";
// Pulumi, the stacks and the Step Functions interpreter load only once moto runs (see prepareWorld), so
// that an early Ctrl-C finds something to stop: only their types are imported here.
import type { DeployedCallback, LambdaHandler } from "../../emulator/deploy/deployed";
import type { DeployedStack } from "../../emulator/deploy/mock-deploy";
import { Emulator, startEmulator } from "../../emulator";
import { startFunction } from "../../emulator/deploy/lambda-runtime";
import { cachePath } from "../../emulator/paths";
import type { AwsCredentialIdentity } from "@smithy/types";
import { AVML_STAND_IN, HostSpec, InjectedError, ProxiedCall, SsmHost } from "../../emulator/host/ssm-host";
import type { Principal } from "../../emulator/strict/types";
import { BANNER, DRILL_KERNEL, DrillOptions, INSTANCE_TYPES, UNKNOWN_KERNEL } from "./options";
import { CaseReport, DrillReport } from "./report";
import { Progress } from "./progress";
import { ConcurrencyMeter } from "./concurrency";

/** State machine documents, events and manifests as JSON: shaped by what produced them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

/** SHA-256 of a buffer of any size (one update takes at most 2 GiB). */
function sha256(data: Buffer): string {
    const hash = createHash("sha256");
    for (let off = 0; off < data.length; off += 1 << 30) {
        hash.update(data.subarray(off, off + (1 << 30)));
    }
    return hash.digest("hex");
}
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A memory image of `mib` MiB in LiME's format, with the kernel banner LiME/AVML output carries. */
function memoryImage(mib: number): Buffer {
    return limeImage(mib * 1024 * 1024, { banner: BANNER });
}

/** The tag-change event EventBridge delivers to the member's default bus. */
export function tagChangeEvent(account: string, region: string, instanceId: string, value = "Analyze"): { Source: string; DetailType: string; Resources: string[]; Detail: string } {
    return {
        Source: "aws.tag",
        DetailType: "Tag Change on Resource",
        Resources: [`arn:aws:ec2:${region}:${account}:instance/${instanceId}`],
        Detail: JSON.stringify({
            "changed-tag-keys": [STATUS_TAG], "service": "ec2", "resource-type": "instance", "version": 1,
            "tags": { [STATUS_TAG]: value, Name: `drill-${instanceId}` },
        }),
    };
}

/** Every state of a definition, nested ones (Parallel branches, Map processors) included. */
export function allStates(definition: { States?: Json }): [string, Json][] {
    const out: [string, Json][] = [];
    for (const [name, state] of Object.entries(definition.States ?? {})) {
        out.push([name, state]);
        for (const branch of state.Branches ?? []) {
            out.push(...allStates(branch));
        }
        for (const inner of [state.ItemProcessor, state.Iterator]) {
            if (inner) {
                out.push(...allStates(inner));
            }
        }
    }
    return out;
}

// ------------------------------------------------------------------------------------------ the drill

/** A member account and region the security stack deploys to, with the member account's root clients there. */
export interface Placement {
    account: string;
    region: string;
    clients: AccountClients;
}

export interface Victim {
    instanceId: string;
    enis: string[];
    placement: Placement;
}

export interface World {
    /** Where the functions' own log lines went. */
    logFile: string;
    /** Where the strict layer's refusals went. */
    strictLogFile: string;
    /** SHA-256 of the memory image each victim's host serves. */
    images: Map<string, string>;
    emulator: Emulator;
    host: SsmHost;
    forensic: DeployedStack;
    security: DeployedStack;
    clients: { forensic: AccountClients; security: AccountClients; member: AccountClients };
    /** Where victims are launched: the first is `clients.member` in `accounts.member`/`accounts.region`. */
    placements: Placement[];
    /** Each victim's placement, by instance id. */
    placementOf: Map<string, Placement>;
    /** Invocations of the deployed functions in flight at once. */
    concurrency: ConcurrencyMeter;
    /** The evidence bucket as an investigator's workstation role of the forensic account reads it. */
    investigator: S3Client;
    accounts: DrillReport["summary"]["accounts"];
    callbacks: Record<string, DeployedCallback>;
    handlers: Record<string, LambdaHandler>;
    /** Clients acting as the incident state machine's role (its optimized integrations). */
    machine: { sns: SNSClient; sqs: SQSClient; events: EventBridgeClient; principal?: Principal };
    faults: number;
    engineCalls: number;
    hooks: DrillHooks;
    /** The victims' own role (and instance profile), whose credentials containment denies to them. */
    workloadRole?: string;
    /** The case commands as a responder of the security account runs them (created on first use). */
    responder?: Promise<ResponderSession>;
}

/** A responder's session in the security account, and the case commands' clients and settings for it. */
export interface ResponderSession {
    roleArn: string;
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    clients: CaseCommandClients;
    config: CaseCommandConfig;
}

/** What the drill deployed, for a look at moto before it stops (`DrillHooks.beforeStop`). */
export interface DeployedWorld {
    endpoint: string;
    forensic: DeployedStack;
    security: DeployedStack;
    accounts: DrillReport["summary"]["accounts"];
    /** The cases as the drill reported them (artifacts verified). */
    cases: CaseReport[];
    victims: { instanceId: string; enis: string[] }[];
    /** The member account's harness clients (its root), for looking at the victims. */
    member: AccountClients;
    /** A responder role of the security account (as docs/runbook.md "Case commands" describes it), for the case commands. */
    responder: () => Promise<ResponderSession>;
    /** Tags a victim `SecurityIncidentStatus=<value>` and delivers the event to the opener, without running the case. */
    openCase: (instanceId: string, value: string) => Promise<{ outcome?: string; caseId?: string; executionArn?: string } | undefined>;
}

export interface DrillHooks {
    /** Called after the cases ran, while moto still runs (tests and debugging inspect it here). */
    beforeStop?: (world: DeployedWorld) => Promise<void>;
    /**
     * Fills the module store in place of the drill's stand-ins (the lab: LiME built by the factory's
     * builder script, the real AVML), writing as the factory's roles do.
     */
    seedModuleStore?: (store: ModuleStoreWriters) => Promise<void>;
    /** The host behind a victim in place of the drill's shimmed one (the lab: a QEMU guest). */
    victimHost?: (instanceId: string, spec: HostSpec) => HostSpec;
    /**
     * Whether a stored memory image is the victim's whole memory, for hosts whose image the drill does not
     * know in advance (the lab checks it against the guest). Read as the investigator reads evidence.
     */
    isHostImage?: (instanceId: string, artifact: { bucket: string; key: string; versionId?: string; sha256: string }, investigator: S3Client) => Promise<boolean>;
}

/** The module store and the factory's writers: a builder instance's role and the indexer function's. */
export interface ModuleStoreWriters {
    endpoint: string;
    bucket: string;
    account: string;
    region: string;
    builder: S3Client;
    builderCredentials: AwsCredentialIdentity;
    indexer: S3Client;
}


/** Every member account and region of the security stack (deduplicated), the one to use first. */
function memberPlacements(security: DeployedStack, region?: string): { account: string; region: string }[] {
    const providers = security.resources.filter((r) => r.type === "pulumi:providers:aws" && /assumeRole/.test(JSON.stringify(r.inputs)))
        .map((r) => ({ account: JSON.stringify(r.inputs).match(/arn:aws:iam::(\d{12}):role/)?.[1] ?? "", region: String(r.inputs.region ?? "") }))
        .filter((p) => p.account);
    if (providers.length === 0) {
        throw new Error("the security stack declares no member account (ir-forensics:members)");
    }
    const chosen = region ? providers.find((p) => p.region === region) : providers[0];
    if (!chosen) {
        throw new Error(`--member-region ${region}: no member of the security stack is in that region (${[...new Set(providers.map((p) => p.region))].join(", ")})`);
    }
    const seen = new Set<string>();
    return [chosen, ...providers].filter((p) => !seen.has(`${p.account}/${p.region}`) && seen.add(`${p.account}/${p.region}`));
}

export async function prepareWorld(options: DrillOptions, progress: Progress, cleanups: (() => Promise<void> | void)[], hooks: DrillHooks): Promise<World> {
    const { deployStack } = await import("../../emulator/deploy/mock-deploy");
    const { deployedCallbacks } = await import("../../emulator/deploy/deployed");
    const { loadConfigFile, loadStackConfig } = await import("../../emulator/deploy/render");
    const forensicConfig = options.forensicConfig ? loadConfigFile(options.forensicConfig) : loadStackConfig("forensic");
    const securityConfig = options.securityConfig ? loadConfigFile(options.securityConfig) : loadStackConfig("security");
    const accountsOf = (config: Record<string, string>) => Object.values(JSON.parse(config["ir-forensics:accounts"] ?? "{}") as Record<string, string>);
    const members = (JSON.parse(securityConfig["ir-forensics:members"] ?? "[]") as { accountId: string }[]).map((m) => m.accountId);
    const organization = {
        id: securityConfig["ir-forensics:organizationId"] ?? forensicConfig["ir-forensics:organizationId"] ?? "",
        accounts: [...new Set([...accountsOf(forensicConfig), ...accountsOf(securityConfig), ...members])],
    };

    const drillDir = cachePath("drill");
    fs.mkdirSync(drillDir, { recursive: true });
    const strictLogFile = path.join(drillDir, "strict.log");
    const strictLog = fs.createWriteStream(strictLogFile, { flags: "w" });
    cleanups.push(() => new Promise<void>((resolve) => strictLog.end(resolve)));

    const counters = { faults: 0, engineCalls: 0 };
    progress.log(`drill: starting moto behind the strict layer${options.lenient ? " (LENIENT: AWS's rules unchecked)" : ""}`);
    // Step Functions run here (aws-local-stepfunctions): moto only records executions.
    const emulator = await startEmulator({
        lenient: options.lenient, organization,
        moto: { env: { IRF_MOTO_SFN_EXECUTE: "false" } },
        ssmHost: {
            fault: faultFor(options.scenarios, counters),
            registration: { reRegisterMs: options.ssmReregisterSeconds * 1000, credentialRefreshMs: Math.min(5_000, options.ssmReregisterSeconds * 1000) },
            unreachableDelayMs: 2_000,
        },
        log: (line: string) => strictLog.write(`${line}\n`),
    });
    cleanups.push(() => emulator.stop());
    progress.log(`drill: moto pid ${emulator.pid}; strict layer on ${emulator.endpoint}`);

    progress.log("drill: deploying the forensic stack onto moto");
    const forensic = await deployStack({ endpoint: emulator.endpoint, stack: "forensic", configPath: options.forensicConfig });
    progress.log("drill: deploying the security stack onto moto");
    // The security stack reads the forensic stack's outputs by StackReference, under the name its config gives.
    const forensicStack = securityConfig["ir-forensics:forensicStack"] ?? "organization/ir-forensics/forensic";
    const security = await deployStack({ endpoint: emulator.endpoint, stack: "security", configPath: options.securityConfig, stackOutputs: { [forensicStack]: forensic.outputs } });
    const unsupported = [...new Set([...forensic.placeholders, ...security.placeholders].map((p) => p.type))].sort();
    progress.log(`drill: created ${forensic.created.length + security.created.length} resources in moto; not created (placeholder ids): ${unsupported.join(", ") || "none"}`);

    const region = String(security.outputs.region ?? "eu-west-1");
    const [member, ...others] = memberPlacements(security, options.memberRegion);
    const accounts = { forensic: String(forensic.outputs.accountId), security: String(security.outputs.accountId), member: member.account, region: member.region };
    const clients = {
        forensic: clientsFor(emulator.endpoint, accounts.forensic, String(forensic.outputs.region ?? region)),
        security: clientsFor(emulator.endpoint, accounts.security, region),
        member: clientsFor(emulator.endpoint, accounts.member, member.region),
    };
    const placements: Placement[] = [{ ...member, clients: clients.member },
        ...(options.spread ? others : []).map((p) => ({ ...p, clients: clientsFor(emulator.endpoint, p.account, p.region) }))];
    cleanups.push(() => [...Object.values(clients), ...placements.slice(1).map((p) => p.clients)].forEach((c) => Object.values(c).forEach((client) => client.destroy())));

    const callbacks = { ...(await deployedCallbacks(forensic)), ...(await deployedCallbacks(security)) };
    await seedModuleStore(callbacks, security, emulator, hooks);

    // Each deployed function runs in its own sandbox with its own execution role's credentials, issued as
    // Lambda obtains them; its calls reach AWS through the strict layer. Its log lines go where CloudWatch
    // Logs would: a file, not the drill's output.
    const logFile = path.join(drillDir, "functions.log");
    const log = fs.createWriteStream(logFile, { flags: "w" });
    cleanups.push(() => new Promise<void>((resolve) => log.end(resolve)));
    const handlers: Record<string, LambdaHandler> = {};
    const concurrency = new ConcurrencyMeter();
    for (const cb of Object.values(callbacks)) {
        const sandbox = await startFunction(cb, { endpoint: emulator.endpoint, region: cb.arn.split(":")[3] ?? region, layer: emulator.layer, log });
        cleanups.push(() => sandbox.stop());
        handlers[cb.arn] = concurrency.track(cb.arn.split(":").pop() ?? cb.name, sandbox.handler);
    }
    const host = emulator.host as SsmHost;
    // Evidence is read back as investigators read it: the bucket denies reads to everyone else, the account's root included.
    const reader = forensic.resources.find((r) => r.type === "aws:iam/role:Role" && /analysis workstation: reads evidence$/.test(String(r.inputs.description ?? "")));
    if (!reader) {
        throw new Error("the forensic stack has no investigator reader role to read the evidence as");
    }
    const investigator = new S3Client({
        endpoint: emulator.endpoint, region: String(forensic.outputs.region ?? region), forcePathStyle: true,
        credentials: await emulator.layer.serviceCredentials(String(reader.state.arn), "ec2.amazonaws.com", { account: accounts.forensic }, "drill-investigator"),
    });
    cleanups.push(() => investigator.destroy());
    return {
        investigator, logFile, strictLogFile, images: new Map<string, string>(), hooks, emulator, host, forensic, security, clients, accounts, callbacks, handlers,
        placements, placementOf: new Map<string, Placement>(), concurrency,
        machine: await machineClients(security, emulator, accounts.security, region, cleanups),
        get faults() { return counters.faults; },
        get engineCalls() { return counters.engineCalls; },
    };
}

/** Clients that act as the incident state machine's execution role (Step Functions' optimized integrations). */
async function machineClients(security: DeployedStack, emulator: Emulator, account: string, region: string, cleanups: (() => Promise<void> | void)[]): Promise<World["machine"]> {
    const machine = security.resources.find((r) => r.type === "aws:sfn/stateMachine:StateMachine");
    const roleArn = String(machine?.inputs.roleArn ?? "");
    const credentials = await emulator.layer.serviceCredentials(roleArn, "states.amazonaws.com", { account, arn: String(machine?.state.arn ?? "") }, "drill-incident");
    const config = { endpoint: emulator.endpoint, region, credentials, forcePathStyle: true };
    const clients = { sns: new SNSClient(config), sqs: new SQSClient(config), events: new EventBridgeClient(config) };
    cleanups.push(() => Object.values(clients).forEach((c) => c.destroy()));
    return { ...clients, principal: emulator.layer.principalOf(credentials.accessKeyId) };
}

/** The faults of the chosen scenarios, as the SSM host emulator injects them into the engine's calls. */
function faultFor(scenarios: string[], counters: { faults: number; engineCalls: number }): (call: ProxiedCall) => InjectedError | undefined {
    let n = 0;
    return (call) => {
        // The harness (deploying, seeding, launching victims) acts with the accounts' root keys: no faults there.
        if (/^test(-\d{12})?$/.test(call.accessKeyId ?? "")) {
            return undefined;
        }
        counters.engineCalls++;
        let injected: InjectedError | undefined;
        if (scenarios.includes("kms-denied") && (call.service === "kms" || call.headers["x-amz-server-side-encryption"] === "aws:kms")) {
            injected = { status: 400, code: call.service === "kms" ? "AccessDeniedException" : "AccessDenied", message: "drill: access to the KMS key is denied" };
            if (call.service === "s3") {
                injected = { ...injected, status: 403 };
            }
        } else if (scenarios.includes("throttling") && call.service !== "s3" && call.service !== "sts" && call.service !== "") {
            if (n++ % 20 < 3) {
                injected = { status: 400, code: call.headers["x-amz-target"] ? "ThrottlingException" : "Throttling", message: "drill: Rate exceeded" };
            }
        }
        if (injected) {
            counters.faults++;
        }
        return injected;
    };
}

/** What the module factory would have put in the store: index.json, a LiME module for the drill's kernel, AVML. */
async function seedModuleStore(callbacks: Record<string, DeployedCallback>, security: DeployedStack, emulator: Emulator, hooks: DrillHooks): Promise<void> {
    const bucket = Object.values(callbacks)
        .map((cb) => { try { return JSON.parse(cb.environment.IRF_SETTINGS ?? "{}")?.memory?.moduleStoreBucket as string | undefined; } catch { return undefined; } })
        .find(Boolean);
    if (!bucket) {
        return;
    }
    // Written as the factory writes them (only its roles may): modules by a builder instance's role, the
    // index and AVML by the indexer function's role.
    const account = String(security.outputs.accountId);
    const region = String(security.outputs.region ?? "eu-west-1");
    const builderRole = security.resources.find((r) => r.type === "aws:iam/role:Role" && /module builder instances/.test(String(r.inputs.description ?? "")));
    const indexer = callbacks["modules-index"];
    if (!builderRole || !indexer?.roleArn) {
        throw new Error("the security stack has no module builder role or indexer function to seed the module store as");
    }
    const credentialsOf = (roleArn: string, service: string, source?: string) =>
        emulator.layer.serviceCredentials(roleArn, service, { account, arn: source }, "drill-module-factory");
    const as = async (credentials: AwsCredentialIdentity) => new S3Client({ endpoint: emulator.endpoint, region, forcePathStyle: true, credentials });
    const builderCredentials = await credentialsOf(String(builderRole.state.arn), "ec2.amazonaws.com");
    const builder = await as(builderCredentials);
    const index = await as(await credentialsOf(indexer.roleArn, "lambda.amazonaws.com", indexer.arn));
    try {
        if (hooks.seedModuleStore) {
            await hooks.seedModuleStore({ endpoint: emulator.endpoint, bucket, account, region, builder, builderCredentials, indexer: index });
            return;
        }
        const at = new Date().toISOString();
        const module = randomBytes(32 * 1024);
        const avml = fs.readFileSync(AVML_STAND_IN);
        let document = withModules(emptyIndex(at), [{
            arch: "x86_64", kernelRelease: DRILL_KERNEL, path: lime("x86_64", DRILL_KERNEL), sha256: sha256(module), version: "1.9.1",
            banner: BANNER, sourceAmi: "ami-0123456789abcdef0", builtAt: at, symbolsStatus: "unavailable",
        } as never], at);
        document = withAvml(document, [{ arch: "x86_64", path: avmlKey("x86_64"), sha256: sha256(avml), version: "0.20.0", stagedAt: at } as never], at);
        await builder.send(new PutObjectCommand({ Bucket: bucket, Key: lime("x86_64", DRILL_KERNEL), Body: module }));
        await index.send(new PutObjectCommand({ Bucket: bucket, Key: avmlKey("x86_64"), Body: avml }));
        await index.send(new PutObjectCommand({ Bucket: bucket, Key: "index.json", Body: Buffer.from(renderIndex(document)) }));
    } finally {
        builder.destroy();
        index.destroy();
    }
}

/** The victims' workload role and instance profile: SSM-managed, as the fleet's instances are. */
async function workloadProfile(member: AccountClients, name: string): Promise<string> {
    await member.iam.send(new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] }),
    }));
    await member.iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }));
    await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
    await member.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
    return name;
}

/**
 * The customer-managed key the victims' volumes are under (--cmk-volumes), with the key policy docs/architecture.md
 * asks for: the account administers the key and delegates its use to IAM (so the responder role's own
 * policy lets it copy snapshots through EC2).
 */
async function volumeKey(member: AccountClients, account: string): Promise<string> {
    const key = await member.kms.send(new CreateKeyCommand({
        Description: "drill: the victims' volume key",
        Policy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Sid: "EnableIamPolicies", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: "kms:*", Resource: "*" }],
        }),
    }));
    return key.KeyMetadata?.Arn ?? "";
}

/**
 * The victims' network: a private subnet that reaches AWS through a NAT gateway in a public subnet; with
 * --endpoints, an STS interface endpoint (with its own security group) too.
 */
async function victimNetwork(options: DrillOptions, member: AccountClients, region: string): Promise<{ vpcId: string; subnetId: string; groupId: string }> {
    const vpc = (await member.ec2.send(new CreateVpcCommand({ CidrBlock: "10.200.0.0/16", AmazonProvidedIpv6CidrBlock: options.ipv6 }))).Vpc;
    const vpcId = vpc?.VpcId ?? "";
    let ipv6Block: string | undefined;
    if (options.ipv6) {
        const v6 = (await member.ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }))).Vpcs?.[0]?.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock ?? "";
        ipv6Block = v6.replace(/::\/\d+$/, "::/64");
    }
    const { subnetId } = await natRoutedSubnet(member.ec2, {
        vpcId, privateCidr: "10.200.0.0/20", publicCidr: "10.200.16.0/24", availabilityZone: `${region}a`, ipv6CidrBlock: ipv6Block,
    });
    const groupId = (await member.ec2.send(new CreateSecurityGroupCommand({ GroupName: "drill-web", Description: "drill workload", VpcId: vpcId }))).GroupId ?? "";
    if (options.endpoints) {
        const endpointGroup = (await member.ec2.send(new CreateSecurityGroupCommand({ GroupName: "drill-endpoints", Description: "drill interface endpoints", VpcId: vpcId }))).GroupId ?? "";
        await member.ec2.send(new AuthorizeSecurityGroupIngressCommand({
            GroupId: endpointGroup, IpPermissions: [{ IpProtocol: "tcp", FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: "10.200.0.0/16" }] }],
        }));
        await member.ec2.send(new CreateVpcEndpointCommand({
            VpcId: vpcId, VpcEndpointType: "Interface", ServiceName: `com.amazonaws.${region}.sts`, SubnetIds: [subnetId],
            SecurityGroupIds: [endpointGroup], PrivateDnsEnabled: true,
        }));
    }
    return { vpcId, subnetId, groupId };
}

export async function launchVictims(options: DrillOptions, world: World, progress: Progress): Promise<Victim[]> {
    const where = world.placements.map((p) => `${p.account}/${p.region}`).join(", ");
    progress.log(`drill: launching ${options.instances} victim(s) in ${where}`);
    // The victims' role exists in every member account under one name (containment denies its credentials).
    const profile = `drill-workload-${randomBytes(3).toString("hex")}`;
    world.workloadRole = profile;
    const image = memoryImage(options.ramMiB);
    const imageSha256 = sha256(image);
    const instanceType = (INSTANCE_TYPES.find(([mib]) => mib >= options.ramMiB) ?? INSTANCE_TYPES[INSTANCE_TYPES.length - 1])[1];
    const sites: Array<Placement & { vpcId: string; subnetId: string; groupId: string; kmsKeyId?: string }> = [];
    const withProfile = new Set<string>();
    for (const placement of world.placements) {
        const member = placement.clients;
        if (!withProfile.has(placement.account)) {
            await workloadProfile(member, profile);
            withProfile.add(placement.account);
        }
        const network = await victimNetwork(options, member, placement.region);
        const kmsKeyId = options.cmkVolumes ? await volumeKey(member, placement.account) : undefined;
        sites.push({ ...placement, ...network, kmsKeyId });
    }
    const victims: Victim[] = [];
    for (let i = 0; i < options.instances; i++) {
        const site = sites[i % sites.length];
        const { subnetId, groupId, kmsKeyId } = site;
        const member = site.clients;
        const placement: Placement = { account: site.account, region: site.region, clients: site.clients };
        const run = await member.ec2.send(new RunInstancesCommand({
            ImageId: "ami-04681a1dbd79675a5", InstanceType: instanceType as never, MinCount: 1, MaxCount: 1,
            NetworkInterfaces: Array.from({ length: options.enis }, (_, d) => ({ DeviceIndex: d, SubnetId: subnetId, Groups: [groupId] })),
            // The root volume, then data volumes /dev/sdf, /dev/sdg...
            BlockDeviceMappings: Array.from({ length: options.volumes }, (_, v) => ({
                DeviceName: v === 0 ? "/dev/xvda" : `/dev/sd${String.fromCharCode(102 + v - 1)}`,
                Ebs: { VolumeSize: v === 0 ? 8 : 4, ...(kmsKeyId ? { Encrypted: true, KmsKeyId: kmsKeyId } : {}) },
            })),
            IamInstanceProfile: { Name: profile },
            TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "Name", Value: `drill-${i + 1}` }] }],
        }));
        const instanceId = run.Instances?.[0]?.InstanceId ?? "";
        const enis = ((await member.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }] })))
            .NetworkInterfaces ?? []).map((e) => e.NetworkInterfaceId ?? "");
        if (options.ipv6) {
            for (const eni of enis) {
                await member.ec2.send(new AssignIpv6AddressesCommand({ NetworkInterfaceId: eni, Ipv6AddressCount: 1 }));
            }
        }
        const spec: HostSpec = {
            accountId: placement.account, region: placement.region, image, arch: "x86_64",
            kernelRelease: options.scenarios.includes("no-module") ? UNKNOWN_KERNEL : DRILL_KERNEL,
            managed: !options.scenarios.includes("no-ssm"),
        };
        world.host.registerHost(instanceId, world.hooks.victimHost?.(instanceId, spec) ?? spec);
        world.images.set(instanceId, imageSha256);
        world.placementOf.set(instanceId, placement);
        victims.push({ instanceId, enis, placement });
    }
    // --asg and --target-group take one placement (parseDrillArgs refuses them with --spread).
    const ids = victims.map((v) => v.instanceId);
    const { member } = world.clients;
    const { subnetId, vpcId } = sites[0];
    if (options.asg) {
        await member.ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: "drill", LaunchTemplateData: { ImageId: "ami-04681a1dbd79675a5", InstanceType: "t3.micro" } }));
        await member.autoScaling.send(new CreateAutoScalingGroupCommand({
            AutoScalingGroupName: "drill-web", MinSize: 0, MaxSize: ids.length + 2, DesiredCapacity: 0,
            LaunchTemplate: { LaunchTemplateName: "drill" }, VPCZoneIdentifier: subnetId,
        }));
        await member.autoScaling.send(new AttachInstancesCommand({ AutoScalingGroupName: "drill-web", InstanceIds: ids }));
    }
    if (options.targetGroup) {
        const tg = (await member.elbv2.send(new CreateTargetGroupCommand({ Name: "drill-web", Protocol: "HTTP", Port: 80, VpcId: vpcId, TargetType: "instance" }))).TargetGroups?.[0];
        await member.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: tg?.TargetGroupArn, Targets: ids.map((Id) => ({ Id, Port: 80 })) }));
    }
    return victims;
}
