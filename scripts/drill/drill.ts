/**
 * npm run drill: the real response, rehearsed without an AWS account.
 *
 *   npm run drill -- [--instances N] [--enis N] [--ipv6] [--asg] [--target-group] [--ram-mib N] [--volumes N]
 *                    [--member-region R] [--spread] [--cmk-volumes] [--endpoints] [--real-waits] [--lenient]
 *                    [--scenario NAME[,NAME]] [--json] [--forensic-config FILE] [--security-config FILE]
 *
 * 1. starts moto on a free 127.0.0.1 port (stopped by PID on exit, Ctrl-C included) behind the strict layer
 *    (emulator/strict/: every request is authenticated and authorized as AWS would), with the SSM host
 *    emulator between the two (emulator/host/ssm-host.ts: commands run the real host script locally with shims,
 *    through a network gate that lets through only what the victim's VPC would);
 * 2. deploys both stacks onto moto from their Pulumi.<stack>.yaml (emulator/deploy/mock-deploy.ts): every resource
 *    the response touches is created in moto in its provider's account; the types it could not create are
 *    listed first;
 * 3. launches victim instances in the first member account and region, tags them
 *    SecurityIncidentStatus=Analyze and puts the tag-change event on the member's bus: the stacks' own rules
 *    forward it to the engine's bus and on to the queue that stands in for the opener Lambda;
 * 4. runs every case: the deployed callbacks (the code Pulumi generated, with the environment the stack gives
 *    it, each in its own sandbox with its own execution role's credentials) are invoked from that queue and as
 *    the task handlers of the deployed state machine definition, executed by aws-local-stepfunctions (Wait
 *    states shortened; the optimized integrations act with the state machine's role);
 * 5. reports a timeline per case (trigger → isolated → memory → disk → contained, in ms and AWS calls), the
 *    manifest (or the case table's fallback record when the bucket refused it), and checks every artifact as
 *    `npm run verify` does; whether a case is contained is read from the instance itself
 *    (`containmentOnInstance`: the contained group alone and without rules on every ENI, the deny-all profile,
 *    the revocation, the tags), never from the manifest;
 * 6. with `--scenario release`: releases every contained victim through the case commands' library
 *    (functions/response/caseCommands.ts, as a responder role of the security account assuming the member release
 *    role), checks on the instance that exactly the recorded state is back, then tags it `Contain` again, which
 *    opens a new contain case, and judges that one from the instance too.
 *
 * Exit code 0 when every case ended contained and holds every artifact it should, each verified (the metadata;
 * the memory image when SSM was online at the start; one evidence snapshot per EBS volume, in the forensic
 * account), 1 otherwise (each missing artifact is printed with its reason), 2 when the drill could not run.
 */
