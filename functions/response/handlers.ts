/**
 * Lambda entry points of the engine, one `callbackFactory` each: they run once per container, read the
 * deployed settings, build the SDK clients and return the handler that calls a plain function of this
 * folder. Nothing here holds a client at module level (Pulumi serializes what a callback references).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand, S3Client, UploadPartCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import { DiskRound, advanceDisk, beginDisk, finishDisk } from "../acquisition/diskBranch";
import { MemoryRound, advanceMemory, beginMemory, finishMemory } from "../acquisition/memoryBranch";
import { assumedCredentials, assumingMemberClients } from "../shared/aws";
import type { RuntimeSettings } from "../shared/settings";
import { AlarmEvent, forwardAlarm } from "./alarm";
import { DEPLOY_SOURCE, KeeperReport, keepEngineGroups, keeperOutcome } from "./groupKeeper";
import { openCase } from "./cases";
import { contain } from "./containment";
import { isolate } from "./isolation";
import { identifyTrigger } from "./identity";
import { closeCase, recordCase } from "./record";
import { settingsFromEnvironment } from "../shared/runtime";
import { tagFromFinding } from "./securityHub";
import { postToSlack, readWebhookUrl, SlackSettings } from "./slack";
import { triage } from "./triage";
import { AcquisitionResult, CaseState } from "../shared/types";

type Handler<E, R> = (event: E, context: unknown) => Promise<R>;

export function openCaseHandler(): Handler<unknown, unknown> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = {
        dynamodb: new DynamoDBClient({}),
        sfn: new SFNClient({}),
        sns: new SNSClient({}),
        settings,
        memberAccounts: settings.memberAccounts,
        guardDutyMinSeverity: settings.guardDutyMinSeverity,
        member: assumingMemberClients(new STSClient({}), settings),
    };
    return async (event) => openCase(event, deps);
}

export function triageHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { member: assumingMemberClients(new STSClient({}), settings), s3: new S3Client({ region: settings.evidenceRegion }), settings };
    return async (state) => triage(state, deps);
}

export function isolateHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { member: assumingMemberClients(new STSClient({}), settings), sns: new SNSClient({}), settings };
    return async (state) => isolate(state, deps);
}

export function recordHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { s3: new S3Client({ region: settings.evidenceRegion }), dynamodb: new DynamoDBClient({}), settings };
    return async (state) => recordCase(state, deps);
}

export function containHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = {
        member: assumingMemberClients(new STSClient({}), settings),
        dynamodb: new DynamoDBClient({}),
        sns: new SNSClient({}),
        s3: new S3Client({ region: settings.evidenceRegion }),
        settings,
    };
    return async (state) => contain(state, deps);
}

export function closeHandler(): Handler<CaseState, CaseState> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { s3: new S3Client({ region: settings.evidenceRegion }), dynamodb: new DynamoDBClient({}), sns: new SNSClient({}), settings };
    const identity = { member: assumingMemberClients(new STSClient({}), settings), engineRoleName: settings.member.responderRoleName };
    // Who set the tag: CloudTrail has usually delivered the event by the time the case closes.
    return async (state) => closeCase(await identifyTrigger(state, identity), deps);
}

/** What the acquisition Task states send: the case (begin), or the branch's document (advance, finish). */
export type BranchEvent<P> = { action: "begin"; case: CaseState } | { action: "advance" | "finish"; progress: P };

function required<T>(value: T | undefined, name: string): T {
    if (value === undefined) {
        throw new Error(`${name} missing from the settings`);
    }
    return value;
}

