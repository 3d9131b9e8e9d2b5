/**
 * Turns an incoming EventBridge event into a trigger for the case opener, or says why not.
 * Three answers: `trigger` (open a case), `ignored` (a valid event the engine does not act on, e.g. an
 * unknown tag value: reported, not acted on) and `rejected` (malformed or from outside the organization:
 * logged only). Never throws: the opener must answer every event, whatever its shape.
 */
import { InstanceRef, Requested, STATUS_TAG, TriggerInfo } from "../shared/types";

export interface TriggerPolicy {
    /** Accounts whose instances the engine may act on. */
    memberAccounts: string[];
    /** GuardDuty findings at or above this severity open a case; undefined = GuardDuty trigger off. */
    guardDutyMinSeverity?: number;
}

export type ParsedTrigger =
    | { kind: "trigger"; instance: InstanceRef; trigger: TriggerInfo }
    | { kind: "ignored"; reason: string; instance?: InstanceRef; rawValue?: string }
    | { kind: "rejected"; reason: string };

type Rejected = Extract<ParsedTrigger, { kind: "rejected" }>;
type Json = Record<string, unknown>;

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const INSTANCE_ARN = /^arn:aws[a-z-]*:ec2:([^:]*):([^:]*):instance\/(.*)$/;

export const TAG_SOURCE = "aws.tag";
export const TAG_DETAIL_TYPE = "Tag Change on Resource";
export const GUARDDUTY_SOURCE = "aws.guardduty";
export const GUARDDUTY_DETAIL_TYPE = "GuardDuty Finding";
/** AWS Security Hub (the OCSF one, beside Security Hub CSPM): one OCSF finding per event. */
export const SECURITY_HUB_SOURCE = "aws.securityhub";
export const OCSF_FINDINGS_DETAIL_TYPE = "Findings Imported V2";
/** How Security Hub's OCSF findings name an EC2 instance resource. */
export const OCSF_EC2_INSTANCE = "AWS::EC2::Instance";

/**
 * The OCSF `severity_id` that GuardDuty's numeric threshold corresponds to (GuardDuty's bands: low 1–3.9,
 * medium 4–6.9, high 7–8.9, critical 9–10; OCSF: 2 low, 3 medium, 4 high, 5 critical).
 */
export function ocsfSeverityFloor(guardDutyMinSeverity: number): number {
    return guardDutyMinSeverity >= 9 ? 5 : guardDutyMinSeverity >= 7 ? 4 : guardDutyMinSeverity >= 4 ? 3 : 2;
}

/**
 * Where a forwarder that re-shapes the event (or a drill) may put the instance id when the event has no
 * `resources` (moto drops them on bus-to-bus forwarding; AWS keeps them).
 */
export const DETAIL_INSTANCE_ID = "instance-id";

export function parseTrigger(event: unknown, policy: TriggerPolicy): ParsedTrigger {
    try {
        if (!isObject(event)) {
            return reject("event is not an object");
        }
        const key = `${String(event.source)}/${String(event["detail-type"])}`;
        if (key === `${TAG_SOURCE}/${TAG_DETAIL_TYPE}`) {
            return fromTagChange(event, policy);
        }
        if (key === `${GUARDDUTY_SOURCE}/${GUARDDUTY_DETAIL_TYPE}`) {
            return fromGuardDuty(event, policy);
        }
        if (key === `${SECURITY_HUB_SOURCE}/${OCSF_FINDINGS_DETAIL_TYPE}`) {
            return fromOcsfFinding(event, policy);
        }
        return reject(`unknown event source/detail-type: ${key.slice(0, 200)}`);
    } catch (err) {
        // Only a hostile object (throwing getters) gets here; still an answer, not an exception.
        return reject(`unreadable event: ${err instanceof Error ? err.message : String(err)}`);
    }
}

/** Checks an instance reference field by field and against the member accounts, naming the first bad field. */
export function validateInstance(ref: Partial<InstanceRef>, memberAccounts: string[]): InstanceRef | Rejected {
    const problem = malformedInstance(ref);
    if (problem) {
        return reject(problem);
    }
    const { accountId, region, instanceId } = ref as InstanceRef;
    return memberAccounts.includes(accountId) ? { accountId, region, instanceId } : reject(`account ${accountId} is not a member account`);
}