import "../../emulator/node-compat";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { AttachInstancesCommand, CreateAutoScalingGroupCommand } from "@aws-sdk/client-auto-scaling";
import {
    AssignIpv6AddressesCommand, AuthorizeSecurityGroupIngressCommand, CreateLaunchTemplateCommand, CreateSecurityGroupCommand, CreateTagsCommand,
    CreateVpcCommand, CreateVpcEndpointCommand, DescribeNetworkInterfacesCommand, DescribeVpcsCommand, ModifyInstanceAttributeCommand, RunInstancesCommand,
    TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { CreateTargetGroupCommand, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { AddRoleToInstanceProfileCommand, AttachRolePolicyCommand, CreateInstanceProfileCommand, CreateRoleCommand, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { CreateKeyCommand } from "@aws-sdk/client-kms";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { avmlKey, emptyIndex, lime, renderIndex, withAvml, withModules } from "../../functions/factory/moduleIndex";
import { STATUS_TAG } from "../../functions/shared/types";
import { assumedCredentials } from "../../functions/shared/aws";
import type { EngineSettings } from "../../functions/shared/settings";
import { CaseCommandClients, CaseCommandConfig, CaseManifest, DEFAULT_RELEASER_ROLE, operatorStatements, readCase, releaseCase, releasePlan } from "../../functions/response/caseCommands";
import { containmentOnInstance } from "../../functions/response/containmentCheck";
import { getCaseRecord } from "../../functions/response/registry";
import { isInstanceRevoked } from "../../functions/response/revocation";
import { AccountClients, clientsFor } from "../../emulator/aws/aws-clients";
import { ArtifactVerdict, verifyCase } from "../../functions/acquisition/verify";
import { DescribeIamInstanceProfileAssociationsCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ElasticLoadBalancingClient } from "@aws-sdk/client-elastic-load-balancing";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { IAMClient } from "@aws-sdk/client-iam";
import { SFNClient } from "@aws-sdk/client-sfn";
import { limeImage } from "../../emulator/host/lime-image";
import { natRoutedSubnet } from "../../emulator/aws/emulated-vpc";
// Pulumi, the stacks and the Step Functions interpreter load only once moto runs (see prepareWorld), so
// that an early Ctrl-C finds something to stop.
import type { DeployedCallback, LambdaHandler } from "../../emulator/deploy/deployed";
import type { DeployedStack } from "../../emulator/deploy/mock-deploy";
import { Emulator, startEmulator } from "../../emulator";
import { startFunction } from "../../emulator/deploy/lambda-runtime";
import { cachePath } from "../../emulator/paths";
import type { RefusedConnection } from "../../emulator/host/ssm-agent";
import type { AwsCredentialIdentity } from "@smithy/types";
import { AVML_STAND_IN, HostSpec, InjectedError, ProxiedCall, SsmHost } from "../../emulator/host/ssm-host";
import type { LayerStats, RefusalRecord } from "../../emulator/strict/layer";
import type { Principal } from "../../emulator/strict/types";

/** State machine documents, events and manifests as JSON: shaped by what produced them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** The evidence a case should hold. */
export type ArtifactKind = "metadata" | "memory" | "disk";

/** The fault scenarios the drill can inject: what each does, and which artifacts it expects to be missing. */
export const SCENARIO_DETAILS: Record<string, { description: string; expectMissing: ArtifactKind[] }> = {
    "no-ssm": { description: "the victims' SSM agent is offline (hosts unmanaged): memory cannot be acquired", expectMissing: ["memory"] },
    "no-module": { description: "no LiME module for the victims' kernel: the host script falls back to AVML", expectMissing: [] },
    "kms-denied": {
        description: "every KMS call and SSE-KMS write of the engine is denied (AccessDenied): nothing can be recorded",
        expectMissing: ["metadata", "memory"],
    },
    "throttling": { description: "bursts of ThrottlingException: 3 of every 20 API calls of the engine (S3 and STS excepted)", expectMissing: [] },
    "terminated": { description: "each victim is terminated (protection lifted by an operator) right after isolation", expectMissing: ["memory"] },
    "release": {
        description: "each contained victim is released (cases release), checked, then tagged Contain again, which must open a new contain case",
        expectMissing: [],
    },
};

/** The scenarios and what each does (for usage and errors). */
export const SCENARIOS: Record<string, string> = Object.fromEntries(Object.entries(SCENARIO_DETAILS).map(([k, v]) => [k, v.description]));

const DRILL_KERNEL = "6.1.0-drill";
const UNKNOWN_KERNEL = "6.1.0-drill-custom";
const BANNER = `Linux version ${DRILL_KERNEL} (drill@ir-forensics) (gcc 12.2.0) #1 SMP PREEMPT_DYNAMIC`;
/** Victim instance types by RAM (MiB), smallest first: the victim is the smallest that holds --ram-mib. */
const INSTANCE_TYPES: [number, string][] = [[512, "t3.nano"], [1024, "t3.micro"], [2048, "t3.small"], [4096, "t3.medium"]];
const STAGES = ["isolation", "memory", "disk", "containment"] as const;
/** Victims per drill: 200, the outbreak the bench measures. */
const MAX_INSTANCES = 200;

const TIMELINE_LABELS: Record<string, string> = { isolation: "isolated", memory: "memory", disk: "disk", containment: "contained" };

export interface DrillOptions {
    instances: number;
    enis: number;
    ipv6: boolean;
    asg: boolean;
    targetGroup: boolean;
    ramMiB: number;
    /** EBS volumes per victim (the root volume included). */
    volumes: number;
    /** The victims' region (default: the first member region); a member of the security stack must have it. */
    memberRegion?: string;
    /** Victim volumes under a customer-managed key whose policy is what docs/architecture.md tells users to set. */
    cmkVolumes: boolean;
    /** The victims' VPC has an STS interface endpoint and reaches SSM and S3 through a NAT gateway. */
    endpoints: boolean;
    /** The strict layer off (comparison only). */
    lenient: boolean;
    /** Seconds after a profile change until the SSM agent registers again (default 60). */
    ssmReregisterSeconds: number;
    /** The definition's own Wait durations instead of 1 s each (what the engine's polling costs on AWS). */
    realWaits: boolean;
    /** Victims spread round-robin over every member account and region of the security stack. */
    spread: boolean;
    scenarios: string[];
    json: boolean;
    forensicConfig?: string;
    securityConfig?: string;
}

export interface TimelineEntry {
    stage: string;
    /** Milliseconds from the trigger (the tag event) to the end of the stage. */
    ms: number | null;
    /** AWS calls the stage recorded. */
    calls: number;
    status: string;
}

export interface ArtifactCheck {
    kind: string;
    key?: string;
    versionId?: string;
    bytes?: number;
    sha256?: string;
    /**
     * Objects: verified | mismatch | missing | no-digest. Evidence snapshots: snapshot-verified (completed,
     * encrypted under the recorded key, tagged with the case) | mismatch | missing | not-evidenced (the
     * disk branch recorded why no evidence copy exists).
     */
    verification: "verified" | "mismatch" | "missing" | "no-digest" | "snapshot-verified" | "not-evidenced";
    storedSha256?: string;
    /** Memory images: is the stored object the victim's whole memory image, byte for byte? */
    matchesHostImage?: boolean;
}

export interface CaseReport {
    caseId: string | null;
    instanceId: string;
    /** The victim's member account and region, "<account>/<region>". */
    placement: string;
    /** When its execution started (ms since the epoch), as the opener answered. */
    openedAt?: number;
    status: string;
    executionArn?: string;
    timeline: TimelineEntry[];
    artifacts: ArtifactCheck[];
    failures: { step: string; action?: string; target?: string; error: string }[];
    manifestKey?: string;
    /** The tool of each memory capture attempt as the host reported it (lime, avml; null when none ran). */
    memoryTools: (string | null)[];
    /** Deployed-state-machine states run, in order. */
    states: string[];
    /** Evidence the case should hold and does not (the scenarios' expected gaps excepted), with why. */
    missing: { kind: ArtifactKind; reason: string }[];
    error?: string;
    /** What the execution (or the case's record) said, when `status` is the instance's own answer. */
    outcome?: string;
    /** Containment read from the instance itself at the end of the case (the drill's verdict). */
    onInstance?: InstanceVerdict;
    /** Where the case's record was read: the evidence bucket, or the case table's fallback record. */
    record?: "bucket" | "case-table" | "none";
    /** --scenario release: the release, the state found on the instance after it, and the new contain case. */
    release?: ReleaseReport;
}

export interface InstanceVerdict {
    contained: boolean;
    /** The parts that do not hold, as containmentOnInstance names them. */
    open: string[];
}

export interface ReleaseReport {
    released: boolean;
    /** Milliseconds the release took (the command's calls). */
    ms: number;
    changes: string[];
    kept: string[];
    /** Every ENI in the groups the case recorded, the recorded profile, no revocation entry left, the Released tag. */
    restored: boolean;
    /** Where the instance differs from the recorded state. */
    problems: string[];
    error?: string;
    /** The case the second `Contain` tag opened, judged from the instance. */
    recontain?: { caseId: string | null; status: string; outcome?: string; onInstance?: InstanceVerdict; error?: string };
}

export interface DrillReport {
    cases: CaseReport[];
    summary: {
        instances: number;
        scenarios: string[];
        contained: number;
        uncontained: number;
        /** --scenario release: victims released to exactly their recorded state and contained again by a new case. */
        released?: number;
        recontained?: number;
        artifacts: number;
        artifactsVerified: number;
        evidenceIntact: boolean;
        /** Artifacts the cases should hold and do not. */
        missingArtifacts: number;
        ok: boolean;
        deployMs: number;
        runMs: number;
        /** API calls through the engine's endpoint (the SSM host emulator), and how many faults it injected. */
        engineCalls: number;
        /** The most invocations in flight at once: of all deployed functions (an account's Lambda concurrency), and per function. */
        lambdaPeakConcurrency: { total: number; byFunction: Record<string, number> };
        /** The most incident executions started within one second (Step Functions' StartExecution rate). */
        peakExecutionsPerSecond: number;
        injectedFaults: number;
        /** The strict layer: requests by operation, refusals by rule (the first 50 in full), its log. */
        strict: LayerStats & { lenient: boolean; refusals: RefusalRecord[]; log: string };
        /** Connections the victims' networks refused (their VPC would not carry them). */
        refusedConnections: RefusedConnection[];
        created: number;
        placeholderTypes: string[];
        routes: { source: string; target: string }[];
        adaptations: string[];
        accounts: { forensic: string; security: string; member: string; region: string };
        /** Where the victims were launched, "<account>/<region>" (one unless --spread). */
        placements: string[];
        /** The functions' log lines (what CloudWatch Logs would hold). */
        functionLog: string;
        moto: { pid: number; stopped: boolean };
    };
}

export function parseDrillArgs(argv: string[]): DrillOptions {
    const { values } = parseArgs({
        args: argv,
        options: {
            "instances": { type: "string", default: "2" },
            "enis": { type: "string", default: "1" },
            "ipv6": { type: "boolean", default: false },
            "asg": { type: "boolean", default: false },
            "target-group": { type: "boolean", default: false },
            "ram-mib": { type: "string", default: "512" },
            "volumes": { type: "string", default: "1" },
            "member-region": { type: "string" },
            "cmk-volumes": { type: "boolean", default: false },
            "endpoints": { type: "boolean", default: false },
            "lenient": { type: "boolean", default: false },
            "ssm-reregister-seconds": { type: "string", default: "60" },
            "real-waits": { type: "boolean", default: false },
            "spread": { type: "boolean", default: false },
            "scenario": { type: "string", multiple: true, default: [] },
            "json": { type: "boolean", default: false },
            "forensic-config": { type: "string" },
            "security-config": { type: "string" },
            "help": { type: "boolean", default: false },
        },
        strict: true,
    });
    if (values.help) {
        throw new UsageError(usage());
    }
    const count = (name: string, raw: string, min: number, max: number): number => {
        const n = Number(raw);
        if (!Number.isInteger(n) || n < min || n > max) {
            throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
        }
        return n;
    };
    const scenarios = values.scenario.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
    if (values.spread && (values.asg || values["target-group"] || values["member-region"] || scenarios.includes("release"))) {
        throw new UsageError("--spread places victims in every member account and region: it does not combine with --asg, --target-group, --member-region or --scenario release");
    }
    for (const s of scenarios) {
        if (!SCENARIOS[s]) {
            throw new UsageError(`unknown --scenario "${s}"; one of: ${Object.keys(SCENARIOS).join(", ")}`);
        }
    }
    return {
        instances: count("instances", values.instances, 1, MAX_INSTANCES),
        enis: count("enis", values.enis, 1, 8),
        ipv6: values.ipv6,
        asg: values.asg,
        targetGroup: values["target-group"],
        ramMiB: count("ram-mib", values["ram-mib"], 1, 4096),
        volumes: count("volumes", values.volumes, 1, 8),
        memberRegion: values["member-region"],
        cmkVolumes: values["cmk-volumes"],
        endpoints: values.endpoints,
        lenient: values.lenient,
        ssmReregisterSeconds: count("ssm-reregister-seconds", values["ssm-reregister-seconds"], 0, 3600),
        realWaits: values["real-waits"],
        spread: values.spread,
        scenarios: [...new Set(scenarios)],
        json: values.json,
        forensicConfig: values["forensic-config"],
        securityConfig: values["security-config"],
    };
}

export class UsageError extends Error {}

function usage(): string {
    return [
        "usage: npm run drill -- [options]",
        "  --instances N        victim instances (default 2)",
        "  --enis N             network interfaces per victim (default 1)",
        "  --ipv6               give every interface an IPv6 address",
        "  --asg                put the victims in an Auto Scaling group",
        "  --target-group       register the victims in a load balancer target group",
        "  --ram-mib N          each victim's memory image in MiB (default 512); the victim is the smallest t3",
        "                       type with that much RAM; an image under half its RAM is rejected as incomplete",
        "  --volumes N          EBS volumes per victim, the root volume included (default 1)",
        "  --member-region R    launch the victims in region R of the first member that has it (default: its first region)",
        "  --cmk-volumes        encrypt the victims' volumes under a customer-managed key (with the key policy docs/architecture.md names)",
        "  --endpoints          give the victims' VPC an STS interface endpoint; SSM and S3 are reached through NAT",
        "  --ssm-reregister-seconds N  seconds until an SSM agent registers again after a profile change (default 60)",
        "  --spread             spread the victims over every member account and region (default: one placement)",
        "  --real-waits         keep the deployed Wait durations (memory polled every 20 s, snapshots every 120 s) instead of 1 s",
        "  --lenient            turn the strict layer off (AWS's rules unchecked): for comparison only",
        "  --scenario NAME      inject a fault (repeatable or comma-separated):",
        ...Object.entries(SCENARIOS).map(([k, v]) => `                         ${k}: ${v}`),
        "  --json               print the report as one JSON document",
        "  --forensic-config F  settings file of the forensic stack (default Pulumi.forensic.yaml)",
        "  --security-config F  settings file of the security stack (default Pulumi.security.yaml)",
    ].join("\n");
}

// ------------------------------------------------------------------------------------------ progress

interface CaseProgress {
    instanceId: string;
    stage: string;
    startedAt: number;
    done: boolean;
}

/** Live progress: listr2 on a terminal, plain lines otherwise (stderr with --json, so stdout stays one document). */
export class Progress {
    private readonly cases = new Map<string, CaseProgress>();
    private listr?: Promise<void>;
    /**
     * @param interactive draw with listr2 (a terminal); otherwise plain lines
     * @param plain where plain lines go (stdout; stderr with --json, so that stdout stays one JSON document)
     */
    constructor(private readonly interactive: boolean, private readonly plain: NodeJS.WritableStream) {}

    log(line: string): void {
        if (!this.listr) {
            this.plain.write(`${line}\n`);
        }
    }

    /** Starts the live view of `instanceIds`; resolves once every case is done. */
    async start(instanceIds: string[]): Promise<void> {
        for (const id of instanceIds) {
            this.cases.set(id, { instanceId: id, stage: "triggered", startedAt: Date.now(), done: false });
        }
        if (!this.interactive) {
            return;
        }
        const { Listr } = await import("listr2");
        const tasks = new Listr(instanceIds.map((id) => ({
            title: id,
            task: async (_ctx: unknown, task: { title: string }) => {
                const c = this.cases.get(id) as CaseProgress;
                while (!c.done) {
                    task.title = `${id}  ${c.stage}  ${((Date.now() - c.startedAt) / 1000).toFixed(1)} s`;
                    await new Promise((r) => setTimeout(r, 100));
                }
                task.title = `${id}  ${c.stage}  ${((Date.now() - c.startedAt) / 1000).toFixed(1)} s`;
            },
        })), { concurrent: true, exitOnError: false, rendererOptions: { collapseSubtasks: false } });
        this.listr = tasks.run().then(() => undefined);
    }

    stage(instanceId: string, stage: string): void {
        const c = this.cases.get(instanceId);
        if (!c || c.stage === stage) {
            return;
        }
        c.stage = stage;
        if (!this.interactive) {
            this.plain.write(`  ${instanceId}  ${stage}  ${((Date.now() - c.startedAt) / 1000).toFixed(1)} s\n`);
        }
    }

    finish(instanceId: string, status: string): void {
        this.stage(instanceId, status);
        const c = this.cases.get(instanceId);
        if (c) {
            c.done = true;
        }
    }

    async stop(): Promise<void> {
        for (const c of this.cases.values()) {
            c.done = true;
        }
        await this.listr;
        this.listr = undefined;
    }
}

// ------------------------------------------------------------------------------------------ helpers

/** SHA-256 of a buffer of any size (one update takes at most 2 GiB). */
function sha256(data: Buffer): string {
    const hash = createHash("sha256");
    for (let off = 0; off < data.length; off += 1 << 30) {
        hash.update(data.subarray(off, off + (1 << 30)));
    }
    return hash.digest("hex");
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A memory image of `mib` MiB in LiME's format, with the kernel banner LiME/AVML output carries. */
function memoryImage(mib: number): Buffer {
    return limeImage(mib * 1024 * 1024, { banner: BANNER });
}

/** The tag-change event EventBridge delivers to the member's default bus. */
function tagChangeEvent(account: string, region: string, instanceId: string, value = "Analyze"): { Source: string; DetailType: string; Resources: string[]; Detail: string } {
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
function allStates(definition: { States?: Json }): [string, Json][] {
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
interface Placement {
    account: string;
    region: string;
    clients: AccountClients;
}

interface Victim {
    instanceId: string;
    enis: string[];
    placement: Placement;
}

interface World {
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

/** What a case should hold and does not, with the reason (an artifact a scenario expects to miss is not listed). */
function missingEvidence(options: DrillOptions, c: CaseReport): { kind: ArtifactKind; reason: string }[] {
    const expectMissing = new Set(options.scenarios.flatMap((s) => SCENARIO_DETAILS[s].expectMissing));
    const verified = (a: ArtifactCheck) => a.verification === "verified" || a.verification === "snapshot-verified";
    const failureOf = (step: string) => c.failures.filter((f) => f.step === step).map((f) => f.error).join("; ") || c.error || `the ${step} step recorded no failure`;
    const missing: { kind: ArtifactKind; reason: string }[] = [];
    if (!expectMissing.has("metadata") && !c.artifacts.some((a) => a.kind === "metadata" && verified(a))) {
        missing.push({ kind: "metadata", reason: failureOf("triage") });
    }
    if (!expectMissing.has("memory") && !c.artifacts.some((a) => a.kind === "memory" && verified(a) && a.matchesHostImage)) {
        missing.push({ kind: "memory", reason: failureOf("memory") });
    }
    if (!expectMissing.has("disk")) {
        const evidenced = c.artifacts.filter((a) => a.kind === "disk-snapshot" && a.verification === "snapshot-verified").length;
        if (evidenced < options.volumes) {
            missing.push({ kind: "disk", reason: `${evidenced} of ${options.volumes} volumes have a verified evidence snapshot in the forensic account: ${failureOf("disk")}` });
        }
    }
    return missing;
}

/** Runs the drill and returns its report; `progress` shows it live. Stops everything it started. */
export async function runDrill(options: DrillOptions, progress: Progress, hooks: DrillHooks = {}): Promise<DrillReport> {
    const cleanups: (() => Promise<void> | void)[] = [];
    const cleanup = async () => {
        for (const fn of cleanups.splice(0).reverse()) {
            await Promise.resolve(fn()).catch(() => undefined);
        }
    };
    activeCleanup = cleanup;
    const started = Date.now();
    try {
        const world = await prepareWorld(options, progress, cleanups, hooks);
        const deployMs = Date.now() - started;

        const victims = await launchVictims(options, world, progress);
        const runStarted = Date.now();
        await progress.start(victims.map((v) => v.instanceId));
        const cases = await runCases(options, world, victims, progress);
        await progress.stop();
        const runMs = Date.now() - runStarted;

        for (const c of cases) {
            c.artifacts = await verifyArtifacts(world, c);
            c.missing = missingEvidence(options, c);
        }
        await hooks.beforeStop?.({
            endpoint: world.emulator.endpoint, forensic: world.forensic, security: world.security, accounts: world.accounts, cases, victims,
            member: world.clients.member, responder: () => responderSession(world),
            openCase: async (instanceId, value) => (await triggerCases(world, [{ instanceId, enis: [], placement: placementOf(world, instanceId) }], value)).opened.get(instanceId),
        });
        const layer = world.emulator.layer;
        const strict = { lenient: layer.lenient, ...layer.stats(), refusals: layer.refusals().slice(0, 50), log: world.strictLogFile };
        const refusedConnections = world.host.refusedConnections();
        const moto = world.emulator.moto;
        await cleanup();
        const artifacts = cases.flatMap((c) => c.artifacts);
        const intact = artifacts.every((a) => ["verified", "snapshot-verified", "not-evidenced"].includes(a.verification));
        const contained = cases.filter((c) => c.status === "contained").length;
        const releasing = options.scenarios.includes("release");
        const released = cases.filter((c) => c.release?.restored).length;
        const recontained = cases.filter((c) => c.release?.recontain?.status === "contained").length;
        return {
            cases,
            summary: {
                instances: cases.length,
                scenarios: options.scenarios,
                contained,
                uncontained: cases.length - contained,
                ...(releasing ? { released, recontained } : {}),
                artifacts: artifacts.length,
                artifactsVerified: artifacts.filter((a) => a.verification === "verified" || a.verification === "snapshot-verified").length,
                evidenceIntact: intact,
                missingArtifacts: cases.reduce((n, c) => n + c.missing.length, 0),
                // An instance terminated mid-case has nothing left to contain: the case says so ("instance-missing").
                ok: cases.every((c) => (c.status === "contained" || c.status === "instance-missing") && c.missing.length === 0) && intact
                    && (!releasing || cases.every((c) => c.status !== "contained" || c.release?.recontain?.status === "contained")),
                deployMs,
                runMs,
                engineCalls: world.engineCalls,
                lambdaPeakConcurrency: world.concurrency.peaks(),
                peakExecutionsPerSecond: peakPerSecond(cases.map((c) => c.openedAt).filter((t): t is number => t !== undefined)),
                injectedFaults: world.faults,
                strict,
                refusedConnections,
                created: world.forensic.created.length + world.security.created.length,
                placeholderTypes: [...new Set([...world.forensic.placeholders, ...world.security.placeholders].map((p) => p.type))].sort(),
                routes: [...world.forensic.routes, ...world.security.routes].map((r) => ({ source: r.source, target: r.targetArn })),
                adaptations: [
                    ...world.forensic.adaptations, ...world.security.adaptations,
                    ...world.host.emulatedCopies().map((c) =>
                        `snapshot ${c.sourceSnapshotId} shared by ${c.ownerAccount}: copied in ${c.account} as ${c.snapshotId} (moto does not show snapshots shared across accounts)`),
                ],
                accounts: world.accounts,
                placements: world.placements.map((p) => `${p.account}/${p.region}`),
                functionLog: world.logFile,
                moto: { pid: moto.pid, stopped: !moto.running() },
            },
        };
    } finally {
        await progress.stop();
        await cleanup();
        activeCleanup = undefined;
    }
}

/** What stops the running drill (moto, the SSM host emulator, its commands), for signal handlers. */
let activeCleanup: (() => Promise<void>) | undefined;

/** The member provider of the security stack the victims live under: the first member, in the chosen region. */
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

async function prepareWorld(options: DrillOptions, progress: Progress, cleanups: (() => Promise<void> | void)[], hooks: DrillHooks): Promise<World> {
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

async function launchVictims(options: DrillOptions, world: World, progress: Progress): Promise<Victim[]> {
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

/** Tags every victim, puts the tag-change events on the member's bus and runs each case to its end. */
async function runCases(options: DrillOptions, world: World, victims: Victim[], progress: Progress): Promise<CaseReport[]> {
    const { opened, triggeredAt } = await triggerCases(world, victims, "Analyze");
    const reports = await Promise.all(victims.map((v) => runCase(options, world, v, opened.get(v.instanceId), triggeredAt.get(v.instanceId) as number, progress)));
    if (options.scenarios.includes("release")) {
        await releaseAndContainAgain(options, world, victims, reports, progress);
    }
    return reports;
}

/** Tags the victims `SecurityIncidentStatus=<value>` and delivers the tag-change events to the opener; what it answered, by instance. */
async function triggerCases(world: World, victims: Victim[], value: string): Promise<{ opened: Map<string, Opened>; triggeredAt: Map<string, number> }> {
    const triggeredAt = new Map<string, number>();
    for (const v of victims) {
        await v.placement.clients.ec2.send(new CreateTagsCommand({ Resources: [v.instanceId], Tags: [{ Key: STATUS_TAG, Value: value }] }));
    }
    // moto emits no tag-change events: put the one EventBridge would, on the member's default bus, where the
    // member rule (deployed from the stack) forwards it to the engine's bus.
    const put: PutEvent[] = [];
    for (const v of victims) {
        triggeredAt.set(v.instanceId, Date.now());
        const entry = tagChangeEvent(v.placement.account, v.placement.region, v.instanceId, value);
        const out = await v.placement.clients.events.send(new PutEventsCommand({ Entries: [entry] }));
        if (out.FailedEntryCount) {
            throw new Error(`PutEvents failed: ${JSON.stringify(out.Entries)}`);
        }
        put.push({ id: out.Entries?.[0]?.EventId, detail: entry.Detail, account: v.placement.account, resources: entry.Resources });
    }
    const opened = await deliverRoutedEvents(world, victims.length, put);
    return { opened, triggeredAt };
}

/** An event the drill put, with the envelope fields AWS keeps when a rule forwards it to another bus. */
interface PutEvent {
    id?: string;
    detail: string;
    account: string;
    resources: string[];
}

/**
 * moto drops `account` and `resources` when a rule forwards an event to another bus (AWS keeps both, and the
 * opener needs them): put them back from the event as it was put, found by id or, failing that, by detail.
 */
function restoreEnvelope(event: Json, put: PutEvent[]): Json {
    const original = put.find((p) => p.id && p.id === event.id) ?? put.find((p) => JSON.stringify(JSON.parse(p.detail)) === JSON.stringify(event.detail));
    if (!original) {
        return event;
    }
    return {
        ...event,
        account: event.account ?? original.account,
        resources: Array.isArray(event.resources) && event.resources.length > 0 ? event.resources : original.resources,
    };
}

interface Opened {
    outcome?: string;
    caseId?: string;
    executionArn?: string;
    /** When the opener answered (ms since the epoch): the execution had started. */
    at?: number;
}

/**
 * Drains the queues that stand in for the Lambda targets of the stacks' rules and invokes the deployed
 * function of each, as EventBridge would; returns what the opener answered, by instance.
 */
async function deliverRoutedEvents(world: World, expected: number, put: PutEvent[]): Promise<Map<string, Opened>> {
    const opened = new Map<string, Opened>();
    const routes = [...world.forensic.routes, ...world.security.routes];
    const queues = new Map<string, AccountClients>();
    const sqsFor = (account: string, region: string) => {
        const key = `${account}/${region}`;
        if (!queues.has(key)) {
            queues.set(key, clientsFor(world.emulator.endpoint, account, region));
        }
        return (queues.get(key) as AccountClients).sqs;
    };
    // EventBridge invokes the targets asynchronously, many at once: so do these deliveries. Polling stops once
    // every expected instance's event was delivered, or when no message came for 30 s.
    const delivered = new Set<string>();
    const invocations: Promise<void>[] = [];
    const invoke = async (handler: LambdaHandler, event: unknown, body: Json) => {
        // An asynchronous invocation, as EventBridge makes it: Lambda tries a failed one twice more.
        let answer: Opened = {};
        for (let attempt = 1; attempt <= 3; attempt++) {
            try {
                answer = { ...(await handler(event, {})) as Opened, at: Date.now() };
                break;
            } catch (err) {
                answer = { outcome: `failed ${attempt} time(s): ${err instanceof Error ? err.message : String(err)}` };
            }
        }
        const instanceId = /instance\/(i-[0-9a-f]+)/.exec(JSON.stringify(body))?.[1] ?? (answer as { instance?: { instanceId?: string } })?.instance?.instanceId;
        if (instanceId && (answer?.executionArn || !opened.has(instanceId))) {
            opened.set(instanceId, answer);
        }
    };
    for (let lastSeen = Date.now(); delivered.size < expected && Date.now() - lastSeen < 30_000;) {
        let seen = 0;
        for (const route of routes) {
            const sqs = sqsFor(route.placement.account, route.placement.region);
            const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: route.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
            for (const m of got.Messages ?? []) {
                seen++;
                await sqs.send(new DeleteMessageCommand({ QueueUrl: route.queueUrl, ReceiptHandle: m.ReceiptHandle }));
                const handler = world.handlers[route.targetArn];
                if (!handler) {
                    continue;
                }
                const body = restoreEnvelope(JSON.parse(m.Body ?? "{}"), put);
                const event = route.via === "sns" ? { Records: [{ EventSource: "aws:sns", Sns: body }] } : body;
                const instanceId = /instance\/(i-[0-9a-f]+)/.exec(JSON.stringify(body))?.[1];
                if (instanceId) {
                    delivered.add(instanceId);
                }
                invocations.push(invoke(handler, event, body));
            }
        }
        if (seen === 0) {
            await sleep(100);
        } else {
            lastSeen = Date.now();
        }
    }
    await Promise.all(invocations);
    queues.forEach((c) => Object.values(c).forEach((client) => client.destroy()));
    return opened;
}

async function runCase(options: DrillOptions, world: World, victim: Victim, opened: Opened | undefined, triggeredAt: number, progress: Progress): Promise<CaseReport> {
    const report: CaseReport = {
        caseId: opened?.caseId ?? null, instanceId: victim.instanceId, placement: `${victim.placement.account}/${victim.placement.region}`, openedAt: opened?.at, status: "not-opened", timeline: [], artifacts: [], failures: [], states: [], memoryTools: [], missing: [],
    };
    if (!opened?.executionArn) {
        report.error = `the tag event opened no case (${JSON.stringify(opened ?? "no event reached the opener")})`;
        progress.finish(victim.instanceId, report.status);
        return report;
    }
    report.executionArn = opened.executionArn;
    const described = await world.clients.security.sfn.send(new DescribeExecutionCommand({ executionArn: opened.executionArn }));
    const machine = world.security.resources.find((r) => r.type === "aws:sfn/stateMachine:StateMachine" && r.state.arn === described.stateMachineArn);
    if (!machine) {
        report.error = `no deployed state machine ${described.stateMachineArn}`;
        progress.finish(victim.instanceId, "failed");
        return report;
    }
    const definition = JSON.parse(machine.inputs.definition);
    let terminated = false;
    const handlers: Record<string, (input: Json) => Promise<unknown>> = {};
    const waits: Record<string, number> = {};
    for (const [name, state] of allStates(definition)) {
        if (state.Type === "Wait" && !options.realWaits) {
            // The deployed durations, shortened: moto's snapshots complete at once; an SSM agent reconnecting or a
            // capture running is looked at every second (a floor, so that a polling storm would show in the call counts).
            waits[name] = 1000;
        }
        if (state.Type !== "Task") {
            continue;
        }
        const task = taskHandler(world, state);
        handlers[name] = async (input) => {
            progress.stage(victim.instanceId, name);
            report.states.push(name);
            const out = await task(input);
            if (options.scenarios.includes("terminated") && !terminated && JSON.stringify(out).includes("\"step\":\"isolation\"")) {
                terminated = true;
                await terminate(world, victim.instanceId);
            }
            return out;
        };
    }
    try {
        const { StateMachine } = await import("aws-local-stepfunctions");
        const execution = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: false } }).run(JSON.parse(described.input ?? "{}"), {
            overrides: { taskResourceLocalHandlers: handlers as never, waitTimeOverrides: waits, retryIntervalOverrides: Object.fromEntries(Object.keys(handlers).map((n) => [n, 100])) },
            context: { Execution: { Id: opened.executionArn, Name: opened.executionArn.split(":").pop() }, State: { EnteredTime: new Date().toISOString() } } as never,
        });
        const result = (await execution.result) as { outcome?: string };
        report.status = result?.outcome ?? "unknown";
    } catch (err) {
        report.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        report.status = "failed";
    }
    // moto only recorded the execution (it runs here): its record would say RUNNING for ever, which the case
    // commands read as "still acquiring". The run has ended, so the record is stopped.
    await world.clients.security.sfn.send(new StopExecutionCommand({ executionArn: opened.executionArn, cause: "drill: run by aws-local-stepfunctions" })).catch(() => undefined);
    await readManifest(world, report, triggeredAt);
    // The verdict is the instance's own, not the record's: a case whose record failed may still have contained it.
    report.outcome = report.status;
    report.onInstance = await judgeOnInstance(world, victim.instanceId, report.caseId);
    if (report.onInstance.contained) {
        report.status = "contained";
    } else if (report.status === "contained") {
        report.status = "uncontained";
    }
    progress.finish(victim.instanceId, report.status);
    return report;
}

/** The engine's settings as its deployed functions have them (partition, member-side names). */
function engineSettings(world: World): EngineSettings {
    for (const cb of Object.values(world.callbacks)) {
        try {
            const settings = JSON.parse(cb.environment.IRF_SETTINGS ?? "{}") as EngineSettings;
            if (settings?.member?.containedProfileName) {
                return settings;
            }
        } catch {
            // not this one
        }
    }
    throw new Error("no deployed function carries the engine's settings (IRF_SETTINGS)");
}

/**
 * Whether the victim is contained, read from the instance itself (containmentOnInstance, as the member
 * account's root sees it): the contained group alone and without rules on every ENI, the deny-all profile,
 * the workload role's and the IR role's credentials denied to it, the tags naming `caseId`.
 */
async function judgeOnInstance(world: World, instanceId: string, caseId: string | null): Promise<InstanceVerdict> {
    const settings = engineSettings(world);
    const { clients: member, account, region } = placementOf(world, instanceId);
    try {
        const view = await containmentOnInstance({ ec2: member.ec2, iam: member.iam }, { accountId: account, region, instanceId }, settings, {
            revokedRoleNames: [...(world.workloadRole ? [world.workloadRole] : []), settings.member.irProfileName],
            ...(caseId ? { caseId } : {}),
        });
        return { contained: view.contained, open: view.open };
    } catch (err) {
        return { contained: false, open: [`the instance could not be read: ${err instanceof Error ? err.message : String(err)}`] };
    }
}

// ------------------------------------------------------------------------------------------ --scenario release

/**
 * A responder of the security account, as docs/runbook.md "Case commands" describes one: a role under the responders'
 * path (which the evidence bucket, its key and the member release role trust) with the case commands' policy,
 * assumed by the account's root; the case commands' clients act with its session, through the strict layer.
 */
async function responderSession(world: World): Promise<ResponderSession> {
    world.responder ??= (async () => {
        const security = world.clients.security;
        const partition = "aws";
        const name = `ir-forensics-drill-responder-${randomBytes(3).toString("hex")}`;
        const role = await security.iam.send(new CreateRoleCommand({
            RoleName: name, Path: "/ir-forensics/responder/",
            AssumeRolePolicyDocument: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { AWS: `arn:${partition}:iam::${world.accounts.security}:root` }, Action: "sts:AssumeRole" }],
            }),
        }));
        const config: CaseCommandConfig = {
            table: String(world.security.outputs.casesTableName),
            bucket: String(world.forensic.outputs.evidenceBucketName),
            stateMachineArn: String(world.security.outputs.stateMachineArn),
            evidenceKeyArn: String(world.forensic.outputs.evidenceKeyArn),
            partition,
            member: engineSettings(world).member,
        };
        const releaserArn = `arn:${partition}:iam::${world.accounts.member}:role${DEFAULT_RELEASER_ROLE}`;
        await security.iam.send(new PutRolePolicyCommand({
            RoleName: name, PolicyName: "ir-forensics-case-commands",
            PolicyDocument: JSON.stringify({
                Version: "2012-10-17",
                Statement: operatorStatements({
                    partition, securityAccount: world.accounts.security, region: String(world.security.outputs.region ?? DEFAULT_DRILL_REGION),
                    table: config.table, stateMachineArn: config.stateMachineArn as string, bucket: config.bucket, evidenceKeyArn: config.evidenceKeyArn as string,
                    evidenceRegion: String(world.forensic.outputs.region ?? DEFAULT_DRILL_REGION), memberRoleArns: [releaserArn],
                }),
            }),
        }));
        const assumed = (await security.sts.send(new AssumeRoleCommand({ RoleArn: role.Role?.Arn, RoleSessionName: "drill-responder" }))).Credentials;
        const credentials = { accessKeyId: assumed?.AccessKeyId ?? "", secretAccessKey: assumed?.SecretAccessKey ?? "", sessionToken: assumed?.SessionToken };
        const endpoint = world.emulator.endpoint;
        const region = String(world.security.outputs.region ?? DEFAULT_DRILL_REGION);
        const base = { endpoint, region, credentials };
        const sts = new STSClient(base);
        const clients: CaseCommandClients = {
            dynamodb: new DynamoDBClient(base),
            sfn: new SFNClient(base),
            s3: new S3Client({ ...base, region: String(world.forensic.outputs.region ?? region), forcePathStyle: true }),
            sts,
            member: async (instance, sessionName) => {
                const c = { endpoint, region: instance.region, credentials: await assumedCredentials(sts, `arn:${partition}:iam::${instance.accountId}:role${DEFAULT_RELEASER_ROLE}`, sessionName) };
                return {
                    ec2: new EC2Client(c), autoScaling: new AutoScalingClient(c), elbv2: new ElasticLoadBalancingV2Client(c),
                    elb: new ElasticLoadBalancingClient(c), iam: new IAMClient(c),
                };
            },
        };
        return { roleArn: String(role.Role?.Arn), credentials, clients, config };
    })();
    return world.responder;
}

const DEFAULT_DRILL_REGION = "eu-west-1";

/**
 * Where the victim differs from what its case recorded (releasePlan): each ENI's groups, the instance
 * profile, the revocation entries, the `Released` tag. Read from the instance as the member's root sees it.
 */
async function differencesFromRecord(world: World, manifest: CaseManifest, instanceId: string): Promise<string[]> {
    const { member } = world.clients;
    const plan = releasePlan(manifest, instanceId);
    const problems: string[] = [];
    const instance = (await member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0];
    for (const eni of instance?.NetworkInterfaces ?? []) {
        const now = (eni.Groups ?? []).map((g) => g.GroupId ?? "").sort();
        const recorded = [...(plan.groups[eni.NetworkInterfaceId ?? ""] ?? [])].sort();
        if (JSON.stringify(now) !== JSON.stringify(recorded)) {
            problems.push(`ENI ${eni.NetworkInterfaceId} in ${now.join(",")}, recorded ${recorded.join(",") || "nothing"}`);
        }
    }
    const association = (await member.ec2.send(new DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: "instance-id", Values: [instanceId] }] })))
        .IamInstanceProfileAssociations?.find((a) => a.State === "associated" || a.State === "associating");
    const profileNow = association?.IamInstanceProfile?.Arn?.split("/").pop() ?? null;
    const profileRecorded = plan.profile?.profileArn.split("/").pop() ?? null;
    if (profileNow !== profileRecorded) {
        problems.push(`instance profile ${profileNow ?? "none"}, recorded ${profileRecorded ?? "none"}`);
    }
    if (plan.revokedRoles.length === 0) {
        problems.push("the case recorded no revoked role (containment denies the workload role's credentials)");
    }
    const arn = `arn:aws:ec2:${world.accounts.region}:${world.accounts.member}:instance/${instanceId}`;
    for (const role of plan.revokedRoles) {
        if (await isInstanceRevoked(member.iam, role, arn)) {
            problems.push(`role ${role} still denies its credentials to ${instanceId}`);
        }
    }
    const tags = Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key, t.Value]));
    if (tags[STATUS_TAG] !== "Released") {
        problems.push(`tag ${STATUS_TAG} is ${tags[STATUS_TAG] ?? "absent"}, not Released`);
    }
    return problems;
}