export function memoryHandler(): Handler<BranchEvent<MemoryRound>, MemoryRound | AcquisitionResult> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const memory = required(settings.memory, "memory");
    const member = assumingMemberClients(new STSClient({}), settings);
    // Presigned URLs must not carry a checksum of an empty body (the host sends each part's Content-MD5).
    const evidence = new S3Client({ region: settings.evidenceRegion, requestChecksumCalculation: "WHEN_REQUIRED" });
    const store = new S3Client({ requestChecksumCalculation: "WHEN_REQUIRED" });
    const deps = {
        member,
        ssmFor: async (instance: CaseState["instance"]) => required((await member(instance, `irf-memory-${instance.instanceId}`)).ssm, "member ssm client"),
        s3: evidence,
        store,
        presign: (command: GetObjectCommand | UploadPartCommand, expiresIn: number) => command instanceof UploadPartCommand
            ? getSignedUrl(evidence, command, { expiresIn })
            : getSignedUrl(command.input.Bucket === memory.moduleStoreBucket ? store : evidence, command, { expiresIn }),
        settings: { ...settings, memory },
    };
    const requests = memory.buildRequestBus ? { events: new EventBridgeClient({}), busName: memory.buildRequestBus } : undefined;
    return async (event) => event.action === "begin" ? beginMemory(event.case, deps)
        : event.action === "advance" ? advanceMemory(event.progress, deps) : finishMemory(event.progress, requests);
}

export function diskHandler(): Handler<BranchEvent<DiskRound>, DiskRound | AcquisitionResult> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const disk = required(settings.disk, "disk");
    const sts = new STSClient({});
    const deps = {
        member: assumingMemberClients(sts, settings),
        // The evidence copies are made by the forensic account's copier role, in the evidence region.
        forensicEc2: async () => new EC2Client({
            region: settings.evidenceRegion, maxAttempts: 5, credentials: await assumedCredentials(sts, disk.copierRoleArn, "irf-evidence-copy"),
        }),
        settings: { ...settings, disk, forensicRegion: settings.evidenceRegion },
    };
    return async (event) => event.action === "begin" ? beginDisk(event.case, deps)
        : event.action === "advance" ? advanceDisk(event.progress, deps) : finishDisk(event.progress);
}

export function securityHubHandler(): Handler<unknown, unknown> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    if (!settings.securityHubActions) {
        throw new Error("securityHubActions missing from the settings");
    }
    const deps = { member: assumingMemberClients(new STSClient({}), settings), actions: settings.securityHubActions };
    return async (event) => tagFromFinding(event, deps);
}

export function alarmHandler(): Handler<AlarmEvent, unknown> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { sns: new SNSClient({}), topicArn: settings.topicArn, stateMachineArn: settings.stateMachineArn };
    return async (event) => forwardAlarm(event, deps);
}

/** The group keeper (deploy-time invocation and schedule): every VPC of every member account and region. */
export function groupKeeperHandler(): Handler<unknown, KeeperReport> {
    const settings = settingsFromEnvironment<RuntimeSettings>();
    const deps = { member: assumingMemberClients(new STSClient({}), settings), settings };
    const targets = Object.entries(settings.memberRegions ?? {}).flatMap(([accountId, regions]) => regions.map((region) => ({ accountId, region })));
    return async (event) => {
        const report = await keepEngineGroups(targets, deps);
        const { summary, error } = keeperOutcome(report);
        console.log(JSON.stringify(summary));
        // At deploy time a failure is reported in the invocation's result, never fails `pulumi up` (cases
        // create missing groups themselves); a scheduled run fails, so the function's error metric shows it.
        if (error && (event as { source?: string } | undefined)?.source !== DEPLOY_SOURCE) {
            throw error;
        }
        return report;
    };
}

export function slackHandler(): Handler<unknown, unknown> {
    const { webhookParameter } = settingsFromEnvironment<SlackSettings>();
    const ssm = new SSMClient({});
    // Read once per container; a failed read is retried by the next invocation.
    let webhook: Promise<string> | undefined;
    return async (event) => {
        webhook ??= readWebhookUrl(ssm, webhookParameter).catch((err: unknown) => {
            webhook = undefined;
            throw err;
        });
        return postToSlack(event as Parameters<typeof postToSlack>[0], { webhookUrl: await webhook });
    };
}