/** Why `ref` is not a well-formed instance reference, or undefined when it is. */
export function malformedInstance(ref: Partial<InstanceRef>): string | undefined {
    const { accountId, region, instanceId } = ref;
    if (typeof instanceId !== "string" || !INSTANCE_ID.test(instanceId)) {
        return `malformed instance id: ${show(instanceId)}`;
    }
    if (typeof accountId !== "string" || !ACCOUNT_ID.test(accountId)) {
        return `malformed account id: ${show(accountId)}`;
    }
    if (typeof region !== "string" || !REGION.test(region)) {
        return `malformed region: ${show(region)}`;
    }
    return undefined;
}

/** Account, region and instance id of an EC2 instance ARN (not validated), or undefined. */
export function parseInstanceArn(arn: unknown): Partial<InstanceRef> | undefined {
    const m = typeof arn === "string" ? INSTANCE_ARN.exec(arn) : null;
    return m ? { region: m[1], accountId: m[2], instanceId: m[3] } : undefined;
}

/** Case-insensitive Analyze/Contain (surrounding blanks ignored), else undefined. */
export function requestedAction(value: string): Requested | undefined {
    const v = value.trim().toLowerCase();
    return v === "analyze" || v === "contain" ? v : undefined;
}

function fromTagChange(event: Json, policy: TriggerPolicy): ParsedTrigger {
    const detail = isObject(event.detail) ? event.detail : {};
    if ((detail.service ?? "ec2") !== "ec2" || (detail["resource-type"] ?? "instance") !== "instance") {
        return { kind: "ignored", reason: `not an EC2 instance: ${show(detail.service)}/${show(detail["resource-type"])}` };
    }
    // Validated before anything else, so that events from outside the organization are always rejected.
    const instance = tagEventInstance(event, detail, policy.memberAccounts);
    if ("kind" in instance) {
        return instance;
    }
    if (!Array.isArray(detail["changed-tag-keys"]) || !detail["changed-tag-keys"].includes(STATUS_TAG)) {
        return { kind: "ignored", reason: `${STATUS_TAG} did not change`, instance };
    }
    const tags = isObject(detail.tags) ? detail.tags : {};
    const rawValue = tags[STATUS_TAG];
    if (typeof rawValue !== "string") {
        return { kind: "ignored", reason: `${STATUS_TAG} was removed`, instance };
    }
    const requested = requestedAction(rawValue);
    if (!requested) {
        return { kind: "ignored", reason: `${STATUS_TAG}=${show(rawValue)} is neither Analyze nor Contain`, instance, rawValue };
    }
    return { kind: "trigger", instance, trigger: { ...eventInfo(event), source: "tag", requested, rawValue } };
}

/** The instance from `resources[0]` (AWS) or from the event's account/region and the detail (re-shaped events). */
function tagEventInstance(event: Json, detail: Json, memberAccounts: string[]): InstanceRef | Rejected {
    const first = Array.isArray(event.resources) ? event.resources[0] : undefined;
    const fromArn = parseInstanceArn(first);
    if (first !== undefined && !fromArn) {
        return reject(`resources[0] is not an EC2 instance ARN: ${show(first)}`);
    }
    if (fromArn && event.account !== undefined && event.account !== fromArn.accountId) {
        return reject(`event account ${show(event.account)} differs from the instance ARN's ${show(fromArn.accountId)}`);
    }
    if (!fromArn && event.account === undefined) {
        return reject("event names neither an instance ARN nor an account");
    }
    return validateInstance(fromArn ?? {
        accountId: event.account as string,
        region: event.region as string,
        instanceId: detail[DETAIL_INSTANCE_ID] as string,
    }, memberAccounts);
}

function fromGuardDuty(event: Json, policy: TriggerPolicy): ParsedTrigger {
    const detail = isObject(event.detail) ? event.detail : {};
    const resource = isObject(detail.resource) ? detail.resource : {};
    if (resource.resourceType !== "Instance") {
        return { kind: "ignored", reason: `GuardDuty finding on ${show(resource.resourceType)}, not an instance` };
    }
    const details = isObject(resource.instanceDetails) ? resource.instanceDetails : {};
    const instance = validateInstance({
        accountId: detail.accountId as string,
        region: detail.region as string,
        instanceId: details.instanceId as string,
    }, policy.memberAccounts);
    if ("kind" in instance) {
        return instance;
    }
    const severity = Number(detail.severity);
    if (policy.guardDutyMinSeverity === undefined) {
        return { kind: "ignored", reason: "GuardDuty trigger is disabled", instance };
    }
    if (isSampleFinding(detail)) {
        // Sample findings name a made-up instance: a case would only report it missing.
        return { kind: "ignored", reason: "GuardDuty sample finding", instance };
    }
    if (!Number.isFinite(severity) || severity < policy.guardDutyMinSeverity) {
        return { kind: "ignored", reason: `GuardDuty severity ${show(detail.severity)} below ${policy.guardDutyMinSeverity}`, instance };
    }
    return { kind: "trigger", instance, trigger: { ...eventInfo(event), source: "guardduty", requested: "analyze", finding: detail } };
}