/**
 * --scenario release: each contained victim released through the case commands' library, the instance checked
 * against its case's record, then tagged `Contain` again, which must open a new contain case that holds on
 * the instance.
 */
async function releaseAndContainAgain(options: DrillOptions, world: World, victims: Victim[], reports: CaseReport[], progress: Progress): Promise<void> {
    const session = await responderSession(world);
    await Promise.all(reports.map(async (r) => {
        if (r.status !== "contained" || !r.caseId) {
            return;
        }
        const started = Date.now();
        const changes: string[] = [];
        progress.stage(r.instanceId, "Release");
        try {
            const done = await releaseCase(session.clients, session.config, r.caseId, {
                reason: "drill: release path rehearsal", onChange: (c) => changes.push(`${c.action} ${c.target}`),
            });
            const ms = Date.now() - started;
            const record = await readCase(session.clients, session.config, r.caseId);
            const problems = await differencesFromRecord(world, record.manifest as CaseManifest, r.instanceId);
            r.release = { released: true, ms, changes, kept: done.release.kept, restored: problems.length === 0, problems };
        } catch (err) {
            r.release = { released: false, ms: Date.now() - started, changes, kept: [], restored: false, problems: [], error: err instanceof Error ? err.message : String(err) };
        }
    }));
    const again = victims.filter((v) => reports.find((r) => r.instanceId === v.instanceId)?.release?.released);
    if (again.length === 0) {
        return;
    }
    const { opened, triggeredAt } = await triggerCases(world, again, "Contain");
    await Promise.all(again.map(async (v) => {
        const r = reports.find((x) => x.instanceId === v.instanceId) as CaseReport;
        const answer = opened.get(v.instanceId);
        const second = await runCase(options, world, v, answer, triggeredAt.get(v.instanceId) as number, progress);
        const fresh = second.caseId !== null && second.caseId !== r.caseId;
        (r.release as ReleaseReport).recontain = {
            caseId: second.caseId, status: fresh ? second.status : "not-opened", outcome: second.outcome, onInstance: second.onInstance,
            ...(second.error || !fresh ? { error: second.error ?? `the Contain tag opened no new case (${JSON.stringify(answer ?? null)})` } : {}),
        };
    }));
}

