/**
 * EventBridge events as the engine receives them, for specs: the member rule's tag-change event (as AWS
 * delivers it, or as moto forwards it: without `resources` and `account`), GuardDuty findings and
 * Security Hub custom actions.
 */
import { randomBytes } from "crypto";
import { InstanceRef, STATUS_TAG } from "../../functions/types";

export const EVENT_TIME = "2026-11-23T10:15:30Z";

/** A fresh, well-formed instance id (17 hex digits). */
export function instanceId(): string {
    return `i-${randomBytes(9).toString("hex").slice(0, 17)}`;
}

export function instanceArn(ref: InstanceRef): string {
    return `arn:aws:ec2:${ref.region}:${ref.accountId}:instance/${ref.instanceId}`;
}

/** The EventBridge envelope around `detail`, with a fresh event id. */
function envelope(source: string, detailType: string, account: string, region: string, resources: string[], detail: Record<string, any>): Record<string, any> {
    return { "version": "0", "id": `ev-${randomBytes(6).toString("hex")}`, "detail-type": detailType, source, account, "time": EVENT_TIME, region, resources, detail };
}

/** A tag change of SecurityIncidentStatus to `value` (undefined: the tag was removed). */
export function tagEvent(ref: InstanceRef, value: string | undefined, extra: { otherTags?: Record<string, string> } = {}): Record<string, any> {
    const tags: Record<string, string> = { Name: "web-1", ...extra.otherTags };
    if (value !== undefined) {
        tags[STATUS_TAG] = value;
    }
    return envelope("aws.tag", "Tag Change on Resource", ref.accountId, ref.region, [instanceArn(ref)],
        { "changed-tag-keys": [STATUS_TAG], "service": "ec2", "resource-type": "instance", "version": 3, tags });
}

export function guardDutyEvent(ref: InstanceRef, severity: number, adminAccount = "999988887777"): Record<string, any> {
    // Delivered in the GuardDuty administrator account: the finding names the member account.
    return envelope("aws.guardduty", "GuardDuty Finding", adminAccount, ref.region, [], {
        schemaVersion: "2.0",
        accountId: ref.accountId,
        region: ref.region,
        partition: "aws",
        id: randomBytes(16).toString("hex"),
        type: "Backdoor:EC2/C&CActivity.B!DNS",
        severity,
        resource: { resourceType: "Instance", instanceDetails: { instanceId: ref.instanceId, instanceType: "t3.micro" } },
        service: { serviceName: "guardduty", additionalInfo: {} },
    });
}

/** A Security Hub custom action event for `findings` (each a list of ASFF resources). */
export function customActionEvent(actionId: string, findings: { Type: string; Id: string }[][], account = "222233334444"): Record<string, any> {
    return envelope("aws.securityhub", "Security Hub Findings - Custom Action", account, "eu-west-1", [`arn:aws:securityhub:eu-west-1:${account}:action/custom/${actionId}`], {
        actionName: actionId,
        actionDescription: "test action",
        findings: findings.map((resources, i) => ({ Id: `finding-${i}`, AwsAccountId: account, Resources: resources })),
    });
}