/**
 * A finding of AWS Security Hub in OCSF (a GuardDuty or Inspector finding routed through it) that names an EC2
 * instance: the instance from its resource (ARN in `uid`, or an instance id with the resource's or the cloud's
 * account and region), opened as an analysis when its `severity_id` reaches the GuardDuty threshold's band.
 */
function fromOcsfFinding(event: Json, policy: TriggerPolicy): ParsedTrigger {
    const detail = isObject(event.detail) ? event.detail : {};
    const findings = Array.isArray(detail.findings) ? detail.findings.filter(isObject) : [];
    if (findings.length !== 1) {
        return reject(`a Findings Imported V2 event carries one finding, got ${findings.length}`);
    }
    const finding = findings[0];
    const resources = Array.isArray(finding.resources) ? finding.resources.filter(isObject) : [];
    const resource = resources.find((r) => r.type === OCSF_EC2_INSTANCE);
    if (!resource) {
        return { kind: "ignored", reason: `Security Hub finding on ${show(resources.map((r) => r.type))}, not an EC2 instance` };
    }
    const cloud = isObject(finding.cloud) ? finding.cloud : {};
    const cloudAccount = isObject(cloud.account) ? cloud.account.uid : undefined;
    const owner = isObject(resource.owner) && isObject(resource.owner.account) ? resource.owner.account.uid : undefined;
    const fromArn = parseInstanceArn(resource.uid);
    if (fromArn && cloudAccount !== undefined && cloudAccount !== fromArn.accountId) {
        return reject(`finding account ${show(cloudAccount)} differs from the instance ARN's ${show(fromArn.accountId)}`);
    }
    const instance = validateInstance(fromArn ?? {
        accountId: (owner ?? cloudAccount) as string,
        region: (resource.region ?? cloud.region) as string,
        instanceId: resource.uid as string,
    }, policy.memberAccounts);
    if ("kind" in instance) {
        return instance;
    }
    if (policy.guardDutyMinSeverity === undefined) {
        return { kind: "ignored", reason: "the finding trigger (guardDuty.minSeverity) is disabled", instance };
    }
    const floor = ocsfSeverityFloor(policy.guardDutyMinSeverity);
    const severityId = Number(finding.severity_id);
    if (!Number.isInteger(severityId) || severityId < floor || severityId > 6) {
        return { kind: "ignored", reason: `Security Hub severity_id ${show(finding.severity_id)} below ${floor}`, instance };
    }
    const info = isObject(finding.finding_info) ? finding.finding_info : {};
    const metadata = isObject(finding.metadata) ? finding.metadata : {};
    const product = isObject(metadata.product) ? metadata.product : {};
    return {
        kind: "trigger", instance,
        trigger: {
            ...eventInfo(event), source: "securityhub", requested: "analyze",
            finding: { format: "ocsf", uid: info.uid, title: info.title, types: info.types, product: product.name, severity: finding.severity, severityId },
        },
    };
}

function isSampleFinding(detail: Json): boolean {
    const service = isObject(detail.service) ? detail.service : {};
    const info = isObject(service.additionalInfo) ? service.additionalInfo : {};
    return info.sample === true || info.sample === "true";
}

function eventInfo(event: Json): Pick<TriggerInfo, "eventId" | "eventTime"> {
    return {
        eventId: typeof event.id === "string" ? event.id : "",
        eventTime: typeof event.time === "string" ? event.time : "",
    };
}

function reject(reason: string): Rejected {
    return { kind: "rejected", reason };
}

export function isObject(value: unknown): value is Json {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value for a reason text: quoted, bounded (reasons go to logs and Slack). */
export function show(value: unknown): string {
    return JSON.stringify(value === undefined ? null : value).slice(0, 80);
}