/** A Task state's handler: the deployed callback its Lambda ARN names, or the optimized integration it uses. */
function taskHandler(world: World, state: Json): (input: Json) => Promise<unknown> {
    const resource = String(state.Resource ?? "");
    const direct = world.handlers[resource];
    if (direct) {
        return (input) => direct(input, {});
    }
    if (/^arn:aws:states:::lambda:invoke/.test(resource)) {
        return async (params: { FunctionName?: string; Payload?: unknown }) => {
            const found = Object.entries(world.handlers).find(([arn]) => arn === params.FunctionName || arn.endsWith(`:function:${params.FunctionName}`));
            if (!found) {
                throw new Error(`no deployed function ${params.FunctionName}`);
            }
            // Lambda is not emulated over HTTP: the state machine role's lambda:InvokeFunction is checked here.
            const principal = world.machine.principal;
            if (principal && !world.emulator.layer.lenient) {
                const decision = await world.emulator.layer.authorize(principal, { action: "lambda:InvokeFunction", resource: found[0], resourceAccount: found[0].split(":")[4], context: {} }, found[0].split(":")[3]);
                if (!decision.allowed) {
                    throw Object.assign(new Error(`User: ${principal.arn} is not authorized to perform: lambda:InvokeFunction on resource: ${found[0]} because ${decision.reason}`), { name: "Lambda.AccessDeniedException" });
                }
            }
            return { StatusCode: 200, Payload: await found[1](params.Payload, {}) };
        };
    }
    if (/^arn:aws:states:::sns:publish/.test(resource)) {
        return async (params: Json) => world.machine.sns.send(new PublishCommand(params as never));
    }
    if (/^arn:aws:states:::sqs:sendMessage/.test(resource)) {
        return async (params: Json) => world.machine.sqs.send(new SendMessageCommand(params as never));
    }
    if (/^arn:aws:states:::events:putEvents/.test(resource)) {
        return async (params: Json) => world.machine.events.send(new PutEventsCommand(params as never));
    }
    return async () => {
        throw new Error(`the drill cannot run Task resource ${resource}`);
    };
}

