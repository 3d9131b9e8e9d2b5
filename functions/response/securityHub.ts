/**
 * Security Hub custom actions "analyze" and "contain": tag every EC2 instance of the selected findings
 * with `SecurityIncidentStatus`, in its own account and region. The tag change then flows like a human's
 * tag (member rule → security bus → case opener), so there is one way into the engine.
 */
import { CreateTagsCommand } from "@aws-sdk/client-ec2";
import { errorText, MemberClientFactory } from "../shared/aws";
import { instanceKey } from "./registry";
import { isObject, malformedInstance, parseInstanceArn, show } from "./events";
import { InstanceRef, Requested, STATUS_ANALYZE, STATUS_CONTAIN, STATUS_TAG } from "../shared/types";

export const CUSTOM_ACTION_SOURCE = "aws.securityhub";
export const CUSTOM_ACTION_DETAIL_TYPE = "Security Hub Findings - Custom Action";
export const EC2_INSTANCE_TYPE = "AwsEc2Instance";

export interface SecurityHubDeps {
    member: MemberClientFactory;
    /** Ids of the two custom actions (the last part of their action target ARN). */
    actions: { analyzeId: string; containId: string };
}

export interface ResourceResult {
    findingId?: string;
    resourceType: string;
    resourceId: string;
    instance?: InstanceRef;
    status: "tagged" | "skipped" | "failed";
    reason?: string;
}

export interface TagFromFindingResult {
    outcome: "tagged" | "partial" | "failed" | "no-instances" | "rejected";
    requested?: Requested;
    reason?: string;
    results: ResourceResult[];
}

interface Target {
    findingId?: string;
    resourceId: string;
    instance: InstanceRef;
}

export async function tagFromFinding(event: unknown, deps: SecurityHubDeps): Promise<TagFromFindingResult> {
    const action = customAction(event, deps.actions);
    if (typeof action === "string") {
        console.warn(JSON.stringify({ msg: "securityhub-tag", outcome: "rejected", reason: action }));
        return { outcome: "rejected", reason: action, results: [] };
    }
    const { targets, skipped } = instancesOf(action.findings);
    const session = `securityhub-${action.eventId}`.slice(0, 64);
    const tagged = await Promise.all(targets.map((t) => tagInstance(t, action.requested, session, deps.member)));
    const results = [...tagged, ...skipped];
    const result: TagFromFindingResult = { outcome: overall(tagged), requested: action.requested, results };
    console.log(JSON.stringify({ msg: "securityhub-tag", ...result }));
    return result;
}

/** The requested action and the findings, or why the event is not one of our custom actions. */
function customAction(event: unknown, ids: SecurityHubDeps["actions"]): { requested: Requested; findings: unknown[]; eventId: string } | string {
    if (!isObject(event) || event.source !== CUSTOM_ACTION_SOURCE || event["detail-type"] !== CUSTOM_ACTION_DETAIL_TYPE) {
        return "not a Security Hub custom action event";
    }
    const target = Array.isArray(event.resources) ? event.resources[0] : undefined;
    const requested = typeof target !== "string" ? undefined
        : target.endsWith(`/${ids.analyzeId}`) ? "analyze"
            : target.endsWith(`/${ids.containId}`) ? "contain" : undefined;
    if (!requested) {
        return `unknown custom action: ${show(target)}`;
    }
    const findings = isObject(event.detail) ? event.detail.findings : undefined;
    if (!Array.isArray(findings)) {
        return "event has no detail.findings list";
    }
    return { requested, findings, eventId: typeof event.id === "string" ? event.id : "unknown" };
}

/** The distinct EC2 instances of the findings, and every other resource as skipped. */
function instancesOf(findings: unknown[]): { targets: Target[]; skipped: ResourceResult[] } {
    const targets = new Map<string, Target>();
    const skipped: ResourceResult[] = [];
    for (const finding of findings.filter(isObject)) {
        const findingId = typeof finding.Id === "string" ? finding.Id : undefined;
        for (const resource of Array.isArray(finding.Resources) ? finding.Resources.filter(isObject) : []) {
            const resourceType = String(resource.Type);
            const resourceId = String(resource.Id);
            const skip = (reason: string) => skipped.push({ findingId, resourceType, resourceId, status: "skipped", reason });
            if (resourceType !== EC2_INSTANCE_TYPE) {
                skip("not an EC2 instance");
                continue;
            }
            const ref = parseInstanceArn(resource.Id) ?? {};
            const problem = malformedInstance(ref);
            if (problem) {
                skip(problem);
                continue;
            }
            const instance = ref as InstanceRef;
            // An instance in several findings is tagged once.
            targets.set(instanceKey(instance), targets.get(instanceKey(instance)) ?? { findingId, resourceId, instance });
        }
    }
    return { targets: [...targets.values()], skipped };
}

async function tagInstance(t: Target, requested: Requested, session: string, member: MemberClientFactory): Promise<ResourceResult> {
    const base = { findingId: t.findingId, resourceType: EC2_INSTANCE_TYPE, resourceId: t.resourceId, instance: t.instance };
    try {
        const { ec2 } = await member(t.instance, session);
        await ec2.send(new CreateTagsCommand({
            Resources: [t.instance.instanceId],
            Tags: [{ Key: STATUS_TAG, Value: requested === "analyze" ? STATUS_ANALYZE : STATUS_CONTAIN }],
        }));
        return { ...base, status: "tagged" };
    } catch (err) {
        return { ...base, status: "failed", reason: errorText(err) };
    }
}

function overall(tagged: ResourceResult[]): TagFromFindingResult["outcome"] {
    const failed = tagged.filter((r) => r.status === "failed").length;
    if (tagged.length === 0) {
        return "no-instances";
    }
    return failed === 0 ? "tagged" : failed === tagged.length ? "failed" : "partial";
}