/** Counts the invocations of each function in flight, and keeps the peaks. */
class ConcurrencyMeter {
    private inFlight = 0;
    private peak = 0;
    private readonly current = new Map<string, number>();
    private readonly peakByFunction: Record<string, number> = {};

    track(name: string, handler: LambdaHandler): LambdaHandler {
        return async (event, context) => {
            this.inFlight++;
            this.peak = Math.max(this.peak, this.inFlight);
            const n = (this.current.get(name) ?? 0) + 1;
            this.current.set(name, n);
            this.peakByFunction[name] = Math.max(this.peakByFunction[name] ?? 0, n);
            try {
                return await handler(event, context);
            } finally {
                this.inFlight--;
                this.current.set(name, (this.current.get(name) ?? 1) - 1);
            }
        };
    }

    peaks(): { total: number; byFunction: Record<string, number> } {
        return { total: this.peak, byFunction: { ...this.peakByFunction } };
    }
}

/** The most of `times` (ms) within any one second. */
function peakPerSecond(times: number[]): number {
    const sorted = [...times].sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0, j = 0; i < sorted.length; i++) {
        while (sorted[i] - sorted[j] >= 1000) {
            j++;
        }
        peak = Math.max(peak, i - j + 1);
    }
    return peak;
}

/** The victim's placement (a victim opened by a hook that the drill did not launch: the first placement). */
function placementOf(world: World, instanceId: string): Placement {
    return world.placementOf.get(instanceId) ?? world.placements[0];
}

/** An operator lifts the termination protection isolation set, and terminates the victim mid-case. */
async function terminate(world: World, instanceId: string): Promise<void> {
    const member = placementOf(world, instanceId).clients;
    await member.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, DisableApiTermination: { Value: false } }));
    await member.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    world.host.removeHost(instanceId);
}

async function readManifest(world: World, report: CaseReport, triggeredAt: number): Promise<void> {
    if (!report.caseId) {
        return;
    }
    const bucket = String(world.forensic.outputs.evidenceBucketName);
    report.manifestKey = `cases/${report.caseId}/manifest.json`;
    let manifest: Json;
    try {
        const got = await world.investigator.send(new GetObjectCommand({ Bucket: bucket, Key: report.manifestKey }));
        manifest = JSON.parse(await got.Body?.transformToString() ?? "{}");
        report.record = "bucket";
    } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        // When the bucket refused the manifest, the case table keeps the record (`cases show` reads it too).
        const fallback = await getCaseRecord(world.clients.security.dynamodb, String(world.security.outputs.casesTableName), report.caseId).catch(() => undefined);
        if (!fallback) {
            report.record = "none";
            report.failures.push({ step: "drill", error: `manifest unreadable: ${why}; no fallback record in the case table` });
            return;
        }
        manifest = fallback.record as Json;
        report.record = "case-table";
        report.failures.push({ step: "record", error: `no manifest in the evidence bucket (${why}); the case table keeps the record: ${fallback.writeError}` });
    }
    if (report.status === "failed" && manifest.status) {
        report.status = manifest.status;
    }
    report.failures.push(...(manifest.failures ?? []));
    const steps: Json[] = manifest.steps ?? [];
    report.timeline = STAGES.map((stage) => {
        const s = steps.filter((x) => x.step === stage).pop();
        const calls = steps.filter((x) => x.step === stage).flatMap((x) => x.actions ?? []).filter((a: Json) => /^[a-z0-9-]+:[A-Z]/.test(a.action)).length;
        return { stage: TIMELINE_LABELS[stage], ms: s?.endedAt ? Date.parse(s.endedAt) - triggeredAt : null, calls, status: s?.status ?? "not-run" };
    });
    report.memoryTools = steps.filter((x) => x.step === "memory").flatMap((x) => x.detail?.attempts ?? []).filter((a: Json) => a.report).map((a: Json) => a.report.tool ?? null);
    report.artifacts = (manifest.artifacts ?? []).map((a: Json) => ({ kind: a.kind, key: a.key, versionId: a.versionId, bytes: a.bytes, sha256: a.sha256, verification: "missing" as const }));
}

/** Every artifact's SHA-256 as stored in the evidence bucket, against the manifest's. */
/** The case's artifacts checked as `npm run verify` checks them, plus memory images against the victim's image. */
async function verifyArtifacts(world: World, report: CaseReport): Promise<ArtifactCheck[]> {
    const bucket = String(world.forensic.outputs.evidenceBucketName);
    const verdicts: Record<ArtifactVerdict, ArtifactCheck["verification"]> = {
        "verified": "verified", "mismatch": "mismatch", "missing": "missing", "no-digest": "no-digest", "snapshot-ok": "snapshot-verified",
        "snapshot-missing": "missing", "snapshot-not-evidenced": "not-evidenced", "unchecked": "missing",
    };
    const checked = report.caseId
        ? (await verifyCase(report.caseId, { s3: world.investigator, bucket, ec2: world.clients.forensic.ec2 })).artifacts
        : [];
    const isHostImage = async (a: ArtifactCheck, stored: string | undefined): Promise<boolean> => {
        if (stored === undefined) {
            return false;
        }
        if (world.hooks.isHostImage) {
            return world.hooks.isHostImage(report.instanceId, { bucket, key: a.key ?? "", versionId: a.versionId, sha256: stored }, world.investigator);
        }
        return stored === world.images.get(report.instanceId);
    };
    const matches = await Promise.all(report.artifacts.map((a, i) => (a.kind === "memory" ? isHostImage(a, checked[i]?.found?.sha256) : Promise.resolve(undefined))));
    return report.artifacts.map((a, i) => {
        const c = checked[i];
        const stored = c?.found?.sha256;
        return {
            ...a,
            verification: c ? verdicts[c.verdict] : "missing",
            ...(stored ? { storedSha256: stored } : {}),
            ...(a.kind === "memory" ? { matchesHostImage: matches[i] } : {}),
            ...(a.kind === "disk-snapshot" && c?.target ? { key: c.target } : {}),
        };
    });
}

// ------------------------------------------------------------------------------------------ output

function printReport(report: DrillReport, write: (line: string) => void): void {
    const s = report.summary;
    write("");
    for (const c of report.cases) {
        write(`case ${c.caseId ?? "(none)"}  instance ${c.instanceId}  ${c.status.toUpperCase()}`);
        write(`  ${"trigger".padEnd(10)} ${"0 ms".padStart(10)}`);
        for (const t of c.timeline) {
            write(`  ${t.stage.padEnd(10)} ${(t.ms === null ? "-" : `${t.ms} ms`).padStart(10)}  ${String(t.calls).padStart(3)} AWS calls  ${t.status}`);
        }
        if (c.memoryTools.length > 0) {
            write(`  memory by  ${c.memoryTools.map((t) => t ?? "nothing").join(", then ")}`);
        }
        if (c.manifestKey) {
            write(`  manifest   ${c.manifestKey}`);
        }
        for (const a of c.artifacts) {
            const whole = a.matchesHostImage === undefined ? "" : a.matchesHostImage ? ", the host's whole image" : ", NOT the host's whole image";
            write(`  artifact   ${a.kind.padEnd(13)} ${a.key ?? "(snapshot)"}  ${a.bytes ?? "-"} B  sha256 ${a.sha256?.slice(0, 16) ?? "-"}…  ${a.verification}${whole}`);
        }
        for (const f of c.failures) {
            write(`  failure    ${f.step}${f.action ? ` ${f.action}` : ""}: ${f.error}`);
        }
        for (const m of c.missing) {
            write(`  MISSING    ${m.kind}: ${m.reason}`);
        }
        if (c.onInstance) {
            write(`  instance   ${c.onInstance.contained ? "contained (read from the instance)" : `NOT contained: ${c.onInstance.open.join("; ")}`}`
                + `${c.outcome && c.outcome !== c.status ? `; the execution said ${c.outcome}` : ""}`);
        }
        if (c.release) {
            const r = c.release;
            write(`  release    ${r.released ? `released in ${r.ms} ms (${r.changes.length} changes)` : `FAILED: ${r.error}`}; `
                + `${r.restored ? "the recorded state is back on the instance" : `NOT restored: ${r.problems.join("; ") || r.error}`}`);
            if (r.recontain) {
                write(`  contain    again: case ${r.recontain.caseId ?? "(none)"} ${r.recontain.status.toUpperCase()}${r.recontain.error ? ` (${r.recontain.error})` : ""}`);
            }
        }
        if (c.error) {
            write(`  error      ${c.error}`);
        }
    }
    write("");
    write(`summary: ${s.contained}/${s.instances} contained${s.released !== undefined ? `, ${s.released} released and ${s.recontained} contained again` : ""}, `
        + `${s.artifactsVerified}/${s.artifacts} artifacts verified in the evidence bucket` +
        `${s.scenarios.length ? `, scenarios ${s.scenarios.join(", ")}` : ""}; deploy ${(s.deployMs / 1000).toFixed(1)} s, response ${(s.runMs / 1000).toFixed(1)} s, ` +
        `${s.engineCalls} engine API calls${s.injectedFaults ? ` (${s.injectedFaults} faults injected)` : ""}`);
    const refused = Object.entries(s.strict.refused).map(([rule, n]) => `${rule} ${n}`).join(", ");
    const requests = Object.values(s.strict.requests).reduce((a, b) => a + b, 0);
    write(s.strict.lenient
        ? `strict layer: OFF (--lenient): ${requests} requests passed unchecked`
        : `strict layer: ${requests} requests checked, ${Object.values(s.strict.refused).reduce((a, b) => a + b, 0)} refused${refused ? ` (${refused})` : ""}; `
            + `${s.refusedConnections.length} connection(s) refused by the victims' networks; log ${s.strict.log}`);
    write(s.ok ? "drill: OK" : "drill: FAILED (a case ended uncontained, or lacks evidence it should hold, or evidence did not verify, or a release or the containment after it failed)");
}

async function main(): Promise<number> {
    let options: DrillOptions;
    try {
        options = parseDrillArgs(process.argv.slice(2));
    } catch (err) {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        return err instanceof UsageError && process.argv.includes("--help") ? 0 : 2;
    }
    const progress = new Progress(process.stdout.isTTY === true && !options.json, options.json ? process.stderr : process.stdout);
    const onSignal = (signal: NodeJS.Signals) => {
        interrupted = true;
        // Whoever ends the process first (the cleanup below, or Pulumi's runtime on a deploy cut short), the
        // exit code says "interrupted"; moto's launcher and the host emulator kill their children on exit.
        process.on("exit", () => {
            process.exitCode = 130;
        });
        process.stderr.write(`drill: ${signal}, stopping moto and the host emulator\n`);
        void (activeCleanup?.() ?? Promise.resolve()).finally(() => process.exit(130));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    fs.mkdirSync(cachePath(), { recursive: true });
    const report = await runDrill(options, progress);
    if (options.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
        printReport(report, (line) => process.stdout.write(`${line}\n`));
    }
    return report.summary.ok ? 0 : 1;
}

/** Set on Ctrl-C: the signal handler exits (130) once everything is stopped, whatever the run then throws. */
let interrupted = false;

/** `npm run drill`: runs the drill with the command line's options; exit 0 OK, 1 a failed check, 2 usage or error, 130 interrupted. */
export function cli(): void {
    main().then((code) => interrupted || process.exit(code), (err: unknown) => {
        if (interrupted) {
            return;
        }
        process.stderr.write(`drill: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
        process.exit(2);
    });
}
